"""The process's one heartbeat (chats.heartbeat): a single task beats for every connection of
both transports, a thousand entries per round trip, and brings back users whose entries lapsed.
Runs on the cache store by default and on Redis with REDIS_URL."""

from __future__ import annotations

import asyncio

import pytest

from accounts.models import Role, User
from accounts.tests.factories import UserFactory
from chats import heartbeat, presence
from chats.tests.realtime_fixtures import *  # noqa: F403 (fixtures)
from chats.tests.realtime_fixtures import frames, receive_type, request, sync

pytestmark = pytest.mark.django_db(transaction=True)


def heartbeat_tasks() -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "presence-heartbeat" and not t.done()]


async def test_one_task_beats_for_every_connection(ws, organization, settings):
    settings.PRESENCE_HEARTBEAT_SECONDS = 0.2
    settings.PRESENCE_TIMEOUT_SECONDS = 1
    users = [
        await sync(UserFactory)(organization=organization, role=role)
        for role in (Role.CUSTOMER, Role.CUSTOMER, Role.OPERATOR)
    ]
    sockets = [await ws(user) for user in users for _ in range(2)]
    assert len(heartbeat_tasks()) == 1
    assert len(heartbeat.beat().connections) == 6

    await asyncio.sleep(1.6)  # past the timeout: only the one heartbeat keeps the entries
    assert await sync(presence.connections().alive)([u.pk for u in users]) == {
        u.pk: 2 for u in users
    }
    assert await sync(presence.presence_sweep)() == []

    for comm in sockets:
        await comm.disconnect()
    assert heartbeat.beat().connections == {}
    await asyncio.sleep(0.3)
    assert heartbeat_tasks() == []  # no connection, no task
    assert await sync(presence.connections().alive)([u.pk for u in users]) == {
        u.pk: 0 for u in users
    }


class CountingStore:
    """The real store, noting the size of each batched refresh."""

    def __init__(self, real):
        self.real, self.batches = real, []

    async def arefresh_many(self, entries):
        self.batches.append(len(entries))
        return await self.real.arefresh_many(entries)

    def __getattr__(self, name):
        return getattr(self.real, name)


class Stand:
    """What a beat reads of a connection."""

    def __init__(self, user, n):
        self.user, self.id = user, f"stand!{user.pk}:{n}"
        self.is_staff, self.joined = False, set()


async def test_a_beat_refreshes_a_thousand_connections_per_round_trip(
    customer, operator, monkeypatch, settings
):
    store = CountingStore(presence.connections())
    monkeypatch.setattr(presence, "connections", lambda: store)
    current = heartbeat.beat()
    stands = [Stand(user, n) for n in range(1250) for user in (customer, operator)]
    current.connections.update({s.id: s for s in stands})
    try:
        await heartbeat.beat_once(current)
        assert store.batches == [1000, 1000, 500]
        assert await sync(store.real.alive)([customer.pk, operator.pk]) == {
            customer.pk: 1250,
            operator.pk: 1250,
        }
        # First beat of users nobody counted yet: they are online now.
        assert await sync(User.objects.filter(is_online=True).count)() == 2
    finally:
        current.connections.clear()
        for s in stands:
            await sync(store.real.drop)(user_id=s.user.pk, connection=s.id)


async def test_a_user_whose_entries_lapsed_is_online_again_at_the_next_beat(
    ws, customer, admin_user, settings
):
    """Redis lost the entries (a restart) and a sweep marked the user offline, while their tab
    stays open: the next beat counts it again and says so."""
    staff = await ws(admin_user)
    tab = await ws(customer)
    await frames(staff)
    [conn_id] = [c.id for c in heartbeat.beat().connections.values() if c.user == customer]
    await sync(presence.connections().drop)(user_id=customer.pk, connection=conn_id)
    assert await sync(presence.presence_sweep)() == [customer.pk]
    assert (await receive_type(staff, "user:status"))["data"]["is_online"] is False

    await heartbeat.beat_once()
    status = (await receive_type(staff, "user:status"))["data"]
    assert status["user_id"] == customer.pk and status["is_online"] is True
    assert (await sync(User.objects.get)(pk=customer.pk)).is_online
    assert (await request(tab, "ping"))["type"] == "pong"


async def test_a_connection_whose_application_was_killed_is_closed_all_the_same(
    ws, customer, admin_user
):
    """daphne cancels an application instance that does not finish within its close timeout
    (a handshake that timed out on a busy server): its connection must not be counted on."""
    staff = await ws(admin_user)
    tab = await ws(customer)
    await frames(staff)
    assert any(c.user == customer for c in heartbeat.beat().connections.values())

    tab.future.cancel()  # what daphne's application checker does
    status = (await receive_type(staff, "user:status", wait=5))["data"]
    assert status["user_id"] == customer.pk and status["is_online"] is False
    assert not any(c.user == customer for c in heartbeat.beat().connections.values())
    assert await sync(presence.connections().alive)([customer.pk]) == {customer.pk: 0}
