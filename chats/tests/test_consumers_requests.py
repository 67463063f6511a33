"""Client → server frames: requests through the same services as HTTP, acks and errors, bad
frames that leave the connection usable, the frame rate limit."""

import json

import pytest

from chats.models import Membership, Message
from chats.services import message_send
from chats.tests.factories import support_chat
from chats.tests.realtime_fixtures import *  # noqa: F403 (fixtures)
from chats.tests.realtime_fixtures import frames, receive_type, request, sync, types_of
from media.models import MediaFile

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def chat(customer):
    return support_chat(customer)


async def assert_usable(comm) -> None:
    await comm.send_json_to({"type": "ping", "id": "alive"})
    assert (await receive_type(comm, "pong")) == {"type": "pong", "id": "alive", "data": {}}


# --- message:send ---------------------------------------------------------------------------


async def test_send_is_acknowledged_with_the_message_and_delivered(ws, chat, customer, operator):
    c, op = await ws(customer), await ws(operator)
    ack = await request(
        c, "message:send", {"chat_id": chat.id, "text": "hi there", "client_id": "c-1"}
    )
    assert ack["type"] == "ack" and ack["id"] == "r1"
    message = ack["data"]
    assert message["text"] == "hi there" and message["client_id"] == "c-1"
    assert message["sender"]["id"] == customer.id and message["chat_id"] == chat.id
    delivered = (await receive_type(op, "message:new"))["data"]
    assert delivered == message  # one wire shape for the ack and the event


async def test_same_client_id_returns_the_first_message_without_a_second_event(
    ws, chat, customer, operator
):
    c, op = await ws(customer), await ws(operator)
    first = await request(c, "message:send", {"chat_id": chat.id, "text": "x", "client_id": "k"})
    again = await request(
        c, "message:send", {"chat_id": chat.id, "text": "x", "client_id": "k"}, rid="r2"
    )
    assert again["data"]["id"] == first["data"]["id"]
    assert await sync(Message.objects.filter(chat=chat).count)() == 1
    assert (await types_of(op)).count("message:new") == 1


async def test_send_validation_and_permissions_match_http(
    ws, chat, customer, other_customer, operator
):
    c, stranger = await ws(customer), await ws(other_customer)
    foreign_file = await sync(MediaFile.objects.create)(
        organization=operator.organization,
        uploader=operator,
        original_name="x.png",
        mime="image/png",
        kind="image",
        size=1,
    )
    cases = [
        (c, {"chat_id": chat.id, "text": "psst", "kind": "note"}, "invalid_kind"),
        (c, {"chat_id": chat.id, "text": "   "}, "empty_message"),
        (c, {"chat_id": chat.id, "text": "x" * 10_001}, "text_too_long"),
        (c, {"chat_id": chat.id, "attachment_ids": [foreign_file.id]}, "invalid_attachments"),
        (c, {"chat_id": "abc", "text": "x"}, "invalid"),
        (c, {"chat_id": chat.id, "text": "x", "attachment_ids": [1, "two"]}, "invalid"),
        (c, {"text": "no chat"}, "invalid"),
        (stranger, {"chat_id": chat.id, "text": "hello?"}, "chat_not_found"),
    ]
    for comm, data, code in cases:
        error = await request(comm, "message:send", data)
        assert error["type"] == "error" and error["data"]["code"] == code, (data, error)
        assert error["data"]["detail"]
    # Field errors keep DRF's per-field map, as over HTTP.
    error = await request(c, "message:send", {"chat_id": chat.id, "attachment_ids": [1, "x"]})
    assert error["data"]["attachment_ids"] == {"1": ["A valid integer is required."]}
    assert error["data"]["detail"] == "attachment_ids: 1: A valid integer is required."
    assert await sync(Message.objects.filter(chat=chat).count)() == 0
    await assert_usable(c)


async def test_send_shares_the_message_rate_limit_with_http(ws, chat, customer, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "messages_user": "2/min"}
    await sync(message_send)(sender=customer, chat=chat, text="over HTTP, say")
    c = await ws(customer)
    assert (await request(c, "message:send", {"chat_id": chat.id, "text": "2"}))["type"] == "ack"
    error = await request(c, "message:send", {"chat_id": chat.id, "text": "3"}, rid="r2")
    assert error["data"]["code"] == "messages_throttled" and error["data"]["retry_after"] >= 1
    await assert_usable(c)


# --- messages:read --------------------------------------------------------------------------


