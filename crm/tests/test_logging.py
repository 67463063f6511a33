"""Logs: one JSON object per line with a request id on every line of a request, a task or a
socket frame; an error is logged once; credentials never appear."""

from __future__ import annotations

import io
import json
import logging

import pytest
from django.http import HttpResponse
from django.test import override_settings
from django.urls import path
from rest_framework_simplejwt.tokens import AccessToken

from accounts.tests.factories import DEFAULT_PASSWORD
from chats.tests.factories import support_chat
from chats.tests.realtime_fixtures import *  # noqa: F403
from crm.logging import logging_config, redact_text

pytestmark = pytest.mark.django_db(transaction=True)


def _explode(request):
    raise RuntimeError("the view broke")


def _fine(request):
    logging.getLogger("crm.test").info("inside the view")
    return HttpResponse("ok")


urlpatterns = [path("explode", _explode), path("fine", _fine)]


@pytest.fixture
def log_lines():
    """The JSON lines the production formatter writes, from every logger."""
    config = logging_config(level="DEBUG", fmt="json")["formatters"]["structured"]
    config = dict(config)
    formatter = config.pop("()")(**config)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)

    def lines() -> list[dict]:
        return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]

    lines.raw = stream.getvalue  # type: ignore[attr-defined]
    yield lines
    root.removeHandler(handler)
    root.setLevel(old_level)


def test_request_lines_carry_one_request_id_and_no_credentials(api_client, customer, log_lines):
    token = str(AccessToken.for_user(customer))
    api_client.post(
        "/api/auth/login", {"email": customer.email, "password": DEFAULT_PASSWORD}, format="json"
    )
    api_client.post(
        "/api/auth/login", {"email": customer.email, "password": "wrong-Pa55word"}, format="json"
    )
    api_client.get(f"/api/auth/me?token={token}", HTTP_AUTHORIZATION=f"Bearer {token}")
    lines = log_lines()
    assert lines, "nothing was logged"
    requests = [line for line in lines if line["event"] in ("request_started", "request_finished")]
    assert len(requests) == 6
    # Every line of the requests (the event loop's own start-up line is not one of them).
    assert [
        line for line in lines if not line.get("request_id") and line["logger"] != "asyncio"
    ] == []
    ids = [line["request_id"] for line in requests]
    assert len(set(ids)) == 3 and ids[0] == ids[1]
    raw = log_lines.raw()
    for secret in (DEFAULT_PASSWORD, "wrong-Pa55word", token, token.split(".")[2]):
        assert secret not in raw
    assert "token=[redacted]" in raw


@override_settings(ROOT_URLCONF=__name__)
def test_an_error_is_logged_once_with_its_request_id(client, log_lines):
    client.raise_request_exception = False
    assert client.get("/fine").status_code == 200
    assert client.get("/explode").status_code == 500
    errors = [line for line in log_lines() if "the view broke" in json.dumps(line)]
    assert len(errors) == 1, errors
    assert errors[0]["request_id"] and errors[0]["level"] == "error"
    inside = [line for line in log_lines() if line["event"] == "inside the view"]
    assert inside and inside[0]["request_id"]


async def test_websocket_frames_log_with_a_request_id(ws, customer, log_lines):
    from channels.db import database_sync_to_async

    chat = await database_sync_to_async(support_chat)(customer)
    comm = await ws(customer)
    await comm.send_json_to(
        {"type": "message:send", "id": "m1", "data": {"chat_id": chat.pk, "text": "hi"}}
    )
    replies = [await comm.receive_json_from(), await comm.receive_json_from()]
    assert sorted(r["type"] for r in replies) == ["ack", "message:new"]  # in either order
    frames = [line for line in log_lines() if line["event"] == "WebSocket frame message:send"]
    assert len(frames) == 1
    assert frames[0]["request_id"] and frames[0]["connection_request_id"]
    assert frames[0]["request_id"] != frames[0]["connection_request_id"]


def test_celery_tasks_receive_the_request_id():
    """The worker step that binds the publisher's request id in the task is installed."""
    from django_structlog.celery.steps import DjangoStructLogInitStep

    from crm.celery import app

    assert DjangoStructLogInitStep in app.steps["worker"]


@pytest.mark.parametrize(
    "text",
    [
        "GET /ws/?ticket=abcdefgh&x=1",
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoxfQ.c2lnbmF0dXJl",
        "password=hunter22 sent",
        "refresh_token=zzzzzzzz",
    ],
)
def test_redact_text(text):
    out = redact_text(text)
    for secret in ("abcdefgh", "eyJhbGciOiJIUzI1NiJ9", "hunter22", "zzzzzzzz"):
        assert secret not in out
