"""Presence races across server processes, made deterministic.

Two servers share the connection entries (Redis in production). Each test holds one step of
the real code still at the moment another server (or another task) acts, with a gate in front
of the real store, and checks that nobody is shown offline while connected, or online after
their last tab closed.
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from accounts.models import User
from chats import presence
from chats.tests.realtime_fixtures import *  # noqa: F403 (fixtures)
from chats.tests.realtime_fixtures import frames, sync
from crm import events

pytestmark = pytest.mark.django_db(transaction=True)


class GatedStore:
    """The real connection store, whose ``refresh`` waits at a gate: a cold server whose first
    count takes a while, or a heartbeat still in flight."""

    def __init__(self, real, user_id: int) -> None:
        self.real, self.user_id = real, user_id
        self.entered = threading.Event()
        self.gate = threading.Event()

    async def _wait(self, user_ids) -> None:
        if self.user_id in user_ids:
            self.entered.set()
            assert await asyncio.to_thread(self.gate.wait, 5), "the test never opened the gate"

    async def arefresh(self, *, user_id: int, connection: str) -> bool:
        """The count of a new connection."""
        await self._wait([user_id])
        return await self.real.arefresh(user_id=user_id, connection=connection)

    async def arefresh_many(self, entries) -> set[int]:
        """The process's heartbeat."""
        await self._wait([user_id for user_id, _ in entries])
        return await self.real.arefresh_many(entries)

    def __getattr__(self, name: str):
        return getattr(self.real, name)


@pytest.fixture
def gated(monkeypatch):
    def install(user) -> GatedStore:
        store = GatedStore(presence.connections(), user.pk)
        monkeypatch.setattr(presence, "connections", lambda: store)
        return store

    return install


async def status_events(comm, user_id: int) -> list[bool]:
    return [
        f["data"]["is_online"]
        for f in await frames(comm)
        if f["type"] == "user:status" and f["data"]["user_id"] == user_id
    ]


async def test_a_tab_is_told_it_is_connected_only_once_it_counts(ws, customer, admin_user, gated):
    """Tab A is open; tab B opens on a server slow to count it. Before B was counted, it must
    not hear ``connection:established``: the user closing A would then show offline while B is
    open (the flaky two-server presence test)."""
    staff = await ws(admin_user)
    await frames(staff)
    tab_a = await ws(customer)
    assert await status_events(staff, customer.id) == [True]

    store = gated(customer)
    tab_b = await ws(customer, established=False)
    handshake = asyncio.create_task(tab_b.connect())
    assert await asyncio.to_thread(store.entered.wait, 5)
    await asyncio.sleep(0.2)
    assert not handshake.done(), "accepted before the connection counted"
    store.gate.set()
    connected, _ = await handshake
    assert connected
    assert (await tab_b.receive_json_from())["type"] == "connection:established"

    await tab_a.disconnect()
    assert await status_events(staff, customer.id) == []  # never shown offline
    assert (await sync(User.objects.get)(pk=customer.pk)).is_online
    await tab_b.disconnect()
    assert await status_events(staff, customer.id) == [False]


async def test_a_heartbeat_in_flight_when_the_tab_closes_does_not_resurrect_it(
    ws, customer, admin_user, gated, settings
):
    settings.PRESENCE_HEARTBEAT_SECONDS = 0.1
    staff = await ws(admin_user)
    tab = await ws(customer)
    await frames(staff)
    store = gated(customer)
    assert await asyncio.to_thread(store.entered.wait, 5)  # a heartbeat is on its way
    closing = asyncio.create_task(tab.disconnect())
    await asyncio.sleep(0.2)
    store.gate.set()
    await closing
    await asyncio.sleep(0.3)  # time for a refresh that outlived its connection to land
    assert store.real.alive([customer.id])[customer.id] == 0  # no entry left behind
    assert await status_events(staff, customer.id) == [False]
    assert not (await sync(User.objects.get)(pk=customer.pk)).is_online


def test_the_last_status_anyone_receives_is_the_stored_one(customer, monkeypatch):
    """Server A syncs "offline" (its tab closed); between A's commit and A's event, server B
    counts a new tab, syncs "online" and delivers first. A's late "offline" must not be the
    last word."""
    store = presence.connections()
    store.refresh(user_id=customer.id, connection="server-a!tab")
    assert presence.presence_sync(user_id=customer.id) is True

    wire: list[bool] = []

    def server_b_acts_first(event_type: str, data: dict, groups) -> None:
        if event_type != "user:status" or data["user_id"] != customer.id:
            return
        if data["is_online"] is False and not wire:
            store.refresh(user_id=customer.id, connection="server-b!tab")
            presence.presence_sync(user_id=customer.id)  # B commits and delivers first
        wire.append(data["is_online"])  # observers run just before the event is sent

    monkeypatch.setattr(events, "_observers", [server_b_acts_first])
    store.drop(user_id=customer.id, connection="server-a!tab")
    presence.presence_sync(user_id=customer.id)

    assert wire[:2] == [True, False]  # B's event, then A's stale one...
    assert wire[-1] is True  # ...and then the stored state again
    assert User.objects.get(pk=customer.pk).is_online
    store.drop(user_id=customer.id, connection="server-b!tab")
