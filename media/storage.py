"""Where media bytes live.

Every upload is first written to the private local store (``local_storage``). With
``STORAGE_BACKEND=s3`` a Celery task then copies it to the remote store (``remote_storage``: AWS
S3 or Cloudflare R2 through django-storages) under the same key and removes the local copy. The
state on the row says which store holds the bytes; readers pick the store through ``holds_locally``.

The local store has no URL: files are only ever served by the access-checked download view.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.conf import settings
from django.core.files.storage import FileSystemStorage, Storage, storages
from django.utils.functional import cached_property

LOCAL_ALIAS = "media_local"
REMOTE_ALIAS = "media_remote"


class PrivateFileSystemStorage(FileSystemStorage):
    """Local disk under ``MEDIA_PRIVATE_ROOT`` (default ``<MEDIA_ROOT>/private``), with no URL.

    The location is read from settings when first used, so test settings that move
    ``MEDIA_ROOT`` move this store too.
    """

    def __init__(self, location: str | None = None, **kwargs):
        super().__init__(location=location, base_url=None, **kwargs)

    @cached_property
    def base_location(self) -> str:
        configured = self._location or getattr(settings, "MEDIA_PRIVATE_ROOT", "")
        return str(configured or Path(settings.MEDIA_ROOT) / "private")

    @cached_property
    def location(self) -> str:
        return os.path.abspath(self.base_location)

    def _clear_cached_properties(self, setting, **kwargs) -> None:
        super()._clear_cached_properties(setting, **kwargs)
        if setting == "MEDIA_PRIVATE_ROOT":
            self.__dict__.pop("base_location", None)
            self.__dict__.pop("location", None)

    def url(self, name: str | None) -> str:
        raise ValueError("Private media has no public URL: use the download endpoint.")


def s3_options(
    *,
    bucket: str,
    endpoint_url: str | None = None,
    region: str | None = None,
    access_key: str | None = None,
    secret_key: str | None = None,
    addressing_style: str = "auto",
    signed_url_seconds: int = 300,
) -> dict:
    """``OPTIONS`` of django-storages' S3Storage for AWS S3 or Cloudflare R2 (endpoint
    ``https://<account>.r2.cloudflarestorage.com``, region ``auto``)."""
    from botocore.config import Config

    return {
        "bucket_name": bucket,
        "endpoint_url": endpoint_url or None,
        "region_name": region or None,
        "access_key": access_key or None,
        "secret_key": secret_key or None,
        "file_overwrite": False,
        "default_acl": None,
        "querystring_auth": True,
        "querystring_expire": signed_url_seconds,
        "client_config": Config(
            signature_version="s3v4",
            s3={"addressing_style": addressing_style},
            # R2 refuses the CRC checksums that newer botocore sends by default.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
        ),
    }


def local_storage() -> Storage:
    return storages[LOCAL_ALIAS]


def remote_enabled() -> bool:
    return settings.STORAGE_BACKEND == "s3"


def remote_storage() -> Storage:
    return storages[REMOTE_ALIAS]


def signed_url(key: str, *, mime: str, disposition: str) -> str:
    """A short-lived URL of a remote object that answers with our type and disposition."""
    return remote_storage().url(
        key,
        parameters={"ResponseContentType": mime, "ResponseContentDisposition": disposition},
        expire=settings.MEDIA_SIGNED_URL_SECONDS,
    )
