"""ASGI middleware that refuses oversize uploads before their body is read.

Django's ASGI handler receives the whole request body (spooled to disk past
``FILE_UPLOAD_MAX_MEMORY_SIZE``) before any view runs, so under daphne the upload view's own
Content-Length check only saves the parsing. Wrapped around the Django application this answers
413 from the headers alone, and the server stops receiving::

    application = ProtocolTypeRouter({"http": UploadSizeGuard(django_asgi_app), ...})
"""

from __future__ import annotations

import json

from media import uploads

UPLOAD_PATHS = {"/api/media": 1, "/api/media/multiple": 10}


class UploadSizeGuard:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope.get("method") == "POST":
            files = UPLOAD_PATHS.get(scope.get("path", "").rstrip("/"))
            if files is not None and self._declared_length(scope) > uploads.body_limit(files=files):
                await self._refuse(send)
                return
        await self.app(scope, receive, send)

    @staticmethod
    def _declared_length(scope) -> int:
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return 0
        return 0

    @staticmethod
    async def _refuse(send) -> None:
        from media.errors import too_large

        error = too_large()
        body = json.dumps(error.as_dict()).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
