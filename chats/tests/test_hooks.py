"""chats.hooks: other apps hear of every new message inside its transaction, retries excluded."""

from __future__ import annotations

import pytest

from chats import hooks
from chats.services import message_send, support_chat_get_or_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored():
    seen = []

    def callback(message):
        seen.append((message.pk, message.chat_id, message.text))

    hooks.on_message_stored(callback)
    yield seen
    hooks._message_stored.remove(callback)


def test_a_new_message_is_announced_once_and_a_retry_is_not(customer, stored):
    chat, _ = support_chat_get_or_create(customer=customer)
    first = message_send(sender=customer, chat=chat, text="hello", client_id="c-1")
    again = message_send(sender=customer, chat=chat, text="hello", client_id="c-1")
    assert first.created and not again.created
    assert stored == [(first.message.pk, chat.pk, "hello")]


def test_registering_twice_calls_once(customer, stored):
    hooks.on_message_stored(hooks._message_stored[-1])
    chat, _ = support_chat_get_or_create(customer=customer)
    message_send(sender=customer, chat=chat, text="once")
    assert len(stored) == 1


def test_answering_callbacks_run_after_the_others(customer):
    order = []

    def answering(message):
        order.append(("answering", message.text))

    def plain(message):
        order.append(("plain", message.text))

    hooks.on_message_stored(answering, answers=True)
    hooks.on_message_stored(plain)  # registered later, still runs first
    try:
        chat, _ = support_chat_get_or_create(customer=customer)
        message_send(sender=customer, chat=chat, text="hi")
    finally:
        hooks._message_answered.remove(answering)
        hooks._message_stored.remove(plain)
    assert order == [("plain", "hi"), ("answering", "hi")]
