"""Delivery without gaps (SPEC 6b) over /ws/: every event frame carries a cursor; a client that
reconnects with the last one gets every event it missed, in order and once, then live ones;
past the log's retention, or with a cursor that is not ours, it is told to refetch. Real
consumers and services; the log is the process's on the embedded default and Redis' with
REDIS_URL."""

from __future__ import annotations

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import Role
from accounts.tests.factories import OrganizationFactory, UserFactory
from chats.services import message_send
from chats.tests.factories import support_chat
from chats.tests.realtime_fixtures import *  # noqa: F403 (fixtures)
from chats.tests.realtime_fixtures import frames, sync
from crm import hub

pytestmark = pytest.mark.django_db(transaction=True)


def _query(user, cursor: str | None = None) -> str:
    query = f"token={AccessToken.for_user(user)}"
    return query + (f"&cursor={cursor}" if cursor else "")


async def _send(user, chat, text: str):
    return await sync(message_send)(sender=user, chat=chat, text=text)


def _events(received: list[dict], kind: str = "message:new") -> list[dict]:
    return [f for f in received if f["type"] == kind]


async def test_every_event_frame_carries_a_cursor_and_the_greeting_one_to_start_from(
    ws, customer, operator
):
    chat = await sync(support_chat)(customer)
    staff = await ws(operator)
    greeting = staff.established["data"]
    assert greeting["resumed"] is False and hub.cursor_parse(greeting["cursor"])
    await _send(customer, chat, "one")
    await _send(customer, chat, "two")
    received = _events(await frames(staff))
    assert [f["data"]["text"] for f in received] == ["one", "two"]
    positions = [hub.cursor_parse(f["cursor"])[1] for f in received]
    start = hub.cursor_parse(greeting["cursor"])[1]
    assert start < positions[0] < positions[1]


async def test_reconnecting_with_the_cursor_replays_exactly_what_was_missed(ws, customer, operator):
    chat = await sync(support_chat)(customer)
    first = await ws(operator)
    await _send(customer, chat, "seen")
    seen = _events(await frames(first))
    assert [f["data"]["text"] for f in seen] == ["seen"]
    cursor = seen[-1]["cursor"]
    await first.disconnect()

    missed = [await _send(customer, chat, f"missed {i}") for i in range(3)]

    again = await ws(operator, query=_query(operator, cursor))
    assert again.established["data"]["resumed"] is True
    await _send(customer, chat, "live")
    received = _events(await frames(again))
    texts = [f["data"]["text"] for f in received]
    assert texts == ["missed 0", "missed 1", "missed 2", "live"]  # in order, each once
    assert [f["data"]["id"] for f in received[:3]] == [r.message.pk for r in missed]
    # Resuming again from the last replayed one gives only what came after it.
    again_cursor = received[2]["cursor"]
    await again.disconnect()
    third = await ws(operator, query=_query(operator, again_cursor))
    assert third.established["data"]["resumed"] is True
    assert [f["data"]["text"] for f in _events(await frames(third))] == ["live"]


async def test_a_customer_resuming_gets_only_their_own_events(ws, customer, operator):
    organization = customer.organization
    other = await sync(UserFactory)(organization=organization, role=Role.CUSTOMER)
    foreign_org = await sync(OrganizationFactory)()
    foreigner = await sync(UserFactory)(organization=foreign_org, role=Role.CUSTOMER)
    mine = await sync(support_chat)(customer)
    theirs = await sync(support_chat)(other)
    foreign = await sync(support_chat)(foreigner)
    first = await ws(customer)
    cursor = first.established["data"]["cursor"]
    await first.disconnect()

    await _send(operator, mine, "for me")
    await _send(operator, theirs, "for the other customer")
    await _send(foreigner, foreign, "another organization")
    staff_note = await sync(message_send)(sender=operator, chat=mine, text="note", kind="note")

    again = await ws(customer, query=_query(customer, cursor))
    assert again.established["data"]["resumed"] is True
    received = await frames(again)
    texts = [f["data"].get("text") for f in _events(received)]
    assert texts == ["for me"]
    ids = {f["data"].get("id") for f in received if isinstance(f.get("data"), dict)}
    assert staff_note.message.pk not in ids


async def test_staff_of_another_organization_never_get_the_replay(ws, customer, operator):
    chat = await sync(support_chat)(customer)
    foreign_org = await sync(OrganizationFactory)()
    stranger = await sync(UserFactory)(organization=foreign_org, role=Role.OPERATOR)
    first = await ws(stranger)
    cursor = first.established["data"]["cursor"]
    await first.disconnect()
    await _send(customer, chat, "not for you")
    again = await ws(stranger, query=_query(stranger, cursor))
    assert again.established["data"]["resumed"] is True
    assert _events(await frames(again)) == []


@pytest.mark.parametrize(
    "cursor",
    ["nonsense", "abc.1-2-3", "ffff.1-1", "0" * 200, "deadbeef.99999999999-1"],
    ids=["garbage", "malformed", "other epoch", "too long", "from another log"],
)
async def test_a_cursor_that_is_not_ours_means_refetch(ws, customer, operator, cursor):
    chat = await sync(support_chat)(customer)
    again = await ws(operator, query=_query(operator, cursor))
    greeting = again.established["data"]
    assert greeting["resumed"] is False
    assert greeting["cursor"] != cursor and hub.cursor_parse(greeting["cursor"])
    await _send(customer, chat, "live")  # and live events flow as usual
    assert [f["data"]["text"] for f in _events(await frames(again))] == ["live"]


async def test_a_cursor_past_the_retention_means_refetch(ws, settings, customer, operator):
    """The log keeps at least EVENT_LOG_MIN_EVENTS per group: a client that missed more than
    what is kept is told to refetch rather than given a gap."""
    settings.EVENT_LOG_MIN_EVENTS = 3
    settings.EVENT_LOG_MAX_EVENTS = 3
    settings.EVENT_LOG_RETENTION_SECONDS = 0
    chat = await sync(support_chat)(customer)
    first = await ws(operator)
    cursor = first.established["data"]["cursor"]
    await first.disconnect()
    for i in range(120):  # Redis trims in whole nodes of its stream: well past the cap
        await _send(customer, chat, f"m{i}")
    again = await ws(operator, query=_query(operator, cursor))
    assert again.established["data"]["resumed"] is False
    assert _events(await frames(again)) == []  # nothing replayed: the page refetches


async def test_a_demoted_user_resumes_without_the_staff_events(ws, customer, operator):
    chat = await sync(support_chat)(customer)
    first = await ws(operator)
    cursor = first.established["data"]["cursor"]
    await first.disconnect()
    await _send(customer, chat, "staff saw this")
    operator.role = Role.CUSTOMER
    await sync(operator.save)()
    again = await ws(operator, query=_query(operator, cursor))
    assert again.established["data"]["resumed"] is True
    assert _events(await frames(again)) == []
