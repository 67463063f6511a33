"""Server → client events over /ws/: every event of the protocol, who receives it and who must
not — across roles, chats and organizations. Real services emit the events; real connections
receive them."""

import asyncio
import time

import pytest
from django.db import transaction

from accounts.models import Role
from accounts.tests.factories import UserFactory
from chats import events as chat_events
from chats.models import ChatKind, Message
from chats.services import chat_mark_read, message_send, support_chat_get_or_create
from chats.tests.factories import internal_chat, support_chat
from chats.tests.realtime_fixtures import *  # noqa: F403 (fixtures)
from chats.tests.realtime_fixtures import frames, receive_type, request, sync, types_of
from crm.events import send_event, staff_group, user_group
from operators.services import chat_update_support_fields

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def second_customer(organization):
    return UserFactory(organization=organization, role=Role.CUSTOMER)


@pytest.fixture
def chat(customer):
    return support_chat(customer)


async def of_type(comm, kind: str) -> list[dict]:
    return [frame for frame in await frames(comm) if frame["type"] == kind]


# --- connection:established -----------------------------------------------------------------


async def test_established_goes_to_the_new_connection_only(ws, operator):
    first = await ws(operator)
    assert first.established["data"]["user"]["id"] == operator.id
    await ws(operator)
    assert "connection:established" not in await types_of(first)


# --- message:new ----------------------------------------------------------------------------


async def test_support_message_reaches_customer_and_all_staff_without_joining(
    ws, chat, customer, second_customer, operator, admin_user, other_admin, other_customer
):
    c, op, adm = await ws(customer), await ws(operator), await ws(admin_user)
    outsiders = [await ws(second_customer), await ws(other_admin), await ws(other_customer)]
    sent = (await sync(message_send)(sender=customer, chat=chat, text="hello")).message
    for comm in (c, op, adm):
        data = (await receive_type(comm, "message:new"))["data"]
        assert data["id"] == sent.id and data["chat_id"] == chat.id and data["text"] == "hello"
    for comm in outsiders:
        assert "message:new" not in await types_of(comm)


async def test_note_reaches_staff_only(ws, chat, customer, operator, admin_user):
    c, adm = await ws(customer), await ws(admin_user)
    await sync(message_send)(sender=operator, chat=chat, text="vip", kind="note")
    note = (await receive_type(adm, "message:new"))["data"]
    assert note["kind"] == "note" and note["staff_only"]
    assert "message:new" not in await types_of(c)


async def test_internal_chat_message_reaches_participants_only(
    ws, operator, senior_operator, admin_user, customer, other_admin
):
    group = await sync(internal_chat)(ChatKind.GROUP, [operator, senior_operator], name="Team")
    member, outsiders = (
        await ws(senior_operator),
        [
            await ws(admin_user),
            await ws(customer),
            await ws(other_admin),
        ],
    )
    await sync(message_send)(sender=operator, chat=group, text="standup")
    assert (await receive_type(member, "message:new"))["data"]["chat_id"] == group.id
    for comm in outsiders:  # staff of the organization too: they are not in this chat
        assert "message:new" not in await types_of(comm)


async def test_message_events_leave_only_after_commit(ws, chat, customer, operator):
    op = await ws(operator)
    committed = asyncio.Event()

    def send_in_slow_transaction():
        with transaction.atomic():
            message_send(sender=customer, chat=chat, text="wait for it")
            time.sleep(0.4)
        committed.set()

    task = asyncio.create_task(sync(send_in_slow_transaction)())
    await asyncio.sleep(0.25)
    assert not committed.is_set()
    assert "message:new" not in await types_of(op, quiet=0.05)
    await task
    assert (await receive_type(op, "message:new"))["data"]["text"] == "wait for it"


# --- message:updated ------------------------------------------------------------------------


async def test_message_updated_has_the_audience_of_message_new(
    ws, chat, customer, operator, other_admin
):
    c, op, other = await ws(customer), await ws(operator), await ws(other_admin)
    sent = (await sync(message_send)(sender=operator, chat=chat, text="typo")).message

    def edit():
        with transaction.atomic():
            Message.objects.filter(pk=sent.pk).update(text="fixed")
            sent.refresh_from_db()
            chat_events.message_updated(sent, participant_ids=[])

    await sync(edit)()
    for comm in (c, op):
        assert (await receive_type(comm, "message:updated"))["data"]["text"] == "fixed"
    assert "message:updated" not in await types_of(other)


# --- messages:read and unread:updated -------------------------------------------------------


async def test_read_receipt_reaches_chat_members_and_staff(
    ws, chat, customer, second_customer, operator, admin_user, other_admin
):
    sent = (await sync(message_send)(sender=operator, chat=chat, text="hi")).message
    c, adm = await ws(customer), await ws(admin_user)
    outsiders = [await ws(second_customer), await ws(other_admin)]
    await sync(chat_mark_read)(user=customer, chat=chat, up_to=sent.id)
    for comm in (c, adm):
        data = (await receive_type(comm, "messages:read"))["data"]
        assert data == {"chat_id": chat.id, "user_id": customer.id, "up_to": sent.id}
    for comm in outsiders:
        assert "messages:read" not in await types_of(comm)


