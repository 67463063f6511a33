"""Unread counts without a per-staff event storm (issue 14, item 2), over real /ws/ connections
(the in-memory channel layer, or Redis with REDIS_URL) and real services.

A message costs the same publishes whatever the number of staff; ``unread:updated`` goes only
to the user whose own count changed by their own action (every tab of theirs hears it);
``connection:established`` carries the user's unread total; the stored counts the API returns
stay exact."""

from __future__ import annotations

import pytest

from accounts.models import Role
from accounts.tests.factories import UserFactory
from chats.models import ChatKind
from chats.services import (
    chat_mark_read,
    chat_participant_remove,
    message_delete,
    message_post_automated,
    message_send,
)
from chats.tests.factories import internal_chat, support_chat
from chats.tests.realtime_fixtures import *  # noqa: F403 (fixtures)
from chats.tests.realtime_fixtures import frames, receive_type, request, sync, types_of
from crm import events

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def chat(customer):
    return support_chat(customer)


def _counts(client_for, user) -> dict:
    response = client_for(user).get("/api/unread/counts")
    assert response.status_code == 200
    return response.json()


class Published:
    """Events as they are published: how many, and how many group sends."""

    def __init__(self):
        self.events: list[tuple[str, tuple[str, ...]]] = []

    def __call__(self, event_type, data, groups):
        self.events.append((event_type, tuple(groups)))

    def shape(self) -> tuple[int, int, list[str]]:
        return (
            len(self.events),
            sum(len(groups) for _, groups in self.events),
            sorted(t for t, _ in self.events),
        )


async def _publishes_with_staff(ws, organization, n: int) -> dict[str, tuple]:
    """A support chat in an organization with ``n`` more operators, all connected: what a
    customer message, a staff reply, an automated reply and a delete each publish."""
    customer = await sync(UserFactory)(organization=organization, role=Role.CUSTOMER)
    staff = [
        await sync(UserFactory)(organization=organization, role=Role.OPERATOR) for _ in range(n)
    ]
    chat = await sync(support_chat)(customer)
    sockets = [await ws(user) for user in staff]
    shapes = {}
    published = Published()
    stop = events.observe(published)
    try:
        for name, write in (
            ("customer", lambda: message_send(sender=customer, chat=chat, text="hi")),
            ("reply", lambda: message_send(sender=staff[0], chat=chat, text="hello")),
            ("automated", lambda: message_post_automated(chat=chat, text="We are away")),
            ("customer again", lambda: message_send(sender=customer, chat=chat, text="ok")),
        ):
            published.events.clear()
            result = await sync(write)()
            shapes[name] = published.shape()
        published.events.clear()
        await sync(message_delete)(actor=customer, message=result.message)
        shapes["delete"] = published.shape()
    finally:
        stop()
    # Every connected staff member heard the messages, none got an unread:updated for them
    # (staff[0] wrote the reply, which read the chat for them: theirs, to them).
    for comm in sockets[1:]:
        types = [frame["type"] for frame in await frames(comm)]
        assert types.count("message:new") == 4, types
        assert "unread:updated" not in types
    return shapes


async def test_a_message_costs_the_same_publishes_for_2_and_30_staff(ws, organization):
    few = await _publishes_with_staff(ws, organization, 2)
    many = await _publishes_with_staff(ws, organization, 30)
    assert few == many
    # One message:new to the staff group and the customer. A sender who had something unread
    # in the chat (the replying operator, the customer writing again): one unread:updated
    # more, to the sender alone.
    assert few["customer"] == (1, 2, ["message:new"])
    assert few["reply"] == (2, 3, ["message:new", "unread:updated"])
    assert few["automated"] == (1, 2, ["message:new"])
    assert few["customer again"] == (2, 3, ["message:new", "unread:updated"])
    assert few["delete"] == (1, 2, ["message:updated"])


