"""Small presentation helpers shared by the workspace templates (and mirrored in inbox.js)."""

from __future__ import annotations

import re
from datetime import datetime

from django import template
from django.utils import timezone

register = template.Library()

PREVIEW_LENGTH = 120


@register.filter
def display_name(user) -> str:
    """What the API calls a user (``user_brief``): the name, else the email's local part."""
    if user is None:
        return ""
    if isinstance(user, str):
        return user
    return user.name or user.email.split("@")[0]


@register.filter
def initials(user) -> str:
    """Up to two letters for an avatar: "Paula Customer" → "PC", "bob.smith" → "BS"."""
    words = re.split(r"[\s._-]+", display_name(user).strip())
    words = [w for w in words if w]
    if not words:
        return "?"
    return "".join(w[0] for w in words[:2]).upper()


@register.filter
def avatar_hue(value: object) -> int:
    """A stable hue for an avatar's background, from an id or a name."""
    text = str(value or "")
    total = 0
    for char in text:
        total = (total * 31 + ord(char)) % 360
    return total


@register.filter
def ago(moment: datetime | None, now: datetime | None = None) -> str:
    """A compact relative time: "now", "5m", "3h", "2d", then the date."""
    if moment is None:
        return ""
    now = now or timezone.now()
    seconds = max(0, (now - moment).total_seconds())
    if seconds < 60:
        return "now"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h"
    if seconds < 7 * 86400:
        return f"{int(seconds // 86400)}d"
    local = timezone.localtime(moment)
    if local.year == timezone.localtime(now).year:
        return local.strftime("%b %-d")
    return local.strftime("%b %-d, %Y")


@register.filter
def preview(message) -> str:
    """One line of the last message: its text, else what it carries."""
    if message is None:
        return ""
    if message.deleted_at is not None:
        return "Message deleted"
    text = " ".join((message.text or "").split())
    if not text:
        names = [f.original_name for f in message.attachments.all()]
        text = ("📎 " + ", ".join(names)) if names else ""
    return text[:PREVIEW_LENGTH]


@register.filter
def duration(seconds: float | None) -> str:
    """A median time for a card: "42s", "3m 5s", "1h 20m"; "—" without data."""
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        return f"{minutes}m {rest}s" if rest else f"{minutes}m"
    hours, rest = divmod(seconds, 3600)
    return f"{hours}h {rest // 60}m"


@register.filter
def startswith(value: str, prefix: str) -> bool:
    return bool(prefix) and str(value or "").startswith(str(prefix))
