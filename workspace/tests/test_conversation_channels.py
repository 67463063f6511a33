"""The conversation page's side panel for customers who write from a messaging channel: their
channel identities instead of an empty email."""

from __future__ import annotations

import pytest

from chats.services import support_chat_get_or_create
from chats.services.channels import ChannelSender, channel_identity_get_or_create
from chats.tests.factories import InboxFactory

pytestmark = pytest.mark.django_db


def _side_panel(client, chat) -> str:
    html = client.get(f"/admin/inbox/{chat.pk}/").content.decode()
    return html[html.index('<aside id="cv-side"') : html.index("</aside>")]


def test_a_channel_customer_shows_identities_not_an_empty_email(client, organization, operator):
    whatsapp = InboxFactory(organization=organization, kind="whatsapp", name="WA number")
    bridge = InboxFactory(organization=organization, kind="api", name="Shop chat")
    identity = channel_identity_get_or_create(
        inbox=whatsapp, sender=ChannelSender(external_id="79001234567", name="")
    )
    customer = identity.customer
    assert not customer.email and not customer.name
    channel_identity_get_or_create(
        inbox=bridge, sender=ChannelSender(external_id="shop-77", name="", username="maria_s")
    )
    from chats.models import ChannelIdentity

    ChannelIdentity.objects.filter(inbox=bridge).update(customer=customer)
    chat, _ = support_chat_get_or_create(customer=customer, inbox=whatsapp)
    client.force_login(operator)
    panel = _side_panel(client, chat)
    assert "None" not in panel and "Email" not in panel and "mailto:" not in panel
    assert '<dt>WhatsApp</dt><dd class="cv-identity"' in panel and "79001234567</dd>" in panel
    assert "maria_s · shop-77</dd>" in panel and "In the inbox Shop chat" in panel
    title = client.get(f"/admin/inbox/{chat.pk}/").content.decode()
    assert "<title>79001234567 · Conversation" in title


def test_a_customer_with_an_email_still_shows_it(client, customer, operator):
    chat, _ = support_chat_get_or_create(customer=customer)
    client.force_login(operator)
    panel = _side_panel(client, chat)
    assert f'<a href="mailto:{customer.email}">' in panel and "cv-identity" not in panel
