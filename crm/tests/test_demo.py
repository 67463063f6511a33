"""The demo organization shows a living inbox, and cabinet sign-ups land where its staff are."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from chats.models import Chat, ChatStatus, Membership, Message, MessageKind
from chats.selectors import chats_visible_to
from chats.services import message_send, support_chat_get_or_create, unread_counts_rebuild
from crm.demo import CONVERSATIONS, DEMO_ORGANIZATION, seed_demo
from media.models import MediaKind
from operators.models import AuditEvent
from orders.models import Order

pytestmark = pytest.mark.django_db


def _counts() -> dict[str, int]:
    return {
        "chats": Chat.objects.count(),
        "messages": Message.objects.count(),
        "orders": Order.objects.count(),
        "audit": AuditEvent.objects.count(),
        "users": User.objects.count(),
    }


def test_demo_conversations_cover_every_state_and_seed_once():
    organization, logins = seed_demo()
    first = _counts()
    seed_demo()
    assert _counts() == first  # idempotent

    chats = Chat.objects.filter(organization=organization, kind="support")
    assert chats.count() == len(CONVERSATIONS) >= 6
    open_chats = chats.filter(status=ChatStatus.OPEN)
    assert open_chats.filter(assignee__isnull=True).count() >= 2  # the Unassigned tab
    assert open_chats.filter(assignee__isnull=False).count() >= 2
    assert chats.filter(status=ChatStatus.PENDING, assignee__isnull=False).exists()
    closed = chats.get(status=ChatStatus.CLOSED)
    assert closed.closed_at is not None and closed.closed_at < timezone.now()

    messages = Message.objects.filter(chat__organization=organization)
    image = messages.get(kind=MessageKind.IMAGE)
    [photo] = image.attachments.all()
    assert photo.kind == MediaKind.IMAGE and photo.thumbnail and photo.width == 480
    note = messages.get(kind=MessageKind.NOTE)
    assert note.staff_only and note.sender.is_staff
    assert Order.objects.filter(organization=organization, chat__isnull=False).exists()
    for chat in chats:  # two-way: the customer and staff both wrote, except the unanswered
        senders = set(
            messages.filter(chat=chat, kind__in=["text", "image"]).values_list(
                "sender__role", flat=True
            )
        )
        assert "customer" in senders
        if chat.assignee_id:
            assert senders - {"customer"} and chat.first_response_at > chat.created_at

    # Realistic times: spread over days, all in the past, ids in time order.
    times = list(messages.order_by("id").values_list("created_at", flat=True))
    assert times == sorted(times)
    assert times[-1] < timezone.now() and times[-1] - times[0] > timezone.timedelta(days=2)
    for chat in chats:
        last = messages.filter(chat=chat).order_by("-id").first()
        assert chat.last_activity_at == last.created_at
        assert chat.created_at <= messages.filter(chat=chat).order_by("id").first().created_at

    # The counters the services kept match a rebuild from the read pointers.
    before = dict(Membership.objects.values_list("pk", "unread_count"))
    unread_counts_rebuild()
    assert dict(Membership.objects.values_list("pk", "unread_count")) == before
    assert Membership.objects.filter(unread_count__gt=0, user__role="operator").exists()
    assert {login.role for login in logins} == {"admin", "senior_operator", "operator", "customer"}


def test_cabinet_sign_ups_land_in_the_demo_organization_on_the_embedded_default():
    assert DEMO_ORGANIZATION[0] == settings.DEFAULT_ORGANIZATION
    organization, _ = seed_demo()
    response = APIClient().post(
        "/api/auth/register",
        {"email": "newcomer@example.com", "password": "a-Long-pass-77", "name": "Newcomer"},
        format="json",
    )
    assert response.status_code == 201
    newcomer = User.objects.get(email="newcomer@example.com")
    assert newcomer.organization == organization
    chat, _ = support_chat_get_or_create(customer=newcomer)
    message_send(sender=newcomer, chat=chat, text="Hello?")
    olga = User.objects.get(email="olga@demo.example.com")
    assert chats_visible_to(olga).filter(pk=chat.pk).exists()


def test_seed_demo_command_prints_the_logins():
    from io import StringIO

    out = StringIO()
    call_command("seed_demo", stdout=out)
    text = out.getvalue()
    assert "admin@demo.example.com" in text and "demo-admin-2025" in text
    assert "oscar@demo.example.com" in text and "dana@demo.example.com" in text
