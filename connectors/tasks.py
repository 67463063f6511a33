"""Celery tasks of the channels: take ids, are idempotent, retry with backoff."""

from __future__ import annotations

import logging
import random
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import DatabaseError

from connectors import services
from connectors.base import RetryLater

logger = logging.getLogger(__name__)


def backoff(retries: int) -> float:
    """Exponential, capped, with jitter so a provider outage does not end in a stampede."""
    base = settings.CONNECTOR_RETRY_BACKOFF * (2**retries)
    return min(base, settings.CONNECTOR_RETRY_BACKOFF_MAX) * random.uniform(0.8, 1.2)


@shared_task(bind=True, max_retries=None, acks_late=True, reject_on_worker_lost=True)
def message_deliver(self, message_id: int) -> None:
    """Send one outbound message (see ``connectors.services`` for what is safe to repeat)."""
    try:
        services.message_deliver(message_id=message_id)
    except services.InProgress:
        raise self.retry(countdown=settings.CONNECTOR_TIMEOUT_SECONDS + 31) from None
    except RetryLater as exc:
        if self.request.retries >= settings.CONNECTOR_MAX_RETRIES:
            services.message_deliver_gave_up(message_id=message_id, error=exc)
            return
        wait = exc.retry_after if exc.retry_after is not None else backoff(self.request.retries)
        logger.info("Message %s: %s; retrying in %.1fs", message_id, exc.detail, wait)
        raise self.retry(countdown=wait) from None


@shared_task(bind=True, max_retries=None, acks_late=True, reject_on_worker_lost=True)
def webhook_update_process(self, update_id: int) -> None:
    """Turn a stored webhook delivery into messages; file fetches retry with backoff, and on
    the last try the message is stored without the file (with a note) rather than lost."""
    final = self.request.retries >= settings.CONNECTOR_MAX_RETRIES
    try:
        services.webhook_update_process(update_id=update_id, final=final)
    except (services.RetryFetch, DatabaseError) as exc:
        services.webhook_update_failed(update_id=update_id, error=str(exc))
        if final:
            raise
        raise self.retry(countdown=backoff(self.request.retries)) from None


@shared_task
def webhook_updates_prune() -> int:
    return services.webhook_updates_prune(
        older_than=timedelta(hours=settings.CONNECTOR_UPDATE_RETENTION_HOURS)
    )


@shared_task
def connectors_resume() -> tuple[int, int]:
    return services.connectors_resume(older_than=timedelta(minutes=2))
