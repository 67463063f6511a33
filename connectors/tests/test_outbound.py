"""Staff replies out to Telegram, against the Bot API stand-in."""

from __future__ import annotations

import time

import pytest

from chats.models import Chat, Delivery, Message
from connectors.conftest import tg_update
from connectors.models import AttemptState, OutboundAttempt
from media.tests import samples

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def channel_chat(telegram, telegram_inbox, post_update):
    from connectors.conftest import wait_for
    from connectors.models import WebhookUpdate

    post_update(telegram_inbox, tg_update(text="Hi, I need help", user_id=8080))
    # With a worker: wait until it is done with the update (SQLite's shared in-memory test
    # database refuses a write of this thread while the worker's transaction holds a table).
    wait_for(
        lambda: not WebhookUpdate.objects.filter(processed_at__isnull=True).exists(), timeout=60
    )
    return Chat.objects.get(inbox=telegram_inbox)


def reply(client, chat, text="We are on it.", **extra):
    response = client.post(f"/api/chats/{chat.pk}/messages", {"text": text, **extra}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def test_operator_reply_sends_one_message_to_the_right_chat(
    telegram, channel_chat, client_for, operator, captured
):
    body = reply(client_for(operator), channel_chat)
    assert body["delivery"] == "pending" and body["delivery_error"] is None
    [call] = telegram.sends()
    assert call.method == "sendMessage"
    assert call.params == {"chat_id": "8080", "text": "We are on it."}
    assert call.token == "123456789:AAtest-bot-token-0123456789abcdefXYZ"
    message = Message.objects.get(pk=body["id"])
    assert (
        message.delivery == Delivery.SENT and message.external_id == "1000" or message.external_id
    )
    updated = [d for t, d, g in captured if t == "message:updated" and d["id"] == message.pk]
    assert [d["delivery"] for d in updated] == ["sent"]
    # the task running again (a redelivery) sends nothing more
    from connectors.tasks import message_deliver

    message_deliver.apply(args=[message.pk])
    assert len(telegram.sends()) == 1


def test_a_note_and_system_lines_never_leave(telegram, channel_chat, client_for, operator):
    body = reply(client_for(operator), channel_chat, text="customer is rude", kind="note")
    assert body["delivery"] is None
    from operators.services import chat_take

    chat_take(actor=operator, chat=channel_chat) if channel_chat.assignee_id is None else None
    assert telegram.sends() == []
    assert not OutboundAttempt.objects.exists()


def test_web_chats_and_customer_messages_do_not_leave(
    telegram, client_for, operator, customer, channel_chat
):
    from chats.services import support_chat_get_or_create

    web_chat, _ = support_chat_get_or_create(customer=customer)
    assert reply(client_for(operator), web_chat)["delivery"] is None
    assert telegram.sends() == []


def test_blocked_bot_fails_at_once_then_retry_sends(
    telegram, channel_chat, client_for, operator, captured
):
    telegram.fail("sendMessage", 403)
    body = reply(client_for(operator), channel_chat)
    message = Message.objects.get(pk=body["id"])
    assert message.delivery == Delivery.FAILED
    assert message.delivery_error["code"] == "bot_blocked"
    assert "blocked" in message.delivery_error["detail"]
    assert len(telegram.sends()) == 1  # no retry of a refusal
    api = client_for(operator)
    detail = api.get(f"/api/messages/{message.pk}").json()
    assert detail["delivery"] == "failed" and detail["delivery_error"]["code"] == "bot_blocked"

    response = api.post(f"/api/messages/{message.pk}/retry")
    assert response.status_code == 200, response.content
    message.refresh_from_db()
    assert message.delivery == Delivery.SENT and message.delivery_error is None
    assert len(telegram.sends()) == 2
    states = [
        d["delivery"] for t, d, g in captured if t == "message:updated" and d["id"] == message.pk
    ]
    assert states == ["failed", "pending", "sent"]
    # a sent message cannot be retried
    again = api.post(f"/api/messages/{message.pk}/retry")
    assert again.status_code == 409 and again.json()["code"] == "message_not_failed"
    assert len(telegram.sends()) == 2


def test_retry_permissions(telegram, channel_chat, client_for, operator, customer, other_admin):
    telegram.fail("sendMessage", 403)
    message_id = reply(client_for(operator), channel_chat)["id"]
    customer_of_chat = channel_chat.customer
    assert client_for(other_admin).post(f"/api/messages/{message_id}/retry").status_code == 404
    assert client_for(customer).post(f"/api/messages/{message_id}/retry").status_code == 403
    assert client_for(customer_of_chat).post(f"/api/messages/{message_id}/retry").status_code == 403
    assert client_for(operator).post("/api/messages/999999/retry").status_code == 404
    inbound = Message.objects.filter(chat=channel_chat, sender=customer_of_chat).first()
    assert client_for(operator).post(f"/api/messages/{inbound.pk}/retry").status_code == 409
    assert Message.objects.get(pk=message_id).delivery == Delivery.FAILED
    assert len(telegram.sends()) == 1


def test_a_web_chat_message_is_not_retried(telegram, client_for, operator, customer):
    from chats.services import support_chat_get_or_create

    web_chat, _ = support_chat_get_or_create(customer=customer)
    message_id = reply(client_for(operator), web_chat)["id"]
    Message.objects.filter(pk=message_id).update(delivery=Delivery.FAILED)
    response = client_for(operator).post(f"/api/messages/{message_id}/retry")
    assert response.status_code == 409 and response.json()["code"] == "not_channel_message"
    assert Message.objects.get(pk=message_id).delivery == Delivery.FAILED
    assert telegram.sends() == []


def test_server_errors_back_off_then_send(telegram, channel_chat, client_for, operator):
    telegram.fail("sendMessage", 502, times=2)
    body = reply(client_for(operator), channel_chat)
    assert Message.objects.get(pk=body["id"]).delivery == Delivery.SENT
    assert len(telegram.sends()) == 3
    attempt = OutboundAttempt.objects.get(message_id=body["id"])
    assert attempt.state == AttemptState.ACCEPTED and attempt.tries == 3


def test_provider_down_for_good_ends_failed(telegram, channel_chat, client_for, operator, settings):
    settings.CONNECTOR_MAX_RETRIES = 2
    telegram.fail("sendMessage", 500, times=5)
    body = reply(client_for(operator), channel_chat)
    message = Message.objects.get(pk=body["id"])
    assert message.delivery == Delivery.FAILED
    assert message.delivery_error["code"] == "provider_unavailable"
    assert len(telegram.sends()) == 3


def test_a_timeout_after_the_request_left_is_not_sent_twice(
    telegram, channel_chat, client_for, operator, settings
):
    """The stand-in answers after the client gave up: Telegram may have delivered it. The code
    never resends on its own; the operator sees delivery_unknown and may retry knowingly."""
    settings.CONNECTOR_TIMEOUT_SECONDS = 0.3
    from connectors import telegram as module

    module._client = None
    telegram.fail("sendMessage", "timeout", seconds=0.8)
    body = reply(client_for(operator), channel_chat)
    message = Message.objects.get(pk=body["id"])
    assert message.delivery == Delivery.FAILED
    assert message.delivery_error["code"] == "delivery_unknown"
    from connectors.tasks import message_deliver

    message_deliver.apply(args=[message.pk])
    time.sleep(0.6)
    assert len(telegram.sends()) == 1
    assert OutboundAttempt.objects.get(message=message).state == AttemptState.UNKNOWN
    settings.CONNECTOR_TIMEOUT_SECONDS = 5.0  # the retry's call must not time out on a busy box
    module._client = None
    client_for(operator).post(f"/api/messages/{message.pk}/retry")
    message.refresh_from_db()
    assert message.delivery == Delivery.SENT and len(telegram.sends()) == 2


def test_a_worker_that_died_mid_call_is_not_repeated(telegram, channel_chat, operator):
    """An attempt row left 'sending' by a dead worker, older than the call timeout: unknown."""
    from datetime import timedelta

    from django.utils import timezone

    from chats.services import message_send
    from connectors import services

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("connectors.tasks.message_deliver.delay", lambda *a: None)
        message = message_send(sender=operator, chat=channel_chat, text="hello").message
    OutboundAttempt.objects.create(
        message=message,
        part=0,
        state=AttemptState.SENDING,
        claimed_at=timezone.now() - timedelta(minutes=5),
    )
    assert services.message_deliver(message_id=message.pk) == Delivery.FAILED
    assert telegram.sends() == []
    message.refresh_from_db()
    assert message.delivery_error["code"] == "delivery_unknown"


def test_long_text_is_split_at_line_boundaries(telegram, channel_chat, client_for, operator):
    paragraph = ("word " * 600).strip()  # 2,999 characters
    text = "\n".join([paragraph, paragraph, paragraph])  # 8,999 characters
    body = reply(client_for(operator), channel_chat, text=text)
    sends = telegram.sends()
    assert [c.params["text"] for c in sends] == [paragraph, paragraph, paragraph]
    message = Message.objects.get(pk=body["id"])
    assert message.delivery == Delivery.SENT
    assert OutboundAttempt.objects.filter(message=message, state="accepted").count() == 3


def test_split_text_never_exceeds_the_limit():
    from connectors.telegram import split_text

    assert split_text("short") == ["short"]
    text = "a" * 5000
    assert [len(p) for p in split_text(text)] == [4096, 904]
    words = " ".join(["abcdefghij"] * 900)
    parts = split_text(words)
    assert all(len(p) <= 4096 for p in parts) and " ".join(parts) == words


def test_a_photo_goes_as_multipart_with_the_text_as_caption(
    telegram, channel_chat, client_for, operator
):
    api = client_for(operator)
    content = samples.png()
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = api.post(
        "/api/media",
        {"file": SimpleUploadedFile("label.png", content), "chat_id": channel_chat.pk},
        format="multipart",
    ).json()
    reply(api, channel_chat, text="Your label", kind="image", attachment_ids=[upload["id"]])
    [call] = telegram.sends()
    assert call.method == "sendPhoto"
    assert call.params == {"chat_id": "8080", "caption": "Your label"}
    name, data, ctype = call.files["photo"]
    assert data == content and name == "label.png" and ctype == "image/png"


def test_a_document_with_a_long_text_sends_text_then_file(
    telegram, channel_chat, client_for, operator
):
    api = client_for(operator)
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = api.post(
        "/api/media", {"file": SimpleUploadedFile("invoice.pdf", samples.pdf())}, format="multipart"
    ).json()
    text = "x" * 1500
    reply(api, channel_chat, text=text, kind="file", attachment_ids=[upload["id"]])
    assert [c.method for c in telegram.sends()] == ["sendMessage", "sendDocument"]
    assert "caption" not in telegram.sends()[1].params


def test_an_automated_reply_leaves_too(telegram, channel_chat, captured):
    """The inbox's own replies (greeting, away, bot: ``automated=True``, no sender) go out."""
    from chats.services.automated import message_post_automated

    message = message_post_automated(chat=channel_chat, text="Hello! We answer in 5 min.")
    message.refresh_from_db()
    assert message.automated and message.delivery == Delivery.SENT
    assert [c.params["text"] for c in telegram.sends()] == ["Hello! We answer in 5 min."]
    new = [d for t, d, g in captured if t == "message:new" and d["id"] == message.pk]
    assert new[0]["delivery"] == "pending"


def test_a_greeting_goes_out_to_telegram_once(telegram, telegram_inbox, post_update, admin_user):
    from chats.services import inbox_update

    inbox_update(
        actor=admin_user, inbox_id=telegram_inbox.pk, greeting="Hi! An operator is coming."
    )
    post_update(telegram_inbox, tg_update(text="hello", user_id=6006))
    post_update(telegram_inbox, tg_update(text="anyone?", user_id=6006))
    assert [(c.params["chat_id"], c.params["text"]) for c in telegram.sends()] == [
        ("6006", "Hi! An operator is coming.")
    ]


def test_429_waits_retry_after_then_sends(
    operator, celery_worker, telegram, channel_chat, client_for
):
    """With a real worker: Telegram says retry after 1 s; the next call comes no sooner."""
    from connectors.conftest import wait_for

    telegram.fail("sendMessage", 429, retry_after=1)
    body = reply(client_for(operator), channel_chat)
    wait_for(lambda: Message.objects.get(pk=body["id"]).delivery == Delivery.SENT, timeout=60)
    first, second = telegram.sends()
    assert second.at - first.at >= 0.95
    assert Message.objects.get(pk=body["id"]).external_id


def test_a_broker_outage_loses_nothing(telegram, telegram_inbox, post_update, client_for, operator):
    """The broker is down when the webhook and the reply commit: both answer as usual, and the
    beat task queues them once it is back."""
    from datetime import timedelta

    from connectors import services, tasks
    from connectors.models import WebhookUpdate

    def broker_down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tasks.webhook_update_process, "delay", broker_down)
        response = post_update(telegram_inbox, tg_update(text="during the outage", user_id=99))
        assert response.status_code == 200
    assert WebhookUpdate.objects.get().processed_at is None and not Message.objects.exists()
    assert services.connectors_resume(older_than=timedelta(0)) == (1, 0)
    chat = Chat.objects.get(inbox=telegram_inbox)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tasks.message_deliver, "delay", broker_down)
        body = reply(client_for(operator), chat, text="answer during the outage")
    assert body["delivery"] == "pending" and telegram.sends() == []
    assert services.connectors_resume(older_than=timedelta(0)) == (0, 1)
    assert Message.objects.get(pk=body["id"]).delivery == Delivery.SENT
    assert len(telegram.sends()) == 1
    assert services.connectors_resume(older_than=timedelta(0)) == (0, 0)  # nothing twice
