"""Celery tasks of the media app: thin, idempotent, retried with backoff."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings

from media import services
from media.errors import RemoteStorageError


def retry_delay(retries: int) -> float:
    """Exponential backoff: base, 2 × base, 4 × base ... capped at an hour."""
    return min(settings.MEDIA_REMOTE_RETRY_BACKOFF * 2**retries, 3600.0)


@shared_task(bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def media_upload_remote(self, media_id: int) -> str:
    """Copy a file to the remote store (S3/R2) and drop the local copy. After
    ``MEDIA_REMOTE_MAX_RETRIES`` failed retries the file stays local in state ``failed``."""
    try:
        return services.media_push_remote(media_id=media_id)
    except RemoteStorageError as exc:
        if self.request.retries >= settings.MEDIA_REMOTE_MAX_RETRIES:
            services.media_mark_failed(media_id=media_id, error=str(exc))
            return "failed"
        services.media_remote_attempt_failed(media_id=media_id, error=str(exc))
        raise self.retry(
            exc=exc,
            countdown=retry_delay(self.request.retries),
            max_retries=settings.MEDIA_REMOTE_MAX_RETRIES,
        ) from exc


@shared_task(ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def media_resume_remote_uploads() -> int:
    """Periodic (beat, with remote storage): files whose upload task was lost."""
    return services.media_resume_remote_uploads(older_than=timedelta(hours=2))
