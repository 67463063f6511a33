"""One heartbeat per server process for all its real-time connections (both transports).

``chats.realtime`` registers each connection once it is counted and established (``join``) and
takes it out when it closes (``leave``, ``forget``). Every ``PRESENCE_HEARTBEAT_SECONDS`` one
task per event loop refreshes the presence entries of every registered connection and the
viewer entries of the staff among them, ``BATCH`` connections per Redis round trip, then runs
the lapsed-user sweep when no process ran it for an interval (``chats.presence``). A socket
costs an entry in a dict here: no task, timer or Redis connection of its own.

A refresh that lands after its connection's drop would count the closed connection again until
its entry lapsed; so ``leave`` waits for a batch in flight that holds the connection, and later
batches, built right before they are sent, no longer hold it.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from typing import TYPE_CHECKING

from channels.db import database_sync_to_async
from django.conf import settings

from chats import presence, viewers
from crm import outage

if TYPE_CHECKING:
    from chats.realtime import Connection

logger = logging.getLogger(__name__)

BATCH = 1000


class Beat:
    """The connections of one event loop and the task that beats for them."""

    def __init__(self) -> None:
        self.connections: dict[str, Connection] = {}
        self.task: asyncio.Task | None = None
        self.sleeping = False
        self.in_flight: set[str] = set()  # ids of the batch being refreshed
        self.landed = asyncio.Event()  # set once that batch is done


_beats: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Beat] = weakref.WeakKeyDictionary()


def beat() -> Beat:
    """The running loop's heartbeat."""
    loop = asyncio.get_running_loop()
    found = _beats.get(loop)
    if found is None:
        found = _beats[loop] = Beat()
    return found


def join(conn: Connection) -> None:
    """Beat for ``conn`` from now on."""
    current = beat()
    current.connections[conn.id] = conn
    if current.task is None or current.task.done():
        current.task = asyncio.create_task(_run(current), name="presence-heartbeat")


def holds(conn: Connection) -> bool:
    """Whether the heartbeat still beats for ``conn``."""
    found = _beats.get(asyncio.get_running_loop())
    return found is not None and conn.id in found.connections


async def leave(conn: Connection) -> None:
    """Stop beating for ``conn``; returns once no refresh of it can land any more."""
    current = beat()
    current.connections.pop(conn.id, None)
    while conn.id in current.in_flight:
        await current.landed.wait()
    _stop_when_idle(current)


def forget(conn: Connection) -> None:
    """Stop beating for ``conn`` (it was never counted, or ``leave`` ran already)."""
    with_loop = _beats.get(asyncio.get_running_loop())
    if with_loop is not None:
        with_loop.connections.pop(conn.id, None)
        _stop_when_idle(with_loop)


def _stop_when_idle(current: Beat) -> None:
    # No connection left: the task ends now if it sleeps, else after its round.
    if not current.connections and current.sleeping and current.task is not None:
        current.task.cancel()
        current.task = None


async def _run(current: Beat) -> None:
    try:
        while current.connections:
            current.sleeping = True
            try:
                await asyncio.sleep(settings.PRESENCE_HEARTBEAT_SECONDS)
            finally:
                current.sleeping = False
            await beat_once(current)
    finally:
        if current.task is asyncio.current_task():
            current.task = None


async def beat_once(current: Beat | None = None) -> None:
    """One round: refresh every connection's entries, batch by batch, then maybe sweep."""
    current = current or beat()
    ids = list(current.connections)
    for start in range(0, len(ids), BATCH):
        # Built right before it is sent: a connection that left meanwhile is not in it.
        batch = [c for c in (current.connections.get(i) for i in ids[start : start + BATCH]) if c]
        if batch:
            await _refresh(current, batch)
    try:
        await presence.sweep_when_due()
    except Exception as exc:
        _failed(exc, "Presence sweep failed")


async def _refresh(current: Beat, batch: list[Connection]) -> None:
    viewing = [
        viewers.Viewing(
            organization_id=conn.user.organization_id,
            chat_id=chat_id,
            user_id=conn.user.pk,
            name=viewers.display_name(conn.user),
            connection=conn.id,
        )
        for conn in batch
        if conn.is_staff
        for chat_id in conn.joined
    ]
    firsts: set[int] = set()
    seen: dict[int, list[dict]] = {}
    current.in_flight = {conn.id for conn in batch}
    current.landed = landed = asyncio.Event()
    try:
        firsts = await presence.connections().arefresh_many(
            [(conn.user.pk, conn.id) for conn in batch]
        )
        seen = await viewers.entries_refresh(viewing)
    except Exception as exc:  # a Redis hiccup must not end the connections
        _failed(exc, "Presence heartbeat failed")
    finally:
        current.in_flight = set()
        landed.set()
    # Users whose entries had all lapsed (swept offline meanwhile) are online again.
    for user_id in firsts:
        try:
            await database_sync_to_async(presence.presence_sync)(user_id=user_id)
        except Exception as exc:
            _failed(exc, f"Presence sync failed for user {user_id}")
    try:
        await viewers.tell_changed(viewing, seen)
    except Exception as exc:
        _failed(exc, "Viewers heartbeat failed")


def _failed(exc: Exception, what: str) -> None:
    if outage.part_down(exc) is None:
        logger.error(what, exc_info=exc)
    else:
        outage.report("presence", exc)
