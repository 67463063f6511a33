"""Back office: chat list actions through the services, operators, canned responses, and the
read-only, organization-scoped audit log."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from accounts.tests.factories import UserFactory
from chats.models import Chat
from chats.tests.factories import support_chat
from operators.models import AuditEvent, CannedResponse, OperatorProfile
from operators.services import audit_record
from operators.tests.factories import OperatorProfileFactory, customer_chat

pytestmark = pytest.mark.django_db

CHATS = "/admin/chats/chat/"


@pytest.fixture
def admin_as(client):
    def make(user):
        client.force_login(user)
        return client

    return make


def act(client, action: str, chats, **extra):
    return client.post(
        CHATS, {"action": action, ACTION_CHECKBOX_NAME: [c.pk for c in chats], **extra}
    )


def test_chat_list_is_scoped_and_offers_the_actions(admin_as, operator, customer, other_customer):
    mine, theirs = support_chat(customer), support_chat(other_customer)
    response = admin_as(operator).get(CHATS)
    assert response.status_code == 200
    listed = {c.pk for c in response.context["cl"].result_list}
    assert mine.pk in listed and theirs.pk not in listed
    actions = {name for name, _ in response.context["action_form"].fields["action"].choices}
    assert {
        "assign_to_me",
        "assign_to",
        "close_chats",
        "reopen_chats",
        "set_priority_urgent",
    } <= actions


def test_assign_to_me_takes_for_operators_and_assigns_for_managers(
    admin_as, operator, senior_operator, customer, organization
):
    first, second = support_chat(customer), customer_chat(organization)
    act(admin_as(operator), "assign_to_me", [first])
    act(admin_as(senior_operator), "assign_to_me", [second])
    assert Chat.objects.get(pk=first.pk).assignee_id == operator.pk
    assert Chat.objects.get(pk=second.pk).assignee_id == senior_operator.pk
    verbs = dict(AuditEvent.objects.values_list("target_id", "verb"))
    assert verbs == {str(first.pk): "chat.taken", str(second.pk): "chat.assigned"}
    # Taking someone else's chat is refused with a message, not an error page.
    response = act(admin_as(operator), "assign_to_me", [second])
    assert response.status_code == 302
    assert Chat.objects.get(pk=second.pk).assignee_id == senior_operator.pk


def test_assign_to_asks_for_the_operator_then_assigns(admin_as, admin_user, operator, customer):
    chat = support_chat(customer)
    client = admin_as(admin_user)
    page = act(client, "assign_to", [chat])
    assert page.status_code == 200
    assert str(operator).encode() in page.content
    assert Chat.objects.get(pk=chat.pk).assignee_id is None
    done = act(client, "assign_to", [chat], operator=operator.pk, apply="1")
    assert done.status_code == 302
    assert Chat.objects.get(pk=chat.pk).assignee_id == operator.pk
    assert AuditEvent.objects.get(verb="chat.assigned").actor == admin_user


def test_operators_cannot_assign_to_others(admin_as, operator, customer, organization):
    colleague = UserFactory(organization=organization, role="operator")
    chat = support_chat(customer)
    act(admin_as(operator), "assign_to", [chat], operator=colleague.pk, apply="1")
    assert Chat.objects.get(pk=chat.pk).assignee_id is None


def test_close_reopen_and_priority_actions(admin_as, operator, customer):
    chat = support_chat(customer)
    client = admin_as(operator)
    act(client, "close_chats", [chat])
    assert Chat.objects.get(pk=chat.pk).status == "closed"
    act(client, "reopen_chats", [chat])
    act(client, "set_priority_high", [chat])
    chat.refresh_from_db()
    assert (chat.status, chat.priority) == ("open", "high")
    assert list(AuditEvent.objects.order_by("id").values_list("verb", flat=True)) == [
        "chat.closed",
        "chat.reopened",
        "chat.priority_changed",
    ]


def test_actions_never_reach_another_organizations_chat(admin_as, admin_user, other_customer):
    theirs = support_chat(other_customer)
    act(admin_as(admin_user), "close_chats", [theirs])
    assert Chat.objects.get(pk=theirs.pk).status == "open"
    assert not AuditEvent.objects.exists()


def test_audit_log_is_read_only_and_scoped(
    admin_as, admin_user, senior_operator, operator, other_admin, customer
):
    chat = support_chat(customer)
    mine = audit_record(actor=admin_user, organization=chat.organization_id, verb="x.mine",
                        target=chat)  # fmt: skip
    audit_record(actor=other_admin, organization=other_admin.organization_id, verb="x.theirs")
    client = admin_as(senior_operator)
    response = client.get("/admin/operators/auditevent/")
    assert response.status_code == 200
    assert [e.verb for e in response.context["cl"].result_list] == ["x.mine"]
    assert f'href="/admin/chats/chat/{chat.pk}/change/"' in response.content.decode()
    assert client.get("/admin/operators/auditevent/add/").status_code == 403
    detail = client.get(f"/admin/operators/auditevent/{mine.pk}/change/")
    assert detail.status_code == 200 and b'name="verb"' not in detail.content
    assert client.post(f"/admin/operators/auditevent/{mine.pk}/delete/").status_code == 403
    assert AuditEvent.objects.filter(pk=mine.pk).exists()
    assert admin_as(operator).get("/admin/operators/auditevent/").status_code == 403


def test_audit_log_query_budget(admin_as, admin_user, customer):
    chat = support_chat(customer)
    client = admin_as(admin_user)

    def count_queries():
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as ctx:
            assert client.get("/admin/operators/auditevent/").status_code == 200
        return len(ctx)

    audit_record(actor=admin_user, organization=chat.organization_id, verb="a", target=chat)
    small = count_queries()
    for i in range(30):
        audit_record(actor=admin_user, organization=chat.organization_id, verb=f"b{i}",
                     target=chat)  # fmt: skip
    assert count_queries() == small


def test_operator_profile_admin_goes_through_the_service(
    admin_as, admin_user, operator, organization
):
    profile = OperatorProfileFactory(user=operator, availability="offline", capacity=1)
    waiting = customer_chat(organization)
    client = admin_as(admin_user)
    listing = client.get("/admin/operators/operatorprofile/")
    assert listing.status_code == 200
    response = client.post(
        f"/admin/operators/operatorprofile/{profile.pk}/change/",
        {"availability": "online", "capacity": "3"},
    )
    assert response.status_code == 302, response.content
    profile.refresh_from_db()
    assert (profile.availability, profile.capacity) == ("online", 3)
    assert Chat.objects.get(pk=waiting.pk).assignee_id == operator.pk  # drained
    assert AuditEvent.objects.get(verb="operator.updated").actor == admin_user


def test_operator_profile_admin_add(admin_as, admin_user, organization):
    newcomer = UserFactory(organization=organization, role="operator")
    response = admin_as(admin_user).post(
        "/admin/operators/operatorprofile/add/",
        {"user": newcomer.pk, "availability": "away", "capacity": "4"},
    )
    assert response.status_code == 302, response.content
    profile = OperatorProfile.objects.get(user=newcomer)
    assert (profile.availability, profile.capacity) == ("away", 4)


def test_canned_response_admin(admin_as, admin_user, senior_operator, organization):
    client = admin_as(admin_user)
    response = client.post(
        "/admin/operators/cannedresponse/add/", {"shortcut": "hi", "text": "Hello!"}
    )
    assert response.status_code == 302
    canned = CannedResponse.objects.get(organization=organization)
    assert canned.shortcut == "hi" and canned.created_by == admin_user
    assert AuditEvent.objects.get(verb="canned_response.created").actor == admin_user
    # Senior operators read them but do not edit (like the API).
    senior = admin_as(senior_operator)
    assert senior.get("/admin/operators/cannedresponse/").status_code == 200
    assert senior.get("/admin/operators/cannedresponse/add/").status_code == 403
