"""Chat endpoints: list and filters, create, my-chat, detail, rename, participants."""

import pytest

from accounts.models import Role
from accounts.tests.factories import UserFactory
from chats.models import Chat, ChatKind, Membership, Project
from chats.services import message_send
from chats.tests.factories import InboxFactory, support_chat

pytestmark = pytest.mark.django_db


def ids(response) -> list[int]:
    return [c["id"] for c in response.json()["results"]]


class TestChatList:
    def test_staff_list_has_unread_last_message_and_people(
        self, client_for, operator, admin_user, customer, support, team
    ):
        message_send(sender=customer, chat=support, text="hello")
        note = message_send(sender=admin_user, chat=support, text="vip", kind="note").message
        message_send(sender=admin_user, chat=team, text="standup")
        response = client_for(operator).get("/api/chats")
        assert response.status_code == 200
        body = response.json()
        assert body["count"] == 2
        by_id = {c["id"]: c for c in body["results"]}
        assert ids(response) == [team.pk, support.pk]  # last activity first
        s = by_id[support.pk]
        assert s["unread_count"] == 2 and s["kind"] == "support" and s["status"] == "open"
        assert s["last_message"]["id"] == note.pk and s["last_message"]["kind"] == "note"
        assert s["customer"]["id"] == customer.pk and s["customer"]["email"] == customer.email
        assert s["assignee"] is None and s["participants"] == []
        t = by_id[team.pk]
        assert t["unread_count"] == 1 and t["name"] == "Team"
        assert {p["id"] for p in t["participants"]} == {operator.pk, admin_user.pk}

    def test_customer_sees_own_support_chat_without_notes(
        self, client_for, customer, operator, support, team
    ):
        hello = message_send(sender=operator, chat=support, text="hello").message
        message_send(sender=operator, chat=support, text="internal", kind="note")
        other = UserFactory(organization=customer.organization, role=Role.CUSTOMER)
        support_chat(other)
        response = client_for(customer).get("/api/chats")
        assert ids(response) == [support.pk]
        chat = response.json()["results"][0]
        assert chat["last_message"]["id"] == hello.pk  # the note is not shown
        assert chat["unread_count"] == 1
        assert "email" not in (chat["assignee"] or {})

    def test_filters(self, client_for, organization, operator, admin_user, customer, team):
        telegram = InboxFactory(organization=organization, kind="telegram")
        other_customer = UserFactory(organization=organization, role=Role.CUSTOMER, name="Zoe Q")
        a = support_chat(customer)
        b = support_chat(other_customer, inbox=telegram)
        Chat.objects.filter(pk=a.pk).update(assignee=operator, priority="high")
        Chat.objects.filter(pk=b.pk).update(status="pending")
        message_send(sender=customer, chat=a, text="unread for staff")
        client = client_for(operator)

        def query(**params):
            response = client.get("/api/chats", params)
            assert response.status_code == 200, response.json()
            return set(ids(response))

        assert query(kind="support") == {a.pk, b.pk}
        assert query(kind="group,direct") == {team.pk}
        assert query(status="pending") == {b.pk}
        assert query(status="open") == {a.pk}  # internal chats have no status
        assert query(priority="high") == {a.pk}
        assert query(assigned="true") == {a.pk}
        assert query(assigned="false") == {b.pk}
        assert query(assignee="me") == {a.pk}
        assert query(assignee=str(admin_user.pk)) == set()
        assert query(inbox=telegram.pk) == {b.pk}
        assert query(unread="true") == {a.pk}
        assert query(q="zoe") == {b.pk}
        assert query(q=customer.email.upper()) == {a.pk}
        assert query(q="team") == {team.pk}

    @pytest.mark.parametrize(
        "params",
        [
            {"kind": "nope"},
            {"status": "archived"},
            {"priority": "p1"},
            {"assignee": "someone"},
            {"inbox": "x"},
            {"assigned": "maybe"},
        ],
    )
    def test_bad_filter_is_400(self, client_for, operator, params):
        response = client_for(operator).get("/api/chats", params)
        assert response.status_code == 400
        assert response.json()["code"] == "invalid"

    def test_anonymous_is_401(self, api_client):
        assert api_client.get("/api/chats").status_code == 401


