"""The reconciliation task rebuilds drifted unread counts from the read pointers."""

import pytest
from django.conf import settings

from chats.models import Membership
from chats.services import chat_mark_read, message_send
from chats.tasks import unread_counts_reconcile
from crm.celery import app

pytestmark = pytest.mark.django_db


def test_reconcile_fixes_drift_and_is_idempotent(customer, operator, admin_user, support, team):
    message_send(sender=customer, chat=support, text="1")
    message_send(sender=customer, chat=support, text="2")
    note = message_send(sender=operator, chat=support, text="n", kind="note").message
    message_send(sender=admin_user, chat=team, text="t")
    chat_mark_read(user=admin_user, chat=support, up_to=note.pk - 1)
    truth = dict(Membership.objects.values_list("pk", "unread_count"))
    Membership.objects.update(unread_count=7)  # simulate drift everywhere
    fixed = unread_counts_reconcile.apply().get()
    assert fixed == len(truth)
    assert dict(Membership.objects.values_list("pk", "unread_count")) == truth
    assert truth[Membership.objects.get(chat=support, user=admin_user).pk] == 1  # the note
    assert truth[Membership.objects.get(chat=support, user=customer).pk] == 0  # never notes
    assert unread_counts_reconcile.apply().get() == 0


def test_reconcile_limited_to_chats(customer, operator, support, team):
    message_send(sender=customer, chat=support, text="1")
    Membership.objects.update(unread_count=5)
    assert unread_counts_reconcile(chat_ids=[team.pk]) == 2
    assert Membership.objects.get(chat=support, user=operator).unread_count == 5


def test_scheduled_in_beat():
    entry = settings.CELERY_BEAT_SCHEDULE["chats-unread-counts-reconcile"]
    assert entry["task"] == "chats.tasks.unread_counts_reconcile"
    assert entry["task"] in app.tasks
    assert entry["schedule"] > 0
