"""A callback receiver for the API channel, on loopback: records every request (headers and
raw body, so a test checks the signature itself), serves files a bridge would link to
(``add_file``), and fails on request — ``fail(503, times=2)``
answers the next two with 503, ``fail("timeout", seconds=3)`` answers late.

    python -m connectors.standins.callback_sink --port 8083

then set the API inbox's ``callback_url`` to ``http://127.0.0.1:8083/hook``; requests are
printed as they come.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the sink answered
    at: float

    def json(self):
        return json.loads(self.body)


@dataclass
class SinkState:
    received: list[Received] = field(default_factory=list)
    failures: list[tuple[int | str, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    changed: threading.Condition = field(default_factory=threading.Condition)
    echo: bool = False
    files: dict[str, bytes] = field(default_factory=dict)  # path → bytes, served on GET
    file_failures: int = 0  # the next this many GETs answer 503
    redirects: dict[str, str] = field(default_factory=dict)  # path → Location (302)
    gets: list[str] = field(default_factory=list)  # every GET's path, in order


def _make_handler(state: SinkState):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def do_GET(self):
            """A bridge's attachment links: files added with ``add_file``."""
            with state.lock:
                state.gets.append(self.path)
                location = state.redirects.get(self.path)
                content = state.files.get(self.path)
            if location is not None:
                self.send_response(302)
                self.send_header("Location", location)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            with state.lock:
                failing = state.file_failures > 0
                state.file_failures -= 1 if failing else 0
            status = 200 if content is not None else 404
            if failing:
                status, content = 503, None
            content = content if content is not None else b"not found"
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(content)

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with state.lock:
                failure = state.failures.pop(0) if state.failures else None
            status = 200
            if failure is not None and failure[0] == "timeout":
                time.sleep(failure[1])
            elif failure is not None:
                status = int(failure[0])
            with state.lock:
                state.received.append(
                    Received(self.path, dict(self.headers.items()), body, status, time.time())
                )
            if state.echo:
                sys.stdout.write(f"{status} {self.path} {body.decode(errors='replace')}\n")
                sys.stdout.flush()
            with state.changed:
                state.changed.notify_all()
            data = json.dumps({"ok": status < 300}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(data)

    return Handler


class _IPv6Server(ThreadingHTTPServer):
    address_family = socket.AF_INET6


class CallbackSink:
    def __init__(self, port: int = 0, *, host: str = "127.0.0.1"):
        self.state = SinkState()
        server_class = _IPv6Server if ":" in host else ThreadingHTTPServer
        self.server = server_class((host, port), _make_handler(self.state))
        self.server.daemon_threads = True

    @property
    def base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def url(self) -> str:
        return f"{self.base}/hook"

    def start(self) -> CallbackSink:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> CallbackSink:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def fail(self, status: int | str = 500, *, times: int = 1, seconds: float = 0.0) -> None:
        with self.state.lock:
            self.state.failures.extend((status, seconds) for _ in range(times))

    def add_file(self, path: str, content: bytes) -> str:
        """Serve ``content`` at ``path``; returns its URL."""
        with self.state.lock:
            self.state.files[path] = content
        return f"{self.base}{path}"

    def add_redirect(self, path: str, location: str) -> str:
        """Answer ``GET path`` with a 302 to ``location``; returns the URL of ``path``."""
        with self.state.lock:
            self.state.redirects[path] = location
        return f"{self.base}{path}"

    def gets(self) -> list[str]:
        with self.state.lock:
            return list(self.state.gets)

    def received(self) -> list[Received]:
        with self.state.lock:
            return list(self.state.received)

    def wait_for(self, count: int = 1, *, timeout: float = 20.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        with self.state.changed:
            while len(self.received()) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{len(self.received())} of {count} callbacks")
                self.state.changed.wait(min(left, 0.1))
        return self.received()

    def reset(self) -> None:
        with self.state.lock:
            self.state.received.clear()
            self.state.failures.clear()
            self.state.gets.clear()
            self.state.redirects.clear()
            self.state.file_failures = 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8083)
    args = parser.parse_args()
    sink = CallbackSink(args.port, host=args.host)
    sink.state.echo = True
    sys.stdout.write(f"Callback sink: callback_url={sink.url}\n")
    sys.stdout.flush()
    try:
        sink.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sink.server.server_close()


if __name__ == "__main__":
    main()