class TestCreate:
    def test_direct_chat_once_per_pair(self, client_for, operator, admin_user):
        first = client_for(operator).post(
            "/api/chats", {"kind": "direct", "participant_ids": [admin_user.pk]}, format="json"
        )
        assert first.status_code == 201
        again = client_for(admin_user).post(
            "/api/chats", {"kind": "direct", "participant_ids": [operator.pk]}, format="json"
        )
        assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
        assert {p["id"] for p in first.json()["participants"]} == {operator.pk, admin_user.pk}
        assert Chat.objects.filter(kind=ChatKind.DIRECT).count() == 1

    def test_the_messengers_names_create_a_direct_chat(self, client_for, operator, admin_user):
        response = client_for(operator).post(
            "/api/chats", {"type": "private", "participantIds": [admin_user.pk]}, format="json"
        )
        assert response.status_code == 201, response.json()
        assert response.json()["kind"] == "direct"
        assert {p["id"] for p in response.json()["participants"]} == {operator.pk, admin_user.pk}

    def test_the_messengers_names_are_checked_like_ours(self, client_for, operator):
        response = client_for(operator).post(
            "/api/chats", {"type": "secret", "participantIds": [operator.pk]}, format="json"
        )
        assert response.status_code == 400 and "kind" in response.json()
        assert not Chat.objects.filter(kind=ChatKind.DIRECT).exists()

    def test_a_customer_cannot_create_a_chat_with_the_messengers_names(
        self, client_for, customer, operator
    ):
        response = client_for(customer).post(
            "/api/chats", {"type": "private", "participantIds": [operator.pk]}, format="json"
        )
        assert response.status_code == 403
        assert not Chat.objects.filter(kind=ChatKind.DIRECT).exists()

    def test_group_chat(self, client_for, operator, admin_user, senior_operator):
        response = client_for(operator).post(
            "/api/chats",
            {
                "kind": "group",
                "name": "Night shift",
                "participant_ids": [admin_user.pk, senior_operator.pk],
            },
            format="json",
        )
        assert response.status_code == 201
        body = response.json()
        assert body["name"] == "Night shift" and body["kind"] == "group"
        assert len(body["participants"]) == 3 and body["unread_count"] == 0

    def test_project_chat_new_and_existing_project(self, client_for, operator, admin_user):
        response = client_for(operator).post(
            "/api/chats",
            {"kind": "project", "name": "Launch", "participant_ids": [admin_user.pk]},
            format="json",
        )
        assert response.status_code == 201
        project = Project.objects.get(name="Launch")
        assert set(project.members.values_list("pk", flat=True)) == {operator.pk, admin_user.pk}
        assert response.json()["project_id"] == project.pk
        again = client_for(admin_user).post(
            "/api/chats", {"kind": "project", "project_id": project.pk}, format="json"
        )
        assert again.status_code == 200 and again.json()["id"] == response.json()["id"]

    def test_project_chat_for_existing_project_adds_its_members(
        self, client_for, organization, operator, senior_operator
    ):
        project = Project.objects.create(organization=organization, name="Ops")
        project.members.add(senior_operator)
        response = client_for(operator).post(
            "/api/chats", {"kind": "project", "project_id": project.pk}, format="json"
        )
        assert response.status_code == 201
        participants = {p["id"] for p in response.json()["participants"]}
        assert participants == {operator.pk, senior_operator.pk}

    @pytest.mark.parametrize(
        "payload, code",
        [
            ({"kind": "direct", "participant_ids": []}, "invalid_participants"),
            ({"kind": "group", "name": "", "participant_ids": []}, "name_required"),
            ({"kind": "support"}, "invalid"),
            ({"kind": "group", "name": "x", "participant_ids": [999999]}, "invalid_participants"),
            ({"kind": "project", "project_id": 999999}, "invalid_project"),
        ],
    )
    def test_bad_input_is_400(self, client_for, operator, payload, code):
        response = client_for(operator).post("/api/chats", payload, format="json")
        assert response.status_code == 400
        assert response.json()["code"] == code

    def test_participants_must_be_staff_of_same_organization(
        self, client_for, operator, customer, other_admin
    ):
        for user in (customer, other_admin):
            response = client_for(operator).post(
                "/api/chats", {"kind": "direct", "participant_ids": [user.pk]}, format="json"
            )
            assert response.status_code == 400
            assert response.json()["code"] == "invalid_participants"
        assert not Chat.objects.exists()

    def test_customer_cannot_create(self, client_for, customer, operator):
        response = client_for(customer).post(
            "/api/chats", {"kind": "direct", "participant_ids": [operator.pk]}, format="json"
        )
        assert response.status_code == 403
        assert response.json()["code"] == "staff_only"


class TestMyChat:
    def test_created_once(self, client_for, customer):
        first = client_for(customer).get("/api/chats/my-chat")
        second = client_for(customer).get("/api/chats/my-chat")
        assert first.status_code == second.status_code == 200
        assert first.json()["id"] == second.json()["id"]
        assert first.json()["inbox"]["kind"] == "web"
        assert Chat.objects.filter(customer=customer).count() == 1

    def test_staff_get_403(self, client_for, operator):
        response = client_for(operator).get("/api/chats/my-chat")
        assert response.status_code == 403
        assert response.json()["code"] == "customer_only"


