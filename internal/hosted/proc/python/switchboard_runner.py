"""Runs one hosted Python service for Switchboard's orchestrator.

The orchestrator speaks to this process in JSON lines: it writes requests on standard input,
this process answers and asks on standard output (docs/hosted-services.md, "The process
protocol"). What the service prints goes to standard error, which the orchestrator logs.
"""

import asyncio
import importlib.util
import inspect
import json
import os
import sys
import traceback

import base_service

_out = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
sys.stdout = sys.stderr  # print() must not break the protocol


class Channel:
    """The service's queue: messages to the orchestrator, and requests it answers."""

    def __init__(self):
        self._seq = 0
        self._waiting = {}

    def send(self, msg):
        _out.write(base_service.encode(msg) + "\n")
        _out.flush()

    async def request(self, msg):
        self._seq += 1
        seq = self._seq
        fut = asyncio.get_running_loop().create_future()
        self._waiting[seq] = fut
        self.send(dict(msg, seq=seq))
        reply = await fut
        if reply.get("error"):
            raise RuntimeError(reply["error"])
        return reply.get("result")

    def answer(self, msg):
        fut = self._waiting.pop(msg.get("seq"), None)
        if fut is not None and not fut.done():
            fut.set_result(msg)


async def call(fn, *args):
    result = fn(*args)
    if inspect.isawaitable(result):
        result = await result
    return result


async def main():
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=4 << 20)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    chan = Channel()
    work = asyncio.Queue()

    async def read():
        while True:
            line = await reader.readline()
            if not line:
                await work.put({"op": "stop", "seq": 0, "eof": True})
                return
            msg = json.loads(line)
            if msg.get("op") == "reply":
                chan.answer(msg)
            else:
                await work.put(msg)

    init = json.loads(await reader.readline())
    path, cls_name = init["file"], init["class"]
    spec = importlib.util.spec_from_file_location(cls_name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[cls_name] = module
    try:
        spec.loader.exec_module(module)
        cls = getattr(module, cls_name)
        service = cls(init["id"], chan, init["config"])
    except Exception as ex:
        chan.send({"op": "done", "seq": init.get("seq", 0), "error": f"{type(ex).__name__}: {ex}", "trace": traceback.format_exc()})
        return
    chan.send({"op": "done", "seq": init.get("seq", 0)})
    reading = asyncio.create_task(read())
    starting = None

    async def start(seq):
        # Start may run as long as the service likes (a loop reading a pin): actions and Stop
        # are taken meanwhile.
        try:
            await call(service.Start)
            chan.send({"op": "done", "seq": seq})
        except asyncio.CancelledError:
            raise
        except Exception as ex:
            chan.send({"op": "done", "seq": seq, "error": f"{type(ex).__name__}: {ex}", "trace": traceback.format_exc()})

    while True:
        msg = await work.get()
        op, seq = msg.get("op"), msg.get("seq", 0)
        try:
            if op == "start":
                starting = asyncio.create_task(start(seq))
                continue
            elif op == "stop":
                if hasattr(service, "Stop"):
                    await call(service.Stop)
                if starting is not None and not starting.done():
                    starting.cancel()
                if not msg.get("eof"):
                    chan.send({"op": "done", "seq": seq})
                reading.cancel()
                return
            elif op == "action":
                method = getattr(service, msg.get("action") or "", None)
                if method is None or msg["action"].startswith("_") or not callable(method):
                    chan.send({"op": "done", "seq": seq, "error": f"{cls_name} has no method {msg.get('action')!r}"})
                    continue
                await call(method, msg.get("message"))
            else:
                chan.send({"op": "done", "seq": seq, "error": f"unknown op {op!r}"})
                continue
            chan.send({"op": "done", "seq": seq})
        except Exception as ex:
            chan.send({"op": "done", "seq": seq, "error": f"{type(ex).__name__}: {ex}", "trace": traceback.format_exc()})


if __name__ == "__main__":
    asyncio.run(main())
