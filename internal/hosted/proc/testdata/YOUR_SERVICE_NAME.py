from queue import Queue
from base_service import CustomService

class YOUR_SERVICE_NAME(CustomService):
    def __init__(self, id, queue, config):
        # Write your code here
        super(YOUR_SERVICE_NAME, self).__init__(id, queue, config)
    
    async def Start(self):
        try:
            await self.Debug("Started")
            # Write your code here
        except Exception as ex:
            await self.Debug(f"Failed to start: {ex}")

    async def Stop(self):
        try:
            # Write your code here
            await self.Debug("Stopped")
        except Exception as ex:
            await self.Debug(f"Failed to stop: {ex}")
