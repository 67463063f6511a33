"""Message endpoints: history, send (both shapes), idempotency, edit, delete, read, counts,
search."""

from datetime import timedelta

import pytest
from django.utils import timezone

from chats.models import Chat, Membership, Message
from chats.services import MAX_TEXT_LENGTH, message_send
from chats.tests.factories import support_chat
from media.models import MediaFile

pytestmark = pytest.mark.django_db


def send(user, chat, text, **kwargs):
    return message_send(sender=user, chat=chat, text=text, **kwargs).message


class TestHistory:
    def test_keyset_pages(self, client_for, customer, operator, support):
        sent = [send(customer if i % 2 else operator, support, f"m{i}") for i in range(7)]
        client = client_for(customer)
        newest = client.get(f"/api/chats/{support.pk}/messages", {"limit": 3})
        assert newest.status_code == 200
        assert [m["text"] for m in newest.json()["results"]] == ["m4", "m5", "m6"]
        assert newest.json()["has_more"] is True
        older = client.get(
            f"/api/chats/{support.pk}/messages", {"before": sent[4].pk, "limit": 3}
        ).json()
        assert [m["text"] for m in older["results"]] == ["m1", "m2", "m3"]
        oldest = client.get(
            f"/api/chats/{support.pk}/messages", {"before": sent[1].pk, "limit": 3}
        ).json()
        assert [m["text"] for m in oldest["results"]] == ["m0"] and oldest["has_more"] is False
        caught_up = client.get(
            f"/api/chats/{support.pk}/messages", {"after": sent[2].pk, "limit": 2}
        ).json()
        assert [m["text"] for m in caught_up["results"]] == ["m3", "m4"]
        assert caught_up["has_more"] is True
        window = client.get(
            f"/api/chats/{support.pk}/messages", {"after": sent[2].pk, "before": sent[5].pk}
        ).json()
        assert [m["text"] for m in window["results"]] == ["m3", "m4"]

    def test_customer_never_sees_notes(self, client_for, customer, operator, support):
        send(operator, support, "public")
        note = send(operator, support, "private", kind="note")
        body = client_for(customer).get(f"/api/chats/{support.pk}/messages").json()
        assert [m["text"] for m in body["results"]] == ["public"]
        staff = client_for(operator).get(f"/api/chats/{support.pk}/messages").json()
        assert staff["results"][-1]["id"] == note.pk and staff["results"][-1]["staff_only"]
        assert client_for(customer).get(f"/api/messages/{note.pk}").status_code == 404

    @pytest.mark.parametrize(
        "params", [{"limit": 0}, {"limit": 201}, {"before": "x"}, {"after": -1}]
    )
    def test_bad_cursor_is_400(self, client_for, customer, support, params):
        response = client_for(customer).get(f"/api/chats/{support.pk}/messages", params)
        assert response.status_code == 400

    def test_other_customers_chat_is_404(self, client_for, organization, customer):
        from accounts.tests.factories import UserFactory

        stranger = UserFactory(organization=organization)
        chat = support_chat(stranger)
        assert client_for(customer).get(f"/api/chats/{chat.pk}/messages").status_code == 404