async def test_staff_hear_no_unread_for_others_messages_and_the_api_counts_stay_exact(
    ws, chat, customer, operator, admin_user, client_for
):
    op, adm = await ws(operator), await ws(admin_user)
    first = (await sync(message_send)(sender=customer, chat=chat, text="one")).message
    await sync(message_send)(sender=customer, chat=chat, text="two")
    await sync(message_post_automated)(chat=chat, text="An operator will answer soon")
    note = (await sync(message_send)(sender=operator, chat=chat, text="mine", kind="note")).message
    types = await types_of(adm)
    assert types.count("message:new") == 4 and "unread:updated" not in types
    # The operator's note read the chat for them: their own count, to their own tab.
    got = await frames(op)
    assert [f["type"] for f in got].count("message:new") == 4
    assert [f["data"] for f in got if f["type"] == "unread:updated"] == [
        {"chat_id": chat.pk, "unread_count": 0, "total": 0}
    ]
    # The stored counts: the admin has all four (a colleague's note counts for staff), the
    # operator none, the customer the automated reply (not the note, not their own).
    admin_counts = await sync(_counts)(client_for, admin_user)
    assert admin_counts["total"] == 4 and admin_counts["chats"] == {str(chat.pk): 4}
    assert (await sync(_counts)(client_for, operator))["total"] == 0
    assert (await sync(_counts)(client_for, customer))["total"] == 1

    await sync(message_delete)(actor=customer, message=first)
    assert "unread:updated" not in await types_of(adm)
    assert (await sync(_counts)(client_for, admin_user))["total"] == 3
    assert note.staff_only


async def test_a_send_that_reads_tells_the_senders_own_tabs_only(
    ws, chat, customer, operator, admin_user
):
    await sync(message_send)(sender=operator, chat=chat, text="hello")
    tab1, tab2, op = await ws(customer), await ws(customer), await ws(operator)
    await sync(message_send)(sender=customer, chat=chat, text="thanks")
    for tab in (tab1, tab2):
        data = (await receive_type(tab, "unread:updated"))["data"]
        assert data == {"chat_id": chat.pk, "unread_count": 0, "total": 0}
    assert "unread:updated" not in await types_of(op)


async def test_a_read_on_one_tab_reaches_the_users_other_tabs_and_nobody_else(
    ws, chat, customer, operator, admin_user
):
    await sync(message_send)(sender=customer, chat=chat, text="one")
    sent = (await sync(message_send)(sender=customer, chat=chat, text="two")).message
    reading, other_tab = await ws(operator), await ws(operator)
    colleague, cust = await ws(admin_user), await ws(customer)

    ack = await request(reading, "messages:read", {"chat_id": chat.pk, "up_to": sent.pk})
    assert ack["type"] == "ack"
    for tab in (reading, other_tab):
        data = (await receive_type(tab, "unread:updated"))["data"]
        assert data == {"chat_id": chat.pk, "unread_count": 0, "total": 0}
    for comm in (colleague, cust):
        types = await types_of(comm)
        assert "messages:read" in types and "unread:updated" not in types


async def test_established_carries_the_unread_total(ws, chat, customer, operator, admin_user):
    assert (await ws(operator)).established["data"]["unread_total"] == 0
    await sync(message_send)(sender=customer, chat=chat, text="one")
    await sync(message_send)(sender=customer, chat=chat, text="two")
    team = await sync(internal_chat)(ChatKind.DIRECT, [operator, admin_user])
    await sync(message_send)(sender=admin_user, chat=team, text="lunch?")
    await sync(message_send)(sender=operator, chat=team, text="mine: not counted")

    established = (await ws(operator)).established["data"]
    assert established["unread_total"] == 2  # writing in the team chat read "lunch?"
    assert established["user"]["id"] == operator.pk and established["server_time"]
    assert (await ws(customer)).established["data"]["unread_total"] == 0
    assert (await ws(admin_user)).established["data"]["unread_total"] == 3

    await sync(chat_mark_read)(user=admin_user, chat=chat)
    assert (await ws(admin_user)).established["data"]["unread_total"] == 1


async def test_a_participant_removed_with_unread_hears_their_count_gone(
    ws, operator, admin_user, senior_operator
):
    team = await sync(internal_chat)(ChatKind.GROUP, [operator, admin_user, senior_operator])
    await sync(message_send)(sender=admin_user, chat=team, text="agenda")
    removed, stayed = await ws(senior_operator), await ws(operator)
    await sync(chat_participant_remove)(actor=admin_user, chat=team, user_id=senior_operator.pk)
    data = (await receive_type(removed, "unread:updated"))["data"]
    assert data == {"chat_id": team.pk, "unread_count": 0, "total": 0}
    assert "unread:updated" not in await types_of(stayed)


async def test_without_the_database_the_greeting_has_no_total_and_the_connection_stands(
    ws, operator, monkeypatch
):
    from django.db import OperationalError

    from chats import realtime

    def down(user_ids):
        raise OperationalError("connection refused")

    monkeypatch.setattr(realtime, "unread_totals", down)
    comm = await ws(operator)
    assert comm.established["data"]["unread_total"] is None
    assert comm.established["data"]["user"]["id"] == operator.pk
    assert (await request(comm, "ping"))["type"] == "pong"
