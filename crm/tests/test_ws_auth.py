"""Who may open /ws/: tickets, access tokens, the session cookie, the Origin check; and
credentials never reaching the access log."""

import asyncio
import io
from datetime import timedelta

import pytest
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

from accounts.services import user_update
from chats.tests.realtime_fixtures import *  # noqa: F403 (fixtures)
from chats.tests.realtime_fixtures import frames, receive_type, sync
from crm import ws_auth

pytestmark = pytest.mark.django_db(transaction=True)


async def assert_refused(comm) -> None:
    """Accepted, told why, closed with 4401."""
    connected, _ = await comm.connect()
    assert connected
    error = await comm.receive_json_from()
    assert error == {
        "type": "error",
        "data": {"code": "unauthorized", "detail": error["data"]["detail"]},
    }
    close = await comm.receive_output()
    assert close == {"type": "websocket.close", "code": 4401}


# --- The ticket endpoint --------------------------------------------------------------------


def test_ticket_endpoint_issues_a_30_second_ticket(client_for, customer):
    response = client_for(customer).post("/api/auth/ws-ticket")
    assert response.status_code == 200
    body = response.json()
    assert body["expires_in"] == 30 and len(body["ticket"]) >= 40


def test_ticket_endpoint_works_with_the_session(customer):
    client = Client()
    client.force_login(customer)
    response = client.post("/api/auth/ws-ticket")
    assert response.status_code == 200 and response.json()["ticket"]


def test_ticket_endpoint_needs_a_signed_in_user(api_client):
    response = api_client.post("/api/auth/ws-ticket")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


# --- Ways in --------------------------------------------------------------------------------


async def test_ticket_opens_once(ws, customer):
    ticket = (await sync(ws_auth.ticket_issue)(user=customer))["ticket"]
    comm = await ws(query=f"ticket={ticket}")
    assert comm.established["data"]["user"]["id"] == customer.id
    assert "server_time" in comm.established["data"]
    await assert_refused(await ws(query=f"ticket={ticket}", established=False))


async def test_expired_ticket_is_refused(ws, customer, settings):
    settings.WS_TICKET_SECONDS = 1
    ticket = (await sync(ws_auth.ticket_issue)(user=customer))["ticket"]
    await asyncio.sleep(1.1)
    await assert_refused(await ws(query=f"ticket={ticket}", established=False))


async def test_tampered_ticket_is_refused(ws, customer):
    ticket = (await sync(ws_auth.ticket_issue)(user=customer))["ticket"]
    tampered = ticket[:-1] + ("A" if ticket[-1] != "A" else "B")
    await assert_refused(await ws(query=f"ticket={tampered}", established=False))
    # The genuine ticket still works: a wrong guess does not burn it.
    await ws(query=f"ticket={ticket}")


async def test_ticket_of_a_deactivated_user_is_refused(ws, customer, admin_user):
    ticket = (await sync(ws_auth.ticket_issue)(user=customer))["ticket"]
    await sync(user_update)(actor=admin_user, user=customer, is_active=False)
    await assert_refused(await ws(query=f"ticket={ticket}", established=False))


async def test_no_credentials_are_refused(ws, db):
    await assert_refused(await ws(established=False))


async def test_access_token_in_the_query(ws, operator):
    comm = await ws(operator)
    assert comm.established["data"]["user"]["email"] == operator.email


async def test_expired_or_tampered_token_is_refused(ws, operator):
    expired = AccessToken.for_user(operator)
    expired.set_exp(lifetime=-timedelta(seconds=1))
    await assert_refused(await ws(query=f"token={expired}", established=False))
    good = str(AccessToken.for_user(operator))
    tampered = good[:-2] + ("xx" if not good.endswith("xx") else "yy")
    await assert_refused(await ws(query=f"token={tampered}", established=False))


