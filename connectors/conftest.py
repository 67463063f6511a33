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


@pytest.fixture(autouse=True)
def fetch_loopback_standins(settings):
    """The stand-ins listen on 127.0.0.1: allowed by name, as an operator would allow a bridge
    on the private network (``localhost`` and every other private address stay refused)."""
    settings.CONNECTOR_FETCH_ALLOW_PRIVATE = False
    settings.CONNECTOR_FETCH_ALLOWED_HOSTS = ["127.0.0.1"]


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


# --- WhatsApp Cloud API -----------------------------------------------------------------------

WA_TOKEN = "EAAGstandin-access-token-0123456789"  # noqa: S105 (a test token)
WA_SECRET = "wa-app-secret-0123456789abcdef"  # noqa: S105 (a test secret)
WA_NUMBER_ID = "109876543210987"
_wa_ids = itertools.count(1)


@pytest.fixture(scope="session")
def _graph_server():
    from connectors.standins.whatsapp import GraphStandIn

    server = GraphStandIn(tokens={WA_TOKEN}).start()
    yield server
    server.stop()


@pytest.fixture
def graph(_graph_server, settings, request):
    """The Graph API stand-in, empty, with ``WHATSAPP_API_URL`` pointing at it."""
    from connectors import http
    from crm.celery import app

    eager = app.conf.task_always_eager
    if "celery_worker" not in request.fixturenames:
        app.conf.task_always_eager = True
    _graph_server.reset()
    settings.WHATSAPP_API_URL = _graph_server.url
    settings.CONNECTOR_RETRY_BACKOFF = 0.05
    settings.CONNECTOR_TIMEOUT_SECONDS = 2.0
    http.reset()
    yield _graph_server
    _graph_server.reset()
    if "celery_worker" not in request.fixturenames:
        app.conf.task_always_eager = eager


@pytest.fixture
def whatsapp_inbox_for():
    from chats.services import inbox_create

    def make(admin, *, phone_number_id: str = WA_NUMBER_ID, app_secret: str = WA_SECRET):
        inbox, generated = inbox_create(
            actor=admin,
            kind="whatsapp",
            name="WhatsApp",
            phone_number_id=phone_number_id,
            access_token=WA_TOKEN,
            app_secret=app_secret,
        )
        inbox.generated = generated
        return inbox

    return make


@pytest.fixture
def whatsapp_inbox(admin_user, whatsapp_inbox_for):
    return whatsapp_inbox_for(admin_user)


def wa_message(
    *,
    wa_id: str = "79001234567",
    text: str | None = "Hello!",
    message_id: str | None = None,
    timestamp: int | None = None,
    **content,
) -> dict:
    import time as _time

    msg = {
        "from": wa_id,
        "id": message_id or f"wamid.IN{next(_wa_ids):08d}",
        "timestamp": str(timestamp if timestamp is not None else int(_time.time())),
        "type": "text",
    }
    if content:
        msg.update(content)
    elif text is not None:
        msg["text"] = {"body": text}
    return msg


def wa_payload(
    *messages: dict,
    statuses: list[dict] | None = None,
    phone_number_id: str = WA_NUMBER_ID,
    name: str = "Maria",
) -> dict:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": phone_number_id},
    }
    if messages:
        value["contacts"] = [{"profile": {"name": name}, "wa_id": m["from"]} for m in messages[:1]]
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = statuses
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "1234567890", "changes": [{"value": value, "field": "messages"}]}],
    }


def wa_status(wamid: str, status: str, *, wa_id: str = "79001234567", errors=None) -> dict:
    import time as _time

    item = {
        "id": wamid,
        "status": status,
        "timestamp": str(int(_time.time())),
        "recipient_id": wa_id,
    }
    if errors:
        item["errors"] = errors
    return item


@pytest.fixture
def post_wa(client):
    """``post_wa(inbox, payload, secret=WA_SECRET, signature=None)``: POST it signed."""
    import json

    from connectors.whatsapp import signature_of

    def post(inbox, payload, *, secret: str = WA_SECRET, signature=_INBOX, inbox_id=None):
        body = json.dumps(payload).encode()
        headers = {}
        signature = signature_of(body, secret) if signature is _INBOX else signature
        if signature is not None:
            headers["HTTP_X_HUB_SIGNATURE_256"] = signature
        return client.post(
            f"/api/webhooks/whatsapp/{inbox_id or inbox.pk}",
            data=body,
            content_type="application/json",
            **headers,
        )

    return post


# --- API channel ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def _sink_server():
    from connectors.standins.callback_sink import CallbackSink

    server = CallbackSink().start()
    yield server
    server.stop()


@pytest.fixture
def sink(_sink_server, settings, request):
    from connectors import http
    from crm.celery import app

    eager = app.conf.task_always_eager
    if "celery_worker" not in request.fixturenames:
        app.conf.task_always_eager = True
    _sink_server.reset()
    settings.CONNECTOR_RETRY_BACKOFF = 0.05
    settings.CONNECTOR_TIMEOUT_SECONDS = 2.0
    http.reset()
    yield _sink_server
    _sink_server.reset()
    if "celery_worker" not in request.fixturenames:
        app.conf.task_always_eager = eager


@pytest.fixture
def api_inbox_for(sink):
    from chats.services import inbox_create

    def make(admin, **settings):
        inbox, generated = inbox_create(
            actor=admin, kind="api", name="Bridge", callback_url=sink.url, **settings
        )
        inbox.token = generated["api_token"]
        inbox.secret = generated["webhook_secret"]
        return inbox

    return make


@pytest.fixture
def api_inbox(admin_user, api_inbox_for):
    return api_inbox_for(admin_user)


@pytest.fixture
def post_api(client):
    import json

    def post(inbox, payload, *, token=_INBOX, inbox_id=None):
        token = inbox.token if token is _INBOX else token
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token is not None else {}
        return client.post(
            f"/api/webhooks/api/{inbox_id or inbox.pk}",
            data=json.dumps(payload),
            content_type="application/json",
            **headers,
        )

    return post
