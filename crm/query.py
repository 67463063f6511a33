"""Query-parameter fields every list endpoint validates with: bounded ids and real date-times.

DRF's own fields let through what the database cannot take: ids past 64 bits (an
OverflowError), time zone offsets no place uses (PostgreSQL refuses ``+20:00``) and date-times
whose UTC value falls outside the years Python can hold. These answer 400 instead. (DRF's
CharField already refuses NUL bytes, which PostgreSQL cannot store or compare.)
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from rest_framework import serializers

ID_MAX = 2**63 - 1
# The earliest and latest instants a filter may name; wide enough for any real data and far
# enough from datetime.min/max that subtracting a year of stats never overflows.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
MAX_OFFSET = timedelta(hours=14)


def id_field(**kwargs) -> serializers.IntegerField:
    return serializers.IntegerField(min_value=1, max_value=ID_MAX, **kwargs)


def is_id(text: str) -> bool:
    """An id as text: ASCII digits only (``"¹".isdigit()`` is true), within 64 bits."""
    return text.isascii() and text.isdigit() and 0 < int(text) <= ID_MAX


class BoundedDateTimeField(serializers.DateTimeField):
    """An ISO 8601 date-time with a real time zone offset, between 1970 and 9000."""

    def to_internal_value(self, value):
        if isinstance(value, str):
            if len(value) > 64:
                self.fail("invalid", format="ISO 8601")
            try:
                given = parse_datetime(value.strip())
            except ValueError:
                given = None
            offset = given.utcoffset() if given is not None else None
            if offset is not None and abs(offset) > MAX_OFFSET:
                raise serializers.ValidationError(
                    _("The time zone offset is out of range (±14:00).")
                )
        parsed = super().to_internal_value(value)
        try:
            instant = parsed.astimezone(UTC)
        except (OverflowError, ValueError):
            instant = None
        if instant is None or not (EARLIEST <= instant <= LATEST):
            raise serializers.ValidationError(_("The date is out of range (1970 to 9000)."))
        return parsed
