"""Support statistics against a hand-built data set (medians checked by hand)."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from accounts.tests.factories import UserFactory
from chats.models import Chat
from chats.tests.factories import support_chat
from operators.stats import median_duration, support_stats

pytestmark = pytest.mark.django_db

T0 = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
PERIOD = {"since": datetime(2025, 3, 1, tzinfo=UTC), "until": datetime(2025, 3, 2, tzinfo=UTC)}


def chat_with(organization, **fields) -> Chat:
    chat = support_chat(UserFactory(organization=organization))
    Chat.objects.filter(pk=chat.pk).update(**fields)
    return chat


def s(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


@pytest.fixture
def data(organization, other_organization, operator, senior_operator):
    chat_with(
        organization,
        created_at=T0,
        first_response_at=s(60),
        closed_at=s(600),
        status="closed",
        assignee=operator,
    )
    chat_with(
        organization,
        created_at=T0,
        first_response_at=s(120),
        closed_at=s(1800),
        status="closed",
    )
    chat_with(organization, created_at=T0, first_response_at=s(300), assignee=operator)
    chat_with(
        organization,
        created_at=T0,
        first_response_at=s(30),
        status="pending",
        assignee=senior_operator,
    )
    chat_with(organization, created_at=T0)  # waiting, never answered
    before = T0 - timedelta(days=30)
    chat_with(
        organization,
        created_at=before,
        first_response_at=before + timedelta(seconds=5),
        closed_at=before + timedelta(days=1),
        status="closed",
    )
    # Another organization's wild numbers never leak in.
    chat_with(
        other_organization, created_at=T0, first_response_at=s(99999), closed_at=s(99999),
        status="closed",
    )  # fmt: skip


def test_numbers(data, organization, operator, senior_operator, django_assert_max_num_queries):
    with django_assert_max_num_queries(6):
        stats = support_stats(organization=organization, **PERIOD)
        operators = {u.pk: (u.open_chats, u.pending_chats) for u in stats["operators"]}
    assert (stats["open"], stats["pending"], stats["closed"]) == (2, 1, 3)
    assert stats["unassigned"] == 1
    assert stats["created"] == 5
    # First responses in the period: 30, 60, 120, 300 s → (60 + 120) / 2.
    assert (stats["first_response"].median_seconds, stats["first_response"].count) == (90.0, 4)
    # Resolved in the period: 600 and 1800 s; the chat closed a month ago does not count.
    assert (stats["resolution"].median_seconds, stats["resolution"].count) == (1200.0, 2)
    assert operators[operator.pk] == (1, 0)
    assert operators[senior_operator.pk] == (0, 1)


def test_odd_count_median_and_empty(organization):
    for seconds in (10, 1000, 70):
        chat_with(organization, created_at=T0, first_response_at=s(seconds))
    chats = Chat.objects.filter(organization=organization)
    assert median_duration(chats, end="first_response_at").median_seconds == 70.0
    assert median_duration(chats, end="closed_at").median_seconds is None
    assert median_duration(chats, end="closed_at").count == 0


def test_sub_second_precision(organization):
    chat_with(organization, created_at=T0, first_response_at=T0 + timedelta(milliseconds=1500))
    result = median_duration(
        Chat.objects.filter(organization=organization), end="first_response_at"
    )
    assert result.median_seconds == 1.5


def test_stats_api(data, client_for, operator):
    body = (
        client_for(operator)
        .get("/api/stats?from=2025-03-01T00:00:00Z&to=2025-03-02T00:00:00Z")
        .json()
    )
    assert body["first_response"] == {"median_seconds": 90.0, "count": 4}
    assert body["resolution"] == {"median_seconds": 1200.0, "count": 2}
    assert (body["open"], body["pending"], body["closed"], body["unassigned"]) == (2, 1, 3, 1)
    loads = {o["id"]: (o["open_chats"], o["pending_chats"]) for o in body["operators"]}
    assert loads[operator.pk] == (1, 0)


def test_median_runs_in_the_database(data, organization):
    """PostgreSQL: one aggregate with percentile_cont; elsewhere count + ORDER BY/OFFSET."""
    from django.db import connection as conn
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(conn) as ctx:
        median_duration(Chat.objects.filter(organization=organization), end="first_response_at")
    sql = " ".join(q["sql"] for q in ctx.captured_queries).lower()
    if connection.vendor == "postgresql":
        assert len(ctx) == 1 and "percentile_cont(0.5) within group" in sql
    else:
        assert len(ctx) == 2 and "offset" in sql and "julianday" in sql
