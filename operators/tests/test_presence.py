"""Presence and availability: the last socket closing, the grace period, reconnecting."""

from datetime import timedelta

import pytest
from django.utils import timezone

from chats.models import Chat
from operators import hooks, services, tasks
from operators.models import Availability, OperatorProfile
from operators.tests.factories import OperatorProfileFactory, customer_chat, online_operator

pytestmark = pytest.mark.django_db


def profile_of(user) -> OperatorProfile:
    return OperatorProfile.objects.get(user=user)


def age_disconnection(user, seconds: int) -> None:
    OperatorProfile.objects.filter(user=user).update(
        disconnected_at=timezone.now() - timedelta(seconds=seconds)
    )


def statuses(captured):
    return [(d["user_id"], d["availability"]) for t, d, g in captured if t == "operator:status"]


def test_disconnect_starts_the_grace_period_only(
    organization, settings, captured, django_capture_on_commit_callbacks
):
    settings.OPERATOR_OFFLINE_GRACE_SECONDS = 60
    operator = online_operator(organization)
    with django_capture_on_commit_callbacks(execute=True):
        # Celery is eager here: the delayed check runs at once and finds the grace period on.
        hooks.user_presence_changed(user_id=operator.pk, is_online=False)
    profile = profile_of(operator)
    assert profile.disconnected_at is not None
    assert profile.availability == Availability.ONLINE
    assert statuses(captured) == []
    assert customer_chat(organization).assignee_id == operator.pk  # a reload is no reason


def test_after_the_grace_period_the_operator_goes_offline_once(
    organization, settings, captured, django_capture_on_commit_callbacks
):
    settings.OPERATOR_OFFLINE_GRACE_SECONDS = 60
    operator = online_operator(organization)
    hooks.user_presence_changed(user_id=operator.pk, is_online=False)
    age_disconnection(operator, 61)
    with django_capture_on_commit_callbacks(execute=True):
        assert tasks.operator_presence_lapse(operator.pk) is True
        assert tasks.operator_presence_lapse(operator.pk) is False  # idempotent
    profile = profile_of(operator)
    assert profile.availability == Availability.OFFLINE
    assert profile.availability_before_disconnect == Availability.ONLINE
    assert statuses(captured) == [(operator.pk, "offline")]
    group = captured[0][2]
    assert group == (f"staff.{organization.pk}",)


def test_sweep_catches_lapsed_operators_whose_task_was_lost(organization, settings):
    settings.OPERATOR_OFFLINE_GRACE_SECONDS = 60
    lapsed, fresh, connected = (online_operator(organization) for _ in range(3))
    age_disconnection(lapsed, 300)
    age_disconnection(fresh, 10)
    assert tasks.operators_presence_sweep() == 1
    assert tasks.operators_presence_sweep() == 0
    assert [profile_of(u).availability for u in (lapsed, fresh, connected)] == [
        "offline",
        "online",
        "online",
    ]


def test_a_stale_check_after_a_reconnect_changes_nothing(organization, settings):
    settings.OPERATOR_OFFLINE_GRACE_SECONDS = 60
    operator = online_operator(organization)
    hooks.user_presence_changed(user_id=operator.pk, is_online=False)
    age_disconnection(operator, 61)
    hooks.user_presence_changed(user_id=operator.pk, is_online=True)
    assert tasks.operator_presence_lapse(operator.pk) is False
    hooks.user_presence_changed(user_id=operator.pk, is_online=False)  # a new disconnection
    assert tasks.operator_presence_lapse(operator.pk) is False  # its grace period is running
    assert profile_of(operator).availability == Availability.ONLINE


def test_reconnecting_restores_availability_and_drains_the_backlog(
    organization, settings, captured, django_capture_on_commit_callbacks
):
    settings.OPERATOR_OFFLINE_GRACE_SECONDS = 60
    operator = online_operator(organization)
    hooks.user_presence_changed(user_id=operator.pk, is_online=False)
    age_disconnection(operator, 61)
    services.operator_presence_lapse(user_id=operator.pk)
    waiting = customer_chat(organization)
    assert waiting.assignee_id is None
    with django_capture_on_commit_callbacks(execute=True):
        hooks.user_presence_changed(user_id=operator.pk, is_online=True)
    profile = profile_of(operator)
    assert (profile.availability, profile.disconnected_at) == ("online", None)
    assert statuses(captured) == [(operator.pk, "online")]
    assert Chat.objects.get(pk=waiting.pk).assignee_id == operator.pk


def test_reconnecting_after_grace_but_before_the_sweep_drains_too(organization, settings):
    settings.OPERATOR_OFFLINE_GRACE_SECONDS = 60
    operator = online_operator(organization)
    age_disconnection(operator, 61)
    waiting = customer_chat(organization)
    assert waiting.assignee_id is None
    hooks.user_presence_changed(user_id=operator.pk, is_online=True)
    assert Chat.objects.get(pk=waiting.pk).assignee_id == operator.pk


def test_a_chosen_offline_stays_offline_on_connect(organization, operator, captured):
    OperatorProfileFactory(user=operator, availability=Availability.OFFLINE)
    hooks.user_presence_changed(user_id=operator.pk, is_online=True)
    assert profile_of(operator).availability == Availability.OFFLINE
    assert statuses(captured) == []


def test_away_operators_come_back_away(organization, operator, settings):
    settings.OPERATOR_OFFLINE_GRACE_SECONDS = 60
    OperatorProfileFactory(user=operator, availability=Availability.AWAY)
    hooks.user_presence_changed(user_id=operator.pk, is_online=False)
    age_disconnection(operator, 61)
    assert services.operator_presence_lapse(user_id=operator.pk)
    assert profile_of(operator).availability == Availability.OFFLINE
    hooks.user_presence_changed(user_id=operator.pk, is_online=True)
    assert profile_of(operator).availability == Availability.AWAY


def test_an_explicit_choice_replaces_what_presence_took(organization, operator, settings):
    settings.OPERATOR_OFFLINE_GRACE_SECONDS = 60
    OperatorProfileFactory(user=operator, availability=Availability.ONLINE)
    age_disconnection(operator, 61)
    services.operator_presence_lapse(user_id=operator.pk)
    services.operator_availability_set(user=operator, availability="away")
    hooks.user_presence_changed(user_id=operator.pk, is_online=True)
    assert profile_of(operator).availability == Availability.AWAY


def test_customers_are_ignored(customer):
    hooks.user_presence_changed(user_id=customer.pk, is_online=True)
    hooks.user_presence_changed(user_id=customer.pk, is_online=False)
    assert not OperatorProfile.objects.exists()
