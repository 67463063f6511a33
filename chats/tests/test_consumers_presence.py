"""Presence: online with the first connection anywhere, offline with the last one or when the
heartbeats stop (a dead process). Runs on the cache store by default and on Redis with
REDIS_URL."""

import asyncio

import pytest

from accounts.models import User
from chats import presence
from chats.tests.realtime_fixtures import *  # noqa: F403 (fixtures)
from chats.tests.realtime_fixtures import frames, receive_type, sync

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def hook_calls(monkeypatch):
    """What chats.hooks.presence_changed was told (the operators app plugs in there); the
    recorder stands in for the operators' callback."""
    from chats import hooks

    calls: list[tuple[int, bool]] = []
    monkeypatch.setattr(
        hooks,
        "_presence_changed",
        [lambda *, user_id, is_online: calls.append((user_id, is_online))],
    )
    return calls


async def status_events(comm, user_id: int) -> list[bool]:
    return [
        f["data"]["is_online"]
        for f in await frames(comm)
        if f["type"] == "user:status" and f["data"]["user_id"] == user_id
    ]


async def db_user(user) -> User:
    return await sync(User.objects.get)(pk=user.pk)


async def test_two_connections_of_one_user(ws, customer, admin_user, hook_calls):
    staff = await ws(admin_user)
    await frames(staff)
    hook_calls.clear()

    first = await ws(customer)
    assert await status_events(staff, customer.id) == [True]
    assert (await db_user(customer)).is_online
    second = await ws(customer)
    assert await status_events(staff, customer.id) == []  # already online: no news

    await first.disconnect()
    assert await status_events(staff, customer.id) == []
    assert (await db_user(customer)).is_online  # the other tab is still open

    await second.disconnect()
    assert await status_events(staff, customer.id) == [False]
    after = await db_user(customer)
    assert not after.is_online and after.last_seen_at is not None
    assert hook_calls == [(customer.id, True), (customer.id, False)]


async def test_connections_of_a_dead_process_lapse(ws, customer, admin_user, settings, hook_calls):
    """A process that dies leaves its entries behind without closing them: they stop counting
    after PRESENCE_TIMEOUT_SECONDS, and the sweep that a live connection's heartbeat runs marks
    the user offline."""
    settings.PRESENCE_HEARTBEAT_SECONDS = 0.3  # the staff member's live connection beats
    settings.PRESENCE_TIMEOUT_SECONDS = 1
    staff = await ws(admin_user)
    store = presence.connections()
    await sync(store.refresh)(user_id=customer.id, connection="dead-process!conn1")
    await sync(presence.presence_sync)(user_id=customer.id)
    assert await status_events(staff, customer.id) == [True]

    assert await sync(presence.presence_sweep)() == []  # still fresh
    status = (await receive_type(staff, "user:status", wait=3))["data"]
    assert status["user_id"] == customer.id and status["is_online"] is False
    assert not (await db_user(customer)).is_online
    assert hook_calls[-1] == (customer.id, False)


async def test_heartbeats_keep_a_quiet_connection_online(ws, customer, settings):
    settings.PRESENCE_HEARTBEAT_SECONDS = 0.2
    settings.PRESENCE_TIMEOUT_SECONDS = 1
    comm = await ws(customer)
    await asyncio.sleep(1.5)  # longer than the timeout: only heartbeats keep the entry fresh
    assert await sync(presence.presence_sweep)() == []
    assert (await sync(presence.connections().alive)([customer.id])) == {customer.id: 1}
    assert (await db_user(customer)).is_online
    await comm.send_json_to({"type": "ping"})
    await receive_type(comm, "pong")


async def test_a_late_sync_from_a_closed_tab_does_not_take_a_reconnected_user_offline(customer):
    """The last tab closes on one server while a new one opens on another: whichever sync runs
    last reads the entries under the row lock and keeps the user online."""
    store = presence.connections()
    await sync(store.refresh)(user_id=customer.id, connection="server-a!old")
    await sync(presence.presence_sync)(user_id=customer.id)
    assert await sync(store.drop)(user_id=customer.id, connection="server-a!old") == 0
    assert await sync(store.refresh)(user_id=customer.id, connection="server-b!new") is True
    await sync(presence.presence_sync)(user_id=customer.id)  # server B: already online
    assert await sync(presence.presence_sync)(user_id=customer.id) is None  # A's, late
    assert (await db_user(customer)).is_online


async def test_sweep_repairs_users_shown_online_without_any_connection(ws, customer, admin_user):
    """Entries lost (Redis restarted) or a crash between the drop and the sync: the sweep sets
    the user offline."""
    staff = await ws(admin_user)
    await frames(staff)
    await sync(User.objects.filter(pk=customer.pk).update)(is_online=True)
    assert await sync(presence.presence_sweep)() == [customer.id]
    assert await status_events(staff, customer.id) == [False]


async def test_open_connections_gauge_counts_accepted_sockets(ws, customer):
    from prometheus_client import REGISTRY

    def gauge() -> float:
        return REGISTRY.get_sample_value("crm_websocket_connections") or 0

    before = gauge()
    first, second = await ws(customer), await ws(customer)
    refused = await ws(query="token=bad", established=False)
    assert (await refused.connect())[0]
    assert gauge() == before + 2
    await first.disconnect()
    await second.disconnect()
    await refused.disconnect()
    assert gauge() == before
