"""Frames that are not what the protocol says get an ``invalid_frame``/``invalid_json`` error and
the connection stays usable; typing a note reaches staff only."""

import pytest

from chats.tests.factories import support_chat
from chats.tests.realtime_fixtures import *  # noqa: F403 (fixtures)
from chats.tests.realtime_fixtures import frames, receive_type, request, types_of

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def chat(customer):
    return support_chat(customer)


async def _error_for(comm, text: str) -> dict:
    await comm.send_to(text_data=text)
    frame = await receive_type(comm, "error")
    return frame["data"]


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ('{"type": ["chat:join"], "data": {"chat_id": 1}}', "invalid_frame"),
        ('{"type": {"a": 1}}', "invalid_frame"),
        ('{"type": 7}', "invalid_frame"),
        ('{"type": "chat:join", "data": [1, 2]}', "invalid_frame"),
        ('{"type": "chat:join", "data": "x"}', "invalid_frame"),
        ("[" * 60_000, "invalid_json"),
        ('{"type": "ping", "data": ' + "[" * 5000 + "]" * 5000 + "}", "invalid_json"),
        ("[1, 2]", "invalid_frame"),
    ],
)
async def test_bad_frames_get_an_error_and_the_connection_stays(ws, customer, text, code):
    comm = await ws(customer)
    await frames(comm)
    error = await _error_for(comm, text)
    assert error["code"] == code, error
    assert error["code"] != "server_error"
    assert (await request(comm, "ping", {}, rid="p"))["type"] == "pong"


async def test_typing_a_note_reaches_staff_only(ws, chat, customer, operator, admin_user):
    author = await ws(operator)
    watcher = await ws(admin_user)
    client = await ws(customer)
    for comm in (author, watcher, client):
        assert (await request(comm, "chat:join", {"chat_id": chat.id}, rid="j"))["type"] == "ack"
        await frames(comm)

    await author.send_json_to({"type": "typing:start", "data": {"chat_id": chat.id, "note": True}})
    start = await receive_type(watcher, "typing:start")
    assert start["data"] == {"chat_id": chat.id, "user_id": operator.id, "note": True}
    await author.send_json_to({"type": "typing:stop", "data": {"chat_id": chat.id}})
    assert (await receive_type(watcher, "typing:stop"))["data"]["note"] is True
    got = await types_of(client)
    assert "typing:start" not in got and "typing:stop" not in got

    # Typing a reply is public again.
    await author.send_json_to({"type": "typing:start", "data": {"chat_id": chat.id}})
    assert (await receive_type(client, "typing:start"))["data"] == {
        "chat_id": chat.id,
        "user_id": operator.id,
    }


async def test_customer_cannot_hide_typing_as_a_note(ws, chat, customer, operator):
    typist = await ws(customer)
    staff = await ws(operator)
    for comm in (typist, staff):
        await request(comm, "chat:join", {"chat_id": chat.id}, rid="j")
        await frames(comm)
    await typist.send_json_to({"type": "typing:start", "data": {"chat_id": chat.id, "note": True}})
    assert "note" not in (await receive_type(staff, "typing:start"))["data"]
