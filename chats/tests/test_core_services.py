"""The core write paths other apps build on: support chat, send, system message, read."""

import pytest

from chats.models import ChatKind, Membership, Message
from chats.services import (
    chat_mark_read,
    message_post_system,
    message_send,
    support_chat_get_or_create,
    unread_counts_rebuild,
)
from chats.tests.factories import internal_chat
from crm.errors import NotFound, ValidationFailed

pytestmark = pytest.mark.django_db


def test_support_chat_created_once(customer):
    chat, created = support_chat_get_or_create(customer=customer)
    again, created_again = support_chat_get_or_create(customer=customer)
    assert created and not created_again and chat.pk == again.pk
    assert chat.kind == ChatKind.SUPPORT and chat.inbox.kind == "web"


def test_send_counts_unread_for_staff_and_customer(customer, operator, admin_user):
    chat, _ = support_chat_get_or_create(customer=customer)
    first = message_send(sender=customer, chat=chat, text="hello").message
    second = message_send(sender=customer, chat=chat, text="anyone?").message
    counts = dict(Membership.objects.filter(chat=chat).values_list("user_id", "unread_count"))
    assert counts == {customer.id: 0, operator.id: 2, admin_user.id: 2}
    reply = message_send(sender=operator, chat=chat, text="hi!").message
    note = message_send(sender=operator, chat=chat, text="vip", kind="note").message
    counts = dict(Membership.objects.filter(chat=chat).values_list("user_id", "unread_count"))
    assert counts == {customer.id: 1, operator.id: 0, admin_user.id: 4}
    chat.refresh_from_db()
    assert chat.first_response_at == reply.created_at
    assert chat.last_message_id == note.id
    assert note.staff_only and first.id < second.id < reply.id < note.id
    chat_mark_read(user=admin_user, chat=chat, up_to=reply.id)
    assert Membership.objects.get(chat=chat, user=admin_user).unread_count == 1
    assert unread_counts_rebuild() == 0


def test_idempotent_client_id(customer):
    chat, _ = support_chat_get_or_create(customer=customer)
    a = message_send(sender=customer, chat=chat, text="x", client_id="c-1")
    b = message_send(sender=customer, chat=chat, text="x", client_id="c-1")
    assert a.created and not b.created and a.message.pk == b.message.pk
    assert Message.objects.filter(chat=chat).count() == 1


def test_customer_cannot_post_note_or_into_foreign_chat(customer, other_customer):
    chat, _ = support_chat_get_or_create(customer=customer)
    with pytest.raises(ValidationFailed):
        message_send(sender=customer, chat=chat, text="x", kind="note")
    with pytest.raises(NotFound):
        message_send(sender=other_customer, chat=chat, text="x")


def test_events_on_commit_and_note_only_to_staff(
    customer, operator, captured, django_capture_on_commit_callbacks
):
    chat, _ = support_chat_get_or_create(customer=customer)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message_send(sender=operator, chat=chat, text="secret", kind="note")
    assert captured == []  # nothing before commit
    for callback in callbacks:
        callback()
    new = [g for t, d, g in captured if t == "message:new"]
    assert new == [(f"staff.{customer.organization_id}",)]


def test_system_message_does_not_count_unread(customer, operator):
    chat, _ = support_chat_get_or_create(customer=customer)
    message_send(sender=customer, chat=chat, text="hi")
    message_post_system(chat=chat, text="Assigned to Oscar", staff_only=True)
    assert Membership.objects.get(chat=chat, user=operator).unread_count == 1
    assert unread_counts_rebuild() == 0


def test_internal_chat_unread(operator, admin_user, senior_operator):
    chat = internal_chat(ChatKind.GROUP, [operator, admin_user], name="Team")
    message_send(sender=operator, chat=chat, text="standup?")
    assert Membership.objects.get(chat=chat, user=admin_user).unread_count == 1
    with pytest.raises(NotFound):
        message_send(sender=senior_operator, chat=chat, text="let me in")
