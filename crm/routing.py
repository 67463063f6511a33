"""WebSocket URL routes, mounted by crm.asgi."""

websocket_urlpatterns: list = []
