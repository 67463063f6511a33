"""Support statistics of an organization, computed by the database (no Python loops over rows).

Medians: PostgreSQL's ``percentile_cont(0.5)``; elsewhere (SQLite) the middle one or two
durations picked with ORDER BY / LIMIT / OFFSET after a COUNT.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Aggregate, Count, F, FloatField, Func, Q, QuerySet

from accounts.models import Organization
from chats.models import Chat, ChatKind, ChatStatus
from crm.tenancy import scoped
from operators.selectors import operators_of


class DurationSeconds(Func):
    """``end - start`` in seconds, as a float."""

    output_field = FloatField()
    arity = 2

    def as_sql(self, compiler, connection, **extra_context):
        # SQLite keeps datetimes as ISO text in UTC: julianday() reads them.
        return super().as_sql(
            compiler,
            connection,
            template="((julianday(%(expressions)s)) * 86400.0)",
            arg_joiner=") - julianday(",
            **extra_context,
        )

    def as_postgresql(self, compiler, connection, **extra_context):
        return super().as_sql(
            compiler,
            connection,
            template="EXTRACT(EPOCH FROM (%(expressions)s))::float",
            arg_joiner=" - ",
            **extra_context,
        )


class Median(Aggregate):
    """PostgreSQL only: the continuous median of the expression."""

    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()


@dataclass(frozen=True)
class MedianResult:
    median_seconds: float | None
    count: int


def median_duration(chats: QuerySet[Chat], *, end: str, start: str = "created_at") -> MedianResult:
    """The median of ``end - start`` over ``chats`` (rows where ``end`` is set)."""
    chats = chats.filter(**{f"{end}__isnull": False}).order_by()
    duration = DurationSeconds(F(end), F(start))
    if connection.vendor == "postgresql":
        row = chats.aggregate(median=Median(duration), count=Count("pk"))
        median, count = row["median"], row["count"]
    else:
        count = chats.count()
        if not count:
            return MedianResult(None, 0)
        middle = list(
            chats.annotate(seconds=duration)
            .order_by("seconds")
            .values_list("seconds", flat=True)[(count - 1) // 2 : count // 2 + 1]
        )
        median = sum(middle) / len(middle) if middle else None
    return MedianResult(round(median, 1) if median is not None else None, count)


def support_stats(*, organization: Organization | int, since: datetime, until: datetime) -> dict:
    """Counts by status now, the backlog, each operator's load, and the median first-response
    and resolution times of the period ``[since, until)``.

    First response: chats answered in the period, ``first_response_at - created_at``.
    Resolution: chats closed in the period (and still closed), ``closed_at - created_at``.
    """
    chats = scoped(Chat.objects.filter(kind=ChatKind.SUPPORT), organization)
    in_period = {"gte": since, "lt": until}
    counts = chats.aggregate(
        open=Count("pk", filter=Q(status=ChatStatus.OPEN)),
        pending=Count("pk", filter=Q(status=ChatStatus.PENDING)),
        closed=Count("pk", filter=Q(status=ChatStatus.CLOSED)),
        unassigned=Count("pk", filter=Q(status=ChatStatus.OPEN, assignee__isnull=True)),
        created=Count("pk", filter=Q(created_at__gte=since, created_at__lt=until)),
    )
    first_response = median_duration(
        chats.filter(**{f"first_response_at__{k}": v for k, v in in_period.items()}),
        end="first_response_at",
    )
    resolution = median_duration(
        chats.filter(
            status=ChatStatus.CLOSED, **{f"closed_at__{k}": v for k, v in in_period.items()}
        ),
        end="closed_at",
    )
    return {
        "period": {"from": since, "to": until},
        **counts,
        "operators": list(operators_of(organization=organization)),
        "first_response": first_response,
        "resolution": resolution,
    }
