"""Working hours of an inbox, in its time zone (zoneinfo: daylight saving time included)."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from chats.models import Inbox
from chats.services.inboxes import DAYS


def _local(inbox: Inbox, at: datetime) -> datetime:
    return at.astimezone(ZoneInfo(inbox.timezone or "UTC"))


def inbox_is_open(inbox: Inbox, *, at: datetime) -> bool:
    """Whether ``at`` falls within the inbox's working hours. No working hours: always open;
    a day missing from them: closed all day. Ranges include their start, not their end."""
    if not inbox.working_hours:
        return True
    local = _local(inbox, at)
    now = local.strftime("%H:%M")
    ranges = inbox.working_hours.get(DAYS[local.weekday()], [])
    return any(start <= now < end for start, end in ranges)


def inbox_local_date(inbox: Inbox, *, at: datetime) -> date:
    """The calendar day at the inbox (the away message goes out once per such day)."""
    return _local(inbox, at).date()
