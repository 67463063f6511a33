"""Inbox settings for Telegram, secrets at rest, the webhook URL, the setup commands."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from chats.models import Inbox
from connectors.conftest import BOT_TOKEN

pytestmark = pytest.mark.django_db


def _raw(inbox: Inbox, field: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {field} FROM chats_inbox WHERE id = %s", [inbox.pk])  # noqa: S608
        return cursor.fetchone()[0]


def test_secrets_are_encrypted_at_rest_and_read_back(telegram_inbox):
    raw = _raw(telegram_inbox, "bot_token")
    assert BOT_TOKEN not in raw and raw.startswith("gAAAAA")
    assert telegram_inbox.secret not in _raw(telegram_inbox, "webhook_secret")
    fresh = Inbox.objects.get(pk=telegram_inbox.pk)
    assert fresh.bot_token == BOT_TOKEN and fresh.webhook_secret == telegram_inbox.secret


def test_key_rotation_keeps_secrets_readable(telegram_inbox, settings):
    old = settings.FIELD_ENCRYPTION_KEY or ""
    new_key = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEY = ",".join(filter(None, [new_key, old or "a passphrase"]))
    if not old:  # the default key was derived from SECRET_KEY: name it explicitly
        from django.conf import settings as live

        settings.FIELD_ENCRYPTION_KEY = f"{new_key},field-encryption:{live.SECRET_KEY}"
    assert Inbox.objects.get(pk=telegram_inbox.pk).bot_token == BOT_TOKEN  # old key still reads
    out = StringIO()
    call_command("inbox_secrets_rotate", stdout=out)
    assert "Re-encrypted" in out.getvalue()
    settings.FIELD_ENCRYPTION_KEY = new_key  # the old key is gone
    inbox = Inbox.objects.get(pk=telegram_inbox.pk)
    assert inbox.bot_token == BOT_TOKEN and inbox.webhook_secret == telegram_inbox.secret
    from crm import crypto

    assert inbox.webhook_secret_digest == crypto.digest(telegram_inbox.secret)


def test_the_data_migration_encrypts_plain_secrets(telegram_inbox):
    import importlib

    from django.db.migrations.loader import MigrationLoader

    migration = importlib.import_module("chats.migrations.0007_channels")
    from django.db.migrations import RunPython

    # The models as the data step sees them: secrets in plain text columns.
    state = MigrationLoader(connection).project_state(("chats", "0006_inbox_automation"))
    for operation in migration.Migration.operations:
        if isinstance(operation, RunPython):
            break
        operation.state_forwards("chats", state)
    apps = state.apps
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE chats_inbox SET bot_token = %s, webhook_secret = %s, webhook_secret_digest = ''"
            " WHERE id = %s",
            ["111111:plain-token-xxxxxxxxxxxxxxxxxxxx", "plain-secret", telegram_inbox.pk],
        )
    migration.encrypt_secrets(apps, None)
    assert _raw(telegram_inbox, "bot_token").startswith("gAAAAA")
    inbox = Inbox.objects.get(pk=telegram_inbox.pk)
    assert inbox.bot_token == "111111:plain-token-xxxxxxxxxxxxxxxxxxxx"
    assert inbox.webhook_secret == "plain-secret" and inbox.webhook_secret_digest


def test_inbox_api_shows_the_webhook_url_never_the_secrets(client_for, admin_user, operator):
    response = client_for(admin_user).post(
        "/api/inboxes", {"kind": "telegram", "name": "Bot", "bot_token": BOT_TOKEN}, format="json"
    )
    assert response.status_code == 201
    body = response.json()
    assert body["webhook_url"] == f"http://testserver/api/webhooks/telegram/{body['id']}"
    listed = client_for(operator).get("/api/inboxes").json()["results"]
    telegram = next(i for i in listed if i["id"] == body["id"])
    assert telegram["webhook_url"].endswith(f"/api/webhooks/telegram/{body['id']}")
    assert BOT_TOKEN not in json.dumps(listed)
    assert body["generated_secrets"]["webhook_secret"] not in json.dumps(listed)


@pytest.mark.parametrize(
    ("settings_", "field"),
    [
        ({"bot_token": "not-a-token"}, "bot_token"),
        ({"bot_token": BOT_TOKEN, "webhook_secret": "spaces are not allowed"}, "webhook_secret"),
    ],
)
def test_the_connector_validates_telegram_settings(client_for, admin_user, settings_, field):
    response = client_for(admin_user).post(
        "/api/inboxes", {"kind": "telegram", "name": "Bot", **settings_}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_settings" and field in response.json()
    assert not Inbox.objects.filter(kind="telegram").exists()


def test_set_webhook_and_webhook_info_commands(telegram, telegram_inbox):
    out = StringIO()
    call_command(
        "telegram_set_webhook",
        str(telegram_inbox.pk),
        "--url",
        "https://crm.example.com/",
        stdout=out,
    )
    url = f"https://crm.example.com/api/webhooks/telegram/{telegram_inbox.pk}"
    assert url in out.getvalue() and "@standin_bot" in out.getvalue()
    [call] = telegram.calls("setWebhook")
    assert call.params["url"] == url
    assert call.params["secret_token"] == telegram_inbox.secret
    assert call.params["allowed_updates"] == ["message", "edited_message"]
    info = StringIO()
    call_command("telegram_webhook_info", str(telegram_inbox.pk), stdout=info)
    assert json.loads(info.getvalue())["url"] == url


def test_commands_report_errors(telegram, telegram_inbox):
    with pytest.raises(CommandError, match="No Telegram inbox"):
        call_command("telegram_webhook_info", "999999")
    telegram.fail("getMe", 401)
    with pytest.raises(CommandError, match="401"):
        call_command("telegram_set_webhook", str(telegram_inbox.pk), "--url", "https://x.example")
    assert telegram.calls("setWebhook") == []


def test_set_webhook_refuses_an_inbox_without_a_secret(telegram, organization):
    inbox = Inbox.objects.create(
        organization=organization, kind="telegram", name="From the admin", bot_token=BOT_TOKEN
    )
    with pytest.raises(CommandError, match="no webhook secret"):
        call_command("telegram_set_webhook", str(inbox.pk), "--url", "https://x.example")
    assert telegram.calls("setWebhook") == []
