"""Socket.IO end to end on PostgreSQL + Redis, with the real npm ``socket.io-client@4`` (and
``ws`` for the operator panel's plain WebSocket), against two daphne processes that share
events and rooms through the Redis manager.

Each test runs one scenario of ``clients/realtime_check.js`` (``make clients`` installs its
packages from the lock file) and judges what the clients saw.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid

import pytest
from django.conf import settings
from django.db import connection
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import Role, User
from accounts.tests.factories import UserFactory
from chats.models import Message
from chats.tests.factories import internal_chat, support_chat
from crm.tests.daphne_servers import BASE_DIR, free_port, server_environment, start_daphne

pytestmark = [
    pytest.mark.services,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

CLIENTS = BASE_DIR / "clients"
SCRIPT = CLIENTS / "realtime_check.js"


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture(scope="module")
def servers(django_db_setup, django_db_blocker):
    node = shutil.which("node")
    assert node, "node is needed for the npm clients (see README, 'Tests')"
    assert (CLIENTS / "node_modules" / "socket.io-client").is_dir(), "run `make clients` first"
    with django_db_blocker.unblock():
        url = _database_url()
    env = server_environment(
        database_url=url,
        redis_url=settings.REDIS_URL,
        key_prefix=f"{settings.TEST_REDIS_PREFIX}:sio:{uuid.uuid4().hex[:6]}",
        PRESENCE_HEARTBEAT_SECONDS="1",
        PRESENCE_TIMEOUT_SECONDS="3",
        SOCKETIO_PING_INTERVAL="2",
    )
    started = []
    try:
        started.append(start_daphne(env, port=free_port()))
        started.append(start_daphne(env, port=free_port()))
        yield tuple(started)
    finally:
        for server in started:
            server.stop()


@pytest.fixture(autouse=True)
def servers_settled(transactional_db):
    """Wait for the servers to finish what the closed sockets caused (presence) before the
    database is flushed: TRUNCATE would deadlock with it."""
    yield
    deadline = time.monotonic() + 10
    while User.objects.filter(is_online=True).exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.2)


@pytest.fixture
def world(organization, other_organization):
    users = {
        "admin": UserFactory(organization=organization, role=Role.ADMIN, name="Anna"),
        "operator": UserFactory(organization=organization, role=Role.OPERATOR, name="Boris"),
        "customer": UserFactory(organization=organization, role=Role.CUSTOMER, name="Carl"),
        "other_admin": UserFactory(organization=other_organization, role=Role.ADMIN),
    }
    chats = {
        "support": support_chat(users["customer"]),
        "direct": internal_chat("direct", [users["admin"], users["operator"]]),
    }
    return users, chats


def run(scenario: str, servers, world) -> dict:
    users, chats = world
    config = {
        "urls": [server.url for server in servers],
        "users": {k: {"id": u.pk, "token": str(AccessToken.for_user(u))} for k, u in users.items()},
        "chats": {k: c.pk for k, c in chats.items()},
    }
    done = subprocess.run(
        ["node", str(SCRIPT), scenario],
        env={"PATH": "/usr/bin:/usr/local/bin:/bin", "CONFIG": json.dumps(config), "NO_PROXY": "*"},
        cwd=CLIENTS,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_events_cross_servers_with_acks_on_both_transports(servers, world):
    users, chats = world
    seen = run("across", servers, world)
    assert seen["established_user"] == users["admin"].pk
    assert seen["polling"] == "polling"
    ack = seen["ack"]
    assert ack["ok"] is True and ack["data"]["chat_id"] == chats["support"].pk
    # Sent on server B: heard by staff on A (websocket) and on B (long-polling).
    for got in (seen["on_a"], seen["on_b"]):
        assert got["id"] == ack["data"]["id"] and got["text"] == "over there?"
    assert seen["reply_back"]["text"] == "yes, here"  # from A to the customer on B
    assert seen["typing"]["user_id"] == users["customer"].pk  # the chat's room spans both


def test_the_same_client_id_on_two_servers_is_one_message(servers, world):
    _, chats = world
    seen = run("idempotent", servers, world)
    assert seen["first"]["ok"] and seen["second"]["ok"]
    assert seen["first"]["data"]["id"] == seen["second"]["data"]["id"]
    assert seen["events"] == 1
    assert Message.objects.filter(chat=chats["support"], text="once").count() == 1


def test_a_foreign_chat_is_refused_with_error_acks(servers, world):
    _, chats = world
    seen = run("foreign", servers, world)
    for ack in (seen["join"], seen["send"], seen["read"]):
        assert ack["ok"] is False and ack["error"]["code"] == "chat_not_found", ack
    assert seen["intruder_heard"] == 0
    assert not Message.objects.filter(chat=chats["support"], text="let me in").exists()


def test_a_bad_token_is_refused_and_the_client_sees_why(servers, world):
    seen = run("bad_token", servers, world)
    for case in ("bad", "none", "ticket"):
        assert "connected" not in seen[case], seen
        assert seen[case]["data"]["code"] == "unauthorized"
        assert seen[case]["message"] == seen[case]["data"]["detail"]


def test_each_dialects_names_both_ways(servers, world):
    users, chats = world
    seen = run("dialects", servers, world)
    connector = seen["connector"]
    assert connector["join"]["ok"] and connector["sent"]["ok"]
    assert connector["sent"]["data"]["text"] == "Где заказ?"
    mid = connector["sent"]["data"]["id"]
    assert connector["customer_new_message"]["id"] == mid
    assert connector["admin_new_chat_message"]["id"] == mid
    assert connector["admin_spec_names"] == 0
    assert connector["read"]["ok"] and connector["chat_read"]["user_id"] == users["admin"].pk

    conversations = seen["conversations"]
    assert conversations["typing"]["is_typing"] is True
    assert conversations["typing"]["user_id"] == users["admin"].pk
    assert conversations["new_message"]["text"] == "Hi Boris"
    assert conversations["mark_as_read"]["ok"]
    assert conversations["online"]["is_online"] is True
    assert conversations["offline"]["is_online"] is False
    assert conversations["spec_names"] == 0

    panel = seen["operator_panel"]
    assert panel["hello_user"] == users["operator"].pk and panel["posted"] == 201
    assert panel["new_message"]["chat_id"] == chats["support"].pk


def test_the_operator_panels_plain_websocket_frames(servers, world):
    users, chats = world
    seen = run("panel_ws", servers, world)
    assert seen["established"]["data"]["user"]["id"] == users["admin"].pk
    assert seen["new_message"]["data"]["text"] == "to the panel"
    assert seen["patched"] == 200
    assert seen["status_change"]["data"]["status"] == "pending"
    assert seen["chat_update"]["data"]["id"] == chats["support"].pk
    assert seen["spec_names"] == 0
