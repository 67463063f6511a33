import json

import pytest

from accounts.models import Role
from accounts.tests.factories import UserFactory
from chats.models import Inbox, InboxKind
from chats.selectors import web_inbox_for
from chats.services import support_chat_get_or_create
from operators.models import AuditEvent

pytestmark = pytest.mark.django_db

TELEGRAM = {"kind": "telegram", "name": "Telegram bot", "bot_token": "123:secret-bot-token"}


def _secrets_absent(body, *values):
    text = json.dumps(body)
    for value in values:
        assert value not in text


def test_admin_creates_telegram_inbox_secrets_write_only(client_for, admin_user):
    client = client_for(admin_user)
    response = client.post("/api/inboxes", TELEGRAM, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["kind"] == "telegram" and body["auto_assign"] is True
    assert body["secrets_set"]["bot_token"] is True
    generated = body["generated_secrets"]["webhook_secret"]
    assert len(generated) >= 32
    inbox = Inbox.objects.get(pk=body["id"])
    assert inbox.bot_token == "123:secret-bot-token" and inbox.webhook_secret == generated
    # Never again: neither the token nor the generated secret is shown after creation.
    for path in ("/api/inboxes", f"/api/inboxes/{inbox.id}"):
        _secrets_absent(client.get(path).json(), "123:secret-bot-token", generated)
    audit = AuditEvent.objects.get(verb="inbox.created")
    assert audit.actor == admin_user and "secret" not in json.dumps(audit.data)


def test_incomplete_inbox_is_400_and_nothing_created(client_for, admin_user):
    response = client_for(admin_user).post(
        "/api/inboxes", {"kind": "whatsapp", "name": "WA", "bot_token": "x"}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "inbox_incomplete" and "phone_number_id" in body
    assert not Inbox.objects.filter(kind="whatsapp").exists()


def test_second_web_inbox_is_refused(client_for, admin_user):
    response = client_for(admin_user).post(
        "/api/inboxes", {"kind": "web", "name": "Another"}, format="json"
    )
    assert response.status_code == 400  # not among the kinds one can create
    assert "kind" in response.json()


def test_patch_keeps_secret_when_empty_and_replaces_when_given(client_for, admin_user):
    client = client_for(admin_user)
    inbox_id = client.post("/api/inboxes", TELEGRAM, format="json").json()["id"]
    response = client.patch(
        f"/api/inboxes/{inbox_id}",
        {"name": "Bot", "bot_token": "", "auto_assign": False},
        format="json",
    )
    assert response.status_code == 200
    inbox = Inbox.objects.get(pk=inbox_id)
    assert inbox.name == "Bot" and not inbox.auto_assign
    assert inbox.bot_token == "123:secret-bot-token"
    client.patch(f"/api/inboxes/{inbox_id}", {"bot_token": "456:new"}, format="json")
    inbox.refresh_from_db()
    assert inbox.bot_token == "456:new"
    changed = AuditEvent.objects.filter(verb="inbox.updated").order_by("id").last().data
    assert changed == {"changed": ["bot_token"]}


def test_delete_refused_while_inbox_has_conversations(client_for, admin_user, customer):
    client = client_for(admin_user)
    inbox_id = client.post("/api/inboxes", {"kind": "api", "name": "Bridge"}, format="json").json()[
        "id"
    ]
    support_chat_get_or_create(customer=customer, inbox=Inbox.objects.get(pk=inbox_id))
    response = client.delete(f"/api/inboxes/{inbox_id}")
    assert response.status_code == 409 and response.json()["code"] == "inbox_in_use"
    assert Inbox.objects.filter(pk=inbox_id).exists()
    web = web_inbox_for(organization=admin_user.organization)
    assert client.delete(f"/api/inboxes/{web.id}").status_code == 409
    empty = client.post("/api/inboxes", {"kind": "api", "name": "Spare"}, format="json").json()
    assert client.delete(f"/api/inboxes/{empty['id']}").status_code == 204
    assert not Inbox.objects.filter(pk=empty["id"]).exists()


@pytest.mark.parametrize("role", [Role.SENIOR_OPERATOR, Role.OPERATOR])
def test_staff_read_but_only_admins_write(client_for, organization, role):
    inbox = Inbox.objects.create(organization=organization, kind=InboxKind.API, name="Bridge")
    client = client_for(UserFactory(organization=organization, role=role))
    assert client.get("/api/inboxes").status_code == 200
    assert (
        client.post("/api/inboxes", {"kind": "api", "name": "x"}, format="json").status_code == 403
    )
    assert client.patch(f"/api/inboxes/{inbox.id}", {"name": "x"}, format="json").status_code == 403
    assert client.delete(f"/api/inboxes/{inbox.id}").status_code == 403
    inbox.refresh_from_db()
    assert inbox.name == "Bridge"


def test_customers_cannot_see_inboxes(client_for, customer):
    assert client_for(customer).get("/api/inboxes").status_code == 403


def test_other_organizations_inbox_is_404(client_for, admin_user, other_organization):
    foreign = Inbox.objects.create(organization=other_organization, kind=InboxKind.API, name="F")
    client = client_for(admin_user)
    assert client.get(f"/api/inboxes/{foreign.id}").status_code == 404
    assert (
        client.patch(f"/api/inboxes/{foreign.id}", {"name": "x"}, format="json").status_code == 404
    )
    assert client.delete(f"/api/inboxes/{foreign.id}").status_code == 404
    assert foreign.id not in [i["id"] for i in client.get("/api/inboxes").json()["results"]]
    foreign.refresh_from_db()
    assert foreign.name == "F"


def test_inbox_list_query_count_is_flat(
    client_for, admin_user, organization, django_assert_num_queries
):
    client = client_for(admin_user)
    for i in range(3):
        Inbox.objects.create(organization=organization, kind=InboxKind.API, name=f"I{i}")
    web_inbox_for(organization=organization)
    # auth user, the web inbox (created by the first listing), the page
    with django_assert_num_queries(3):
        small = client.get("/api/inboxes")
    for i in range(20):
        Inbox.objects.create(organization=organization, kind=InboxKind.API, name=f"J{i}")
    with django_assert_num_queries(3):
        large = client.get("/api/inboxes")
    assert len(large.json()["results"]) == len(small.json()["results"]) + 20
