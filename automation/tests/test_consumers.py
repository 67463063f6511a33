"""Automated replies over the WebSocket: a customer's ``message:send`` gets the greeting and
the bot's answer as ``message:new`` frames marked ``automated``, after their own message."""

import pytest

from chats.selectors import web_inbox_for
from chats.tests.factories import support_chat
from chats.tests.realtime_fixtures import *  # noqa: F403 (fixtures)
from chats.tests.realtime_fixtures import receive_type, request, sync
from operators.tests.factories import CannedResponseFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _set_up(organization, customer):
    inbox = web_inbox_for(organization=organization)
    inbox.greeting = "Welcome to Acme!"
    inbox.bot_enabled = True
    inbox.save()
    CannedResponseFactory(
        organization=organization, shortcut="returns", text="Returns are free for 30 days."
    )
    return support_chat(customer)


async def test_customer_and_staff_see_automated_replies_live(ws, organization, customer, operator):
    chat = await sync(_set_up)(organization, customer)
    c, op = await ws(customer), await ws(operator)
    ack = await request(c, "message:send", {"chat_id": chat.id, "text": "How do returns work?"})
    assert ack["type"] == "ack" and ack["data"]["automated"] is False
    for comm in (c, op):
        own = (await receive_type(comm, "message:new"))["data"]
        greeting = (await receive_type(comm, "message:new"))["data"]
        answer = (await receive_type(comm, "message:new"))["data"]
        assert own["id"] == ack["data"]["id"]
        assert (greeting["automated"], greeting["sender"], greeting["text"]) == (
            True,
            None,
            "Welcome to Acme!",
        )
        assert answer["automated"] and answer["text"].startswith("Returns are free")
        assert own["id"] < greeting["id"] < answer["id"]
