"""WhatsApp Cloud API in and out, against the Graph API stand-in."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts.models import User
from chats.models import ChannelIdentity, Chat, Delivery, Message
from connectors.conftest import (
    WA_NUMBER_ID,
    WA_TOKEN,
    wa_message,
    wa_payload,
    wa_status,
)
from connectors.models import OutboundTemplate, WebhookUpdate
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


@pytest.fixture
def wa_chat(graph, whatsapp_inbox, post_wa):
    assert (
        post_wa(whatsapp_inbox, wa_payload(wa_message(text="Hi, where is my order?"))).status_code
        == 200
    )
    return Chat.objects.get(inbox=whatsapp_inbox)


def _reply(client, chat, text="It ships today.", **extra):
    return client.post(f"/api/chats/{chat.pk}/messages", {"text": text, **extra}, format="json")


# --- setup and verification -------------------------------------------------------------------


def test_inbox_settings_are_write_only_and_the_verify_token_generated(client_for, admin_user):
    response = client_for(admin_user).post(
        "/api/inboxes",
        {
            "kind": "whatsapp",
            "name": "WA",
            "phone_number_id": WA_NUMBER_ID,
            "access_token": WA_TOKEN,
            "app_secret": "s3cret-app",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["generated_secrets"]["verify_token"]
    assert body["secrets_set"]["access_token"] and body["secrets_set"]["app_secret"]
    assert WA_TOKEN not in response.content.decode().replace(
        body["generated_secrets"]["verify_token"], ""
    )
    listed = client_for(admin_user).get(f"/api/inboxes/{body['id']}").content.decode()
    assert WA_TOKEN not in listed and "s3cret-app" not in listed
    assert body["generated_secrets"]["verify_token"] not in listed
    missing = client_for(admin_user).post(
        "/api/inboxes", {"kind": "whatsapp", "name": "WA", "phone_number_id": "1"}, format="json"
    )
    assert missing.status_code == 400 and "access_token" in missing.json()


def test_verification_handshake_right_and_wrong(client, whatsapp_inbox):
    url = f"/api/webhooks/whatsapp/{whatsapp_inbox.pk}"
    token = whatsapp_inbox.generated["verify_token"]
    good = client.get(
        url, {"hub.mode": "subscribe", "hub.verify_token": token, "hub.challenge": "1158201444"}
    )
    assert good.status_code == 200 and good.content == b"1158201444"
    assert good["Content-Type"].startswith("text/plain")
    for params in (
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": token, "hub.challenge": "1"},
    ):
        assert client.get(url, params).status_code == 403
    assert (
        client.get("/api/webhooks/whatsapp/999999", {"hub.verify_token": token}).status_code == 404
    )


@pytest.mark.parametrize("signature", [None, "", "sha256=00ff", "sha1=abc"])
def test_a_bad_or_missing_signature_is_403_and_stores_nothing(
    graph, whatsapp_inbox, post_wa, signature
):
    response = post_wa(whatsapp_inbox, wa_payload(wa_message()), signature=signature)
    assert response.status_code == 403 and response.json()["code"] == "invalid_signature"
    wrong_secret = post_wa(whatsapp_inbox, wa_payload(wa_message()), secret="not-the-secret")
    assert wrong_secret.status_code == 403
    assert _nothing_stored() and not graph.calls()


def test_another_organizations_inbox_is_404_and_stores_nothing(
    graph, whatsapp_inbox, whatsapp_inbox_for, other_admin, post_wa
):
    theirs = whatsapp_inbox_for(other_admin, phone_number_id="555000111", app_secret="theirs")
    # our number's delivery, signed with our secret, sent to their URL
    response = post_wa(whatsapp_inbox, wa_payload(wa_message()), inbox_id=theirs.pk)
    assert response.status_code == 404 and response.json()["code"] == "inbox_not_found"
    assert _nothing_stored()


# --- inbound ------------------------------------------------------------------------------------


def test_inbound_text_becomes_a_customer_chat_with_the_window_open(
    graph, whatsapp_inbox, post_wa, captured, client_for, operator
):
    sent_at = int(time.time()) - 3600
    response = post_wa(
        whatsapp_inbox, wa_payload(wa_message(text="Где мой заказ?", timestamp=sent_at))
    )
    assert response.status_code == 200
    message = Message.objects.get()
    assert message.text == "Где мой заказ?" and message.external_id.startswith("wamid.IN")
    identity = ChannelIdentity.objects.get()
    assert identity.external_id == "79001234567" and identity.customer.name == "Maria"
    chat = message.chat
    expected = datetime.fromtimestamp(sent_at, tz=UTC) + timedelta(hours=24)
    assert chat.reply_window_ends_at == expected
    assert any(t == "message:new" for t, _, _ in captured)
    body = client_for(operator).get(f"/api/chats/{chat.pk}").json()
    assert body["reply_window_ends_at"].startswith(expected.strftime("%Y-%m-%dT%H:%M"))
    listed = client_for(operator).get("/api/chats").json()["results"]
    assert listed[0]["reply_window_ends_at"] is not None


def test_a_repeated_delivery_and_racing_copies_store_one_message(graph, whatsapp_inbox, post_wa):
    payload = wa_payload(wa_message(text="once", message_id="wamid.SAME"))
    assert post_wa(whatsapp_inbox, payload).json()["duplicate"] is False
    assert post_wa(whatsapp_inbox, payload).json()["duplicate"] is True
    # the same message id in a delivery of another shape (Meta batches) is not stored again
    other = wa_payload(wa_message(text="once", message_id="wamid.SAME"), wa_message(text="new"))
    assert post_wa(whatsapp_inbox, other).status_code == 200
    assert Message.objects.filter(external_id="wamid.SAME").count() == 1
    assert Message.objects.count() == 2


def test_inbound_media_is_fetched_with_the_token_into_the_media_app(graph, whatsapp_inbox, post_wa):
    graph.add_media("media-img-1", samples.jpeg(), "image/jpeg")
    graph.add_media("media-doc-1", samples.pdf(), "application/pdf")
    post_wa(
        whatsapp_inbox,
        wa_payload(
            wa_message(type="image", image={"id": "media-img-1", "caption": "my parcel"}),
            wa_message(type="document", document={"id": "media-doc-1", "filename": "invoice.pdf"}),
        ),
    )
    image, document = Message.objects.order_by("id")
    assert image.kind == "image" and image.text == "my parcel"
    [photo] = image.attachments.all()
    assert photo.kind == MediaKind.IMAGE and photo.mime == "image/jpeg"
    [pdf] = document.attachments.all()
    assert pdf.original_name == "invoice.pdf" and pdf.mime == "application/pdf"
    lookups, downloads = graph.calls("lookup"), graph.calls("download")
    assert len(lookups) == 2 and len(downloads) == 2
    assert {c.token for c in lookups + downloads} == {WA_TOKEN}


def test_location_arrives_as_text(graph, whatsapp_inbox, post_wa):
    post_wa(
        whatsapp_inbox,
        wa_payload(wa_message(type="location", location={"latitude": 55.75, "longitude": 37.61})),
    )
    assert "55.75, 37.61" in Message.objects.get().text


# --- outbound -----------------------------------------------------------------------------------


def test_reply_makes_exactly_one_graph_call_with_the_right_body_and_token(
    graph, wa_chat, client_for, operator, captured
):
    response = _reply(client_for(operator), wa_chat)
    assert response.status_code == 201
    [call] = graph.calls("messages")
    assert call.token == WA_TOKEN and call.path == f"/{WA_NUMBER_ID}/messages"
    assert call.body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "79001234567",
        "type": "text",
        "text": {"body": "It ships today.", "preview_url": False},
    }
    message = Message.objects.get(pk=response.json()["id"])
    assert message.delivery == Delivery.SENT and message.external_id.startswith("wamid.STANDIN")
    from connectors.tasks import message_deliver

    message_deliver.apply(args=[message.pk])  # a redelivered task sends nothing more
    assert len(graph.calls("messages")) == 1


def test_statuses_move_delivery_forward_never_back(
    graph, wa_chat, whatsapp_inbox, client_for, operator, post_wa, captured
):
    message_id = _reply(client_for(operator), wa_chat).json()["id"]
    wamid = Message.objects.get(pk=message_id).external_id
    captured.clear()
    for status in ("delivered", "read", "delivered", "sent"):
        post_wa(whatsapp_inbox, wa_payload(statuses=[wa_status(wamid, status)]))
    assert Message.objects.get(pk=message_id).delivery == Delivery.READ
    updates = [d["delivery"] for t, d, _ in captured if t == "message:updated"]
    assert updates == ["delivered", "read"]


def test_a_failed_status_keeps_the_providers_error(
    graph, wa_chat, whatsapp_inbox, client_for, operator, post_wa
):
    message_id = _reply(client_for(operator), wa_chat).json()["id"]
    wamid = Message.objects.get(pk=message_id).external_id
    error = {"code": 131026, "title": "Message undeliverable", "error_data": {"details": "x"}}
    post_wa(whatsapp_inbox, wa_payload(statuses=[wa_status(wamid, "failed", errors=[error])]))
    message = Message.objects.get(pk=message_id)
    assert message.delivery == Delivery.FAILED
    assert "131026" in message.delivery_error["detail"]


def test_server_errors_and_429_back_off_then_send(graph, wa_chat, client_for, operator):
    graph.fail("messages", 500, times=2)
    graph.fail("messages", 429)
    message_id = _reply(client_for(operator), wa_chat).json()["id"]
    assert len(graph.calls("messages")) == 4
    assert Message.objects.get(pk=message_id).delivery == Delivery.SENT


def test_media_reply_uploads_then_sends(graph, wa_chat, client_for, operator):
    client = client_for(operator)
    upload = client.post(
        "/api/media",
        {"file": SimpleUploadedFile("photo.png", samples.png()), "chat_id": wa_chat.pk},
    )
    assert upload.status_code == 201, upload.content
    response = _reply(client, wa_chat, text="Here it is", attachment_ids=[upload.json()["id"]])
    assert response.status_code == 201
    [uploaded] = graph.calls("media")
    assert uploaded.files["file"][2] == "image/png" and uploaded.token == WA_TOKEN
    [sent] = graph.calls("messages")
    assert sent.body["type"] == "image"
    assert sent.body["image"]["caption"] == "Here it is"
    assert sent.body["image"]["id"].startswith("standin-media-")


# --- the 24-hour window -----------------------------------------------------------------------


def _close_window(chat):
    Chat.objects.filter(pk=chat.pk).update(
        reply_window_ends_at=timezone.now() - timedelta(minutes=1)
    )


def _state():
    return (
        Message.objects.count(),
        list(Chat.objects.values_list("last_message_id", "first_response_at")),
    )


def test_a_reply_outside_the_window_is_refused_locally_and_nothing_changes(
    graph, wa_chat, client_for, operator, captured
):
    _close_window(wa_chat)
    before = _state()
    captured.clear()
    response = _reply(client_for(operator), wa_chat)
    assert response.status_code == 409 and response.json()["code"] == "reply_window_closed"
    assert _state() == before and not graph.calls("messages") and not captured
    note = _reply(client_for(operator), wa_chat, text="call them tomorrow", kind="note")
    assert note.status_code == 201 and not graph.calls("messages")


def test_the_window_follows_the_provider_timestamp(
    graph, whatsapp_inbox, post_wa, client_for, operator, captured
):
    old = int(time.time()) - 25 * 3600
    post_wa(whatsapp_inbox, wa_payload(wa_message(text="old", timestamp=old)))
    chat = Chat.objects.get()
    assert _reply(client_for(operator), chat).status_code == 409
    captured.clear()
    post_wa(whatsapp_inbox, wa_payload(wa_message(text="new")))
    # the window opening is announced to staff with the new end
    [opened] = [d for t, d, _ in captured if t == "chat:updated" and d["id"] == chat.pk][:1]
    assert opened["reply_window_ends_at"] is not None
    assert _reply(client_for(operator), chat).status_code == 201
    assert len(graph.calls("messages")) == 1
    captured.clear()
    post_wa(whatsapp_inbox, wa_payload(wa_message(text="while open")))
    assert not [t for t, _, _ in captured if t == "chat:updated"]  # not per message
    # a late copy of the old message does not move the window back
    chat.refresh_from_db()
    ends_at = chat.reply_window_ends_at
    post_wa(whatsapp_inbox, wa_payload(wa_message(text="older", timestamp=old - 60)))
    chat.refresh_from_db()
    assert chat.reply_window_ends_at == ends_at


@pytest.mark.parametrize("window_open", [True, False])
def test_a_template_goes_out_inside_and_outside_the_window(
    graph, wa_chat, client_for, operator, window_open
):
    if not window_open:
        _close_window(wa_chat)
        graph.close_window("79001234567")
    response = client_for(operator).post(
        f"/api/chats/{wa_chat.pk}/template",
        {"name": "order_update", "language": "en_US", "parameters": ["#1042", "today"]},
        format="json",
    )
    assert response.status_code == 201, response.content
    message = Message.objects.get(pk=response.json()["id"])
    assert "order_update" in message.text and message.delivery == Delivery.SENT
    assert OutboundTemplate.objects.get(message=message).parameters == ["#1042", "today"]
    [call] = graph.calls("messages")
    assert call.body["type"] == "template"
    assert call.body["template"] == {
        "name": "order_update",
        "language": {"code": "en_US"},
        "components": [
            {
                "type": "body",
                "parameters": [
                    {"type": "text", "text": "#1042"},
                    {"type": "text", "text": "today"},
                ],
            }
        ],
    }


def test_the_providers_closed_window_error_fails_the_message(graph, wa_chat, client_for, operator):
    graph.close_window("79001234567")  # Meta knows better than our clock
    message_id = _reply(client_for(operator), wa_chat).json()["id"]
    message = Message.objects.get(pk=message_id)
    assert message.delivery == Delivery.FAILED
    assert message.delivery_error["code"] == "reply_window_closed"


def test_template_endpoint_permissions_and_validation(
    graph, wa_chat, client_for, other_admin, customer, operator
):
    url = f"/api/chats/{wa_chat.pk}/template"
    body = {"name": "hello", "language": "en"}
    before = _state()
    assert client_for(other_admin).post(url, body, format="json").status_code == 404
    assert client_for(customer).post(url, body, format="json").status_code in (403, 404)
    bad = client_for(operator).post(url, {"name": "Bad Name!", "language": "en"}, format="json")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_template"
    assert _state() == before and not graph.calls()


def test_a_template_in_a_web_chat_is_refused(graph, client_for, operator, customer):
    chat_id = client_for(customer).get("/api/chats/my-chat").json()["id"]
    response = client_for(operator).post(
        f"/api/chats/{chat_id}/template", {"name": "hello", "language": "en"}, format="json"
    )
    assert response.status_code == 409 and response.json()["code"] == "templates_unsupported"


def test_a_file_the_upload_checks_refuse_is_noted_not_stored(graph, whatsapp_inbox, post_wa):
    graph.add_media("media-html", b"<html><script>alert(1)</script></html>", "text/html")
    post_wa(
        whatsapp_inbox,
        wa_payload(wa_message(type="document", document={"id": "media-html", "filename": "x.pdf"})),
    )
    message = Message.objects.get()
    assert not message.attachments.exists() and "x.pdf was refused" in message.text


def test_a_timeout_after_the_request_left_is_not_sent_twice(
    graph, wa_chat, client_for, operator, settings
):
    settings.CONNECTOR_TIMEOUT_SECONDS = 0.5
    from connectors import http

    http.reset()
    graph.fail("messages", "timeout", seconds=1.5)
    message_id = _reply(client_for(operator), wa_chat).json()["id"]
    message = Message.objects.get(pk=message_id)
    assert message.delivery == Delivery.FAILED
    assert message.delivery_error["code"] == "delivery_unknown"
    assert len(graph.calls("messages")) == 1
    # the operator's explicit retry sends it again
    assert client_for(operator).post(f"/api/messages/{message_id}/retry").status_code == 200
    assert len(graph.calls("messages")) == 2
    assert Message.objects.get(pk=message_id).delivery == Delivery.SENT


def test_a_long_text_is_split_into_several_messages(graph, wa_chat, client_for, operator):
    text = ("line of words\n" * 400).strip()  # 5,599 characters
    _reply(client_for(operator), wa_chat, text=text)
    calls = graph.calls("messages")
    assert len(calls) == 2
    assert all(len(c.body["text"]["body"]) <= 4096 for c in calls)
    assert "\n".join(c.body["text"]["body"] for c in calls) == text


def test_a_status_that_overtakes_the_send_task_is_kept(
    graph, wa_chat, whatsapp_inbox, client_for, operator, post_wa
):
    """Meta's "delivered" can arrive before the task wrote the id down; then "sent" must not
    move the message back."""
    from chats.services.channels import message_delivery_sent
    from connectors.models import AttemptState, OutboundAttempt

    message_id = _reply(client_for(operator), wa_chat).json()["id"]
    Message.objects.filter(pk=message_id).update(delivery=Delivery.PENDING, external_id=None)
    OutboundAttempt.objects.filter(message_id=message_id).update(
        state=AttemptState.ACCEPTED, provider_message_id="wamid.EARLY"
    )
    post_wa(whatsapp_inbox, wa_payload(statuses=[wa_status("wamid.EARLY", "delivered")]))
    assert Message.objects.get(pk=message_id).delivery == Delivery.DELIVERED
    message_delivery_sent(message_id=message_id, external_id="wamid.EARLY")
    message = Message.objects.get(pk=message_id)
    assert message.delivery == Delivery.DELIVERED and message.external_id == "wamid.EARLY"


def test_a_status_of_a_message_sent_elsewhere_is_retried_then_dropped(
    graph, whatsapp_inbox, post_wa, settings
):
    settings.CONNECTOR_MAX_RETRIES = 2
    assert (
        post_wa(whatsapp_inbox, wa_payload(statuses=[wa_status("wamid.X", "read")])).status_code
        == 200
    )
    update = WebhookUpdate.objects.get()
    assert update.processed_at is not None and update.attempts == 3
    assert not Message.objects.exists()


def test_one_app_with_two_numbers_routes_each_delivery_to_its_numbers_inbox(
    graph, whatsapp_inbox, whatsapp_inbox_for, admin_user, other_admin, post_wa
):
    """Meta sends every number of an app to the app's one webhook URL."""
    second = whatsapp_inbox_for(admin_user, phone_number_id="200300400500")
    whatsapp_inbox_for(other_admin, phone_number_id="300400500600")  # same app secret, theirs
    post_wa(whatsapp_inbox, wa_payload(wa_message(text="to B"), phone_number_id="200300400500"))
    post_wa(whatsapp_inbox, wa_payload(wa_message(text="to A")))
    post_wa(whatsapp_inbox, wa_payload(wa_message(text="theirs"), phone_number_id="300400500600"))
    assert Message.objects.get(text="to B").chat.inbox_id == second.pk
    assert Message.objects.get(text="to A").chat.inbox_id == whatsapp_inbox.pk
    assert not Message.objects.filter(text="theirs").exists()  # never across organizations


def test_the_phone_number_id_is_checked(client_for, admin_user):
    response = client_for(admin_user).post(
        "/api/inboxes",
        {
            "kind": "whatsapp",
            "name": "WA",
            "phone_number_id": "+1 555 000",
            "access_token": WA_TOKEN,
            "app_secret": "x",
        },
        format="json",
    )
    assert response.status_code == 400 and "phone_number_id" in response.json()
