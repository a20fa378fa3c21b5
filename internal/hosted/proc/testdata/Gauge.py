import asyncio
import json
from base_service import CustomService


class Gauge(CustomService):
    """Reads a made-up pin every 10 ms and sends each reading upstream; answers to actions."""

    def __init__(self, id, queue, config):
        super(Gauge, self).__init__(id, queue, config)
        self.count = 0
        self.task = None

    async def Start(self):
        self.pin = self.GetPropertyValue("static", "gpio_pin")
        settings = self.get_settings()
        await self.Debug(f"Started on {settings['nodeName']} pin {self.pin}")
        self.task = asyncio.create_task(self.read())

    async def read(self):
        while self.count < 5:
            self.count += 1
            await self.SubmitMessage(json.dumps({"pin": self.pin, "n": self.count}))
            await asyncio.sleep(0.01)

    async def ping(self, message):
        print("ping received", message)  # to standard error: logged, not the protocol
        await self.SubmitAction("other_py", "pong", {"got": message})

    async def alarm(self, message):
        key = self.GetPropertyValue("security", "api_key")
        await self.ThrowError("Unable to read GPIO", "666", "key length " + str(len(key)))

    async def Stop(self):
        await self.Warning("Stopping")
