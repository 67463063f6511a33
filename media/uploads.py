"""Receiving upload bodies: streamed to temporary files on disk, never held in memory, and cut
off as soon as one file passes ``MAX_UPLOAD_SIZE``."""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import StopUpload, TemporaryFileUploadHandler
from django.http import HttpRequest

# Room for the multipart boundaries, part headers and small fields around the files.
MULTIPART_OVERHEAD = 64 * 1024
TOO_LARGE_FLAG = "media_upload_too_large"


def max_upload_size() -> int:
    return settings.MAX_UPLOAD_SIZE


def body_limit(*, files: int) -> int:
    """The largest request body worth reading for ``files`` files at most."""
    return files * max_upload_size() + MULTIPART_OVERHEAD


def content_length(request: HttpRequest) -> int | None:
    try:
        return int(request.META.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None


class LimitedTemporaryFileUploadHandler(TemporaryFileUploadHandler):
    """Writes each file to a temporary file as it arrives and stops reading the body once a
    file passes the size limit (the request is then answered 413)."""

    def new_file(self, *args, **kwargs) -> None:
        super().new_file(*args, **kwargs)
        self.received = 0

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        self.received += len(raw_data)
        if self.received > max_upload_size():
            setattr(self.request, TOO_LARGE_FLAG, True)
            raise StopUpload(connection_reset=True)
        return super().receive_data_chunk(raw_data, start)


def use_limited_upload_handlers(request: HttpRequest) -> None:
    request.upload_handlers = [LimitedTemporaryFileUploadHandler(request)]


def upload_was_cut_off(request: HttpRequest) -> bool:
    return bool(getattr(request, TOO_LARGE_FLAG, False))
