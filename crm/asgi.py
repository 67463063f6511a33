"""ASGI entry point: HTTP through Django, WebSocket through Channels at /ws/ (and /ws), Socket.IO
at /socket.io/ (python-socketio, chats.socketio) in front of both.

The WebSocket stack, outermost first: the Origin must be one of ALLOWED_HOSTS (a page of another
site cannot use a visitor's cookie), then the ticket, token or session cookie sets the user.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")

# Django must be set up before anything imports models.
django_asgi_app = get_asgi_application()

import socketio  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from chats.socketio import sio  # noqa: E402
from crm.middleware import WebSocketOutageGuard  # noqa: E402
from crm.routing import websocket_urlpatterns  # noqa: E402
from crm.server import install_lean_frame_logging, install_server_close_codes  # noqa: E402
from crm.ws_auth import WebSocketAuthStack, install_access_log_redaction  # noqa: E402
from media.asgi import UploadSizeGuard  # noqa: E402

channels_application = ProtocolTypeRouter(
    {
        # Oversize uploads are refused from their Content-Length, before the body is read.
        "http": UploadSizeGuard(django_asgi_app),
        "websocket": WebSocketOutageGuard(
            AllowedHostsOriginValidator(WebSocketAuthStack(URLRouter(websocket_urlpatterns)))
        ),
    }
)

# Socket.IO's own origin and credential checks are in chats.socketio (the same rules).
application = socketio.ASGIApp(sio, other_asgi_app=channels_application, socketio_path="socket.io")

install_access_log_redaction()
install_server_close_codes()
install_lean_frame_logging()
