"""Writes of media files: accept an upload, attach it to a message, move it to remote storage."""

from __future__ import annotations

import contextlib
import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Organization, User
from chats.models import Chat
from crm import ratelimit
from crm.errors import RateLimited, ValidationFailed
from media import checks, error_codes
from media.errors import RemoteStorageError
from media.models import MediaFile, StorageState
from media.storage import local_storage, remote_enabled, remote_storage

logger = logging.getLogger(__name__)


# --- Accepting uploads ----------------------------------------------------------------------


def _new_key(organization_id: int, ext: str) -> tuple[str, str]:
    """A fresh storage key for a file and its thumbnail stem: never derived from the client."""
    now = timezone.now()
    stem = f"media/{organization_id}/{now:%Y/%m}/{uuid.uuid4().hex}"
    return f"{stem}.{ext}", stem


def _store(
    checked: checks.CheckedUpload,
    *,
    organization_id: int,
    uploader: User | None,
    chat: Chat | None,
    stored_keys: list[str],
) -> MediaFile:
    """Write the bytes (and thumbnail) to the local store, then the row. The keys written are
    added to ``stored_keys`` so the caller can remove them if its transaction fails."""
    storage = local_storage()
    key, stem = _new_key(organization_id, checked.file_type.extensions[0])
    with open(checked.path, "rb") as fh:
        key = storage.save(key, File(fh, name=key))
    stored_keys.append(key)
    thumbnail_key = ""
    if checked.image is not None:
        thumbnail_key = storage.save(
            f"{stem}.thumb.{checked.image.thumbnail_ext}", ContentFile(checked.image.thumbnail)
        )
        stored_keys.append(thumbnail_key)
    return MediaFile.objects.create(
        organization_id=organization_id,
        uploader=uploader,
        chat=chat,
        file=key,
        thumbnail=thumbnail_key,
        original_name=checked.name,
        mime=checked.file_type.mime,
        kind=checked.file_type.kind,
        size=checked.size,
        sha256=checked.sha256,
        width=checked.image.width if checked.image else None,
        height=checked.image.height if checked.image else None,
        storage_state=StorageState.UPLOADING if remote_enabled() else StorageState.LOCAL,
    )


def _delete_local(keys: list[str]) -> None:
    storage = local_storage()
    for key in keys:
        if key:
            try:
                storage.delete(key)
            except OSError:
                logger.warning("Could not delete local media %s", key, exc_info=True)


def _enqueue_remote_upload(media: MediaFile) -> None:
    if media.storage_state == StorageState.UPLOADING:
        from media.tasks import media_upload_remote

        media_upload_remote.delay_on_commit(media.pk)


def _count_uploads(uploader: User, count: int) -> None:
    for _attempt in range(count):
        decision = ratelimit.hit("uploads_user", str(uploader.pk))
        if not decision.allowed:
            raise RateLimited(
                _("You are uploading files too fast."),
                code=error_codes.UPLOADS_THROTTLED,
                retry_after=decision.retry_after,
            )


def uploads_allowed(*, uploader: User) -> ratelimit.Decision:
    """Whether one more upload fits the rate limit, without counting it (checked before the
    body is parsed)."""
    return ratelimit.peek("uploads_user", str(uploader.pk))


def media_upload(*, uploader: User, files: list[File], chat: Chat | None = None) -> list[MediaFile]:
    """Accept files uploaded by ``uploader`` (optionally for ``chat``, which the caller has
    checked the uploader may read). All or nothing: one refused file refuses the request.

    Each file is streamed from disk, typed by its bytes, checked (size, allow-list, name,
    markup, pixel count), hashed and stored under a server-generated key; images get their
    dimensions and a thumbnail. With remote storage the copy to S3/R2 is queued on commit.
    """
    if not files:
        raise ValidationFailed(
            _("No file was sent."), code=error_codes.NO_FILE, fields={"file": [_("Required.")]}
        )
    if len(files) > settings.MEDIA_MAX_FILES_PER_UPLOAD:
        raise ValidationFailed(
            _("At most %(MEDIA_MAX_FILES_PER_UPLOAD)s files per upload.")
            % {"MEDIA_MAX_FILES_PER_UPLOAD": settings.MEDIA_MAX_FILES_PER_UPLOAD},
            code=error_codes.TOO_MANY_FILES,
        )
    _count_uploads(uploader, len(files))
    several = len(files) > 1
    with contextlib.ExitStack() as stack:
        checked = []
        for index, content in enumerate(files):
            path = stack.enter_context(checks.on_disk(content))
            checked.append(
                checks.check_upload(
                    content,
                    client_name=content.name or "",
                    path=path,
                    index=index if several else None,
                )
            )
        return _store_all(
            checked, organization_id=uploader.organization_id, uploader=uploader, chat=chat
        )