class TestSend:
    def test_send_and_idempotent_retry(self, client_for, customer, support):
        client = client_for(customer)
        url = f"/api/chats/{support.pk}/messages"
        first = client.post(url, {"text": "hello", "client_id": "abc-1"}, format="json")
        assert first.status_code == 201
        body = first.json()
        assert body["text"] == "hello" and body["sender"]["id"] == customer.pk
        assert body["client_id"] == "abc-1" and body["kind"] == "text"
        retry = client.post(url, {"text": "hello", "client_id": "abc-1"}, format="json")
        assert retry.status_code == 200 and retry.json()["id"] == body["id"]
        assert Message.objects.filter(chat=support).count() == 1

    def test_same_client_id_from_another_sender_is_a_new_message(
        self, client_for, customer, operator, support
    ):
        url = f"/api/chats/{support.pk}/messages"
        a = client_for(customer).post(url, {"text": "a", "client_id": "same"}, format="json")
        b = client_for(operator).post(url, {"text": "b", "client_id": "same"}, format="json")
        assert a.status_code == b.status_code == 201 and a.json()["id"] != b.json()["id"]

    def test_legacy_shape(self, client_for, customer, support):
        response = client_for(customer).post(
            "/api/messages",
            {"chat_id": support.pk, "content": "old client", "message_type": "text"},
            format="json",
        )
        assert response.status_code == 201
        assert response.json()["text"] == "old client"
        retry = client_for(customer).post(
            "/api/messages",
            {"chat_id": support.pk, "content": "x", "client_id": "k"},
            format="json",
        )
        again = client_for(customer).post(
            "/api/messages",
            {"chat_id": support.pk, "content": "x", "client_id": "k"},
            format="json",
        )
        assert retry.status_code == 201 and again.status_code == 200
        assert retry.json()["id"] == again.json()["id"]

    def test_legacy_shape_with_the_messengers_camel_case_names(self, client_for, customer, support):
        body = {"chatId": support.pk, "content": "Привет!", "messageType": "text", "clientId": "c1"}
        first = client_for(customer).post("/api/messages", body, format="json")
        again = client_for(customer).post("/api/messages", body, format="json")
        assert first.status_code == 201 and again.status_code == 200
        assert first.json()["text"] == "Привет!" and first.json()["id"] == again.json()["id"]
        assert Message.objects.filter(chat=support, client_id="c1").count() == 1

    def test_legacy_shape_refuses_another_organizations_chat_by_its_camel_case_name(
        self, client_for, other_customer, support
    ):
        before = Message.objects.filter(chat=support).count()
        response = client_for(other_customer).post(
            "/api/messages", {"chatId": support.pk, "content": "x"}, format="json"
        )
        assert response.status_code == 404
        assert Message.objects.filter(chat=support).count() == before

    def test_text_is_stored_as_given(self, client_for, customer, support):
        text = '<script>alert("x")</script> & <b>'
        response = client_for(customer).post(
            f"/api/chats/{support.pk}/messages", {"text": text}, format="json"
        )
        assert response.status_code == 201
        assert response["Content-Type"] == "application/json"
        assert response.json()["text"] == text
        assert Message.objects.get().text == text

    @pytest.mark.parametrize(
        "payload, code",
        [
            ({"text": "x" * (MAX_TEXT_LENGTH + 1)}, "text_too_long"),
            ({"text": "   "}, "empty_message"),
            ({"text": "hi", "kind": "system"}, "invalid_kind"),
            ({"text": "hi", "kind": "bogus"}, "invalid"),
            ({"text": "hi", "client_id": "x" * 65}, "invalid_client_id"),
            ({"text": "", "attachment_ids": [999999]}, "invalid_attachments"),
        ],
    )
    def test_bad_message_is_400(self, client_for, customer, support, payload, code):
        response = client_for(customer).post(
            f"/api/chats/{support.pk}/messages", payload, format="json"
        )
        assert response.status_code == 400
        assert response.json()["code"] == code
        assert not Message.objects.exists()

    def test_length_limit_message_is_clear(self, client_for, customer, support):
        response = client_for(customer).post(
            f"/api/chats/{support.pk}/messages", {"text": "x" * 10_001}, format="json"
        )
        assert "10000 characters" in response.json()["detail"]
        assert response.json()["text"] == ["At most 10000 characters."]

    def test_customer_cannot_send_note(self, client_for, customer, support):
        response = client_for(customer).post(
            f"/api/chats/{support.pk}/messages", {"text": "x", "kind": "note"}, format="json"
        )
        assert response.status_code == 400 and response.json()["code"] == "invalid_kind"

    def test_attachment(self, client_for, customer, support):
        media = MediaFile.objects.create(
            organization=customer.organization,
            uploader=customer,
            original_name="a.png",
            mime="image/png",
            kind="image",
            size=10,
            sha256="0" * 64,
        )
        response = client_for(customer).post(
            f"/api/chats/{support.pk}/messages",
            {"kind": "image", "attachment_ids": [media.pk]},
            format="json",
        )
        assert response.status_code == 201
        assert [a["id"] for a in response.json()["attachments"]] == [media.pk]
        media.refresh_from_db()
        assert media.chat_id == support.pk

    def test_customer_reply_reopens_closed_chat(self, client_for, customer, support):
        Chat.objects.filter(pk=support.pk).update(status="closed", closed_at=timezone.now())
        client_for(customer).post(f"/api/chats/{support.pk}/messages", {"text": "again"})
        support.refresh_from_db()
        assert support.status == "open" and support.closed_at is None

    def test_rate_limited_is_429(self, client_for, customer, support, settings):
        settings.RATE_LIMITS = {**settings.RATE_LIMITS, "messages_user": "2/min"}
        client = client_for(customer)
        url = f"/api/chats/{support.pk}/messages"
        assert client.post(url, {"text": "1"}).status_code == 201
        assert client.post(url, {"text": "2"}).status_code == 201
        response = client.post(url, {"text": "3"})
        assert response.status_code == 429 and response.json()["code"] == "messages_throttled"
        assert int(response["Retry-After"]) >= 1

    def test_outsider_gets_404(self, client_for, senior_operator, team):
        response = client_for(senior_operator).post(
            f"/api/chats/{team.pk}/messages", {"text": "let me in"}
        )
        assert response.status_code == 404
        legacy = client_for(senior_operator).post(
            "/api/messages", {"chat_id": team.pk, "content": "x"}, format="json"
        )
        assert legacy.status_code == 404
        assert not Message.objects.exists()


