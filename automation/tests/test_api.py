"""Automation through the API: inbox settings (validation, permissions, tenants), automated
replies as clients see them, and the query budget of a customer's send."""

from __future__ import annotations

import pytest

from chats.models import Inbox, InboxKind, Message
from chats.services import support_chat_get_or_create
from chats.tests.factories import InboxFactory
from operators.tests.factories import CannedResponseFactory, online_operator

pytestmark = pytest.mark.django_db

SETTINGS = {
    "greeting": "Hello! An operator will answer shortly.",
    "away_message": "We are closed; we answer from 9:00 Moscow time.",
    "working_hours": {"tue": [["14:00", "18:00"], ["09:00", "13:00"]], "mon": [["09:00", "18:00"]]},
    "timezone": "Europe/Moscow",
    "bot_enabled": True,
    "handoff_keywords": ["Оператор", "  живой   человек ", "/operator", "оператор"],
}


def test_admin_sets_automation_on_the_web_inbox(client_for, admin_user, web_inbox):
    client = client_for(admin_user)
    listed = client.get("/api/inboxes").json()["results"]
    (web,) = [i for i in listed if i["kind"] == "web"]
    assert web["greeting"] == "" and web["bot_enabled"] is False and web["working_hours"] == {}
    assert web["timezone"] == "UTC"
    assert web["handoff_keywords"] == ["operator", "оператор", "human", "человек", "/operator"]
    response = client.patch(f"/api/inboxes/{web_inbox.pk}", SETTINGS, format="json")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["greeting"] == SETTINGS["greeting"] and body["bot_enabled"] is True
    # Days in week order, ranges sorted; keywords lower-cased, spaces tidied, no repeats.
    assert body["working_hours"] == {
        "mon": [["09:00", "18:00"]],
        "tue": [["09:00", "13:00"], ["14:00", "18:00"]],
    }
    assert body["handoff_keywords"] == ["оператор", "живой человек", "/operator"]
    web_inbox.refresh_from_db()
    assert web_inbox.timezone == "Europe/Moscow" and web_inbox.bot_enabled
    assert client.get(f"/api/inboxes/{web_inbox.pk}").json()["timezone"] == "Europe/Moscow"
    # Empty texts switch a reply off; null working hours mean always open.
    off = client.patch(
        f"/api/inboxes/{web_inbox.pk}",
        {"greeting": "", "working_hours": None},
        format="json",
    ).json()
    assert off["greeting"] == "" and off["working_hours"] == {}


