"""Automation on PostgreSQL with real threads: a customer's messages that arrive together are
answered one after the other under the chat's lock, so nothing is said twice."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from chats.models import Chat, ChatStatus, Message
from chats.services import message_send, support_chat_get_or_create
from operators.models import AuditEvent
from operators.tests.factories import CannedResponseFactory, online_operator

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def run_together(n: int, fn):
    barrier = threading.Barrier(n)

    def worker(i):
        try:
            barrier.wait(timeout=10)
            return fn(i)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=n) as pool:
        return [f.result() for f in [pool.submit(worker, i) for i in range(n)]]


@pytest.fixture
def loose_limits(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "messages_user": "100000/min"}


def test_first_messages_sent_together_get_one_greeting(customer, configure, loose_limits):
    configure(greeting="Welcome!")
    chat, _ = support_chat_get_or_create(customer=customer)
    run_together(6, lambda i: message_send(sender=customer, chat=chat, text=f"hello {i}"))
    messages = list(Message.objects.filter(chat=chat).order_by("id"))
    assert [m.automated for m in messages] == [False, True, False, False, False, False, False]
    assert messages[1].text == "Welcome!"


def test_questions_sent_together_hand_off_once(customer, configure, organization, loose_limits):
    CannedResponseFactory(organization=organization, shortcut="доставка", text="Доставка 3 дня.")
    operator = online_operator(organization)
    configure(bot_enabled=True)
    chat, _ = support_chat_get_or_create(customer=customer)
    assert chat.status == ChatStatus.PENDING
    run_together(4, lambda i: message_send(sender=customer, chat=chat, text="Доставка?"))
    answers = Message.objects.filter(chat=chat, client_id__startswith="automation:bot:")
    assert sorted(answers.values_list("client_id", flat=True)) == [
        "automation:bot:1",
        "automation:bot:2",
    ]
    assert AuditEvent.objects.filter(verb="chat.handed_off").count() == 1
    chat = Chat.objects.get(pk=chat.pk)
    assert chat.status == ChatStatus.OPEN and chat.assignee_id == operator.pk
    # Each answer comes right after the question it answers, in the same locked send.
    ordered = list(Message.objects.filter(chat=chat).order_by("id"))
    for before, answer in zip(ordered, ordered[1:], strict=False):
        if answer.client_id and answer.client_id.startswith("automation:bot:"):
            assert before.sender_id == customer.pk and before.text == "Доставка?"
