"""The web server: daphne, with what this project needs of it (``python -m crm.server``).

``install_server_close_codes`` lets the application close a WebSocket with the codes a server
sends when it cannot serve a connection: 1011 (internal error, e.g. Redis or PostgreSQL down),
1012 (service restart) and 1013 (try again later). Daphne passes close codes to autobahn's
``sendClose``, which accepts only 1000 and 3000-4999 from an application; these three go out
as the protocol's own close frames instead. Clients treat them as "reconnect".
"""

from __future__ import annotations

import asyncio

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


def install_lean_frame_logging() -> None:
    """autobahn builds the arguments of a debug line (the sender's qualified name, coloured)
    for every frame it sends, whether debug lines are kept or not: a quarter of the time of a
    fan-out to many sockets. Unless ``LOG_LEVEL`` is DEBUG, those arguments are left plain."""
    import os

    from autobahn.websocket import protocol

    if os.environ.get("LOG_LEVEL", "").upper() == "DEBUG" or getattr(protocol, "_crm_lean", 0):
        return
    protocol.hltype = protocol.hlval = _plain
    protocol._crm_lean = True


def _plain(value, *args, **kwargs) -> str:
    return ""


# --- Graceful shutdown ----------------------------------------------------------------------
#
# daphne on SIGTERM stops Twisted's reactor, whose shutdown cancels every application
# coroutine at once: requests in flight are cut (their clients get no answer) and WebSockets
# drop without a close frame (1006). ``GracefulServer`` drains first: it stops accepting
# connections, closes every WebSocket with 1012 (service restart: clients reconnect, to another
# process), waits up to ``SHUTDOWN_GRACE_SECONDS`` for requests in flight and the sockets'
# clean-up to finish, and only then lets daphne cancel what is left.

import logging  # noqa: E402
import os  # noqa: E402
import time  # noqa: E402

from daphne.server import Server  # noqa: E402

logger = logging.getLogger("crm.server")

CLOSE_SERVICE_RESTART = 1012


class GracefulServer(Server):
    grace_seconds = float(os.environ.get("SHUTDOWN_GRACE_SECONDS", "20"))

    def listen_success(self, port):
        self._ports = [*getattr(self, "_ports", []), port]
        return super().listen_success(port)

    def kill_all_applications(self):
        from twisted.internet import defer

        drained = defer.Deferred.fromFuture(asyncio.ensure_future(self._drain()))
        drained.addErrback(lambda failure: logger.error("Drain failed: %s", failure))
        drained.addBoth(lambda _: super(GracefulServer, self).kill_all_applications())
        return drained

    async def _drain(self) -> None:
        from daphne.ws_protocol import WebSocketProtocol

        for port in getattr(self, "_ports", []):
            port.stopListening()
        sockets = 0
        for protocol in list(self.connections):
            if isinstance(protocol, WebSocketProtocol) and protocol.state == protocol.STATE_OPEN:
                protocol.sendCloseFrame(code=CLOSE_SERVICE_RESTART, isReply=False)
                sockets += 1
        started = time.monotonic()
        while time.monotonic() - started < self.grace_seconds:
            busy = [
                details
                for details in self.connections.values()
                if details.get("application_instance") is not None
                and not details["application_instance"].done()
            ]
            if not busy:
                break
            await asyncio.sleep(0.05)
        logger.info(
            "Stopped: %d socket(s) closed with 1012, drained in %.2f s, %d still running",
            sockets,
            time.monotonic() - started,
            len(busy),
        )


def main() -> None:
    """``python -m crm.server`` takes daphne's arguments: ``-b``, ``-p``, ``--proxy-headers``,
    the application. Unless ``--ping-interval`` is given, WebSockets are pinged every
    ``WS_PING_INTERVAL`` seconds (45; daphne's own default, 20, costs an idle server with
    20,000 sockets a tenth of a core): keep it below your proxy's idle timeout."""
    import sys

    from daphne.cli import CommandLineInterface

    if "--ping-interval" not in sys.argv:
        sys.argv[1:1] = ["--ping-interval", os.environ.get("WS_PING_INTERVAL", "45")]
    CommandLineInterface.server_class = GracefulServer
    CommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