async def test_unread_counts_go_to_the_user_whose_own_count_changed_only(
    ws, chat, customer, second_customer, operator, admin_user, other_admin
):
    """Other people's messages send no unread:updated (clients count them from message:new,
    see test_unread_events); writing, which reads the chat, tells the writer."""
    await sync(message_send)(sender=operator, chat=chat, text="staff read states exist now")
    c, op, adm = await ws(customer), await ws(operator), await ws(admin_user)
    outsiders = [await ws(second_customer), await ws(other_admin)]
    await sync(message_send)(sender=customer, chat=chat, text="question")
    data = (await receive_type(c, "unread:updated"))["data"]
    assert data == {"chat_id": chat.id, "unread_count": 0, "total": 0}
    for comm in (op, adm, *outsiders):
        assert "unread:updated" not in await types_of(comm)


# --- chat:new and chat:updated --------------------------------------------------------------


async def test_new_support_chat_reaches_staff_and_its_customer(
    ws, customer, second_customer, operator, other_admin
):
    c, op = await ws(customer), await ws(operator)
    outsiders = [await ws(second_customer), await ws(other_admin)]
    created, _ = await sync(support_chat_get_or_create)(customer=customer)
    staff_view = (await receive_type(op, "chat:new"))["data"]
    customer_view = (await receive_type(c, "chat:new"))["data"]
    assert staff_view["id"] == customer_view["id"] == created.id
    assert "email" in staff_view["customer"] and "email" not in customer_view["customer"]
    for comm in outsiders:
        assert "chat:new" not in await types_of(comm)


async def test_chat_updated_reaches_staff_and_the_customer(
    ws, chat, customer, second_customer, operator, admin_user, other_admin
):
    c, adm = await ws(customer), await ws(admin_user)
    outsiders = [await ws(second_customer), await ws(other_admin)]
    await sync(chat_update_support_fields)(actor=operator, chat=chat, priority="urgent")
    for comm in (c, adm):
        assert (await receive_type(comm, "chat:updated"))["data"]["priority"] == "urgent"
    for comm in outsiders:
        assert "chat:updated" not in await types_of(comm)


# --- Organization staff and user groups (operator:status, order:updated) -------------------


async def test_staff_group_and_user_group_events(
    ws, customer, second_customer, operator, admin_user, other_admin, other_customer
):
    """operator:status goes to the organization's staff; order:updated to the customer and
    staff. Every connection of the right users receives them, nobody else."""
    op, adm, c1, c2 = (
        await ws(operator),
        await ws(admin_user),
        await ws(customer),
        await ws(customer),
    )
    others = [await ws(second_customer), await ws(other_admin), await ws(other_customer)]

    def emit():
        with transaction.atomic():
            send_event(
                "operator:status",
                {"user_id": operator.id, "availability": "away"},
                groups=[staff_group(operator.organization_id)],
            )
            send_event(
                "order:updated",
                {"id": 7, "status": "shipped"},
                groups=[user_group(customer.id), staff_group(customer.organization_id)],
            )

    await sync(emit)()
    for comm in (op, adm):
        got = await types_of(comm)
        assert got.count("operator:status") == 1 and got.count("order:updated") == 1
    for comm in (c1, c2):
        got = await types_of(comm)
        assert "operator:status" not in got and got.count("order:updated") == 1
    for comm in others:
        got = await types_of(comm)
        assert "operator:status" not in got and "order:updated" not in got


# --- chat:join / chat:joined ----------------------------------------------------------------


async def test_join_checks_membership_and_organization(
    ws, chat, customer, second_customer, operator, admin_user, other_admin
):
    group = await sync(internal_chat)(ChatKind.GROUP, [operator], name="Ops")
    c, adm, other = await ws(customer), await ws(admin_user), await ws(other_admin)
    stranger = await ws(second_customer)

    joined = await request(c, "chat:join", {"chat_id": chat.id})
    assert joined == {"type": "ack", "id": "r1", "data": {"chat_id": chat.id}}
    assert (await request(adm, "chat:join", {"chat_id": chat.id}))["type"] == "ack"
    for comm, chat_id in ((stranger, chat.id), (other, chat.id), (adm, group.id), (c, 99999)):
        error = await request(comm, "chat:join", {"chat_id": chat_id})
        assert error["type"] == "error" and error["data"]["code"] == "chat_not_found"


async def test_chat_joined_goes_to_the_joining_connection_only(ws, chat, customer, operator):
    c1, c2, op = await ws(customer), await ws(customer), await ws(operator)
    await c1.send_json_to({"type": "chat:join", "data": {"chat_id": chat.id}})
    assert (await receive_type(c1, "chat:joined"))["data"] == {"chat_id": chat.id}
    assert "chat:joined" not in await types_of(c2)
    assert "chat:joined" not in await types_of(op)


