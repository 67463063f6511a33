"""The WebSocket speaks the connection's language too: an error frame's ``detail`` is in the
user's language (else the handshake's Accept-Language, else the organization's)."""

from __future__ import annotations

import pytest

from accounts.models import Role
from accounts.tests.factories import OrganizationFactory, UserFactory
from chats.tests.realtime_fixtures import *  # noqa: F403 (fixtures)
from chats.tests.realtime_fixtures import request

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def lavka(db):
    return OrganizationFactory(slug="lavka", name="Лавка", language="ru")


async def test_an_error_frame_in_the_users_language(ws, lavka):
    from channels.db import database_sync_to_async

    make = database_sync_to_async(UserFactory)
    russian = await make(organization=lavka, role=Role.CUSTOMER, language="")
    english = await make(organization=lavka, role=Role.CUSTOMER, language="en")
    ru = await request(await ws(russian), "messages:read", {"chat_id": 999999})
    en = await request(await ws(english), "messages:read", {"chat_id": 999999})
    assert ru["type"] == en["type"] == "error"
    assert ru["data"]["code"] == en["data"]["code"] == "chat_not_found"
    assert ru["data"]["detail"] == "Чат не найден."
    assert en["data"]["detail"] == "Chat not found."


async def test_the_handshakes_accept_language_before_the_organizations(ws, lavka):
    from channels.db import database_sync_to_async

    user = await database_sync_to_async(UserFactory)(organization=lavka, role=Role.CUSTOMER)
    from rest_framework_simplejwt.tokens import AccessToken

    token = await database_sync_to_async(lambda: str(AccessToken.for_user(user)))()
    comm = await ws(query=f"token={token}", headers=[(b"accept-language", b"en-GB,en;q=0.8")])
    error = await request(comm, "messages:read", {"chat_id": 999999})
    assert error["data"]["detail"] == "Chat not found."


# --- Socket.IO (a real daphne of the app; python-socketio's client) -------------------------


@pytest.fixture(scope="module")
def sio_embedded():
    from chats.tests.realtime_servers import seeded_server

    with seeded_server() as (server, seed):
        yield server, seed


@pytest.mark.slow
@pytest.mark.django_db(transaction=False)
async def test_a_socketio_error_ack_in_the_users_language(sio_embedded):
    import asyncio

    from chats.tests.test_socketio import Client
    from crm.tests.daphne_servers import http_json

    server, seed = sio_embedded
    admin = seed["users"]["admin"]["token"]
    foreign = seed["chats"]["foreign"]
    async with Client(server, token=admin) as english:
        ack = await english.call("chat:join", {"chat_id": foreign})
    assert ack["ok"] is False and ack["error"]["detail"] == "Chat not found."
    status, me = await asyncio.to_thread(
        http_json, "PATCH", f"{server.url}/api/auth/me", {"language": "ru"}, token=admin
    )
    assert status == 200 and me["language"] == "ru"
    async with Client(server, token=admin) as russian:
        ack = await russian.call("chat:join", {"chat_id": foreign})
        unknown = await russian.call("no-such-request", {})
    assert ack["ok"] is False and ack["error"]["code"] == "chat_not_found"
    assert ack["error"]["detail"] == "Чат не найден."
    assert unknown["error"]["detail"].startswith("Неизвестный тип кадра")
