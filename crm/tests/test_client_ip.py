"""X-Forwarded-For is believed only as far as TRUSTED_PROXIES says, wherever an IP is read."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.test import override_settings

from crm.client_ip import client_ip, install_daphne_forwarding, scope_ip
from crm.ws_auth import WebSocketAuthMiddleware


def test_no_trusted_proxy_means_the_socket_peer():
    with override_settings(TRUSTED_PROXIES=0):
        assert client_ip("198.51.100.9", "1.2.3.4") == "198.51.100.9"
        assert client_ip("198.51.100.9", None) == "198.51.100.9"


def test_one_trusted_proxy_means_the_rightmost_hop():
    with override_settings(TRUSTED_PROXIES=1):
        assert client_ip("10.0.0.2", "6.6.6.6, 203.0.113.7") == "203.0.113.7"
        assert client_ip("10.0.0.2", "203.0.113.7") == "203.0.113.7"
        assert client_ip("10.0.0.2", "") == "10.0.0.2"
        assert client_ip("10.0.0.2", " , ") == "10.0.0.2"
    assert client_ip("10.0.0.2", "6.6.6.6, 203.0.113.7, 10.0.0.1", trusted=2) == "203.0.113.7"
    assert client_ip("10.0.0.2", "203.0.113.7", trusted=3) == "203.0.113.7"


def _register(api_client, n: int, forwarded: str):
    return api_client.post(
        "/api/auth/register",
        {"email": f"rot{n}@example.com", "password": "a-Long-pass-77", "name": "R"},
        format="json",
        REMOTE_ADDR="198.51.100.9",
        HTTP_X_FORWARDED_FOR=forwarded,
    )


@pytest.mark.django_db
@override_settings(TRUSTED_PROXIES=0)
def test_rotating_the_header_does_not_escape_the_register_limit(api_client, organization):
    statuses = [_register(api_client, n, f"203.0.113.{n}").status_code for n in range(12)]
    assert statuses[:10] == [201] * 10
    assert statuses[10:] == [429, 429]


@pytest.mark.django_db
@override_settings(TRUSTED_PROXIES=1)
def test_behind_one_proxy_the_client_cannot_prepend_addresses(api_client, organization):
    statuses = [_register(api_client, n, f"6.6.6.{n}, 203.0.113.7").status_code for n in range(11)]
    assert statuses[-1] == 429
    # Another real client behind the same proxy has its own limit.
    assert _register(api_client, 99, "6.6.6.6, 203.0.113.8").status_code == 201


@pytest.mark.django_db
@override_settings(TRUSTED_PROXIES=0)
def test_login_ip_limit_ignores_the_header(api_client, organization):
    codes = []
    for n in range(21):
        response = api_client.post(
            "/api/auth/login",
            {"email": f"nobody{n}@example.com", "password": "wrong-password"},
            format="json",
            REMOTE_ADDR="198.51.100.9",
            HTTP_X_FORWARDED_FOR=f"203.0.113.{n}",
        )
        codes.append(response.status_code)
    assert codes[:20] == [401] * 20
    assert codes[20] == 429


def _ws_scope(forwarded: str | None) -> dict:
    headers = [(b"host", b"testserver")]
    if forwarded is not None:
        headers.append((b"x-forwarded-for", forwarded.encode()))
    return {
        "type": "websocket",
        "path": "/ws/",
        "query_string": b"",
        "headers": headers,
        "client": ("198.51.100.9", 5555),
        "session": {},
    }


def _through_middleware(scope: dict) -> dict:
    seen: dict = {}

    async def inner(scope, receive, send):
        seen.update(scope)

    async def run():
        await WebSocketAuthMiddleware(inner)(scope, None, None)

    async_to_sync(run)()
    return seen


@pytest.mark.django_db
def test_websocket_scope_gets_the_trusted_address():
    with override_settings(TRUSTED_PROXIES=0):
        assert _through_middleware(_ws_scope("6.6.6.6"))["client"][0] == "198.51.100.9"
        assert scope_ip(_ws_scope("6.6.6.6")) == "198.51.100.9"
    with override_settings(TRUSTED_PROXIES=1):
        assert _through_middleware(_ws_scope("6.6.6.6, 203.0.113.7"))["client"][0] == (
            "203.0.113.7"
        )


def test_daphne_proxy_headers_follow_the_same_rule():
    """daphne's --proxy-headers sets the scope's client and the access log's address."""
    install_daphne_forwarding()
    import daphne.http_protocol
    import daphne.ws_protocol

    parse = daphne.http_protocol.parse_x_forwarded_for
    assert daphne.ws_protocol.parse_x_forwarded_for is parse
    headers = {b"X-Forwarded-For": [b"6.6.6.6, 203.0.113.7"], b"X-Forwarded-Proto": [b"https"]}
    peer = ["10.0.0.2", 40000]
    with override_settings(TRUSTED_PROXIES=0):
        assert parse(headers, "X-Forwarded-For", None, "X-Forwarded-Proto", peer, "http") == (
            peer,
            "https",
        )
    with override_settings(TRUSTED_PROXIES=1):
        addr, scheme = parse(headers, "X-Forwarded-For", None, "X-Forwarded-Proto", peer, "http")
        assert addr[0] == "203.0.113.7"
