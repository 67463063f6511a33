"""Files on messages: message_send with attachment_ids, the payload, the event, the rules."""

from __future__ import annotations

import threading

import pytest
from django.db import close_old_connections

from accounts.models import Role
from accounts.tests.factories import UserFactory
from chats.models import Message
from chats.payloads import message_data
from chats.services import message_send
from chats.tests.factories import support_chat
from crm.errors import ValidationFailed
from media.models import MediaFile
from media.services import media_attach
from media.tests import samples

pytestmark = pytest.mark.django_db


def test_message_carries_its_attachments(customer, uploaded):
    chat = support_chat(customer)
    photo = uploaded(customer, name="photo.png")
    invoice = uploaded(customer, name="invoice.pdf", content=samples.pdf())
    message = message_send(
        sender=customer, chat=chat, text="", kind="file", attachment_ids=[photo.pk, invoice.pk]
    ).message

    data = message_data(Message.objects.prefetch_related("attachments").get(pk=message.pk))
    by_name = {a["name"]: a for a in data["attachments"]}
    assert set(by_name) == {"photo.png", "invoice.pdf"}
    assert by_name["photo.png"] == {
        "id": photo.pk,
        "url": f"/api/media/{photo.pk}/download",
        "kind": "image",
        "mime": "image/png",
        "size": photo.size,
        "name": "photo.png",
        "width": 40,
        "height": 30,
        "thumbnail_url": f"/api/media/{photo.pk}/download?thumbnail=1",
        "storage_state": "local",
    }
    assert by_name["invoice.pdf"]["thumbnail_url"] is None
    for media in (photo, invoice):
        media.refresh_from_db()
        assert media.chat == chat and media.attached_at is not None


def test_message_new_event_has_attachment_urls_that_work_when_it_arrives(
    customer, operator, client_for, uploaded, captured, django_capture_on_commit_callbacks
):
    chat = support_chat(customer)
    media = uploaded(customer)
    staff = client_for(operator)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message_send(sender=customer, chat=chat, text="look", attachment_ids=[media.pk])
    assert [t for t, _, _ in captured] == []  # nothing before commit
    for callback in callbacks:
        callback()
    [(_, data, groups)] = [(t, d, g) for t, d, g in captured if t == "message:new"]
    assert f"staff.{customer.organization_id}" in groups
    [attachment] = data["attachments"]
    assert attachment["id"] == media.pk
    # What a staff client does on receiving the event: fetch the file and its thumbnail.
    assert staff.get(attachment["url"]).status_code == 200
    assert staff.get(attachment["thumbnail_url"]).status_code == 200


@pytest.mark.parametrize("case", ["someone_elses", "other_organization", "other_chat", "twice"])
def test_unusable_attachments_are_refused(case, customer, operator, other_customer, uploaded):
    chat = support_chat(customer)
    if case == "someone_elses":
        media = uploaded(operator)
    elif case == "other_organization":
        media = uploaded(other_customer)
    elif case == "other_chat":
        neighbour = UserFactory(organization=customer.organization, role=Role.CUSTOMER)
        media = uploaded(operator, chat=support_chat(neighbour))
    else:
        media = uploaded(customer)
        message_send(sender=customer, chat=chat, text="first", attachment_ids=[media.pk])
    sender = operator if case == "other_chat" else customer
    before = Message.objects.count()
    with pytest.raises(ValidationFailed) as refused:
        message_send(sender=sender, chat=chat, text="x", attachment_ids=[media.pk])
    assert refused.value.code == "invalid_attachments"
    assert Message.objects.count() == before


def test_media_attach_takes_a_file_once(customer, uploaded):
    chat = support_chat(customer)
    media = uploaded(customer)
    media_attach(files=[media], chat=chat)
    with pytest.raises(ValidationFailed):
        media_attach(files=[media], chat=chat)


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_racing_sends_with_the_same_file_attach_it_once(operator, organization, uploaded):
    """Two sends in two chats with one file, at the same moment: one message gets it."""
    from chats.models import ChatKind
    from chats.tests.factories import internal_chat

    first = internal_chat(ChatKind.GROUP, [operator], name="A")
    second = internal_chat(ChatKind.GROUP, [operator], name="B")
    media = uploaded(operator)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def send(chat):
        try:
            barrier.wait(timeout=5)
            message_send(sender=operator, chat=chat, text="x", attachment_ids=[media.pk])
            outcomes.append("sent")
        except ValidationFailed as exc:
            outcomes.append(exc.code)
        finally:
            close_old_connections()

    threads = [threading.Thread(target=send, args=(chat,)) for chat in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert sorted(outcomes) == ["invalid_attachments", "sent"]
    assert Message.objects.filter(attachments=media).count() == 1
    assert MediaFile.objects.get(pk=media.pk).chat_id in (first.pk, second.pk)
