"""The operators API: shapes, validation errors, events and query budgets."""

import pytest

from accounts.tests.factories import UserFactory
from chats.tests.factories import support_chat
from operators.models import AuditEvent, CannedResponse, OperatorProfile
from operators.tests.factories import CannedResponseFactory, online_operator

pytestmark = pytest.mark.django_db


def test_assign_answers_with_the_chat(client_for, senior_operator, operator, customer):
    chat = support_chat(customer)
    response = client_for(senior_operator).post(
        f"/api/chats/{chat.pk}/assign", {"operator_id": operator.pk}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == chat.pk and body["assignee"]["id"] == operator.pk
    assert body["status"] == "open" and body["assigned_at"]
    assert body["last_message"]["kind"] == "system"


def test_assign_validation_and_unknown_operator(client_for, senior_operator, customer, other_admin):
    chat = support_chat(customer)
    client = client_for(senior_operator)
    response = client.post(f"/api/chats/{chat.pk}/assign", {}, format="json")
    assert response.status_code == 400 and "operator_id" in response.json()
    response = client.post(
        f"/api/chats/{chat.pk}/assign", {"operator_id": other_admin.pk}, format="json"
    )
    assert response.status_code == 404 and response.json()["code"] == "operator_not_found"
    response = client.post(f"/api/chats/{customer.pk}/assign", {"operator_id": 1}, format="json")
    assert response.status_code in (400, 404)
    assert client.post("/api/chats/999999/take").status_code == 404


def test_take_conflict_code(client_for, operator, senior_operator, customer):
    chat = support_chat(customer)
    assert client_for(senior_operator).post(f"/api/chats/{chat.pk}/take").status_code == 200
    response = client_for(operator).post(f"/api/chats/{chat.pk}/take")
    assert response.status_code == 409
    assert response.json()["code"] == "chat_already_assigned"


def test_close_and_reopen(client_for, operator, customer):
    chat = support_chat(customer)
    client = client_for(operator)
    body = client.post(f"/api/chats/{chat.pk}/close").json()
    assert body["status"] == "closed" and body["closed_at"]
    body = client.post(f"/api/chats/{chat.pk}/reopen").json()
    assert body["status"] == "open" and body["closed_at"] is None


def test_operators_list_shape_and_query_budget(
    client_for, organization, admin_user, django_assert_num_queries
):
    client = client_for(admin_user)
    for _ in range(2):
        online_operator(organization, capacity=4)
    support_chat(UserFactory(organization=organization))  # auto-assigned: one open chat
    with django_assert_num_queries(3):  # auth user, count, page
        small = client.get("/api/operators").json()
    for _ in range(8):
        online_operator(organization)
    with django_assert_num_queries(3):
        large = client.get("/api/operators").json()
    assert small["count"] == 3 and large["count"] == 11
    by_id = {o["id"]: o for o in small["results"]}
    assert by_id[admin_user.pk]["availability"] == "offline"  # no profile yet: defaults
    assert sorted(o["open_chats"] for o in small["results"]) == [0, 0, 1]
    online = client.get("/api/operators?availability=online").json()
    assert online["count"] == 10
    offline = client.get("/api/operators?availability=offline").json()
    assert [o["id"] for o in offline["results"]] == [admin_user.pk]


def test_me_and_availability_event(
    client_for, operator, captured, django_capture_on_commit_callbacks
):
    client = client_for(operator)
    me = client.get("/api/operators/me").json()
    assert me["id"] == operator.pk and me["availability"] == "offline" and me["capacity"] == 5
    with django_capture_on_commit_callbacks(execute=True):
        response = client.patch("/api/operators/me", {"availability": "online"}, format="json")
    assert response.status_code == 200 and response.json()["availability"] == "online"
    assert captured == [
        (
            "operator:status",
            {"user_id": operator.pk, "availability": "online"},
            (f"staff.{operator.organization_id}",),
        )
    ]
    response = client.patch("/api/operators/me", {"availability": "busy"}, format="json")
    assert response.status_code == 400 and "availability" in response.json()


def test_manager_sets_capacity_with_an_audit_row(client_for, senior_operator, operator):
    response = client_for(senior_operator).patch(
        f"/api/operators/{operator.pk}", {"capacity": 8, "availability": "online"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["capacity"] == 8 and response.json()["availability"] == "online"
    row = AuditEvent.objects.get(verb="operator.updated")
    assert row.actor == senior_operator and row.target == operator
    assert row.data == {
        "capacity": {"from": 5, "to": 8},
        "availability": {"from": "offline", "to": "online"},
    }
    response = client_for(senior_operator).patch(
        f"/api/operators/{operator.pk}", {"capacity": -1}, format="json"
    )
    assert response.status_code == 400


def test_canned_responses_crud(client_for, admin_user, operator, organization, other_organization):
    CannedResponseFactory(organization=other_organization, shortcut="theirs")
    admin = client_for(admin_user)
    created = admin.post(
        "/api/canned-responses", {"shortcut": "hello", "text": "Hello there!"}, format="json"
    )
    assert created.status_code == 201
    rid = created.json()["id"]
    duplicate = admin.post(
        "/api/canned-responses", {"shortcut": "hello", "text": "Again"}, format="json"
    )
    assert duplicate.status_code == 400 and duplicate.json()["code"] == "shortcut_taken"
    blank = admin.post("/api/canned-responses", {"shortcut": " ", "text": "x"}, format="json")
    assert blank.status_code == 400
    listed = client_for(operator).get("/api/canned-responses").json()
    assert [r["shortcut"] for r in listed["results"]] == ["hello"]
    assert client_for(operator).get("/api/canned-responses?q=there").json()["count"] == 1
    assert client_for(operator).get("/api/canned-responses?q=nothing").json()["count"] == 0
    edited = admin.patch(f"/api/canned-responses/{rid}", {"text": "Hi!"}, format="json")
    assert edited.json()["text"] == "Hi!" and edited.json()["shortcut"] == "hello"
    assert admin.delete(f"/api/canned-responses/{rid}").status_code == 204
    assert not CannedResponse.objects.filter(organization=organization).exists()
    verbs = list(AuditEvent.objects.order_by("id").values_list("verb", flat=True))
    assert verbs == [
        "canned_response.created",
        "canned_response.updated",
        "canned_response.deleted",
    ]


def test_canned_list_query_budget(client_for, operator, organization, django_assert_num_queries):
    client = client_for(operator)
    CannedResponseFactory(organization=organization)
    with django_assert_num_queries(3):
        client.get("/api/canned-responses")
    CannedResponseFactory.create_batch(30, organization=organization)
    with django_assert_num_queries(3):
        assert client.get("/api/canned-responses").json()["count"] == 31


def test_stats_period_validation(client_for, operator):
    client = client_for(operator)
    assert client.get("/api/stats?days=0").status_code == 400
    response = client.get("/api/stats?from=2025-02-01T00:00:00Z&to=2025-01-01T00:00:00Z")
    assert response.status_code == 400 and "from" in response.json()
    body = client.get("/api/stats?from=2025-01-01T00:00:00Z&to=2025-02-01T00:00:00Z").json()
    assert body["period"] == {"from": "2025-01-01T00:00:00Z", "to": "2025-02-01T00:00:00Z"}


def test_suggestions_limit_bounds(client_for, operator, customer):
    chat = support_chat(customer)
    client = client_for(operator)
    assert client.get(f"/api/chats/{chat.pk}/suggestions?limit=0").status_code == 400
    assert client.get(f"/api/chats/{chat.pk}/suggestions?limit=11").status_code == 400
    body = client.get(f"/api/chats/{chat.pk}/suggestions").json()
    assert body == {"engine": "local", "suggestions": []}


def test_profile_is_created_on_first_change_only(operator, client_for):
    client = client_for(operator)
    assert client.get("/api/operators/me").json()["availability"] == "offline"
    assert not OperatorProfile.objects.filter(user=operator).exists()  # reading writes nothing
    client.patch("/api/operators/me", {"availability": "away"}, format="json")
    client.patch("/api/operators/me", {"availability": "online"}, format="json")
    assert OperatorProfile.objects.filter(user=operator).count() == 1
