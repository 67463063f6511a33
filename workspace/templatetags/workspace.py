"""Small presentation helpers shared by the workspace templates (and mirrored in inbox.js)."""

from __future__ import annotations

import re
from datetime import datetime

from django import template
from django.utils import formats, timezone
from django.utils.translation import gettext as _

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
        return _("now")
    if seconds < 3600:
        return _("%(count)sm") % {"count": int(seconds // 60)}
    if seconds < 86400:
        return _("%(count)sh") % {"count": int(seconds // 3600)}
    if seconds < 7 * 86400:
        return _("%(count)sd") % {"count": int(seconds // 86400)}
    local = timezone.localtime(moment)
    if local.year == timezone.localtime(now).year:
        return formats.date_format(local, "MONTH_DAY_FORMAT")
    return formats.date_format(local, "DATE_FORMAT")


@register.filter
def preview(message) -> str:
    """One line of the last message: its text, else what it carries."""
    if message is None:
        return ""
    if message.deleted_at is not None:
        return _("Message deleted")
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
        return _("%(seconds)ss") % {"seconds": seconds}
    if seconds < 3600:
        minutes, rest = divmod(seconds, 60)
        if rest:
            return _("%(minutes)sm %(seconds)ss") % {"minutes": minutes, "seconds": rest}
        return _("%(count)sm") % {"count": minutes}
    hours, rest = divmod(seconds, 3600)
    return _("%(hours)sh %(minutes)sm") % {"hours": hours, "minutes": rest // 60}


@register.filter
def startswith(value: str, prefix: str) -> bool:
    return bool(prefix) and str(value or "").startswith(str(prefix))
