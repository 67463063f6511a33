"""A WhatsApp Cloud (Graph) API stand-in on loopback, for tests and local trials.

It speaks what the connector uses — ``POST /{phone_number_id}/messages`` (text, media,
template), ``POST /{phone_number_id}/media`` (multipart upload), ``GET /{media_id}`` (the
lookup with a download ``url``) and that download — checks the bearer token, records every
call, and fails on request: ``fail("messages", 429)``, ``fail("messages", 500, times=3)``,
``fail("lookup", 500)``, ``fail("messages", "timeout", seconds=5)``. ``close_window(wa_id)``
makes free-form messages to that number answer Graph error 131047 (templates still pass).

    python -m connectors.standins.whatsapp --port 8082 [--token EAAG...]

then ``WHATSAPP_API_URL=http://127.0.0.1:8082``. Media to download is added with ``add_media``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import itertools
import json
import re
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from connectors.standins.telegram import _parse_body

MESSAGES_RE = re.compile(r"^/(?P<number>\d+)/messages$")
UPLOAD_RE = re.compile(r"^/(?P<number>\d+)/media$")
DOWNLOAD_RE = re.compile(r"^/download/(?P<media_id>[^/]+)$")
LOOKUP_RE = re.compile(r"^/(?P<media_id>[^/]+)$")


@dataclass
class Call:
    kind: str  # messages | media | lookup | download
    token: str
    path: str
    body: dict[str, Any]
    files: dict[str, tuple[str, bytes, str]]
    at: float


@dataclass
class Failure:
    status: int | str
    seconds: float = 0.0
    code: int | None = None


@dataclass
class GraphState:
    calls: list[Call] = field(default_factory=list)
    failures: dict[str, list[Failure]] = field(default_factory=dict)
    media: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # id → (mime, bytes)
    closed: set[str] = field(default_factory=set)
    media_urls: dict[str, str] = field(default_factory=dict)  # id → another download link
    tokens: set[str] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    changed: threading.Condition = field(default_factory=threading.Condition)


def graph_error(code: int, message: str, *, type_: str = "OAuthException") -> dict:
    return {
        "error": {
            "message": message,
            "type": type_,
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": message},
            "fbtrace_id": "AstandinTrace",
        }
    }


def _make_handler(state: GraphState, base_url):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def _reply(self, status: int, body: dict | bytes, content_type="application/json"):
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(data)

        def _token(self) -> str:
            scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
            return token if scheme == "Bearer" else ""

        def _record(self, kind: str, body: dict, files: dict) -> Failure | None:
            call = Call(kind, self._token(), self.path, body, files, time.monotonic())
            with state.lock:
                state.calls.append(call)
                queue = state.failures.get(kind) or []
                failure = queue.pop(0) if queue else None
            with state.changed:
                state.changed.notify_all()
            return failure

        def _fail(self, failure: Failure) -> bool:
            if failure.status == "timeout":
                time.sleep(failure.seconds)
                return False
            status = int(failure.status)
            messages = {
                429: (130429, "Rate limit hit"),
                500: (1, "An unknown error occurred"),
                503: (2, "Service temporarily unavailable"),
                400: (100, "Invalid parameter"),
            }
            code, message = messages.get(status, (1, "Error"))
            self._reply(status, graph_error(failure.code or code, message))
            return True

        def _authorized(self) -> bool:
            token = self._token()
            if not token or (state.tokens is not None and token not in state.tokens):
                self._reply(401, graph_error(190, "Invalid OAuth access token."))
                return False
            return True

        def do_GET(self):
            path = urllib.parse.urlsplit(self.path).path
            if not self._authorized():
                return
            download = DOWNLOAD_RE.match(path)
            lookup = LOOKUP_RE.match(path)
            kind = "download" if download else "lookup"
            media_id = (download or lookup)["media_id"] if (download or lookup) else ""
            failure = self._record(kind, {}, {})
            if failure is not None and self._fail(failure):
                return
            with state.lock:
                found = state.media.get(media_id)
            if found is None:
                return self._reply(400, graph_error(100, "Invalid media id"))
            mime, content = found
            if download:
                return self._reply(200, content, mime)
            return self._reply(
                200,
                {
                    "messaging_product": "whatsapp",
                    "url": state.media_urls.get(media_id) or f"{base_url()}/download/{media_id}",
                    "mime_type": mime,
                    "sha256": hashlib.sha256(content).hexdigest(),
                    "file_size": len(content),
                    "id": media_id,
                },
            )

        def do_POST(self):
            path = urllib.parse.urlsplit(self.path).path
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if not self._authorized():
                return
            try:
                body, files = _parse_body(self.headers, raw)
            except ValueError:
                return self._reply(400, graph_error(100, "Invalid body"))
            if UPLOAD_RE.match(path):
                failure = self._record("media", body, files)
                if failure is not None and self._fail(failure):
                    return
                if "file" not in files or body.get("messaging_product") != "whatsapp":
                    return self._reply(400, graph_error(100, "file and messaging_product needed"))
                name, content, mime = files["file"]
                with state.lock:
                    media_id = f"standin-media-{next(state.ids)}"
                    state.media[media_id] = (mime, content)
                return self._reply(200, {"id": media_id})
            if MESSAGES_RE.match(path):
                failure = self._record("messages", body, files)
                if failure is not None and self._fail(failure):
                    return
                to = str(body.get("to") or "")
                if body.get("messaging_product") != "whatsapp" or not to:
                    return self._reply(400, graph_error(100, "messaging_product and to needed"))
                with state.lock:
                    closed = to in state.closed
                if closed and body.get("type") != "template":
                    return self._reply(
                        400,
                        graph_error(
                            131047,
                            "Re-engagement message: more than 24 hours have passed since "
                            "the recipient last replied to the sender number.",
                        ),
                    )
                with state.lock:
                    wamid = f"wamid.STANDIN{next(state.ids):06d}"
                return self._reply(
                    200,
                    {
                        "messaging_product": "whatsapp",
                        "contacts": [{"input": to, "wa_id": to}],
                        "messages": [{"id": wamid}],
                    },
                )
            return self._reply(404, graph_error(803, "Unknown path"))

    return Handler


class GraphStandIn:
    """The stand-in in a thread: ``with GraphStandIn() as graph: ... graph.url``."""

    def __init__(self, port: int = 0, *, host: str = "127.0.0.1", tokens: set[str] | None = None):
        self.state = GraphState(tokens=tokens)
        self.server = ThreadingHTTPServer((host, port), _make_handler(self.state, lambda: self.url))
        self.server.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> GraphStandIn:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> GraphStandIn:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def fail(
        self, kind: str, status: int | str, *, times: int = 1, seconds: float = 0.0, code=None
    ) -> None:
        with self.state.lock:
            queue = self.state.failures.setdefault(kind, [])
            queue.extend(Failure(status, seconds, code) for _ in range(times))

    def add_media(
        self, media_id: str, content: bytes, mime: str = "image/jpeg", *, url: str = ""
    ) -> None:
        """``url``: the lookup answers this download link instead of the stand-in's own."""
        with self.state.lock:
            self.state.media[media_id] = (mime, content)
            if url:
                self.state.media_urls[media_id] = url

    def close_window(self, wa_id: str) -> None:
        with self.state.lock:
            self.state.closed.add(wa_id)

    def calls(self, kind: str | None = None) -> list[Call]:
        with self.state.lock:
            return [c for c in self.state.calls if kind is None or c.kind == kind]

    def wait_for_calls(self, kind: str, count: int = 1, *, timeout: float = 20.0) -> list[Call]:
        deadline = time.monotonic() + timeout
        with self.state.changed:
            while len(self.calls(kind)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{kind}: {len(self.calls(kind))} of {count} calls")
                self.state.changed.wait(min(left, 0.1))
        return self.calls(kind)

    def reset(self) -> None:
        with self.state.lock:
            self.state.calls.clear()
            self.state.failures.clear()
            self.state.closed.clear()
            self.state.media_urls.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8082)
    parser.add_argument("--token", action="append", help="accept only these access tokens")
    args = parser.parse_args()
    standin = GraphStandIn(args.port, host=args.host, tokens=set(args.token or []) or None)
    sys.stdout.write(f"WhatsApp Graph API stand-in: WHATSAPP_API_URL={standin.url}\n")
    sys.stdout.flush()
    try:
        standin.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        standin.server.server_close()


if __name__ == "__main__":
    main()
