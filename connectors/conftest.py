"""Fixtures of the connector tests: a Telegram Bot API stand-in on loopback, Telegram inboxes,
updates as Telegram sends them, and a real Celery worker."""

from __future__ import annotations

import itertools

import pytest

from connectors.standins.telegram import TelegramStandIn
from media.conftest import celery_worker, wait_for  # noqa: F401 (fixtures shared with media)

BOT_TOKEN = "123456789:AAtest-bot-token-0123456789abcdefXYZ"  # noqa: S105 (a test bot)
_INBOX = object()  # post_update's default: the inbox's own webhook secret
_update_ids = itertools.count(500_000)
_message_ids = itertools.count(1)


@pytest.fixture(autouse=True)
def private_media_root(settings, tmp_path):
    settings.MEDIA_PRIVATE_ROOT = str(tmp_path / "private-media")


@pytest.fixture(scope="session")
def _standin_server():
    server = TelegramStandIn().start()
    yield server
    server.stop()


@pytest.fixture
def telegram(_standin_server, settings, request):
    """The stand-in, empty, with ``TELEGRAM_API_URL`` pointing at it and quick retries. Tasks
    run eagerly (also on the services run, where the broker is Redis) unless the test starts a
    real worker with ``celery_worker``."""
    from crm.celery import app

    eager = app.conf.task_always_eager
    if "celery_worker" not in request.fixturenames:
        app.conf.task_always_eager = True
    _standin_server.reset()
    settings.TELEGRAM_API_URL = _standin_server.url
    settings.CONNECTOR_RETRY_BACKOFF = 0.05
    settings.CONNECTOR_TIMEOUT_SECONDS = 2.0
    from connectors import telegram as module

    module._client = None  # a fresh pool with this test's timeout
    yield _standin_server
    _standin_server.reset()
    if "celery_worker" not in request.fixturenames:
        app.conf.task_always_eager = eager


@pytest.fixture
def telegram_inbox_for():
    """``telegram_inbox_for(admin)``: a Telegram inbox created through the service, with its
    generated webhook secret as ``inbox.secret``."""
    from chats.services import inbox_create

    def make(admin, **settings):
        inbox, generated = inbox_create(
            actor=admin, kind="telegram", name="Bot", bot_token=BOT_TOKEN, **settings
        )
        inbox.secret = generated.get("webhook_secret") or settings.get("webhook_secret")
        return inbox

    return make


@pytest.fixture
def telegram_inbox(admin_user, telegram_inbox_for):
    return telegram_inbox_for(admin_user)


def tg_user(user_id: int = 4242, **extra) -> dict:
    return {
        "id": user_id,
        "is_bot": False,
        "first_name": "Ivan",
        "last_name": "Petrov",
        "username": "ivanp",
        "language_code": "ru",
        **extra,
    }


def tg_update(
    *,
    text: str | None = "Hello!",
    user_id: int = 4242,
    message_id: int | None = None,
    update_id: int | None = None,
    edited: bool = False,
    **fields,
) -> dict:
    """An update as Telegram posts it (private chat with ``user_id``)."""
    message = {
        "message_id": message_id if message_id is not None else next(_message_ids),
        "from": tg_user(user_id),
        "chat": {"id": user_id, "first_name": "Ivan", "type": "private"},
        "date": 1764500000,
        **({"text": text} if text is not None else {}),
        **fields,
    }
    if edited:
        message["edit_date"] = 1764500100
    return {
        "update_id": update_id if update_id is not None else next(_update_ids),
        "edited_message" if edited else "message": message,
    }


@pytest.fixture
def post_update(client):
    """``post_update(inbox, update, secret=inbox.secret)``: POST it to the inbox's webhook."""
    import json

    def post(inbox, update, *, secret: str | None | object = _INBOX, inbox_id: int | None = None):
        headers = {}
        secret = inbox.secret if secret is _INBOX else secret
        if secret is not None:
            headers["HTTP_X_TELEGRAM_BOT_API_SECRET_TOKEN"] = secret
        return client.post(
            f"/api/webhooks/telegram/{inbox_id or inbox.pk}",
            data=json.dumps(update),
            content_type="application/json",
            **headers,
        )

    return post
