"""Periodic upkeep of chat state."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import OperationalError

from chats import services

logger = logging.getLogger(__name__)


@shared_task(
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    max_retries=5,
    acks_late=True,
    reject_on_worker_lost=True,
)
def unread_counts_reconcile(chat_ids: list[int] | None = None) -> int:
    """Rebuild cached unread counts from the read pointers (all chats, or ``chat_ids``).

    Idempotent: a second run finds nothing to fix. Any row it does fix means some write path
    let a count drift, so it is logged as a warning.
    """
    fixed = services.unread_counts_rebuild(chat_ids=chat_ids)
    if fixed:
        logger.warning("Unread counts: fixed %d membership row(s) that had drifted.", fixed)
    return fixed