async def test_read_moves_the_pointer_and_tells_the_staff(ws, chat, customer, operator):
    sent = (await sync(message_send)(sender=operator, chat=chat, text="answer")).message
    c, op = await ws(customer), await ws(operator)
    ack = await request(c, "messages:read", {"chat_id": chat.id, "up_to": sent.id})
    assert ack["data"] == {"chat_id": chat.id, "up_to": sent.id, "unread_count": 0}
    receipt = (await receive_type(op, "messages:read"))["data"]
    assert receipt == {"chat_id": chat.id, "user_id": customer.id, "up_to": sent.id}
    membership = await sync(Membership.objects.get)(chat=chat, user=customer)
    assert membership.last_read_message_id == sent.id


async def test_read_of_a_foreign_chat_is_not_found(ws, chat, other_customer):
    error = await request(await ws(other_customer), "messages:read", {"chat_id": chat.id})
    assert error["data"]["code"] == "chat_not_found"


# --- chat:leave and ping --------------------------------------------------------------------


async def test_ping_gets_pong_on_that_connection_only(ws, customer):
    pinger, other_tab = await ws(customer), await ws(customer)
    await pinger.send_json_to({"type": "ping"})
    assert (await receive_type(pinger, "pong")) == {"type": "pong", "data": {}}
    await assert_usable(pinger)
    assert "pong" not in await types_of(other_tab)


async def test_leave_acknowledges_even_when_not_joined(ws, chat, customer):
    ack = await request(await ws(customer), "chat:leave", {"chat_id": chat.id})
    assert ack == {"type": "ack", "id": "r1", "data": {"chat_id": chat.id}}


# --- Bad frames -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "invalid_json"),
        ("[1, 2]", "invalid_frame"),
        ('"ping"', "invalid_frame"),
        ('{"data": {}}', "unknown_type"),
        ('{"type": "message:delete", "data": {}}', "unknown_type"),
        ('{"type": "chat:join", "data": [1]}', "invalid_frame"),
        ('{"type": "ping", "id": {"nested": 1}}', "invalid_frame"),
        ('{"type": "ping", "id": true}', "invalid_frame"),
        ('{"type": "ping", "id": "' + "x" * 65 + '"}', "invalid_frame"),
        ('{"type": "chat:join", "data": {"chat_id": -1}}', "invalid"),
    ],
)
async def test_bad_frames_get_an_error_and_the_connection_stays_usable(ws, customer, raw, code):
    comm = await ws(customer)
    await comm.send_to(text_data=raw)
    error = await receive_type(comm, "error")
    assert error["data"]["code"] == code and error["data"]["detail"]
    await assert_usable(comm)


async def test_error_carries_the_request_id_when_it_could_be_read(ws, customer):
    comm = await ws(customer)
    await comm.send_json_to({"type": "nope", "id": 42})
    assert (await receive_type(comm, "error"))["id"] == 42


async def test_oversized_frame_is_refused(ws, chat, customer):
    comm = await ws(customer)
    text = "é" * 40_000  # 40,000 characters, 80,000 bytes: over 64 KiB only once encoded
    frame = json.dumps({"type": "message:send", "data": {"chat_id": chat.id, "text": text}})
    await comm.send_to(text_data=frame)
    assert (await receive_type(comm, "error"))["data"]["code"] == "frame_too_large"
    await assert_usable(comm)
    assert await sync(Message.objects.count)() == 0


async def test_binary_frame_is_refused(ws, customer):
    comm = await ws(customer)
    await comm.send_to(bytes_data=b"\x00\x01")
    assert (await receive_type(comm, "error"))["data"]["code"] == "binary_frame"
    await assert_usable(comm)


async def test_errors_go_to_the_connection_at_fault_only(ws, customer, operator):
    culprit, same_user, staff = await ws(customer), await ws(customer), await ws(operator)
    await culprit.send_to(text_data="garbage")
    await receive_type(culprit, "error")
    assert "error" not in await types_of(same_user)
    assert "error" not in await types_of(staff)


# --- Flood ----------------------------------------------------------------------------------


async def test_flood_gets_errors_then_a_close(ws, customer, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "ws_frames": "5/10s"}
    comm = await ws(customer)
    for _ in range(11):
        await comm.send_json_to({"type": "ping"})
    got = await frames(comm, quiet=0.3)
    pongs = [f for f in got if f["type"] == "pong"]
    throttled = [f for f in got if f["type"] == "error" and f["data"]["code"] == "throttled"]
    assert len(pongs) == 5 and len(throttled) == 5
    assert throttled[0]["data"]["retry_after"] >= 1
    assert got[-2]["data"]["code"] == "flood"
    assert got[-1] == {"type": "websocket.close", "code": 4429}
