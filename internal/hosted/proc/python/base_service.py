"""Switchboard's base class of hosted Python services.

A hosted service inherits CustomService, as in microServiceBus.com: the orchestrator makes it
with (id, queue, config), calls Start, delivers actions to the methods they name, and calls
Stop. The method names and signatures are microServiceBus.com's, so its services run
unchanged. The queue is Switchboard's channel to the orchestrator; config holds the node's
settings and the instance's static and security properties.
"""

import importlib
import json
import subprocess
import sys


class CustomService:
    def __init__(self, id, queue, config):
        self.id = id
        self.queue = queue
        self.config = config or {}

    def get_settings(self):
        """The settings the node received when it signed in: nodeName, tags, solution, flow."""
        return dict(self.config.get("settings", {}))

    def GetPropertyValue(self, type, property_name):
        """A property of this instance: type is "static" or "security"."""
        if type not in ("static", "security"):
            raise ValueError('GetPropertyValue: type must be "static" or "security"')
        return self.config.get(type, {}).get(property_name)

    async def SubmitAction(self, destination, action, message):
        """Sends message to the method action of the service instance destination on this
        node ("*": every instance). Waits while the destination's queue is full."""
        await self.queue.request({"op": "submit_action", "destination": destination, "action": action, "message": message})

    async def Debug(self, message):
        self.queue.send({"op": "log", "level": "debug", "message": str(message)})

    async def Warning(self, message):
        self.queue.send({"op": "log", "level": "warning", "message": str(message)})

    async def ThrowError(self, message, fault_code=None, fault_description=None):
        """Logs an error and raises an alert the solution's handlers can act on."""
        self.queue.send({"op": "error", "message": str(message),
                         "fault_code": None if fault_code is None else str(fault_code),
                         "fault_description": None if fault_description is None else str(fault_description)})

    async def SubmitMessage(self, message):
        """Sends message upstream: an event of the instance's upstream topic, stored durably
        (kept on the node while the hub cannot be reached). A string holding JSON is sent as
        the JSON it holds."""
        await self.queue.request({"op": "submit_message", "message": message})

    def AddPipPackage(self, package, module, name):
        """Installs package from PIP (pip install package) and returns module's attribute name."""
        try:
            mod = importlib.import_module(module)
        except ImportError:
            subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", package], stdout=sys.stderr)
            importlib.invalidate_caches()
            mod = importlib.import_module(module)
        return getattr(mod, name)


def _json_default(value):
    return str(value)


def encode(msg):
    return json.dumps(msg, default=_json_default, separators=(",", ":"))
