"""Telegram updates in, through the webhook (embedded run: the task runs on commit)."""

from __future__ import annotations

import pytest

from accounts.models import User
from chats.models import ChannelIdentity, Chat, ChatStatus, Message
from connectors.conftest import tg_update
from connectors.models import WebhookUpdate
from media.models import MediaKind
from media.tests import samples

pytestmark = pytest.mark.django_db(transaction=True)


def _nothing_stored():
    return (
        not WebhookUpdate.objects.exists()
        and not Message.objects.exists()
        and not ChannelIdentity.objects.exists()
        and not User.objects.filter(email__isnull=True).exists()
    )


def test_update_becomes_customer_chat_and_message_sent_to_staff(
    telegram, telegram_inbox, post_update, captured, organization
):
    response = post_update(telegram_inbox, tg_update(text="Где мой заказ?", user_id=777))
    assert response.status_code == 200 and response.json()["ok"] is True

    identity = ChannelIdentity.objects.get(inbox=telegram_inbox, external_id="777")
    assert (identity.name, identity.username, identity.language) == ("Ivan Petrov", "ivanp", "ru")
    customer = identity.customer
    assert customer.email is None and customer.role == "customer"
    assert customer.organization_id == organization.pk and customer.name == "Ivan Petrov"
    chat = Chat.objects.get(customer=customer)
    assert chat.inbox_id == telegram_inbox.pk and chat.kind == "support"
    message = Message.objects.get(chat=chat)
    assert message.text == "Где мой заказ?" and message.sender_id == customer.pk
    assert message.delivery is None  # customers' messages never go out again
    new = [d for t, d, g in captured if t == "message:new"]
    assert [d["id"] for d in new] == [message.pk]
    staff = [g for t, d, g in captured if t == "message:new"][0]
    assert f"staff.{organization.pk}" in staff
    chat_new = [d for t, d, g in captured if t == "chat:new"]
    assert chat_new[0]["inbox"]["kind"] == "telegram"
    assert telegram.calls() == []  # nothing asked of the provider for a text message


def test_repeated_update_stores_one_message(telegram, telegram_inbox, post_update):
    update = tg_update(text="once")
    first = post_update(telegram_inbox, update)
    again = post_update(telegram_inbox, update)
    assert first.status_code == again.status_code == 200
    assert again.json()["duplicate"] is True
    assert Message.objects.filter(text="once").count() == 1
    # Telegram re-sent the same message under a new update id (it does after a restart)
    post_update(telegram_inbox, {**update, "update_id": update["update_id"] + 1})
    assert Message.objects.filter(text="once").count() == 1


@pytest.mark.parametrize("secret", [None, "", "wrong-secret"])
def test_missing_or_wrong_secret_is_403_and_stores_nothing(
    telegram, telegram_inbox, post_update, secret
):
    response = post_update(telegram_inbox, tg_update(), secret=secret)
    assert response.status_code == 403
    assert response.json()["code"] == "invalid_signature"
    assert _nothing_stored()


def test_another_organizations_unknown_or_inactive_inbox_is_404_and_stores_nothing(
    telegram, telegram_inbox, telegram_inbox_for, other_admin, admin_user, post_update
):
    theirs = telegram_inbox_for(other_admin)
    # our bot's secret sent to their inbox's URL: their inbox does not exist for us
    response = post_update(telegram_inbox, tg_update(), inbox_id=theirs.pk)
    assert response.status_code == 404 and response.json()["code"] == "inbox_not_found"
    assert post_update(telegram_inbox, tg_update(), inbox_id=999_999).status_code == 404
    from chats.services import inbox_update

    inbox_update(actor=admin_user, inbox_id=telegram_inbox.pk, is_active=False)
    assert post_update(telegram_inbox, tg_update()).status_code == 404
    assert _nothing_stored()


def test_a_web_inbox_id_or_an_unknown_kind_is_404(client, organization, telegram, post_update):
    from chats.selectors import web_inbox_for

    web = web_inbox_for(organization=organization)
    assert (
        client.post(
            f"/api/webhooks/telegram/{web.pk}", data="{}", content_type="application/json"
        ).status_code
        == 404
    )
    assert (
        client.post(
            f"/api/webhooks/fax/{web.pk}", data="{}", content_type="application/json"
        ).status_code
        == 404
    )
    assert client.get(f"/api/webhooks/telegram/{web.pk}").status_code == 405


@pytest.mark.parametrize("body", ["not json", "[]", '{"no_update_id": 1}', '{"update_id": "x"}'])
def test_bad_bodies_are_400_and_store_nothing(client, telegram, telegram_inbox, body):
    response = client.post(
        f"/api/webhooks/telegram/{telegram_inbox.pk}",
        data=body,
        content_type="application/json",
        HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN=telegram_inbox.secret,
    )
    assert response.status_code == 400 and "code" in response.json()
    assert _nothing_stored()


