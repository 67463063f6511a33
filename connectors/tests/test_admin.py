"""Back office of the channels: inbox forms labelled per kind with the webhook URL, generated
secrets shown once, and channel identities read only and scoped to the organization."""

from __future__ import annotations

import pytest
from django.test import override_settings

from accounts.tests.factories import DEFAULT_PASSWORD
from chats.models import ChannelIdentity, Inbox
from chats.services.channels import ChannelSender, channel_identity_get_or_create
from chats.tests.factories import InboxFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(client):
    def make(user):
        assert client.login(username=user.email, password=DEFAULT_PASSWORD)
        return client

    return make


def _label(page: str, name: str) -> str:
    start = page.index(f'for="id_{name}"')
    return page[page.index(">", start) + 1 : page.index("</label>", start)]


def test_add_page_per_kind_labels_and_help(signed_in, admin_user):
    client = signed_in(admin_user)
    whatsapp = client.get("/admin/chats/inbox/add/?kind=whatsapp").content.decode()
    assert _label(whatsapp, "bot_token").startswith("Access token")
    assert _label(whatsapp, "phone_number_id").startswith("Phone number ID")
    assert _label(whatsapp, "app_secret").startswith("App secret")
    assert _label(whatsapp, "verify_token").startswith("Verify token")
    assert "whatsapp_business_messaging" in whatsapp and 'for="id_api_token"' not in whatsapp
    assert '<input type="hidden" name="kind" value="whatsapp"' in whatsapp
    api = client.get("/admin/chats/inbox/add/?kind=api").content.decode()
    assert _label(api, "callback_url").startswith("Callback URL")
    assert _label(api, "api_token").startswith("API token")
    assert _label(api, "webhook_secret").startswith("Webhook secret")
    assert 'for="id_bot_token"' not in api and "Authorization: Bearer" in api
    telegram = client.get("/admin/chats/inbox/add/?kind=telegram").content.decode()
    assert _label(telegram, "bot_token").startswith("Bot token")
    chooser = client.get("/admin/chats/inbox/add/").content.decode()
    assert _label(chooser, "bot_token").startswith("Bot token (Telegram) or access token")
    assert 'href="?kind=whatsapp"' in chooser and 'href="?kind=api"' in chooser


@override_settings(CONNECTOR_PUBLIC_URL="https://crm.example.com")
def test_whatsapp_inbox_added_shows_the_verify_token_once_and_the_webhook_url(
    signed_in, admin_user
):
    client = signed_in(admin_user)
    response = client.post(
        "/admin/chats/inbox/add/?kind=whatsapp",
        {
            "name": "WA",
            "kind": "whatsapp",
            "auto_assign": "on",
            "is_active": "on",
            "phone_number_id": "109876543210987",
            "bot_token": "EAAG-access-token-0123456789",
            "app_secret": "app-secret-0123456789",
        },
        follow=True,
    )
    page = response.content.decode()
    inbox = Inbox.objects.get(name="WA")
    assert inbox.verify_token and inbox.verify_token in page
    assert "shown only this once" in page
    url = f"https://crm.example.com/api/webhooks/whatsapp/{inbox.pk}"
    assert url in page
    # Never again: not on the change page (it shows the URL), the list, or a second view.
    change = client.get(f"/admin/chats/inbox/{inbox.pk}/change/").content.decode()
    assert url in change and _label(change, "bot_token").startswith("Access token")
    for again in (change, client.get("/admin/chats/inbox/").content.decode()):
        assert inbox.verify_token not in again
        assert "EAAG-access-token-0123456789" not in again
        assert "app-secret-0123456789" not in again


def test_api_inbox_added_shows_both_secrets_once_and_the_url_from_the_request(
    signed_in, admin_user
):
    client = signed_in(admin_user)
    response = client.post(
        "/admin/chats/inbox/add/?kind=api",
        {
            "name": "Bridge",
            "kind": "api",
            "auto_assign": "on",
            "is_active": "on",
            "callback_url": "https://bridge.example.com/hook",
        },
        follow=True,
    )
    page = response.content.decode()
    inbox = Inbox.objects.get(name="Bridge")
    assert inbox.api_token in page and inbox.webhook_secret in page
    assert f"http://testserver/api/webhooks/api/{inbox.pk}" in page
    change = client.get(f"/admin/chats/inbox/{inbox.pk}/change/").content.decode()
    assert inbox.api_token not in change and inbox.webhook_secret not in change
    assert "https://bridge.example.com/hook" in change  # not a secret: shown to edit
    assert inbox.api_token not in client.get("/admin/").content.decode()


# --- Channel identities ---------------------------------------------------------------------


def _identity(organization, external_id: str, username: str = "") -> ChannelIdentity:
    inbox = InboxFactory(organization=organization, kind="api", name=f"Bridge {external_id}")
    return channel_identity_get_or_create(
        inbox=inbox,
        sender=ChannelSender(external_id=external_id, name="Olga", username=username),
    )


def test_identities_are_listed_for_the_organization_only(
    signed_in, admin_user, operator, organization, other_organization
):
    mine = _identity(organization, "+79001112233", "olga_wa")
    theirs = _identity(other_organization, "+79009998877", "their_secret_user")
    for user in (admin_user, operator):
        page = signed_in(user).get("/admin/chats/channelidentity/").content.decode()
        assert "+79001112233" in page and "olga_wa" in page and "API channel" in page
        assert f"/admin/chats/channelidentity/{mine.pk}/change/" in page
        assert "+79009998877" not in page and "their_secret_user" not in page
        assert f"/admin/chats/channelidentity/{theirs.pk}/" not in page


def test_another_organizations_identity_cannot_be_viewed_changed_or_deleted(
    signed_in, admin_user, organization, other_organization
):
    theirs = _identity(other_organization, "+79009998877", "their_secret_user")
    before = ChannelIdentity.objects.values().get(pk=theirs.pk)
    client = signed_in(admin_user)
    view = client.get(f"/admin/chats/channelidentity/{theirs.pk}/change/", follow=True)
    assert "their_secret_user" not in view.content.decode()
    for path in ("change", "delete"):
        response = client.post(
            f"/admin/chats/channelidentity/{theirs.pk}/{path}/",
            {"external_id": "hijacked", "username": "hijacked", "post": "yes"},
        )
        assert response.status_code in (302, 403, 404)
    assert ChannelIdentity.objects.values().get(pk=theirs.pk) == before


def test_identities_are_read_only_for_their_own_organization_too(
    signed_in, admin_user, organization
):
    mine = _identity(organization, "+79001112233", "olga_wa")
    before = ChannelIdentity.objects.values().get(pk=mine.pk)
    client = signed_in(admin_user)
    page = client.get(f"/admin/chats/channelidentity/{mine.pk}/change/").content.decode()
    assert "olga_wa" in page and 'name="username"' not in page
    response = client.post(
        f"/admin/chats/channelidentity/{mine.pk}/change/", {"username": "changed"}
    )
    assert response.status_code == 403
    assert (
        client.post(f"/admin/chats/channelidentity/{mine.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert client.get("/admin/chats/channelidentity/add/").status_code == 403
    assert ChannelIdentity.objects.values().get(pk=mine.pk) == before
