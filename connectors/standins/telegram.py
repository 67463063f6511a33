"""A Telegram Bot API stand-in on loopback, for tests and local trials.

It speaks the methods the connector uses — getMe, setWebhook, getWebhookInfo, getFile and file
downloads, sendMessage, sendPhoto, sendDocument, sendVideo, sendAudio (JSON, form or multipart
bodies) — records every call, and fails on request: ``fail("sendMessage", 429, retry_after=2)``,
``fail(..., 500)``, ``fail(..., 403)``, ``fail(..., "timeout", seconds=5)`` (answers after the
delay: the client's read timeout fires after its request left). Injected failures are used up
one per call, in order.

    python -m connectors.standins.telegram --port 8081 [--token 123:ABC...]

then ``TELEGRAM_API_URL=http://127.0.0.1:8081``. Files to download are added with ``add_file``.
"""

from __future__ import annotations

import argparse
import contextlib
import email.parser
import email.policy
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

SEND_METHODS = ("sendMessage", "sendPhoto", "sendDocument", "sendVideo", "sendAudio")
PATH_RE = re.compile(r"^/bot(?P<token>[^/]+)/(?P<method>[A-Za-z]+)$")
FILE_RE = re.compile(r"^/file/bot(?P<token>[^/]+)/(?P<path>.+)$")


@dataclass
class Call:
    method: str
    token: str
    params: dict[str, Any]
    files: dict[str, tuple[str, bytes, str]]  # field → (filename, bytes, content type)
    at: float


@dataclass
class Failure:
    status: int | str
    retry_after: int | None = None
    seconds: float = 0.0
    description: str = ""


@dataclass
class StandInState:
    calls: list[Call] = field(default_factory=list)
    failures: dict[str, list[Failure]] = field(default_factory=dict)
    files: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # file_id → (path, bytes)
    webhook: dict[str, Any] = field(default_factory=dict)
    tokens: set[str] | None = None  # None: any token works
    lock: threading.Lock = field(default_factory=threading.Lock)
    message_ids: itertools.count = field(default_factory=lambda: itertools.count(1000))
    sent_event: threading.Condition = field(default_factory=threading.Condition)