class TestDetailAndUpdate:
    def test_detail(self, client_for, operator, customer, support):
        message_send(sender=customer, chat=support, text="hi")
        response = client_for(operator).get(f"/api/chats/{support.pk}")
        assert response.status_code == 200
        assert response.json()["unread_count"] == 1
        assert response.json()["last_message"]["text"] == "hi"

    def test_rename_and_status(self, client_for, operator, support, team):
        client = client_for(operator)
        response = client.patch(f"/api/chats/{team.pk}", {"name": "Crew"}, format="json")
        assert response.status_code == 200 and response.json()["name"] == "Crew"
        response = client.patch(
            f"/api/chats/{support.pk}", {"status": "pending", "priority": "urgent"}, format="json"
        )
        assert response.status_code == 200
        assert response.json()["status"] == "pending"
        assert response.json()["priority"] == "urgent"

    @pytest.mark.parametrize(
        "payload, code",
        [
            ({"status": "archived"}, "invalid"),
            ({"priority": "p0"}, "invalid"),
            ({"name": ""}, "name_required"),
            ({"name": "x" * 201}, "invalid"),
        ],
    )
    def test_bad_update_is_400(self, client_for, operator, team, payload, code):
        response = client_for(operator).patch(f"/api/chats/{team.pk}", payload, format="json")
        assert response.status_code == 400
        assert response.json()["code"] == code

    def test_status_of_internal_chat_is_400(self, client_for, operator, team):
        response = client_for(operator).patch(
            f"/api/chats/{team.pk}", {"status": "closed"}, format="json"
        )
        assert response.status_code == 400
        assert response.json()["code"] == "not_support"

    def test_customer_cannot_patch(self, client_for, customer, support):
        response = client_for(customer).patch(
            f"/api/chats/{support.pk}", {"status": "closed"}, format="json"
        )
        assert response.status_code == 403
        support.refresh_from_db()
        assert support.status == "open"

    def test_outsider_of_internal_chat_gets_404(self, client_for, senior_operator, team):
        assert client_for(senior_operator).get(f"/api/chats/{team.pk}").status_code == 404
        response = client_for(senior_operator).patch(
            f"/api/chats/{team.pk}", {"name": "Mine"}, format="json"
        )
        assert response.status_code == 404


class TestParticipants:
    def test_add_and_remove(self, client_for, operator, admin_user, senior_operator, team):
        client = client_for(operator)
        response = client.post(
            f"/api/chats/{team.pk}/participants", {"user_id": senior_operator.pk}, format="json"
        )
        assert response.status_code == 200
        assert len(response.json()["participants"]) == 3
        assert client_for(senior_operator).get(f"/api/chats/{team.pk}").status_code == 200
        # Only the creator or a manager removes someone else; anyone may leave.
        response = client_for(senior_operator).delete(
            f"/api/chats/{team.pk}/participants/{operator.pk}"
        )
        assert response.status_code == 204  # a senior operator is a manager
        assert client_for(operator).get(f"/api/chats/{team.pk}").status_code == 404
        response = client_for(admin_user).delete(
            f"/api/chats/{team.pk}/participants/{admin_user.pk}"
        )
        assert response.status_code == 204
        assert set(Membership.objects.filter(chat=team).values_list("user_id", flat=True)) == {
            senior_operator.pk
        }

    def test_plain_operator_cannot_remove_others(self, client_for, organization, operator, team):
        other = UserFactory(organization=organization, role=Role.OPERATOR)
        client_for(operator).post(
            f"/api/chats/{team.pk}/participants", {"user_id": other.pk}, format="json"
        )
        response = client_for(other).delete(f"/api/chats/{team.pk}/participants/{operator.pk}")
        assert response.status_code == 403
        assert response.json()["code"] == "not_chat_owner"

    def test_add_bad_user_is_400(self, client_for, operator, customer, other_admin, team):
        for payload in ({"user_id": customer.pk}, {"user_id": other_admin.pk}, {}):
            response = client_for(operator).post(
                f"/api/chats/{team.pk}/participants", payload, format="json"
            )
            assert response.status_code == 400
        assert Membership.objects.filter(chat=team).count() == 2

    def test_remove_non_participant_is_404(self, client_for, operator, senior_operator, team):
        response = client_for(operator).delete(
            f"/api/chats/{team.pk}/participants/{senior_operator.pk}"
        )
        assert response.status_code == 404

    def test_support_and_direct_chats_have_fixed_participants(
        self, client_for, operator, senior_operator, support
    ):
        response = client_for(operator).post(
            f"/api/chats/{support.pk}/participants", {"user_id": senior_operator.pk}, format="json"
        )
        assert response.status_code == 400
        assert response.json()["code"] == "fixed_participants"

    def test_customer_cannot_add(self, client_for, customer, operator, support):
        response = client_for(customer).post(
            f"/api/chats/{support.pk}/participants", {"user_id": operator.pk}, format="json"
        )
        assert response.status_code == 403

    def test_project_members_follow(self, client_for, operator, senior_operator):
        response = client_for(operator).post(
            "/api/chats", {"kind": "project", "name": "P"}, format="json"
        )
        chat_id = response.json()["id"]
        client_for(operator).post(
            f"/api/chats/{chat_id}/participants", {"user_id": senior_operator.pk}, format="json"
        )
        project = Project.objects.get(name="P")
        assert set(project.members.values_list("pk", flat=True)) == {
            operator.pk,
            senior_operator.pk,
        }
        client_for(operator).delete(f"/api/chats/{chat_id}/participants/{senior_operator.pk}")
        assert list(project.members.values_list("pk", flat=True)) == [operator.pk]
