"""The API channel in and out, against the callback sink (the test checks the signature)."""

from __future__ import annotations

import hashlib
import hmac

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import User
from chats.models import ChannelIdentity, Chat, Delivery, Message
from connectors.models import WebhookUpdate
from media.tests import samples

pytestmark = pytest.mark.django_db(transaction=True)


def _payload(message_id="m-1", text="Hi from the bridge", **extra):
    return {
        "message_id": message_id,
        "contact": {"id": "+79001112233", "name": "Olga", "phone": "+79001112233"},
        "text": text,
        **extra,
    }


def _nothing_stored():
    return (
        not WebhookUpdate.objects.exists()
        and not Message.objects.exists()
        and not ChannelIdentity.objects.exists()
        and not User.objects.filter(email__isnull=True).exists()
    )


def _signature_ok(received, secret: str) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(received.headers["X-Connector-Signature"], expected)


def test_inbound_answers_the_stored_ids_and_duplicates_store_once(sink, api_inbox, post_api):
    first = post_api(api_inbox, _payload())
    assert first.status_code == 200, first.content
    body = first.json()
    message = Message.objects.get()
    assert body["message_id"] == message.pk and body["chat_id"] == message.chat_id
    assert message.text == "Hi from the bridge" and message.external_id == "m-1"
    assert message.chat.customer.name == "Olga"
    again = post_api(api_inbox, _payload())
    assert again.status_code == 200 and again.json()["message_id"] == message.pk
    assert Message.objects.count() == 1
    second = post_api(api_inbox, _payload(message_id="m-2", text="more"))
    assert second.json()["chat_id"] == message.chat_id and Message.objects.count() == 2


@pytest.mark.parametrize("token", [None, "", "wrong-token"])
def test_a_bad_token_is_403_and_stores_nothing(sink, api_inbox, post_api, token):
    response = post_api(api_inbox, _payload(), token=token)
    assert response.status_code == 403 and response.json()["code"] == "invalid_signature"
    assert _nothing_stored()


@pytest.mark.parametrize(
    "payload",
    [
        {"contact": {"id": "1"}, "text": "no id"},
        {"message_id": "1", "text": "no contact"},
        {"message_id": "1", "contact": {"id": "1"}, "text": ""},
        {"message_id": "1", "contact": {"id": "1"}, "text": "x", "attachments": "nope"},
    ],
)
def test_bad_bodies_are_400_and_store_nothing(sink, api_inbox, post_api, payload):
    response = post_api(api_inbox, payload)
    assert response.status_code == 400
    assert _nothing_stored()


def test_another_organizations_inbox_is_404_and_stores_nothing(
    sink, api_inbox, api_inbox_for, other_admin, post_api
):
    theirs = api_inbox_for(other_admin)
    response = post_api(api_inbox, _payload(), inbox_id=theirs.pk)  # our token, their URL
    assert response.status_code == 404 and response.json()["code"] == "inbox_not_found"
    assert post_api(api_inbox, _payload(), inbox_id=999_999).status_code == 404
    assert _nothing_stored()


def test_inbound_attachments_are_fetched_into_the_media_app(sink, api_inbox, post_api):
    url = sink.add_file("/files/photo-1", samples.png())
    missing = sink.add_file("/files/gone", b"")
    sink.state.files.pop("/files/gone")
    response = post_api(
        api_inbox,
        _payload(
            text="two files",
            attachments=[{"url": url, "name": "photo.png"}, {"url": missing, "name": "b.pdf"}],
        ),
    )
    assert response.status_code == 200 and response.json()["message_id"]
    message = Message.objects.get()
    [photo] = message.attachments.all()
    assert photo.mime == "image/png" and photo.original_name == "photo.png"
    assert message.kind == "image" and "b.pdf could not be received" in message.text


