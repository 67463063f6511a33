"""WebSocket URL routes, mounted by crm.asgi."""

from django.urls import path

from chats.consumers import OperatorPanelConsumer, RealtimeConsumer

websocket_urlpatterns: list = [
    path("ws/", RealtimeConsumer.as_asgi()),
    # The operator panel's plain WebSocket address (seed 001), in its dialect by default.
    path("ws", OperatorPanelConsumer.as_asgi()),
]
