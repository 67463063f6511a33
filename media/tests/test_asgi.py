"""The ASGI guard answers 413 from the headers, without receiving the body."""

from __future__ import annotations

import json

from media.asgi import UploadSizeGuard


def _scope(path: str, length: int, method: str = "POST") -> dict:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "headers": [(b"content-length", str(length).encode()), (b"host", b"testserver")],
    }


async def _call(guard, scope):
    received, sent = [], []

    async def receive():
        received.append(True)
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    await guard(scope, receive, send)
    return received, sent


async def test_oversize_upload_is_refused_without_reading_the_body(settings):
    settings.MAX_UPLOAD_SIZE = 1000
    passed = []

    async def app(scope, receive, send):
        passed.append(scope["path"])

    guard = UploadSizeGuard(app)
    received, sent = await _call(guard, _scope("/api/media", 10 * 1024 * 1024))
    assert received == [] and passed == []
    assert sent[0]["status"] == 413
    body = json.loads(sent[1]["body"])
    assert body["code"] == "file_too_large" and body["max_size"] == 1000

    # Within the limit, other paths and other methods go through untouched.
    for scope in (
        _scope("/api/media", 2000),
        _scope("/api/media/multiple", 9000),
        _scope("/api/chats/1/messages", 10**9),
        _scope("/api/media", 10**9, method="GET"),
    ):
        await _call(guard, scope)
    assert passed == ["/api/media", "/api/media/multiple", "/api/chats/1/messages", "/api/media"]
