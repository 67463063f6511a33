"""Outage handling in-process (the real parts are in test_outages.py): the 503 body, the local
rate limiter, events that cannot reach the layer, outage logs once per burst."""

from __future__ import annotations

import logging
import time

import pytest
import redis
from django.db import OperationalError, transaction
from django.http import HttpResponse
from django.test import override_settings
from django.urls import path

from crm import events, outage, ratelimit


def _db_down(request):
    raise OperationalError("connection refused")


def _redis_down(request):
    raise redis.exceptions.ConnectionError("Connection refused")


def _bug(request):
    raise ValueError("a bug")


urlpatterns = [
    path("db", _db_down),
    path("redis", _redis_down),
    path("bug", _bug),
    path("ok", lambda r: HttpResponse("ok")),
]


@pytest.fixture(autouse=True)
def _fresh_bursts():
    outage._bursts.clear()
    yield
    outage._bursts.clear()


@override_settings(ROOT_URLCONF=__name__)
@pytest.mark.parametrize("url", ["/db", "/redis"])
def test_an_unreachable_part_answers_503_with_retry_after(client, url):
    response = client.get(url)
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    body = response.json()
    assert body["code"] == "service_unavailable" and body["detail"]


@pytest.mark.django_db
def test_a_session_that_cannot_be_loaded_while_the_database_is_down_is_503(
    client, monkeypatch, customer
):
    """The session is read by middleware, before any view: the outage is still a 503."""
    from django.contrib.sessions.backends.db import SessionStore

    client.force_login(customer)
    client.raise_request_exception = False

    def down(self):
        raise OperationalError("connection refused")

    monkeypatch.setattr(SessionStore, "load", down)
    for url in ("/", "/chat/", "/admin/"):
        response = client.get(url)
        assert response.status_code == 503, url
        assert response.json()["code"] == "service_unavailable"


@override_settings(ROOT_URLCONF=__name__)
def test_other_errors_are_still_500(client):
    client.raise_request_exception = False
    assert client.get("/bug").status_code == 500


class DownCache:
    def __getattr__(self, name):
        def fail(*args, **kwargs):
            raise redis.exceptions.ConnectionError("Connection refused")

        return fail


def test_rate_limits_count_in_the_process_while_the_cache_is_down(monkeypatch, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "messages_user": "3/min"}
    monkeypatch.setattr(ratelimit, "cache", DownCache())
    ident = "down-user"
    decisions = [ratelimit.hit("messages_user", ident).allowed for _ in range(5)]
    assert decisions == [True, True, True, False, False]
    assert ratelimit.peek("messages_user", ident).allowed is False
    assert ratelimit.peek("messages_user", "someone-else").allowed is True


async def test_async_rate_limit_falls_back_too(monkeypatch, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "ws_frames": "2/10s"}
    monkeypatch.setattr(ratelimit, "cache", DownCache())
    results = [(await ratelimit.ahit("ws_frames", "u1")).allowed for _ in range(3)]
    assert results == [True, True, False]


@pytest.mark.django_db(transaction=True)
def test_events_never_fail_the_commit_and_are_logged_once(settings, caplog, captured):
    """Redis refuses the publisher: every commit goes through at once, the outage is logged
    once, and the log will start a new epoch (older cursors are told to refetch)."""
    from crm.tests.daphne_servers import free_port

    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    caplog.set_level(logging.WARNING, logger="crm.outage")
    started = time.monotonic()
    for n in range(10):
        with transaction.atomic():
            events.send_event("message:new", {"n": n}, groups=["chat.1", "user.2"])
    assert time.monotonic() - started < 1.0  # the requests only queued their events
    assert len(captured) == 10  # every event was handed to delivery
    events.publisher.flush()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not events.publisher.lost:
        time.sleep(0.02)
    assert events.publisher.lost
    warnings = [r for r in caplog.records if "event_publish unavailable" in r.getMessage()]
    assert len(warnings) == 1


def test_recovery_is_logged_once(caplog):
    caplog.set_level(logging.WARNING, logger="crm.outage")
    outage.report("broker", ConnectionError("down"))
    outage.report("broker", ConnectionError("down"))
    outage.recovered("broker")
    outage.recovered("broker")
    messages = [r.getMessage() for r in caplog.records]
    assert sum("broker unavailable" in m for m in messages) == 1
    assert sum("broker available again after 2 failures" in m for m in messages) == 1