def _store_all(
    checked: list[checks.CheckedUpload],
    *,
    organization_id: int,
    uploader: User | None,
    chat: Chat | None,
) -> list[MediaFile]:
    stored_keys: list[str] = []
    try:
        with transaction.atomic():
            stored = [
                _store(
                    item,
                    organization_id=organization_id,
                    uploader=uploader,
                    chat=chat,
                    stored_keys=stored_keys,
                )
                for item in checked
            ]
            for media in stored:
                _enqueue_remote_upload(media)
    except BaseException:
        _delete_local(stored_keys)
        raise
    return stored


def media_create(
    *,
    organization: Organization,
    content: File,
    name: str,
    uploader: User | None = None,
    chat: Chat | None = None,
) -> MediaFile:
    """Store a file that did not come through the upload API (a channel's inbound media), with
    the same checks. No rate limit: the caller is the server."""
    with checks.on_disk(content) as path:
        checked = checks.check_upload(content, client_name=name, path=path, index=None)
        [media] = _store_all(
            [checked], organization_id=organization.pk, uploader=uploader, chat=chat
        )
    return media


# --- Avatars -------------------------------------------------------------------------------


def avatar_image(*, user: User, content: File) -> tuple[bytes, str]:
    """An avatar upload through the same checks as any upload (size, type by content, pixel
    limit; counted against ``uploads_user``), re-encoded at thumbnail size: the bytes to store
    and their extension. Only images are accepted."""
    _count_uploads(user, 1)
    with checks.on_disk(content) as path:
        checked = checks.check_upload(
            content, client_name=content.name or "avatar", path=path, index=None
        )
    if checked.image is None:
        raise ValidationFailed(
            _("An avatar must be an image (PNG, JPEG, GIF or WebP); this is %(label)s.")
            % {"label": checked.file_type.label},
            code=error_codes.AVATAR_NOT_IMAGE,
            fields={"avatar": [_("Upload an image.")]},
        )
    return checked.image.thumbnail, checked.image.thumbnail_ext


# --- Attaching to messages ------------------------------------------------------------------


@transaction.atomic
def media_attach(*, files: list[MediaFile], chat: Chat) -> None:
    """Files posted in a chat belong to it from then on (download access follows the chat's
    messages). Each file is taken once: a file that another message took meanwhile (two sends
    racing with the same attachment) refuses the send, whose transaction then rolls back."""
    ids = {f.pk for f in files}
    if not ids:
        return
    taken = (
        MediaFile.objects.filter(
            pk__in=ids, organization_id=chat.organization_id, attached_at__isnull=True
        )
        .filter(Q(chat__isnull=True) | Q(chat=chat))
        .update(chat=chat, attached_at=timezone.now())
    )
    if taken != len(ids):
        raise ValidationFailed(
            _("Attachments must be your own uploaded files that are not attached elsewhere."),
            code=error_codes.INVALID_ATTACHMENTS,
            fields={"attachment_ids": [_("Unknown or unusable file.")]},
        )


# --- Remote storage -------------------------------------------------------------------------


def _remote_errors() -> tuple[type[BaseException], ...]:
    from boto3.exceptions import Boto3Error
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError, Boto3Error, ConnectionError, TimeoutError)


def _push(key: str, *, mime: str) -> None:
    """Copy one object to the remote store under the same key; a copy already there (from an
    attempt that died before recording it) is kept, so running twice uploads once."""
    local, remote = local_storage(), remote_storage()
    size = local.size(key)
    if remote.exists(key):
        if remote.size(key) == size:
            return
        remote.delete(key)  # not ours or incomplete: replace it
    with local.open(key, "rb") as fh:
        content = File(fh, name=key)
        content.content_type = mime
        saved = remote.save(key, content)
    if saved != key:
        raise RemoteStorageError(f"The remote store saved {key} as {saved}.")