async def test_a_bad_token_does_not_fall_back_to_the_cookie(ws, operator):
    cookie = await sync(_session_cookie)(operator)
    await assert_refused(
        await ws(query="token=not-a-jwt", headers=[(b"cookie", cookie)], established=False)
    )


def _session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def test_session_cookie(ws, admin_user):
    cookie = await sync(_session_cookie)(admin_user)
    comm = await ws(headers=[(b"cookie", cookie)])
    assert comm.established["data"]["user"]["id"] == admin_user.id


async def test_session_of_a_deactivated_user_is_refused(ws, operator, admin_user):
    cookie = await sync(_session_cookie)(operator)
    await sync(user_update)(actor=admin_user, user=operator, is_active=False)
    await assert_refused(await ws(headers=[(b"cookie", cookie)], established=False))


async def test_foreign_or_missing_origin_is_rejected_at_the_handshake(ws, operator):
    token = f"token={AccessToken.for_user(operator)}"
    for origin in (b"https://evil.example", None):
        comm = await ws(query=token, origin=origin, established=False)
        connected, code = await comm.connect()
        assert not connected and code == 1000  # handshake refused: HTTP 403 from the server
    comm = await ws(query=token, origin=b"http://localhost:8000", established=False)
    assert (await comm.connect())[0]


async def test_deactivation_closes_the_users_open_sockets(ws, operator, admin_user):
    first, second = await ws(operator), await ws(operator)
    bystander = await ws(admin_user)
    await sync(user_update)(actor=admin_user, user=operator, is_active=False)
    for comm in (first, second):
        assert (await frames(comm))[-1] == {"type": "websocket.close", "code": 4401}
    await bystander.send_json_to({"type": "ping"})
    assert (await receive_type(bystander, "pong"))["data"] == {}


async def test_middleware_sets_the_user_and_drops_credentials_from_the_scope(operator):
    seen: dict = {}

    async def inner(scope, receive, send):
        seen.update(scope)

    token = AccessToken.for_user(operator)
    scope = {
        "type": "websocket",
        "path": "/ws/",
        "query_string": f"token={token}&v=2".encode(),
        "headers": [],
    }
    await ws_auth.WebSocketAuthStack(inner)(scope, None, None)
    assert seen["user"] == operator and seen["auth_method"] == "token"
    assert seen["query_string"] == b"v=2"  # nothing downstream can log the token


# --- Logs -----------------------------------------------------------------------------------


def test_access_log_redacts_credentials_in_http_and_websocket_lines():
    stream = io.StringIO()
    log = ws_auth.RedactingAccessLog(stream)
    log(
        "http",
        "complete",
        {
            "path": "/ws/?token=eyJ.secret.sig&x=1",
            "status": 404,
            "method": "GET",
            "client": "127.0.0.1:5000",
            "size": 10,
        },
    )
    log("websocket", "connecting", {"path": "/ws/?ticket=t0ps3cret", "client": "127.0.0.1:5001"})
    log(
        "http",
        "complete",
        {
            "path": "/api/chats?q=hello",
            "status": 200,
            "method": "GET",
            "client": "127.0.0.1:5002",
            "size": 2,
        },
    )
    text = stream.getvalue()
    assert "eyJ.secret.sig" not in text and "t0ps3cret" not in text
    assert '"GET /ws/?token=[redacted]&x=1"' in text
    assert '"WSCONNECTING /ws/?ticket=[redacted]"' in text
    assert '"GET /api/chats?q=hello"' in text


def test_asgi_module_installs_the_redacting_access_log():
    import daphne.cli

    import crm.asgi  # noqa: F401

    assert daphne.cli.AccessLogGenerator is ws_auth.RedactingAccessLog


def test_redact_query_keeps_ordinary_parameters():
    assert ws_auth.redact_query("after=10&limit=5") == "after=10&limit=5"
    assert ws_auth.redact_query("token=a&ticket=b", drop=True) == ""
    assert ws_auth.redact_query("a=1&api_key=z") == "a=1&api_key=[redacted]"