class TestEditDelete:
    def test_edit_own_within_24h(self, client_for, customer, support):
        message = send(customer, support, "helo")
        response = client_for(customer).patch(
            f"/api/messages/{message.pk}", {"text": "hello"}, format="json"
        )
        assert response.status_code == 200
        assert response.json()["text"] == "hello" and response.json()["edited_at"]

    def test_edit_after_24h_is_403(self, client_for, customer, support):
        message = send(customer, support, "old")
        Message.objects.filter(pk=message.pk).update(
            created_at=timezone.now() - timedelta(hours=24, minutes=1)
        )
        response = client_for(customer).patch(
            f"/api/messages/{message.pk}", {"text": "new"}, format="json"
        )
        assert response.status_code == 403 and response.json()["code"] == "edit_window_closed"

    def test_edit_someone_elses_is_403(self, client_for, customer, operator, support):
        message = send(operator, support, "from staff")
        response = client_for(customer).patch(
            f"/api/messages/{message.pk}", {"text": "hacked"}, format="json"
        )
        assert response.status_code == 403
        message.refresh_from_db()
        assert message.text == "from staff"

    def test_edit_bad_text_is_400(self, client_for, customer, support):
        message = send(customer, support, "x")
        for payload in ({"text": ""}, {"text": "y" * 10_001}, {}):
            response = client_for(customer).patch(
                f"/api/messages/{message.pk}", payload, format="json"
            )
            assert response.status_code == 400

    def test_soft_delete_lowers_unread(self, client_for, customer, operator, support):
        message = send(customer, support, "oops")
        assert Membership.objects.get(chat=support, user=operator).unread_count == 1
        response = client_for(customer).delete(f"/api/messages/{message.pk}")
        assert response.status_code == 204
        message.refresh_from_db()
        assert message.deleted_at is not None
        assert Membership.objects.get(chat=support, user=operator).unread_count == 0
        shown = client_for(operator).get(f"/api/messages/{message.pk}").json()
        assert shown["text"] == "" and shown["deleted_at"]
        # deleting again is harmless; editing a deleted message is refused
        assert client_for(customer).delete(f"/api/messages/{message.pk}").status_code == 204
        response = client_for(customer).patch(
            f"/api/messages/{message.pk}", {"text": "x"}, format="json"
        )
        assert response.status_code == 400

    def test_delete_someone_elses_is_403_unless_manager(
        self, client_for, customer, operator, senior_operator, support
    ):
        message = send(customer, support, "hi")
        assert client_for(operator).delete(f"/api/messages/{message.pk}").status_code == 403
        assert client_for(senior_operator).delete(f"/api/messages/{message.pk}").status_code == 204

    def test_unknown_message_is_404(self, client_for, customer):
        for method in ("get", "patch", "delete"):
            response = getattr(client_for(customer), method)("/api/messages/999999")
            assert response.status_code == 404
            assert response.json()["code"] == "message_not_found"


