"""End to end: a Telegram update reaches a staff WebSocket, copies race on PostgreSQL, and a
real Celery worker (Redis on the services run) carries updates in and replies out."""

from __future__ import annotations

import json
import threading

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from chats.models import ChannelIdentity, Chat, Delivery, Message
from chats.tests.realtime_fixtures import *  # noqa: F403 (ws, fresh_layer)
from chats.tests.realtime_fixtures import receive_type, sync
from connectors.conftest import tg_update, wait_for
from connectors.models import WebhookUpdate

pytestmark = pytest.mark.django_db(transaction=True)


def _post(inbox_id: int, secret: str, update: dict) -> int:
    return (
        Client()
        .post(
            f"/api/webhooks/telegram/{inbox_id}",
            data=json.dumps(update),
            content_type="application/json",
            HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=secret,
        )
        .status_code
    )


async def test_update_reaches_staff_websocket(
    ws, telegram, operator, admin_user, telegram_inbox_for
):
    """Embedded: the task runs on commit in the request. Services: see the worker test below."""
    inbox = await sync(telegram_inbox_for)(admin_user)
    staff = await ws(operator)
    status = await sync(_post)(inbox.pk, inbox.secret, tg_update(text="Привет", user_id=1001))
    assert status == 200
    frame = await receive_type(staff, "message:new", wait=5)
    assert frame["data"]["text"] == "Привет"
    assert frame["data"]["sender"]["name"] == "Ivan Petrov"
    chat = await sync(lambda: Chat.objects.get(inbox=inbox))()
    assert frame["data"]["chat_id"] == chat.pk


@pytest.mark.services
@pytest.mark.slow
async def test_with_a_worker_update_reaches_staff_and_the_reply_reaches_telegram(
    ws, telegram, operator, admin_user, telegram_inbox_for, celery_worker
):
    """The webhook only writes the update down; a real worker (Redis broker) stores the message,
    the staff socket gets it, and the operator's reply leaves as one sendMessage."""
    inbox = await sync(telegram_inbox_for)(admin_user)
    staff = await ws(operator)
    assert await sync(_post)(inbox.pk, inbox.secret, tg_update(text="ping", user_id=2002)) == 200
    frame = await receive_type(staff, "message:new", wait=60)
    assert frame["data"]["text"] == "ping"

    from chats.services import message_send

    def send_reply():
        chat = Chat.objects.get(inbox=inbox)
        return message_send(sender=operator, chat=chat, text="pong").message.pk

    reply_id = await sync(send_reply)()
    await sync(telegram.wait_for_calls)("sendMessage", 1, timeout=60)
    [call] = telegram.sends()
    assert call.params == {"chat_id": "2002", "text": "pong"}
    updated = await receive_type(staff, "message:updated", wait=60)
    while updated["data"]["id"] != reply_id or updated["data"]["delivery"] != "sent":
        updated = await receive_type(staff, "message:updated", wait=60)
    assert await sync(lambda: Message.objects.get(pk=reply_id).delivery)() == Delivery.SENT


def _race(target, copies: int = 5) -> list:
    barrier = threading.Barrier(copies)
    results: list = []
    errors: list = []

    def run(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results.append(target(index))
        except Exception as exc:  # reported below, the test fails on it
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(copies)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    return results


@pytest.mark.services
def test_five_concurrent_copies_of_one_update_store_one_message(
    telegram, admin_user, telegram_inbox_for
):
    assert connection.vendor == "postgresql"
    inbox = telegram_inbox_for(admin_user)
    update = tg_update(text="only once", user_id=3003)
    statuses = _race(lambda i: _post(inbox.pk, inbox.secret, update))
    assert statuses == [200] * 5
    assert WebhookUpdate.objects.count() == 1
    assert Message.objects.filter(text="only once").count() == 1
    assert ChannelIdentity.objects.count() == 1 and Chat.objects.filter(inbox=inbox).count() == 1


@pytest.mark.services
def test_five_concurrent_deliveries_of_one_message_under_new_update_ids_store_one(
    telegram, admin_user, telegram_inbox_for
):
    """Telegram can re-send a message under a new update_id: the message's own id decides,
    and the first message of a new sender races the creation of the customer and chat too."""
    inbox = telegram_inbox_for(admin_user)
    update = tg_update(text="first words", user_id=4004, message_id=77)
    statuses = _race(
        lambda i: _post(inbox.pk, inbox.secret, {**update, "update_id": update["update_id"] + i})
    )
    assert statuses == [200] * 5
    assert WebhookUpdate.objects.count() == 5
    assert WebhookUpdate.objects.filter(processed_at__isnull=True).count() == 0
    assert Message.objects.filter(text="first words").count() == 1
    assert ChannelIdentity.objects.count() == 1 and Chat.objects.filter(inbox=inbox).count() == 1
    from accounts.models import User

    assert User.objects.filter(email__isnull=True).count() == 1


@pytest.mark.services
@pytest.mark.slow
def test_with_a_worker_a_blocked_bot_fails_and_a_retry_sends(
    telegram, admin_user, operator, telegram_inbox_for, client_for, celery_worker
):
    assert settings.REDIS_URL
    inbox = telegram_inbox_for(admin_user)
    _post(inbox.pk, inbox.secret, tg_update(text="hi", user_id=5005))
    chat = wait_for(lambda: Chat.objects.filter(inbox=inbox).first(), timeout=60)
    telegram.fail("sendMessage", 403)
    api = client_for(operator)
    message_id = api.post(
        f"/api/chats/{chat.pk}/messages", {"text": "hello"}, format="json"
    ).json()["id"]
    wait_for(lambda: Message.objects.get(pk=message_id).delivery == Delivery.FAILED, timeout=60)
    assert api.post(f"/api/messages/{message_id}/retry").status_code == 200
    wait_for(lambda: Message.objects.get(pk=message_id).delivery == Delivery.SENT, timeout=60)
    assert len(telegram.sends()) == 2
