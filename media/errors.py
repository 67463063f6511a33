"""Errors of the media app."""

from __future__ import annotations

from django.conf import settings
from django.utils.translation import gettext_lazy

from crm.errors import DomainError
from media import error_codes


class PayloadTooLarge(DomainError):
    status_code = 413
    code = error_codes.FILE_TOO_LARGE


class StorageUnavailable(DomainError):
    status_code = 503
    code = error_codes.STORAGE_UNAVAILABLE
    default_detail = gettext_lazy("The file's storage cannot be reached; try again later.")


class RemoteStorageError(Exception):
    """The remote store could not be reached or refused a request (retried by the task)."""


def too_large(size: int | None = None) -> PayloadTooLarge:
    limit = settings.MAX_UPLOAD_SIZE
    detail = f"Files are limited to {limit / 1024 / 1024:g} MiB ({limit} bytes) each."
    extra = {"max_size": limit}
    if size is not None:
        extra["size"] = size
    return PayloadTooLarge(detail, **extra)


# --- Accepting uploads ----------------------------------------------------------------------
