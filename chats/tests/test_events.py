"""Which events each write sends, to whom, and only once its transaction commits."""

import pytest
from django.db import transaction

from chats.services import (
    chat_group_create,
    chat_mark_read,
    chat_participant_add,
    chat_participant_remove,
    chat_update,
    message_delete,
    message_edit,
    message_send,
    support_chat_get_or_create,
)

pytestmark = pytest.mark.django_db


def staff(org_id):
    return f"staff.{org_id}"


def user(uid):
    return f"user.{uid}"


def of_type(captured, event_type):
    return [(d, g) for t, d, g in captured if t == event_type]


def test_send_events_after_commit_only(
    customer, operator, admin_user, support, captured, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        message = message_send(sender=customer, chat=support, text="hi").message
    assert captured == []
    for callback in callbacks:
        callback()
    (new,) = of_type(captured, "message:new")
    assert new[0]["id"] == message.pk and new[0]["text"] == "hi"
    assert set(new[1]) == {staff(customer.organization_id), user(customer.pk)}
    # Staff count it from message:new: no unread:updated for anyone (the customer had nothing
    # unread), whatever the number of staff; their stored counts still went up.
    assert of_type(captured, "unread:updated") == []
    assert support.memberships.get(user=operator).unread_count == 1
    assert support.memberships.get(user=admin_user).unread_count == 1


def test_rolled_back_send_sends_nothing(
    customer, operator, support, captured, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        message_send(sender=customer, chat=support, text="never")
        raise RuntimeError("abort")
    assert callbacks == [] and captured == []


def test_new_support_chat_event(customer, captured, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        chat, created = support_chat_get_or_create(customer=customer)
    assert created
    new = of_type(captured, "chat:new")
    assert [g for _, g in new] == [(staff(customer.organization_id),), (user(customer.pk),)]
    assert new[0][0]["customer"]["email"] == customer.email
    assert "email" not in new[1][0]["customer"]


def test_internal_chat_events_go_to_participants(
    operator, admin_user, senior_operator, captured, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        chat = chat_group_create(actor=operator, name="Ops", participant_ids=[admin_user.pk])
    ((data, groups),) = of_type(captured, "chat:new")
    assert set(groups) == {user(operator.pk), user(admin_user.pk)}
    assert {p["id"] for p in data["participants"]} == {operator.pk, admin_user.pk}
    captured.clear()
    with django_capture_on_commit_callbacks(execute=True):
        chat_participant_add(actor=operator, chat=chat, user_id=senior_operator.pk)
    assert of_type(captured, "chat:new")[0][1] == (user(senior_operator.pk),)
    assert set(of_type(captured, "chat:updated")[0][1]) == {user(operator.pk), user(admin_user.pk)}
    captured.clear()
    with django_capture_on_commit_callbacks(execute=True):
        message_send(sender=operator, chat=chat, text="hello team")
    ((_, groups),) = of_type(captured, "message:new")
    assert set(groups) == {user(operator.pk), user(admin_user.pk), user(senior_operator.pk)}
    captured.clear()
    with django_capture_on_commit_callbacks(execute=True):
        chat_participant_remove(actor=senior_operator, chat=chat, user_id=senior_operator.pk)
    ((data, groups),) = of_type(captured, "chat:updated")
    assert user(senior_operator.pk) in groups
    assert senior_operator.pk not in {p["id"] for p in data["participants"]}
    assert of_type(captured, "unread:updated")[0][0]["unread_count"] == 0


def test_read_edit_delete_events(
    customer, operator, support, captured, django_capture_on_commit_callbacks
):
    message = message_send(sender=customer, chat=support, text="helo").message
    captured.clear()
    with django_capture_on_commit_callbacks(execute=True):
        chat_mark_read(user=operator, chat=support)
    ((data, groups),) = of_type(captured, "messages:read")
    assert data == {"chat_id": support.pk, "user_id": operator.pk, "up_to": message.pk}
    assert set(groups) == {staff(support.organization_id), user(customer.pk)}
    assert of_type(captured, "unread:updated") == [
        ({"chat_id": support.pk, "unread_count": 0, "total": 0}, (user(operator.pk),))
    ]
    captured.clear()
    with django_capture_on_commit_callbacks(execute=True):
        message_edit(actor=customer, message=message, text="hello")
    ((data, _),) = of_type(captured, "message:updated")
    assert data["text"] == "hello" and data["edited_at"]
    captured.clear()
    with django_capture_on_commit_callbacks(execute=True):
        message_delete(actor=customer, message=message)
    ((data, _),) = of_type(captured, "message:updated")
    assert data["deleted_at"] and data["text"] == ""


def test_note_edit_goes_to_staff_only(
    customer, operator, support, captured, django_capture_on_commit_callbacks
):
    note = message_send(sender=operator, chat=support, text="n", kind="note").message
    captured.clear()
    with django_capture_on_commit_callbacks(execute=True):
        message_edit(actor=operator, message=note, text="n2")
    assert [g for _, g in of_type(captured, "message:updated")] == [
        (staff(support.organization_id),)
    ]


def test_rename_event(operator, team, captured, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        chat_update(actor=operator, chat=team, name="Renamed")
    ((data, _),) = of_type(captured, "chat:updated")
    assert data["name"] == "Renamed"
