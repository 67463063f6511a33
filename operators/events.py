"""Operator events: what goes on the wire and to whom. Sent on commit through crm.events."""

from __future__ import annotations

from crm.events import send_event, staff_group
from operators.models import OperatorProfile


def operator_status(profile: OperatorProfile, *, organization_id: int) -> None:
    send_event(
        "operator:status",
        {"user_id": profile.user_id, "availability": profile.availability},
        groups=[staff_group(organization_id)],
    )
