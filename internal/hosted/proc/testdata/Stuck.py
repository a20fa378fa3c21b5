import time
from base_service import CustomService


class Stuck(CustomService):
    async def Start(self):
        await self.Debug("Started")

    async def Stop(self):
        time.sleep(3600)  # never returns: the orchestrator kills it at its deadline