def media_push_remote(*, media_id: int) -> str:
    """Copy a file waiting in the ``uploading`` state to the remote store, mark it ``remote``
    and remove the local copy after commit. Idempotent: any other state is left alone.

    Raises ``RemoteStorageError`` when the remote store fails (the task retries)."""
    media = MediaFile.objects.filter(pk=media_id).first()
    if media is None or media.storage_state != StorageState.UPLOADING:
        return media.storage_state if media else "missing"
    keys = [media.file.name] + ([media.thumbnail.name] if media.thumbnail else [])
    try:
        for key in keys:
            mime = media.mime if key == media.file.name else _thumbnail_mime(key)
            _push(key, mime=mime)
    except FileNotFoundError:
        # The local copy is gone: either another run finished meanwhile, or it was lost.
        media.refresh_from_db()
        if media.storage_state == StorageState.UPLOADING:
            media_mark_failed(media_id=media_id, error="The local copy is missing.")
        return media.storage_state
    except _remote_errors() as exc:
        raise RemoteStorageError(f"{type(exc).__name__}: {exc}") from exc
    with transaction.atomic():
        moved = MediaFile.objects.filter(pk=media_id, storage_state=StorageState.UPLOADING).update(
            storage_state=StorageState.REMOTE, storage_error=""
        )
        if moved:
            # Readers that saw "uploading" a moment ago may still be opening the local copy;
            # the download view falls back to the remote one when it has gone.
            transaction.on_commit(lambda: _delete_local(keys))
    return StorageState.REMOTE if moved else media.storage_state


def _thumbnail_mime(key: str) -> str:
    return "image/png" if key.endswith(".png") else "image/jpeg"


def thumbnail_mime(media: MediaFile) -> str:
    return _thumbnail_mime(media.thumbnail.name)


def media_remote_attempt_failed(*, media_id: int, error: str) -> None:
    """Keep the last error of an attempt that will be retried (shown in the admin)."""
    MediaFile.objects.filter(pk=media_id, storage_state=StorageState.UPLOADING).update(
        storage_error=error[:500]
    )
    logger.warning("Media %s: remote upload failed, will retry: %s", media_id, error)


def media_mark_failed(*, media_id: int, error: str) -> None:
    """The remote copy could not be made: the file stays local (and downloadable) as ``failed``
    until someone retries."""
    MediaFile.objects.filter(pk=media_id, storage_state=StorageState.UPLOADING).update(
        storage_state=StorageState.FAILED, storage_error=error[:500]
    )
    logger.error("Media %s could not be moved to remote storage: %s", media_id, error)


def media_resume_remote_uploads(*, older_than: timedelta, limit: int = 500) -> int:
    """Queue again files stuck in ``uploading`` far longer than all retries take (their task
    was lost with a broker's data, say). Running a file's task twice is harmless."""
    if not remote_enabled():
        return 0
    ids = list(
        MediaFile.objects.filter(
            storage_state=StorageState.UPLOADING, created_at__lt=timezone.now() - older_than
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    from media.tasks import media_upload_remote

    for media_id in ids:
        media_upload_remote.delay(media_id)
    return len(ids)


@transaction.atomic
def media_remote_retry(*, organization: Organization | None, media_ids: list[int]) -> int:
    """Queue files whose remote copy failed for another try; returns how many."""
    if not remote_enabled():
        return 0
    files = MediaFile.objects.filter(pk__in=media_ids, storage_state=StorageState.FAILED)
    if organization is not None:
        files = files.filter(organization=organization)
    ids = list(files.values_list("pk", flat=True))
    MediaFile.objects.filter(pk__in=ids).update(
        storage_state=StorageState.UPLOADING, storage_error=""
    )
    from media.tasks import media_upload_remote

    for media_id in ids:
        media_upload_remote.delay_on_commit(media_id)
    return len(ids)


@transaction.atomic
def media_delete(*, files: list[MediaFile]) -> int:
    """Delete files and, after commit, their bytes wherever they are."""
    rows = list(MediaFile.objects.filter(pk__in=[f.pk for f in files]))
    local_keys = []
    remote_keys = []
    for media in rows:
        keys = [media.file.name, media.thumbnail.name]
        (remote_keys if media.storage_state == StorageState.REMOTE else local_keys).extend(keys)
        if media.storage_state == StorageState.UPLOADING:
            remote_keys.extend(keys)  # a copy may have reached the remote store
    MediaFile.objects.filter(pk__in=[m.pk for m in rows]).delete()

    def remove() -> None:
        _delete_local(local_keys)
        if remote_keys and remote_enabled():
            storage = remote_storage()
            for key in filter(None, remote_keys):
                try:
                    storage.delete(key)
                except _remote_errors():
                    logger.warning("Could not delete remote media %s", key, exc_info=True)

    transaction.on_commit(remove)
    return len(rows)
