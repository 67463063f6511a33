"""The web server: daphne, with what this project needs of it.

``install_server_close_codes`` lets the application close a WebSocket with the codes a server
sends when it cannot serve a connection: 1011 (internal error, e.g. Redis or PostgreSQL down),
1012 (service restart) and 1013 (try again later). Daphne passes close codes to autobahn's
``sendClose``, which accepts only 1000 and 3000-4999 from an application; these three go out
as the protocol's own close frames instead. Clients treat them as "reconnect".
"""

from __future__ import annotations

SERVER_CLOSE_CODES = frozenset({1011, 1012, 1013})


def install_server_close_codes() -> None:
    from daphne.ws_protocol import WebSocketProtocol

    if getattr(WebSocketProtocol, "_crm_close_codes", False):
        return
    original = WebSocketProtocol.serverClose

    def serverClose(self, code=None):
        if code in SERVER_CLOSE_CODES:
            self.sendCloseFrame(code=code, isReply=False)
        else:
            original(self, code)

    WebSocketProtocol.serverClose = serverClose
    WebSocketProtocol._crm_close_codes = True