def _parse_body(headers, body: bytes) -> tuple[dict, dict]:
    ctype = headers.get("Content-Type", "")
    if not body:
        return {}, {}
    if ctype.startswith("application/json"):
        return json.loads(body or b"{}"), {}
    if ctype.startswith("application/x-www-form-urlencoded"):
        return {k: v[-1] for k, v in urllib.parse.parse_qs(body.decode()).items()}, {}
    if ctype.startswith("multipart/form-data"):
        raw = b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + body
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
        params, files = {}, {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            filename = part.get_filename()
            payload = part.get_payload(decode=True) or b""
            if filename is not None:
                files[name] = (filename, payload, part.get_content_type())
            else:
                params[name] = payload.decode()
        return params, files
    return {}, {}


def _make_handler(state: StandInState):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def _reply(self, status: int, body: dict | bytes, content_type="application/json"):
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                self.wfile.write(data)

        def do_GET(self):
            match = FILE_RE.match(urllib.parse.urlsplit(self.path).path)
            if match:
                with state.lock:
                    found = next((b for p, b in state.files.values() if p == match["path"]), None)
                    failure = self._take_failure("download")
                if failure is not None and self._fail(failure):
                    return
                if found is None:
                    return self._reply(
                        404, {"ok": False, "error_code": 404, "description": "Not Found"}
                    )
                return self._reply(200, found, "application/octet-stream")
            return self._handle()

        def do_POST(self):
            return self._handle()

        def _take_failure(self, method: str) -> Failure | None:
            queue = state.failures.get(method) or []
            return queue.pop(0) if queue else None

        def _fail(self, failure: Failure) -> bool:
            if failure.status == "timeout":
                time.sleep(failure.seconds)
                return False  # then answer normally: the client has given up by then
            status = int(failure.status)
            body: dict[str, Any] = {
                "ok": False,
                "error_code": status,
                "description": failure.description
                or {
                    429: f"Too Many Requests: retry after {failure.retry_after}",
                    403: "Forbidden: bot was blocked by the user",
                    400: "Bad Request",
                }.get(status, "Internal Server Error"),
            }
            if failure.retry_after is not None:
                body["parameters"] = {"retry_after": failure.retry_after}
            self._reply(status, body)
            return True

        def _handle(self):
            split = urllib.parse.urlsplit(self.path)
            match = PATH_RE.match(split.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            if not match:
                return self._reply(
                    404, {"ok": False, "error_code": 404, "description": "Not Found"}
                )
            token, method = match["token"], match["method"]
            if state.tokens is not None and token not in state.tokens:
                return self._reply(
                    401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
                )
            try:
                params, files = _parse_body(self.headers, body)
            except ValueError:
                return self._reply(400, {"ok": False, "error_code": 400, "description": "Bad body"})
            params.update({k: v[-1] for k, v in urllib.parse.parse_qs(split.query).items()})
            call = Call(method, token, params, files, time.monotonic())
            with state.lock:
                failure = self._take_failure(method)
            if failure is not None and self._fail(failure):
                with state.lock:
                    state.calls.append(call)
                return
            result = self._result(method, params, files)
            with state.lock:
                state.calls.append(call)
            with state.sent_event:
                state.sent_event.notify_all()
            if result is None:
                return self._reply(
                    404, {"ok": False, "error_code": 404, "description": "Not Found: method"}
                )
            if isinstance(result, tuple):
                return self._reply(result[0], result[1])
            self._reply(200, {"ok": True, "result": result})

        def _result(self, method: str, params: dict, files: dict):
            if method == "getMe":
                return {
                    "id": 123456789,
                    "is_bot": True,
                    "first_name": "Stand-in",
                    "username": "standin_bot",
                }
            if method == "setWebhook":
                state.webhook = {
                    "url": params.get("url", ""),
                    "secret_token": params.get("secret_token", ""),
                    "allowed_updates": params.get("allowed_updates"),
                }
                return True
            if method == "deleteWebhook":
                state.webhook = {}
                return True
            if method == "getWebhookInfo":
                return {
                    "url": state.webhook.get("url", ""),
                    "has_custom_certificate": False,
                    "pending_update_count": 0,
                    "allowed_updates": state.webhook.get("allowed_updates") or [],
                }
            if method == "getFile":
                file_id = params.get("file_id")
                with state.lock:
                    found = state.files.get(file_id)
                if found is None:
                    return (
                        400,
                        {
                            "ok": False,
                            "error_code": 400,
                            "description": "Bad Request: invalid file_id",
                        },
                    )
                return {"file_id": file_id, "file_size": len(found[1]), "file_path": found[0]}
            if method in SEND_METHODS:
                if not params.get("chat_id"):
                    return (
                        400,
                        {
                            "ok": False,
                            "error_code": 400,
                            "description": "Bad Request: chat not found",
                        },
                    )
                text = params.get("text")
                if method == "sendMessage" and (not text or len(text) > 4096):
                    return (
                        400,
                        {
                            "ok": False,
                            "error_code": 400,
                            "description": "Bad Request: message text is empty or too long",
                        },
                    )
                with state.lock:
                    message_id = next(state.message_ids)
                return {
                    "message_id": message_id,
                    "date": int(time.time()),
                    "chat": {"id": int(params["chat_id"]), "type": "private"},
                    **({"text": text} if text else {}),
                }
            return None

    return Handler


class TelegramStandIn:
    """The stand-in in a thread: ``with TelegramStandIn() as bot: ... bot.url``."""

    def __init__(self, port: int = 0, *, host: str = "127.0.0.1", tokens: set[str] | None = None):
        self.state = StandInState(tokens=tokens)
        self.server = ThreadingHTTPServer((host, port), _make_handler(self.state))
        self.server.daemon_threads = True
        self.thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> TelegramStandIn:
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> TelegramStandIn:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- test helpers -----------------------------------------------------------------------

    def fail(
        self,
        method: str,
        status: int | str,
        *,
        retry_after: int | None = None,
        seconds: float = 0.0,
        times: int = 1,
        description: str = "",
    ) -> None:
        with self.state.lock:
            queue = self.state.failures.setdefault(method, [])
            queue.extend(Failure(status, retry_after, seconds, description) for _ in range(times))

    def add_file(self, file_id: str, content: bytes, *, path: str | None = None) -> None:
        with self.state.lock:
            self.state.files[file_id] = (path or f"documents/{file_id}", content)

    def calls(self, method: str | None = None) -> list[Call]:
        with self.state.lock:
            return [c for c in self.state.calls if method is None or c.method == method]

    def sends(self) -> list[Call]:
        with self.state.lock:
            return [c for c in self.state.calls if c.method in SEND_METHODS]

    def wait_for_calls(self, method: str, count: int = 1, *, timeout: float = 20.0) -> list[Call]:
        deadline = time.monotonic() + timeout
        with self.state.sent_event:
            while len(self.calls(method)) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{method}: {len(self.calls(method))} of {count} calls")
                self.state.sent_event.wait(min(left, 0.1))
        return self.calls(method)

    def reset(self) -> None:
        with self.state.lock:
            self.state.calls.clear()
            self.state.failures.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--token", action="append", help="accept only these bot tokens")
    args = parser.parse_args()
    standin = TelegramStandIn(
        args.port, host=args.host, tokens=set(args.token) if args.token else None
    )
    sys.stdout.write(f"Telegram Bot API stand-in: TELEGRAM_API_URL={standin.url}\n")
    sys.stdout.flush()
    try:
        standin.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        standin.server.server_close()


if __name__ == "__main__":
    main()
