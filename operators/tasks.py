"""Background work of the assignment queue. Every task is idempotent and safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.db import DatabaseError

from operators import selectors, services

_RETRY = {
    "autoretry_for": (DatabaseError,),
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "max_retries": 5,
    "acks_late": True,
    "reject_on_worker_lost": True,
}


@shared_task(**_RETRY)
def operator_presence_lapse(user_id: int) -> bool:
    """Runs a grace period after an operator's last socket closed."""
    return services.operator_presence_lapse(user_id=user_id)


@shared_task(**_RETRY)
def operators_presence_sweep() -> int:
    """Periodic: operators past their grace period whose delayed task was lost."""
    return sum(
        services.operator_presence_lapse(user_id=user_id)
        for user_id in services.lapsed_operator_ids()
    )


@shared_task(**_RETRY)
def operators_backlog_drain() -> int:
    """Periodic: hand waiting chats to operators with room in every organization that has a
    backlog (room that appeared without a triggering action, e.g. a lapsed lock holder)."""
    return sum(
        len(services.backlog_drain(organization=org_id))
        for org_id in selectors.organizations_with_backlog()
    )