def test_a_new_channel_inbox_takes_automation_settings(client_for, admin_user):
    response = client_for(admin_user).post(
        "/api/inboxes",
        {"kind": "api", "name": "Bridge", "greeting": "Hi!", "timezone": "Asia/Yekaterinburg"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    inbox = Inbox.objects.get(pk=response.json()["id"])
    assert inbox.greeting == "Hi!" and inbox.timezone == "Asia/Yekaterinburg"


@pytest.mark.parametrize(
    ("changes", "field", "fragment"),
    [
        ({"working_hours": {"monday": [["09:00", "18:00"]]}}, "working_hours", "Unknown day"),
        ({"working_hours": {"mon": [["9:00", "18:00"]]}}, "working_hours", "HH:MM"),
        ({"working_hours": {"mon": [["18:00", "09:00"]]}}, "working_hours", "before the end"),
        ({"working_hours": {"mon": [["09:00", "09:00"]]}}, "working_hours", "before the end"),
        ({"working_hours": {"mon": [["09:00", "25:00"]]}}, "working_hours", "HH:MM"),
        ({"working_hours": {"mon": ["09:00-18:00"]}}, "working_hours", "pair of times"),
        ({"working_hours": {"mon": "09:00-18:00"}}, "working_hours", "list"),
        ({"working_hours": [["09:00", "18:00"]]}, "working_hours", "object of days"),
        ({"timezone": "Mars/Olympus_Mons"}, "timezone", "Unknown time zone"),
        ({"timezone": "../../etc/passwd"}, "timezone", "Unknown time zone"),
        ({"handoff_keywords": "operator"}, "handoff_keywords", "list"),
        ({"handoff_keywords": ["", "x"]}, "handoff_keywords", "1 to 64"),
        ({"greeting": "x" * 4001}, "greeting", "4000"),
    ],
)
def test_invalid_settings_are_400_with_field_errors_and_change_nothing(
    client_for, admin_user, web_inbox, changes, field, fragment
):
    before = Inbox.objects.filter(pk=web_inbox.pk).values().get()
    response = client_for(admin_user).patch(
        f"/api/inboxes/{web_inbox.pk}", {"name": "Renamed", **changes}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_inbox_settings" and field in body["detail"]
    assert any(fragment in problem for problem in body[field]), body
    assert Inbox.objects.filter(pk=web_inbox.pk).values().get() == before


def test_every_bad_field_is_named_in_one_answer(client_for, admin_user, web_inbox):
    response = client_for(admin_user).patch(
        f"/api/inboxes/{web_inbox.pk}",
        {"working_hours": {"sun": [["10:00", "09:00"]], "xyz": []}, "timezone": "Nowhere"},
        format="json",
    )
    body = response.json()
    assert response.status_code == 400
    assert set(body) >= {"working_hours", "timezone"} and len(body["working_hours"]) == 2


def test_bad_settings_on_create_create_nothing(client_for, admin_user):
    response = client_for(admin_user).post(
        "/api/inboxes",
        {"kind": "api", "name": "Bridge", "timezone": "Europe/Atlantis"},
        format="json",
    )
    assert response.status_code == 400 and "timezone" in response.json()
    assert not Inbox.objects.filter(kind=InboxKind.API).exists()


def test_only_admins_change_automation(client_for, operator, senior_operator, web_inbox):
    for user in (operator, senior_operator):
        response = client_for(user).patch(
            f"/api/inboxes/{web_inbox.pk}", {"bot_enabled": True}, format="json"
        )
        assert response.status_code == 403
    web_inbox.refresh_from_db()
    assert not web_inbox.bot_enabled


def test_another_organizations_inbox_is_404_and_unchanged(
    client_for, admin_user, other_organization
):
    foreign = InboxFactory(organization=other_organization, kind=InboxKind.API, name="Theirs")
    client = client_for(admin_user)
    for changes in ({"greeting": "Mine now"}, {"timezone": "Nowhere"}):
        response = client.patch(f"/api/inboxes/{foreign.pk}", changes, format="json")
        assert response.status_code == 404 and response.json()["code"] == "inbox_not_found"
    assert client.get(f"/api/inboxes/{foreign.pk}").status_code == 404
    foreign.refresh_from_db()
    assert foreign.greeting == "" and foreign.timezone == "UTC"


# --- Replies as clients see them -------------------------------------------------------------


def test_automated_replies_are_marked_in_the_api(client_for, customer, operator, configure):
    configure(greeting="Welcome!")
    client = client_for(customer)
    chat_id = client.get("/api/chats/my-chat").json()["id"]
    sent = client.post(f"/api/chats/{chat_id}/messages", {"text": "Hello"}, format="json")
    assert sent.status_code == 201 and sent.json()["automated"] is False
    for viewer in (customer, operator):
        history = client_for(viewer).get(f"/api/chats/{chat_id}/messages").json()["results"]
        assert [(m["text"], m["automated"], m["sender"]) for m in history][-1] == (
            "Welcome!",
            True,
            None,
        )
    counts = client.get("/api/unread/counts").json()
    assert counts["chats"][str(chat_id)] == 1  # the customer has a reply to read


def test_bot_conversation_in_the_chat_list(client_for, customer, operator, configure, organization):
    CannedResponseFactory(organization=organization, shortcut="hours", text="We work 9 to 6.")
    configure(bot_enabled=True)
    client = client_for(customer)
    chat_id = client.get("/api/chats/my-chat").json()["id"]
    client.post(f"/api/chats/{chat_id}/messages", {"text": "What are your hours?"}, format="json")
    listed = client_for(operator).get("/api/chats", {"status": "pending"}).json()["results"]
    assert [c["id"] for c in listed] == [chat_id]
    assert listed[0]["last_message"]["automated"] is True


# --- Query budget ---------------------------------------------------------------------------

# A customer's send through the API in a new bot conversation of the web inbox, outside
# working hours, with a greeting and a bot answer (the away message waits: the bot is on duty).
# The send alone is 9 queries (the inbox comes joined to the chat's row lock; the first message
# of a chat creates the staff read rows); automation adds a savepoint around its work, the
# history check, the canned responses, the answer count and 6 per reply (a savepoint, the
# chat lock, the insert, the chat update, the unread increment returning counts and totals).
# It does not grow with canned responses or operators.
SEND_WITH_TWO_REPLIES = 26


@pytest.mark.parametrize("canned", [3, 60])
def test_a_customers_send_with_automation_has_a_fixed_query_budget(
    client_for, customer, organization, configure, clock, canned, django_assert_num_queries
):
    for i in range(canned):
        CannedResponseFactory(organization=organization, shortcut=f"r{i}", text=f"Topic {i}.")
    CannedResponseFactory(organization=organization, shortcut="hours", text="We work 9 to 6.")
    online_operator(organization)
    configure(
        greeting="Welcome!",
        bot_enabled=True,
        away_message="Closed.",
        working_hours={"mon": [["09:00", "18:00"]]},
    )
    clock("2026-12-01 22:00")
    chat, _ = support_chat_get_or_create(customer=customer)
    client = client_for(customer)
    with django_assert_num_queries(SEND_WITH_TWO_REPLIES):
        response = client.post(
            f"/api/chats/{chat.pk}/messages", {"text": "Your working hours?"}, format="json"
        )
    assert response.status_code == 201
    automated = Message.objects.filter(chat=chat, automated=True).order_by("id")
    assert [m.client_id for m in automated] == ["automation:greeting", "automation:bot:1"]


# Without automation settings a send costs nothing more: the inbox is joined to the chat lock.
SEND_WITHOUT_AUTOMATION = 9


def test_a_send_without_automation_costs_no_query(
    client_for, customer, organization, web_inbox, django_assert_num_queries
):
    online_operator(organization)
    chat, _ = support_chat_get_or_create(customer=customer)
    client = client_for(customer)
    with django_assert_num_queries(SEND_WITHOUT_AUTOMATION):
        response = client.post(f"/api/chats/{chat.pk}/messages", {"text": "Hi"}, format="json")
    assert response.status_code == 201
    assert not Message.objects.filter(chat=chat, automated=True).exists()