def _reply(client, chat, text="We will call you.", **extra):
    response = client.post(f"/api/chats/{chat.pk}/messages", {"text": text, **extra}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


@pytest.fixture
def api_chat(sink, api_inbox, post_api):
    post_api(api_inbox, _payload())
    return Chat.objects.get(inbox=api_inbox)


def test_outbound_posts_a_signed_callback_once(sink, api_inbox, api_chat, client_for, operator):
    body = _reply(client_for(operator), api_chat)
    [received] = sink.received()
    assert _signature_ok(received, api_inbox.secret)
    data = received.json()
    assert data["event"] == "message.created" and data["delivery_id"]
    assert data["contact"] == {"id": "+79001112233"}
    assert data["message"]["id"] == body["id"] and data["message"]["chat_id"] == api_chat.pk
    assert data["message"]["text"] == "We will call you." and data["message"]["kind"] == "text"
    assert data["message"]["attachments"] == [] and data["message"]["created_at"]
    message = Message.objects.get(pk=body["id"])
    assert message.delivery == Delivery.SENT
    from connectors.tasks import message_deliver

    message_deliver.apply(args=[message.pk])
    assert len(sink.received()) == 1
    # a note never leaves
    _reply(client_for(operator), api_chat, text="internal", kind="note")
    assert len(sink.received()) == 1


def test_a_failing_callback_is_retried_with_the_same_delivery_id_then_sent(
    sink, api_chat, client_for, operator
):
    sink.fail(503, times=2)
    body = _reply(client_for(operator), api_chat)
    received = sink.received()
    assert [r.status for r in received] == [503, 503, 200]
    assert len({r.json()["delivery_id"] for r in received}) == 1
    assert Message.objects.get(pk=body["id"]).delivery == Delivery.SENT


def test_a_callback_failing_every_time_ends_failed(sink, api_chat, client_for, operator, settings):
    settings.CONNECTOR_MAX_RETRIES = 2
    sink.fail(500, times=10)
    body = _reply(client_for(operator), api_chat)
    assert len(sink.received()) == 3
    message = Message.objects.get(pk=body["id"])
    assert message.delivery == Delivery.FAILED
    assert message.delivery_error["code"] == "provider_unavailable"
    assert "500" in message.delivery_error["detail"]


def test_an_attachment_goes_as_a_signed_link_only_for_that_inbox(
    sink, api_inbox, api_chat, client_for, operator, client
):
    staff = client_for(operator)
    upload = staff.post(
        "/api/media",
        {"file": SimpleUploadedFile("label.png", samples.png()), "chat_id": api_chat.pk},
    )
    assert upload.status_code == 201, upload.content
    _reply(staff, api_chat, text="Your label", attachment_ids=[upload.json()["id"]])
    [received] = sink.received()
    [attachment] = received.json()["message"]["attachments"]
    assert attachment["name"] == "label.png" and attachment["mime"] == "image/png"
    assert attachment["size"] == len(samples.png())
    link = client.get(attachment["url"])
    assert link.status_code == 200 and b"".join(link.streaming_content) == samples.png()
    tampered = attachment["url"][:-3] + "xyz"
    assert client.get(tampered).status_code == 404
    other_inbox_url = attachment["url"].replace(f"/api/{api_inbox.pk}/", "/api/999999/")
    assert client.get(other_inbox_url).status_code == 404


def test_an_inbox_without_callback_fails_the_reply_at_once(
    sink, api_inbox, api_chat, client_for, operator, admin_user
):
    from chats.models import Inbox

    Inbox.objects.filter(pk=api_inbox.pk).update(callback_url="")
    body = _reply(client_for(operator), api_chat)
    message = Message.objects.get(pk=body["id"])
    assert message.delivery == Delivery.FAILED
    assert message.delivery_error["code"] == "callback_missing" and not sink.received()


BRIDGE_PORT = 18180


def test_the_readme_sample_bridge_checks_the_signature_and_deduplicates(
    sink, api_inbox, api_chat, client_for, operator, tmp_path
):
    """The bridge in the README, run as it is printed (its network call writes to a file)."""
    import os
    import re
    import subprocess
    import sys
    import time
    from pathlib import Path

    import httpx

    from chats.models import Inbox

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    [code] = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "class Hook" in b]
    out = tmp_path / "sent.txt"
    prelude = (
        "def send_to_network(contact, text):\n"
        f"    open({str(out)!r}, 'a').write(f'{{contact}}|{{text}}\\n')\n"
    )
    script = tmp_path / "bridge.py"
    script.write_text(prelude + code.replace('"0.0.0.0", 8090', f'"127.0.0.1", {BRIDGE_PORT}'))
    env = {
        **os.environ,
        "CRM_URL": "http://127.0.0.1:1/unused",
        "API_TOKEN": api_inbox.token,
        "WEBHOOK_SECRET": api_inbox.secret,
    }
    bridge = subprocess.Popen([sys.executable, str(script)], env=env)
    try:
        url = f"http://127.0.0.1:{BRIDGE_PORT}/hook"
        for _ in range(100):
            try:
                httpx.post(url, content=b"{}", headers={"X-Connector-Signature": "sha256=0"})
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        Inbox.objects.filter(pk=api_inbox.pk).update(callback_url=url)
        body = _reply(client_for(operator), api_chat, text="Delivered by the bridge")
        assert Message.objects.get(pk=body["id"]).delivery == Delivery.SENT
        assert out.read_text() == "+79001112233|Delivered by the bridge\n"
        # the same delivery again (a retry after a lost answer) is dropped by the bridge
        from connectors.models import OutboundAttempt

        OutboundAttempt.objects.filter(message_id=body["id"]).delete()
        Message.objects.filter(pk=body["id"]).update(delivery=Delivery.PENDING)
        from connectors.tasks import message_deliver

        message_deliver.apply(args=[body["id"]])
        assert out.read_text().count("Delivered by the bridge") == 1
        forged = httpx.post(url, content=b'{"delivery_id": "x"}', headers={})
        assert forged.status_code == 403
    finally:
        bridge.terminate()
        bridge.wait(timeout=10)


def test_a_file_the_bridge_cannot_serve_yet_is_fetched_again_by_the_task(sink, api_inbox, post_api):
    url = sink.add_file("/files/slow", samples.png())
    sink.state.file_failures = 1
    response = post_api(api_inbox, _payload(attachments=[{"url": url, "name": "slow.png"}]))
    assert response.status_code == 200
    # the request could not store it; the task (run at once here) did, with the file
    message = Message.objects.get()
    assert message.attachments.get().original_name == "slow.png"
    assert WebhookUpdate.objects.get().processed_at is not None
    again = post_api(api_inbox, _payload(attachments=[{"url": url, "name": "slow.png"}]))
    assert again.json()["message_id"] == message.pk and Message.objects.count() == 1
