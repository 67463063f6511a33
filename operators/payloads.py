"""What goes on the wire for operators, canned responses and stats."""

from __future__ import annotations

from django.conf import settings

from accounts.models import User
from chats.payloads import user_brief
from operators.models import Availability, CannedResponse, OperatorProfile
from operators.stats import MedianResult


def operator_data(user: User) -> dict:
    """Expects ``operator_profile`` selected and ``open_chats``/``pending_chats`` annotated
    (``operators.selectors.operators_of``); a staff member without a profile shows defaults."""
    try:
        profile: OperatorProfile | None = user.operator_profile
    except OperatorProfile.DoesNotExist:
        profile = None
    return {
        "id": user.pk,
        "user": user_brief(user),
        "availability": profile.availability if profile else Availability.OFFLINE,
        "capacity": profile.capacity if profile else settings.OPERATOR_DEFAULT_CAPACITY,
        "open_chats": getattr(user, "open_chats", None),
        "pending_chats": getattr(user, "pending_chats", None),
        "last_assigned_at": profile.last_assigned_at if profile else None,
    }


def canned_response_data(response: CannedResponse) -> dict:
    return {
        "id": response.pk,
        "shortcut": response.shortcut,
        "text": response.text,
        "created_at": response.created_at,
        "updated_at": response.updated_at,
    }


def _median_data(result: MedianResult) -> dict:
    return {"median_seconds": result.median_seconds, "count": result.count}


def stats_data(stats: dict) -> dict:
    return {
        **stats,
        "operators": [operator_data(u) for u in stats["operators"]],
        "first_response": _median_data(stats["first_response"]),
        "resolution": _median_data(stats["resolution"]),
    }
