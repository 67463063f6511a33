"""The seeds' REST paths: each alias on its happy path (the row, the event, the body) and on a
permission failure (a customer on a staff path, another organization's id), with the seeds'
camelCase bodies."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.models import Role, User
from accounts.tests.factories import UserFactory
from chats.models import Chat, ChatKind, Membership, Message
from chats.services import chat_group_create, message_send, support_chat_get_or_create
from chats.tests.factories import ProjectFactory
from media.models import MediaFile
from media.tests import samples
from orders.models import Order, OrderStatus
from orders.services import order_create

pytestmark = pytest.mark.django_db

# The canonical views' budgets (chats/tests/test_queries.py): the aliases are those views.
CHAT_LIST_QUERIES = 5
HISTORY_QUERIES = 4


def event_types(captured) -> list[str]:
    return [event_type for event_type, _, _ in captured]


def unread_of(user: User, chat: Chat) -> int:
    return Membership.objects.get(chat=chat, user=user).unread_count


@pytest.fixture
def replies(support, operator):
    """Two operator replies the customer has not read yet."""
    return [message_send(sender=operator, chat=support, text=f"Reply {i}").message for i in (1, 2)]


# --- Accounts -------------------------------------------------------------------------------


def test_put_auth_profile_updates_the_profile(client_for, customer):
    response = client_for(customer).put("/api/auth/profile", {"name": "Ann New"}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["name"] == "Ann New"
    customer.refresh_from_db()
    assert customer.name == "Ann New"


def test_put_auth_profile_needs_a_token_and_changes_nothing(api_client, customer):
    before = customer.name
    response = api_client.put("/api/auth/profile", {"name": "Hijack"}, format="json")
    assert response.status_code == 401
    customer.refresh_from_db()
    assert customer.name == before


def test_users_me_is_the_callers_profile(client_for, operator, api_client):
    client = client_for(operator)
    response = client.get("/api/users/me")
    assert response.status_code == 200
    assert response.json() == client.get("/api/auth/me").json()
    assert response.json()["email"] == operator.email
    assert api_client.get("/api/users/me").status_code == 401


# --- Read state -----------------------------------------------------------------------------


def test_put_chat_read_with_message_ids(
    client_for, customer, support, replies, captured, django_capture_on_commit_callbacks
):
    assert unread_of(customer, support) == 2
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(customer).put(
            f"/api/chats/{support.pk}/read", {"messageIds": [replies[0].pk]}, format="json"
        )
    assert response.status_code == 200, response.json()
    assert response.json()["up_to"] == replies[0].pk and response.json()["unread_count"] == 1
    assert unread_of(customer, support) == 1
    assert "messages:read" in event_types(captured)


def test_post_chat_read_still_reaches_the_canonical_view(client_for, customer, support, replies):
    response = client_for(customer).post(f"/api/chats/{support.pk}/read", {}, format="json")
    assert response.status_code == 200 and response.json()["unread_count"] == 0
    assert client_for(customer).get(f"/api/chats/{support.pk}/read").status_code == 405


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("put", "/api/chats/{id}/read"),
        ("post", "/api/messages/chat/{id}/read"),
        ("post", "/api/unread/{id}/mark-read"),
        ("post", "/api/unread/{id}/mark-chat-read"),
    ],
)
def test_read_aliases_refuse_another_organizations_chat(
    client_for, other_customer, customer, support, replies, method, path
):
    response = getattr(client_for(other_customer), method)(
        path.format(id=support.pk), {}, format="json"
    )
    assert response.status_code == 404 and response.json()["code"] == "chat_not_found"
    assert unread_of(customer, support) == 2
    assert not Membership.objects.filter(chat=support, user=other_customer).exists()


def test_messages_chat_read_and_unread_mark_read_take_message_ids(
    client_for, customer, support, replies
):
    client = client_for(customer)
    response = client.post(
        f"/api/messages/chat/{support.pk}/read", {"messageIds": [replies[0].pk]}, format="json"
    )
    assert response.status_code == 200 and unread_of(customer, support) == 1
    response = client.post(
        f"/api/unread/{support.pk}/mark-read", {"messageIds": [replies[1].pk]}, format="json"
    )
    assert response.status_code == 200 and unread_of(customer, support) == 0


def test_unread_mark_chat_read_reads_everything_whatever_the_body(
    client_for, customer, support, replies
):
    response = client_for(customer).post(
        f"/api/unread/{support.pk}/mark-chat-read", {"upTo": replies[0].pk}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["up_to"] == replies[1].pk
    assert unread_of(customer, support) == 0


def test_chat_mark_read_names_the_chat_in_the_body(
    client_for, customer, support, replies, other_customer
):
    response = client_for(other_customer).post(
        "/api/chat/mark-read", {"conversationId": support.pk}, format="json"
    )
    assert response.status_code == 404 and unread_of(customer, support) == 2
    response = client_for(customer).post("/api/chat/mark-read", {}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "chat_id_required"
    response = client_for(customer).post(
        "/api/chat/mark-read", {"conversationId": support.pk}, format="json"
    )
    assert response.status_code == 200 and unread_of(customer, support) == 0


# --- Message history ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/messages/chat/{id}", "/api/chat/messages/{id}"])
def test_history_aliases_answer_the_history(
    client_for, operator, support, replies, path, django_assert_max_num_queries
):
    client = client_for(operator)
    with django_assert_max_num_queries(HISTORY_QUERIES):
        response = client.get(path.format(id=support.pk), {"limit": 2})
    assert response.status_code == 200
    assert response.json() == client.get(f"/api/chats/{support.pk}/messages?limit=2").json()
    assert [m["id"] for m in response.json()["results"]] == [r.pk for r in replies]
    assert response.json()["has_more"] is True


@pytest.mark.parametrize("path", ["/api/messages/chat/{id}", "/api/chat/messages/{id}"])
def test_history_aliases_refuse_another_organizations_chat(client_for, other_admin, support, path):
    response = client_for(other_admin).get(path.format(id=support.pk))
    assert response.status_code == 404 and response.json()["code"] == "chat_not_found"


@pytest.mark.parametrize("n", [5, 30])
def test_history_alias_budget(client_for, customer, operator, n, django_assert_max_num_queries):
    chat, _ = support_chat_get_or_create(customer=customer)
    for i in range(n):
        message_send(sender=operator if i % 2 else customer, chat=chat, text=f"m{i}")
    client = client_for(customer)
    with django_assert_max_num_queries(HISTORY_QUERIES):
        response = client.get(f"/api/messages/chat/{chat.pk}")
    assert len(response.json()["results"]) == n


# --- Sending --------------------------------------------------------------------------------


def test_chat_send_takes_the_seeds_names_and_is_idempotent(
    client_for, customer, support, captured, django_capture_on_commit_callbacks
):
    body = {
        "conversationId": support.pk,
        "content": "Any news?",
        "type": "text",
        "clientId": "c-1",
    }
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(customer).post("/api/chat/send", body, format="json")
    assert response.status_code == 201, response.json()
    message = Message.objects.get(pk=response.json()["id"])
    assert (message.text, message.kind, message.client_id, message.chat_id) == (
        "Any news?",
        "text",
        "c-1",
        support.pk,
    )
    assert "message:new" in event_types(captured)
    again = client_for(customer).post(
        "/api/chat/send", {**body, "chatId": support.pk}, format="json"
    )
    assert again.status_code == 200 and again.json()["id"] == message.pk
    assert Message.objects.filter(client_id="c-1").count() == 1


def test_chat_send_refuses_another_organizations_chat(client_for, other_customer, support):
    count = Message.objects.count()
    response = client_for(other_customer).post(
        "/api/chat/send", {"conversationId": support.pk, "content": "spam"}, format="json"
    )
    assert response.status_code == 404
    assert Message.objects.count() == count


def test_chat_send_validates_like_the_canonical_send(client_for, customer, support):
    count = Message.objects.count()
    client = client_for(customer)
    response = client.post(
        "/api/chat/send",
        {"chatId": support.pk, "content": "x", "messageType": "note"},
        format="json",
    )
    assert response.status_code == 400 and response.json()["code"] == "invalid_kind"
    response = client.post("/api/chat/send", {"content": "no chat"}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "chat_id_required"
    assert Message.objects.count() == count


# --- Chat lists -----------------------------------------------------------------------------


@pytest.fixture
def chats_of_every_kind(organization, operator, admin_user, support, other_support):
    from chats.services import chat_direct_get_or_create, chat_project_get_or_create

    group = chat_group_create(actor=operator, name="Team", participant_ids=[admin_user.pk])
    direct, _ = chat_direct_get_or_create(actor=operator, other_id=admin_user.pk)
    project = ProjectFactory(organization=organization, name="Launch")
    project_chat, _ = chat_project_get_or_create(
        actor=admin_user, project_id=project.pk, name="", participant_ids=[operator.pk]
    )
    return {"support": support, "group": group, "direct": direct, "project": project_chat}


def ids_of(response) -> set[int]:
    assert response.status_code == 200, response.json()
    return {chat["id"] for chat in response.json()["results"]}


def test_chat_list_aliases(client_for, operator, chats_of_every_kind, other_support):
    chats = chats_of_every_kind
    client = client_for(operator)
    everything = ids_of(client.get("/api/chat/conversations"))
    assert everything == {c.pk for c in chats.values()}
    assert other_support.pk not in everything
    assert ids_of(client.get("/api/chat/direct")) == {chats["direct"].pk}
    assert ids_of(client.get("/api/chat/direct", {"kind": "group"})) == {chats["direct"].pk}
    assert ids_of(client.get("/api/chat/project")) == {chats["project"].pk}


def test_chat_list_aliases_show_a_customer_only_their_chat(
    client_for, customer, chats_of_every_kind
):
    client = client_for(customer)
    assert ids_of(client.get("/api/chat/conversations")) == {chats_of_every_kind["support"].pk}
    assert ids_of(client.get("/api/chat/direct")) == set()


def test_unread_chats_lists_only_chats_with_unread_messages(
    client_for, customer, operator, admin_user, support, chats_of_every_kind, other_support
):
    group = chats_of_every_kind["group"]
    client = client_for(operator)
    # The customer's question is unread for staff; the internal chats have no messages yet.
    assert ids_of(client.get("/api/unread/chats")) == {support.pk}
    message_send(sender=admin_user, chat=group, text="ping")
    assert ids_of(client.get("/api/unread/chats")) == {support.pk, group.pk}
    assert ids_of(client_for(customer).get("/api/unread/chats")) == set()
    message_send(sender=operator, chat=support, text="Answer")
    assert ids_of(client_for(customer).get("/api/unread/chats")) == {support.pk}


def test_assignment_lists(client_for, senior_operator, operator, support, other_support):
    from operators.services import chat_assign

    client = client_for(senior_operator)
    assert ids_of(client.get("/api/chat-assignment/unassigned")) == {support.pk}
    assert ids_of(client.get("/api/chat-assignment/assigned")) == set()
    chat_assign(actor=senior_operator, chat=support, operator_id=operator.pk)
    assert ids_of(client.get("/api/chat-assignment/assigned")) == {support.pk}
    assert ids_of(client.get("/api/chat-assignment/unassigned")) == set()


@pytest.mark.parametrize(
    "path", ["/api/chat-assignment/assigned", "/api/chat-assignment/unassigned"]
)
def test_assignment_lists_are_for_staff(client_for, customer, support, path):
    response = client_for(customer).get(path)
    assert response.status_code == 403


LIST_ALIASES = [
    "/api/chat/conversations",
    "/api/chat/direct",
    "/api/chat/project",
    "/api/unread/chats",
    "/api/chat-assignment/assigned",
    "/api/chat-assignment/unassigned",
]


@pytest.mark.parametrize("n", [5, 30])
@pytest.mark.parametrize("path", LIST_ALIASES)
def test_list_alias_budget(
    client_for, organization, operator, admin_user, n, path, django_assert_max_num_queries
):
    from chats.services import chat_direct_get_or_create, chat_project_get_or_create

    for i in range(n):
        customer = UserFactory(organization=organization, role=Role.CUSTOMER)
        chat, _ = support_chat_get_or_create(customer=customer)
        message_send(sender=customer, chat=chat, text=f"hello {i}")
        if i % 3 == 0:
            chat.assignee = operator
            chat.save(update_fields=["assignee"])
        staff = UserFactory(organization=organization, role=Role.OPERATOR)
        direct, _ = chat_direct_get_or_create(actor=operator, other_id=staff.pk)
        message_send(sender=staff, chat=direct, text="hi")
        if i % 5 == 0:
            project = ProjectFactory(organization=organization)
            chat_project_get_or_create(
                actor=operator, project_id=project.pk, name="", participant_ids=[staff.pk]
            )
    client = client_for(operator)
    with django_assert_max_num_queries(CHAT_LIST_QUERIES):
        response = client.get(path, {"page_size": 100})
    assert response.status_code == 200 and response.json()["count"] > 0


# --- Creating a direct chat -----------------------------------------------------------------


def test_direct_create_with_type_private(
    client_for, operator, admin_user, captured, django_capture_on_commit_callbacks
):
    client = client_for(operator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/chat/direct/create",
            {"type": "private", "participantIds": [admin_user.pk]},
            format="json",
        )
    assert response.status_code == 201, response.json()
    chat = Chat.objects.get(pk=response.json()["id"])
    assert chat.kind == ChatKind.DIRECT
    assert set(chat.memberships.values_list("user_id", flat=True)) == {operator.pk, admin_user.pk}
    assert "chat:new" in event_types(captured)
    again = client.post("/api/chat/direct/create", {"participantIds": [admin_user.pk]})
    assert again.status_code == 200 and again.json()["id"] == chat.pk


def test_direct_create_refuses_customers_and_other_organizations(
    client_for, customer, operator, other_admin
):
    count = Chat.objects.count()
    response = client_for(customer).post(
        "/api/chat/direct/create", {"participantIds": [operator.pk]}, format="json"
    )
    assert response.status_code == 403
    response = client_for(other_admin).post(
        "/api/chat/direct/create", {"participantIds": [operator.pk]}, format="json"
    )
    assert response.status_code in (400, 404)
    assert Chat.objects.count() == count


# --- Assignment -----------------------------------------------------------------------------


def test_assign_unassign_close(
    client_for, senior_operator, operator, support, captured, django_capture_on_commit_callbacks
):
    client = client_for(senior_operator)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/chat-assignment/{support.pk}/assign", {"operatorId": operator.pk}, format="json"
        )
    assert response.status_code == 200, response.json()
    assert response.json()["assignee"]["id"] == operator.pk
    support.refresh_from_db()
    assert support.assignee_id == operator.pk
    assert "chat:updated" in event_types(captured)

    response = client.delete(f"/api/chat-assignment/{support.pk}/unassign")
    assert response.status_code == 200 and response.json()["assignee"] is None
    support.refresh_from_db()
    assert support.assignee_id is None

    response = client.post(f"/api/chat-assignment/{support.pk}/close")
    assert response.status_code == 200 and response.json()["status"] == "closed"
    support.refresh_from_db()
    assert support.status == "closed"


def test_assignment_refuses_customers_and_other_organizations(
    client_for, customer, other_admin, operator, support
):
    for client, expected in ((client_for(customer), 403), (client_for(other_admin), 404)):
        assert (
            client.post(
                f"/api/chat-assignment/{support.pk}/assign",
                {"operatorId": operator.pk},
                format="json",
            ).status_code
            == expected
        )
        assert client.delete(f"/api/chat-assignment/{support.pk}/unassign").status_code == expected
        assert client.post(f"/api/chat-assignment/{support.pk}/close").status_code == expected
    support.refresh_from_db()
    assert support.assignee_id is None and support.status == "open"


def test_assign_needs_a_manager(client_for, operator, support):
    response = client_for(operator).post(
        f"/api/chat-assignment/{support.pk}/assign", {"operatorId": operator.pk}, format="json"
    )
    assert response.status_code == 403
    support.refresh_from_db()
    assert support.assignee_id is None


# --- Suggestions ----------------------------------------------------------------------------


def test_ai_suggestions(client_for, operator, customer, other_admin, support):
    response = client_for(operator).get(f"/api/ai/suggestions/{support.pk}", {"limit": 2})
    assert response.status_code == 200
    assert response.json()["engine"] == "local" and len(response.json()["suggestions"]) <= 2
    assert client_for(customer).get(f"/api/ai/suggestions/{support.pk}").status_code == 403
    assert client_for(other_admin).get(f"/api/ai/suggestions/{support.pk}").status_code == 404


# --- Orders by their place in the chat ------------------------------------------------------


@pytest.fixture
def two_orders(admin_user, customer, support):
    first = order_create(actor=admin_user, customer_id=customer.pk, title="Sofa")
    second = order_create(actor=admin_user, customer_id=customer.pk, title="Lamp")
    assert first.chat_id == second.chat_id == support.pk
    return first, second


def test_order_status_by_chat_and_index(
    client_for, senior_operator, support, two_orders, captured, django_capture_on_commit_callbacks
):
    first, second = two_orders
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(senior_operator).put(
            f"/api/orders/{support.pk}/1/status", {"status": "confirmed"}, format="json"
        )
    assert response.status_code == 200, response.json()
    assert response.json()["id"] == second.pk and response.json()["status"] == "confirmed"
    second.refresh_from_db()
    first.refresh_from_db()
    assert (first.status, second.status) == (OrderStatus.NEW, OrderStatus.CONFIRMED)
    assert "order:updated" in event_types(captured)


def test_order_status_alias_refusals(
    client_for, customer, other_admin, senior_operator, support, two_orders
):
    first, _ = two_orders
    put = {"status": "confirmed"}
    response = client_for(customer).put(f"/api/orders/{support.pk}/0/status", put, format="json")
    assert response.status_code == 403
    response = client_for(other_admin).put(f"/api/orders/{support.pk}/0/status", put, format="json")
    assert response.status_code == 404 and response.json()["code"] == "order_not_found"
    response = client_for(senior_operator).put(
        f"/api/orders/{support.pk}/2/status", put, format="json"
    )
    assert response.status_code == 404
    first.refresh_from_db()
    assert first.status == OrderStatus.NEW


def test_order_delete_by_chat_and_index(
    client_for, admin_user, operator, other_admin, support, two_orders
):
    first, second = two_orders
    assert client_for(operator).delete(f"/api/orders/{support.pk}/0").status_code == 403
    assert client_for(other_admin).delete(f"/api/orders/{support.pk}/0").status_code == 404
    assert Order.objects.filter(pk__in=[first.pk, second.pk]).count() == 2
    response = client_for(admin_user).delete(f"/api/orders/{support.pk}/0")
    assert response.status_code == 204
    assert list(Order.objects.filter(chat=support).values_list("pk", flat=True)) == [second.pk]


# --- Files ----------------------------------------------------------------------------------


def png_file(name: str = "photo.png") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, samples.png())


@pytest.mark.parametrize(
    ("path", "field"),
    [("/api/upload", "file"), ("/api/files/upload", "file"), ("/api/media/upload", "media")],
)
def test_upload_aliases_store_the_file(client_for, customer, support, path, field):
    response = client_for(customer).post(
        path, {field: png_file(), "chatId": support.pk}, format="multipart"
    )
    assert response.status_code == 201, response.json()
    media = MediaFile.objects.get(pk=response.json()["id"])
    assert (media.uploader_id, media.chat_id, media.mime) == (customer.pk, support.pk, "image/png")


@pytest.mark.parametrize("path", ["/api/upload", "/api/files/upload", "/api/media/upload"])
def test_upload_aliases_refuse_another_organizations_chat(
    client_for, other_customer, support, path
):
    response = client_for(other_customer).post(
        path, {"file": png_file(), "chatId": support.pk}, format="multipart"
    )
    assert response.status_code == 404
    assert not MediaFile.objects.exists()


def test_upload_multiple(client_for, customer, other_customer, support):
    files = [png_file("a.png"), png_file("b.png")]
    response = client_for(customer).post(
        "/api/upload/multiple", {"files": files}, format="multipart"
    )
    assert response.status_code == 201, response.json()
    assert MediaFile.objects.filter(uploader=customer).count() == 2
    response = client_for(other_customer).post(
        "/api/upload/multiple", {"files": [png_file()], "chatId": support.pk}, format="multipart"
    )
    assert response.status_code == 404
    assert MediaFile.objects.count() == 2


def test_files_uploads_serves_the_file(client_for, customer, other_customer):
    upload = client_for(customer).post("/api/upload", {"file": png_file()}, format="multipart")
    media_id = upload.json()["id"]
    response = client_for(customer).get(f"/api/files/uploads/{media_id}")
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == samples.png()
    response = client_for(other_customer).get(f"/api/files/uploads/{media_id}")
    assert response.status_code == 404


def test_media_send_uploads_and_sends(
    client_for, customer, support, captured, django_capture_on_commit_callbacks
):
    body = {"media": png_file(), "chatId": support.pk, "caption": "My sofa", "clientId": "m-1"}
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(customer).post("/api/media/send", body, format="multipart")
    assert response.status_code == 201, response.json()
    message = Message.objects.get(pk=response.json()["id"])
    assert (message.kind, message.text, message.sender_id) == ("image", "My sofa", customer.pk)
    [media] = message.attachments.all()
    assert response.json()["attachments"][0]["id"] == media.pk
    assert "message:new" in event_types(captured)

    retry = {"media": png_file(), "chatId": support.pk, "caption": "My sofa", "clientId": "m-1"}
    again = client_for(customer).post("/api/media/send", retry, format="multipart")
    assert again.status_code == 200 and again.json()["id"] == message.pk
    assert MediaFile.objects.count() == 1  # the retry's upload is not kept


def test_media_send_refusals_keep_nothing(
    client_for,
    customer,
    other_customer,
    support,
    private_media_root,
    django_capture_on_commit_callbacks,
):
    messages = Message.objects.count()
    response = client_for(other_customer).post(
        "/api/media/send", {"media": png_file(), "chatId": support.pk}, format="multipart"
    )
    assert response.status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(customer).post(
            "/api/media/send",
            {"media": png_file(), "chatId": support.pk, "caption": "x" * 10_001},
            format="multipart",
        )
    assert response.status_code == 400 and response.json()["code"] == "text_too_long"
    assert Message.objects.count() == messages
    assert not MediaFile.objects.exists()
    assert not [p for p in private_media_root.rglob("*") if p.is_file()]  # bytes removed too