def test_returning_sender_reopens_their_chat(telegram, telegram_inbox, post_update, operator):
    post_update(telegram_inbox, tg_update(text="first", user_id=55))
    chat = Chat.objects.get()
    from operators.services import chat_close

    chat_close(actor=operator, chat=chat)
    assert Chat.objects.get().status == ChatStatus.CLOSED
    post_update(telegram_inbox, tg_update(text="me again", user_id=55))
    chat.refresh_from_db()
    assert chat.status == ChatStatus.OPEN and Chat.objects.count() == 1
    assert list(Message.objects.filter(sender=chat.customer).values_list("text", flat=True)) == [
        "first",
        "me again",
    ]
    assert ChannelIdentity.objects.count() == 1


def test_an_edit_changes_the_text_and_emits_message_updated(
    telegram, telegram_inbox, post_update, captured
):
    post_update(telegram_inbox, tg_update(text="helo", message_id=9001))
    message = Message.objects.get()
    post_update(telegram_inbox, tg_update(text="hello", message_id=9001, edited=True))
    message.refresh_from_db()
    assert message.text == "hello" and message.edited_at is not None
    assert Message.objects.count() == 1
    updated = [d for t, d, g in captured if t == "message:updated"]
    assert updated[-1]["id"] == message.pk and updated[-1]["text"] == "hello"


def test_a_photo_fetches_the_largest_size_into_an_image_attachment(
    telegram, telegram_inbox, post_update, captured
):
    big = samples.jpeg(size=(320, 240))
    telegram.add_file("small-id", samples.jpeg(size=(32, 24)), path="photos/file_1.jpg")
    telegram.add_file("big-id", big, path="photos/file_2.jpg")
    photo = [
        {"file_id": "small-id", "file_unique_id": "s", "width": 32, "height": 24, "file_size": 900},
        {
            "file_id": "big-id",
            "file_unique_id": "b",
            "width": 320,
            "height": 240,
            "file_size": len(big),
        },
    ]
    post_update(telegram_inbox, tg_update(text=None, photo=photo, caption="my parcel"))

    assert [c.params["file_id"] for c in telegram.calls("getFile")] == ["big-id"]
    message = Message.objects.get()
    assert message.kind == "image" and message.text == "my parcel"
    [media] = message.attachments.all()
    assert media.kind == MediaKind.IMAGE and media.mime == "image/jpeg"
    assert (media.width, media.height) == (320, 240) and media.size == len(big)
    assert media.chat_id == message.chat_id and media.uploader_id == message.sender_id
    new = [d for t, d, g in captured if t == "message:new"]
    assert len(new) == 1 and new[0]["attachments"][0]["kind"] == "image"  # broadcast once, stored


def test_a_file_the_upload_checks_refuse_is_noted_not_stored(telegram, telegram_inbox, post_update):
    telegram.add_file("exe", samples.elf(), path="documents/tool.pdf")
    document = {"file_id": "exe", "file_unique_id": "e", "file_name": "tool.pdf", "file_size": 200}
    post_update(telegram_inbox, tg_update(text=None, document=document))
    message = Message.objects.get()
    assert message.attachments.count() == 0
    assert "tool.pdf was refused" in message.text


def test_location_and_contact_arrive_as_text(telegram, telegram_inbox, post_update):
    post_update(
        telegram_inbox, tg_update(text=None, location={"latitude": 55.75, "longitude": 37.62})
    )
    post_update(
        telegram_inbox,
        tg_update(text=None, contact={"first_name": "Olga", "phone_number": "+79001234567"}),
    )
    texts = list(Message.objects.values_list("text", flat=True))
    assert "55.75, 37.62" in texts[0] and "Olga +79001234567" in texts[1]


def test_group_chats_are_ignored(telegram, telegram_inbox, post_update):
    update = tg_update(text="hi all")
    update["message"]["chat"] = {"id": -100123, "type": "supergroup", "title": "Group"}
    assert post_update(telegram_inbox, update).status_code == 200
    assert not Message.objects.exists()


def test_a_channel_customer_cannot_log_in(telegram, telegram_inbox, post_update, api_client):
    post_update(telegram_inbox, tg_update(user_id=31337))
    customer = ChannelIdentity.objects.get(external_id="31337").customer
    assert not customer.has_usable_password()
    for email in ("", "31337", "None"):
        response = api_client.post(
            "/api/auth/login", {"email": email, "password": ""}, format="json"
        )
        assert response.status_code in (400, 401)
    from django.contrib.auth import authenticate

    assert authenticate(username=None, password="") is None
    assert authenticate(username="", password="!") is None