class TestRead:
    def test_read_up_to_ids_and_all(self, client_for, customer, operator, support):
        m = [send(customer, support, f"m{i}") for i in range(4)]
        client = client_for(operator)
        url = f"/api/chats/{support.pk}/read"
        response = client.post(url, {"up_to": m[1].pk}, format="json")
        assert response.status_code == 200
        assert response.json() == {
            "chat_id": support.pk,
            "up_to": m[1].pk,
            "unread_count": 2,
            "total": 2,
        }
        response = client.post(url, {"message_ids": [m[2].pk]}, format="json")
        assert response.json()["unread_count"] == 1
        response = client.post(url, {"up_to": m[0].pk}, format="json")  # never backwards
        assert response.json()["up_to"] == m[2].pk
        response = client.post(url)
        assert response.json()["unread_count"] == 0 and response.json()["up_to"] == m[3].pk

    def test_message_ids_of_another_chat_do_not_count(
        self, client_for, organization, customer, operator, support
    ):
        from accounts.tests.factories import UserFactory

        other = support_chat(UserFactory(organization=organization))
        send(customer, support, "a")
        foreign = send(other.customer, other, "b")
        response = client_for(operator).post(
            f"/api/chats/{support.pk}/read", {"message_ids": [foreign.pk]}, format="json"
        )
        assert response.json()["unread_count"] == 1

    def test_bad_read_is_400(self, client_for, operator, support):
        response = client_for(operator).post(
            f"/api/chats/{support.pk}/read", {"up_to": "soon"}, format="json"
        )
        assert response.status_code == 400

    def test_staff_without_row_reads(self, client_for, organization, customer, support):
        from accounts.models import Role
        from accounts.tests.factories import UserFactory

        send(customer, support, "before they were hired")
        newcomer = UserFactory(organization=organization, role=Role.OPERATOR)
        client = client_for(newcomer)
        assert client.get(f"/api/chats/{support.pk}").json()["unread_count"] == 0
        send(customer, support, "after")
        assert client.get(f"/api/chats/{support.pk}").json()["unread_count"] == 1
        assert client.post(f"/api/chats/{support.pk}/read").json()["unread_count"] == 0


class TestUnreadCounts:
    def test_counts(self, client_for, customer, operator, admin_user, support, team):
        send(customer, support, "1")
        send(customer, support, "2")
        send(admin_user, team, "3")
        body = client_for(operator).get("/api/unread/counts").json()
        assert body == {
            "total": 3,
            "chats": {str(support.pk): 2, str(team.pk): 1},
            "unassigned": 1,
        }
        Chat.objects.filter(pk=support.pk).update(assignee=operator)
        assert client_for(operator).get("/api/unread/counts").json()["unassigned"] == 0
        send(operator, support, "hi")
        customer_body = client_for(customer).get("/api/unread/counts").json()
        assert customer_body == {"total": 1, "chats": {str(support.pk): 1}}

    def test_notes_never_count_for_customer(self, client_for, customer, operator, support):
        send(operator, support, "secret", kind="note")
        assert client_for(customer).get("/api/unread/counts").json()["total"] == 0


class TestSearch:
    def test_search_within_readable_chats(
        self, client_for, organization, customer, operator, support, team
    ):
        from accounts.tests.factories import UserFactory

        hit = send(customer, support, "My parcel never arrived")
        send(operator, support, "parcel note for staff", kind="note")
        send(operator, team, "parcel talk among staff")
        stranger_chat = support_chat(UserFactory(organization=organization))
        send(stranger_chat.customer, stranger_chat, "another parcel")
        mine = client_for(customer).get("/api/messages/search", {"q": "parcel"})
        assert mine.status_code == 200
        assert [m["id"] for m in mine.json()["results"]] == [hit.pk]
        staff = client_for(operator).get("/api/messages/search", {"q": "parcel"}).json()
        assert len(staff["results"]) == 4
        only = (
            client_for(operator)
            .get("/api/messages/search", {"q": "parcel", "chat_id": team.pk})
            .json()
        )
        assert [m["text"] for m in only["results"]] == ["parcel talk among staff"]

    def test_missing_query_is_400(self, client_for, customer):
        assert client_for(customer).get("/api/messages/search").status_code == 400


def test_search_newest_first_for_rare_and_common_words(
    client_for, customer, operator, support, monkeypatch
):
    from chats import selectors

    sent = [send(customer, support, f"refund number {i}") for i in range(5)]
    client = client_for(operator)
    rare = client.get("/api/messages/search", {"q": "refund"}).json()["results"]
    monkeypatch.setattr(selectors, "SEARCH_PROBE", 2)  # now "refund" counts as common
    common = client.get("/api/messages/search", {"q": "refund", "limit": 3}).json()["results"]
    assert [m["id"] for m in rare] == [m.pk for m in reversed(sent)]
    assert [m["id"] for m in common] == [m.pk for m in reversed(sent)][:3]
