"""Each assignment, status and priority change: the state, the audit row, the staff-only
system line and ``chat:updated`` to the right groups, only after commit."""

import pytest

from chats.models import ChatStatus, Message, MessageKind
from chats.tests.factories import internal_chat, support_chat
from crm.errors import Conflict, Forbidden, NotFound, ValidationFailed
from operators import services
from operators.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def chat(customer):
    return support_chat(customer)


def audit_rows(chat):
    return list(
        AuditEvent.objects.filter(target_id=str(chat.pk))
        .order_by("id")
        .values_list("actor_id", "verb", "data")
    )


def system_lines(chat):
    return list(
        Message.objects.filter(chat=chat, kind=MessageKind.SYSTEM).values_list("text", "staff_only")
    )


def run_committed(capture, action):
    """Run ``action`` and prove nothing was delivered before commit; then deliver."""
    with capture(execute=False) as callbacks:
        result = action()
    return result, callbacks


def deliver(callbacks):
    for callback in callbacks:
        callback()


def test_assign_records_announces_and_emits_after_commit(
    chat, senior_operator, operator, captured, django_capture_on_commit_callbacks
):
    result, callbacks = run_committed(
        django_capture_on_commit_callbacks,
        lambda: services.chat_assign(actor=senior_operator, chat=chat, operator_id=operator.pk),
    )
    assert captured == []
    deliver(callbacks)
    chat.refresh_from_db()
    assert chat.assignee_id == operator.pk and chat.assigned_at is not None
    assert result.assignee_id == operator.pk
    assert audit_rows(chat) == [
        (senior_operator.pk, "chat.assigned", {"from": None, "to": operator.pk})
    ]
    assert system_lines(chat) == [(f"{senior_operator} assigned the chat to {operator}.", True)]
    updated = [(d, g) for t, d, g in captured if t == "chat:updated"]
    staff = f"staff.{chat.organization_id}"
    assert [g for _, g in updated] == [(staff,), (f"user.{chat.customer_id}",)]
    assert updated[0][0]["assignee"]["id"] == operator.pk
    # The customer's copy never shows the staff-only line; the staff copy does.
    assert updated[0][0]["last_message"]["kind"] == "system"
    assert updated[1][0]["last_message"] is None
    new = [g for t, d, g in captured if t == "message:new"]
    assert new == [(staff,)]  # the system line goes to staff only


def test_take_unassign_close_reopen_priority_each_leave_a_trace(
    chat, operator, senior_operator, captured, django_capture_on_commit_callbacks
):
    steps = [
        (lambda: services.chat_take(actor=operator, chat=chat), "chat.taken"),
        (lambda: services.chat_unassign(actor=operator, chat=chat), "chat.unassigned"),
        (
            lambda: services.chat_set_priority(actor=operator, chat=chat, priority="urgent"),
            "chat.priority_changed",
        ),
        (lambda: services.chat_close(actor=senior_operator, chat=chat), "chat.closed"),
        (lambda: services.chat_reopen(actor=operator, chat=chat), "chat.reopened"),
        (
            lambda: services.chat_update_support_fields(
                actor=operator, chat=chat, status="pending"
            ),
            "chat.status_changed",
        ),
    ]
    for action, verb in steps:
        captured.clear()
        with django_capture_on_commit_callbacks(execute=True):
            action()
        assert audit_rows(chat)[-1][1] == verb
        assert [t for t, d, g in captured].count("chat:updated") == 2, verb
    chat.refresh_from_db()
    assert (chat.status, chat.priority, chat.assignee_id) == ("pending", "urgent", None)
    assert [row[2] for row in audit_rows(chat)] == [
        {"from": None, "to": operator.pk},
        {"from": operator.pk, "to": None},
        {"from": "normal", "to": "urgent"},
        {"from": "open", "to": "closed"},
        {"from": "closed", "to": "open"},
        {"from": "open", "to": "pending"},
    ]
    assert [text for text, _ in system_lines(chat)] == [
        f"{operator} took the chat.",
        f"{operator} unassigned {operator}.",
        f"{operator} set the priority to Urgent.",
        f"{senior_operator} closed the chat.",
        f"{operator} reopened the chat.",
        f"{operator} set the status to Pending.",
    ]
    assert all(staff_only for _, staff_only in system_lines(chat))


def test_close_sets_closed_at_and_reopen_clears_it(chat, operator):
    services.chat_close(actor=operator, chat=chat)
    chat.refresh_from_db()
    assert chat.status == ChatStatus.CLOSED and chat.closed_at is not None
    services.chat_reopen(actor=operator, chat=chat)
    chat.refresh_from_db()
    assert chat.status == ChatStatus.OPEN and chat.closed_at is None


