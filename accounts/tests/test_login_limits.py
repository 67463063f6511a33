"""The sign-in limit holds under a burst: checking and counting an attempt is one atomic step."""

from __future__ import annotations

import threading

import pytest
from django.contrib.auth.signals import user_login_failed
from django.db import connection

from accounts import services
from accounts.tests.factories import DEFAULT_PASSWORD, UserFactory
from crm.errors import RateLimited

BURST = 100
LIMIT = 5  # login_email: 5/5m


def _burst(email: str, passwords: list[str]) -> tuple[int, list[str]]:
    """Run one sign-in per password at the same moment; return how many passwords were
    checked (and refused) and how each attempt ended."""
    checked = 0
    lock = threading.Lock()
    outcomes: list[str] = [""] * len(passwords)
    barrier = threading.Barrier(len(passwords))

    def on_failed(**kwargs):
        nonlocal checked
        with lock:
            checked += 1

    def attempt(index: int) -> None:
        try:
            barrier.wait()
            services.auth_login(email=email, password=passwords[index], ip=f"10.1.{index}.1")
            outcomes[index] = "signed_in"
        except RateLimited:
            outcomes[index] = "throttled"
        except services.InvalidCredentials:
            outcomes[index] = "wrong"
        finally:
            connection.close()

    user_login_failed.connect(on_failed)
    try:
        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(passwords))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        user_login_failed.disconnect(on_failed)
    return checked, outcomes


def _check_burst():
    user = UserFactory()
    passwords = ["wrong-password"] * BURST
    checked, outcomes = _burst(user.email, passwords)
    assert checked <= LIMIT, f"{checked} wrong passwords were checked"
    assert outcomes.count("wrong") == checked
    assert outcomes.count("throttled") == BURST - checked
    # The limit is spent: the right password is refused too, and is not even checked.
    checked, outcomes = _burst(user.email, [DEFAULT_PASSWORD] + ["wrong-password"] * 9)
    assert checked == 0
    assert outcomes == ["throttled"] * 10


def _check_correct_password_inside_burst():
    user = UserFactory()
    # 30 wrong passwords and, in the same instant, the right one. The right one signs in only
    # if it took one of the five slots (it then gives its slot back); the wrong ones never get
    # more than five checks between them, and the limit is spent afterwards.
    passwords = ["wrong-password"] * 30 + [DEFAULT_PASSWORD]
    checked, outcomes = _burst(user.email, passwords)
    assert checked <= LIMIT
    assert outcomes[-1] in ("signed_in", "throttled")
    assert outcomes.count("throttled") >= len(passwords) - LIMIT - 1
    # Exactly the unused slots are left: that many more wrong passwords, then nothing.
    for _ in range(LIMIT - checked):
        with pytest.raises(services.InvalidCredentials):
            services.auth_login(email=user.email, password="wrong-password", ip="10.2.0.1")
    checked, outcomes = _burst(user.email, [DEFAULT_PASSWORD] * 3)
    assert outcomes == ["throttled"] * 3


@pytest.mark.django_db(transaction=True)
def test_burst_of_wrong_passwords_checks_at_most_the_limit():
    _check_burst()


@pytest.mark.django_db(transaction=True)
def test_correct_password_in_a_burst_gains_the_attacker_nothing():
    _check_correct_password_inside_burst()


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_burst_on_postgres_and_redis():
    _check_burst()
    _check_correct_password_inside_burst()


@pytest.mark.django_db
def test_successful_sign_ins_do_not_use_up_the_limit():
    user = UserFactory()
    for _ in range(LIMIT * 2):
        assert services.auth_login(email=user.email, password=DEFAULT_PASSWORD, ip="10.0.0.9")
    for _ in range(LIMIT):
        with pytest.raises(services.InvalidCredentials):
            services.auth_login(email=user.email, password="nope-nope", ip="10.0.0.9")
    with pytest.raises(RateLimited):
        services.auth_login(email=user.email, password=DEFAULT_PASSWORD, ip="10.0.0.9")
