"""WebSocket URL routes, mounted by crm.asgi."""

from django.urls import path

from chats.consumers import RealtimeConsumer

websocket_urlpatterns: list = [
    path("ws/", RealtimeConsumer.as_asgi()),
]