# --- typing:start / typing:stop -------------------------------------------------------------


async def joined(comm, chat_id):
    assert (await request(comm, "chat:join", {"chat_id": chat_id}, rid="join"))["type"] == "ack"
    await frames(comm)
    return comm


async def test_typing_reaches_joined_connections_except_the_typist(
    ws, chat, customer, operator, admin_user, other_admin
):
    typist = await joined(await ws(customer), chat.id)
    typist_other_tab = await joined(await ws(customer), chat.id)
    watcher = await joined(await ws(operator), chat.id)
    not_joined, other = await ws(admin_user), await ws(other_admin)
    await frames(watcher)

    await typist.send_json_to({"type": "typing:start", "data": {"chat_id": chat.id}})
    start = await receive_type(watcher, "typing:start")
    assert start["data"] == {"chat_id": chat.id, "user_id": customer.id}
    await typist.send_json_to({"type": "typing:stop", "data": {"chat_id": chat.id}})
    assert (await receive_type(watcher, "typing:stop"))["data"]["user_id"] == customer.id
    for comm in (typist, typist_other_tab, not_joined, other):
        got = await types_of(comm)
        assert "typing:start" not in got and "typing:stop" not in got


async def test_typing_stops_by_itself_and_is_not_repeated_too_often(
    ws, chat, customer, operator, monkeypatch
):
    from chats import realtime

    monkeypatch.setattr(realtime, "TYPING_TIMEOUT_SECONDS", 0.3)
    typist = await joined(await ws(customer), chat.id)
    watcher = await joined(await ws(operator), chat.id)
    for _ in range(3):  # a client sending typing:start on every key press
        await typist.send_json_to({"type": "typing:start", "data": {"chat_id": chat.id}})
    got = await types_of(watcher, quiet=0.6)
    assert got.count("typing:start") == 1 and got.count("typing:stop") == 1
    assert got.index("typing:start") < got.index("typing:stop")


async def test_sending_leaving_or_closing_stops_typing(ws, chat, customer, operator):
    watcher = await joined(await ws(operator), chat.id)
    typist = await joined(await ws(customer), chat.id)
    await frames(watcher)
    for finish in ("message:send", "chat:leave", "close"):
        # After a stop, the next typing:start is passed on at once (no repeat delay).
        await typist.send_json_to({"type": "typing:start", "data": {"chat_id": chat.id}})
        await receive_type(watcher, "typing:start")
        if finish == "message:send":
            await request(typist, "message:send", {"chat_id": chat.id, "text": "done"})
        elif finish == "chat:leave":
            await request(typist, "chat:leave", {"chat_id": chat.id})
            await joined(typist, chat.id)
        else:
            await typist.disconnect()
        assert (await receive_type(watcher, "typing:stop"))["data"]["user_id"] == customer.id
        await frames(watcher)


async def test_typing_needs_a_joined_chat(ws, chat, customer):
    comm = await ws(customer)
    error = await request(comm, "typing:start", {"chat_id": chat.id})
    assert error["type"] == "error" and error["data"]["code"] == "chat_not_joined"


async def test_left_chat_gets_no_more_typing(ws, chat, customer, operator):
    typist = await joined(await ws(customer), chat.id)
    watcher = await joined(await ws(operator), chat.id)
    await request(watcher, "chat:leave", {"chat_id": chat.id})
    await typist.send_json_to({"type": "typing:start", "data": {"chat_id": chat.id}})
    assert "typing:start" not in await types_of(watcher)


# --- user:status ----------------------------------------------------------------------------


async def test_user_status_reaches_staff_but_not_other_customers_or_organizations(
    ws, customer, second_customer, operator, other_admin
):
    op, stranger, other = await ws(operator), await ws(second_customer), await ws(other_admin)
    for comm in (op, stranger, other):
        await frames(comm)
    c = await ws(customer)
    online = (await receive_type(op, "user:status"))["data"]
    assert online["user_id"] == customer.id and online["is_online"] is True
    for comm in (stranger, other):
        assert "user:status" not in await types_of(comm)
    await c.disconnect()
    offline = (await receive_type(op, "user:status"))["data"]
    assert offline["user_id"] == customer.id and offline["is_online"] is False
    assert offline["last_seen_at"]


async def test_customer_sees_the_status_of_the_operator_assigned_to_their_chat(
    ws, chat, customer, second_customer, operator
):
    await sync(lambda: type(chat).objects.filter(pk=chat.pk).update(assignee=operator))()
    await sync(support_chat)(second_customer)  # a chat not assigned to the operator
    c, stranger = await ws(customer), await ws(second_customer)
    await ws(operator)
    status = (await receive_type(c, "user:status"))["data"]
    assert status["user_id"] == operator.id and status["is_online"] is True
    assert "user:status" not in await types_of(stranger)