def test_no_change_no_trace(chat, operator, senior_operator, captured):
    services.chat_take(actor=operator, chat=chat)
    before = (len(audit_rows(chat)), len(system_lines(chat)))
    services.chat_take(actor=operator, chat=chat)  # already theirs
    services.chat_assign(actor=senior_operator, chat=chat, operator_id=operator.pk)
    services.chat_set_priority(actor=operator, chat=chat, priority="normal")
    services.chat_reopen(actor=operator, chat=chat)  # already open
    assert (len(audit_rows(chat)), len(system_lines(chat))) == before


def test_take_refuses_an_assigned_or_closed_chat(chat, operator, senior_operator):
    services.chat_take(actor=senior_operator, chat=chat)
    with pytest.raises(Conflict) as exc:
        services.chat_take(actor=operator, chat=chat)
    assert exc.value.code == "chat_already_assigned"
    services.chat_unassign(actor=senior_operator, chat=chat)
    services.chat_close(actor=senior_operator, chat=chat)
    with pytest.raises(Conflict) as exc:
        services.chat_take(actor=operator, chat=chat)
    assert exc.value.code == "chat_not_open"
    with pytest.raises(Conflict) as exc:
        services.chat_assign(actor=senior_operator, chat=chat, operator_id=operator.pk)
    assert exc.value.code == "chat_closed"


def test_taking_a_pending_chat_opens_it_and_takes_it_from_the_bot(
    chat, operator, captured, django_capture_on_commit_callbacks
):
    chat.status = ChatStatus.PENDING
    chat.save(update_fields=["status"])
    with django_capture_on_commit_callbacks(execute=True):
        services.chat_take(actor=operator, chat=chat)
    events = captured
    chat.refresh_from_db()
    assert (chat.status, chat.assignee_id) == (ChatStatus.OPEN, operator.pk)
    assert [row[1] for row in audit_rows(chat)] == ["chat.status_changed", "chat.taken"]
    assert audit_rows(chat)[0][2] == {"from": "pending", "to": "open"}
    updated = [data for kind, data, _groups in events if kind == "chat:updated"]
    assert updated and updated[-1]["status"] == "open"
    assert updated[-1]["assignee"]["id"] == operator.pk


def test_permissions_by_role(chat, operator, senior_operator, admin_user, customer):
    with pytest.raises(Forbidden):
        services.chat_assign(actor=operator, chat=chat, operator_id=operator.pk)
    with pytest.raises(Forbidden):
        services.chat_take(actor=customer, chat=chat)
    with pytest.raises(Forbidden):
        services.chat_close(actor=customer, chat=chat)
    services.chat_assign(actor=admin_user, chat=chat, operator_id=senior_operator.pk)
    with pytest.raises(Forbidden):  # not theirs to release
        services.chat_unassign(actor=operator, chat=chat)
    services.chat_unassign(actor=senior_operator, chat=chat)  # the assignee may
    services.chat_assign(actor=senior_operator, chat=chat, operator_id=admin_user.pk)
    chat.refresh_from_db()
    assert chat.assignee_id == admin_user.pk


def test_other_organization_is_not_found(chat, other_admin, operator, other_organization):
    with pytest.raises(NotFound):
        services.chat_take(actor=other_admin, chat=chat)
    with pytest.raises(NotFound):
        services.chat_close(actor=other_admin, chat=chat)
    from accounts.tests.factories import UserFactory

    stranger = UserFactory(organization=other_organization, role="operator")
    admin = UserFactory(organization=chat.organization, role="admin")
    with pytest.raises(NotFound) as exc:
        services.chat_assign(actor=admin, chat=chat, operator_id=stranger.pk)
    assert exc.value.code == "operator_not_found"
    assert not AuditEvent.objects.exists()


def test_internal_chats_have_no_assignment(operator, senior_operator):
    chat = internal_chat("group", [operator, senior_operator], name="Team")
    with pytest.raises(ValidationFailed) as exc:
        services.chat_take(actor=operator, chat=chat)
    assert exc.value.code == "not_support"


def test_invalid_values_are_refused(chat, operator):
    with pytest.raises(ValidationFailed):
        services.chat_update_support_fields(actor=operator, chat=chat, status="done")
    with pytest.raises(ValidationFailed):
        services.chat_set_priority(actor=operator, chat=chat, priority="asap")
