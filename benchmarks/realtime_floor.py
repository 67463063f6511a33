"""The floor for benchmarks/realtime_latency.py: a bare Channels consumer on the same Redis
channel layer. Every connection joins one group and forwards what arrives; the benchmark
group_sends to it directly (no HTTP, no database, no auth). Served by daphne like the app:

    daphne benchmarks.realtime_floor:application
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
django_asgi_app = get_asgi_application()  # /health, so the benchmark sees the server is up

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

FLOOR_GROUP = "bench.floor"


class FloorConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        await self.channel_layer.group_add(FLOOR_GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(FLOOR_GROUP, self.channel_name)

    async def dispatch(self, message: dict) -> None:
        # Forward without Channels' per-message database clean-up hop, like the app's consumer.
        if message["type"] == "crm.event":
            await self.send(text_data=message["text"])
        else:
            await super().dispatch(message)


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter([path("ws/", FloorConsumer.as_asgi())]),
    }
)
