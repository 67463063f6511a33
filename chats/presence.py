"""Who is online, counted over every real-time connection (``/ws/`` and Socket.IO alike, see
``chats.realtime``) in every server process.

Each open connection has an entry holding the time of its last heartbeat: a Redis sorted set per
user with ``REDIS_URL``, the cache otherwise (the embedded default is one process, so its cache
sees every connection). Each server process refreshes the entries of all its connections
every ``PRESENCE_HEARTBEAT_SECONDS``, a thousand per round trip (``chats.heartbeat``); an entry
older than ``PRESENCE_TIMEOUT_SECONDS`` no longer counts, so the connections of a process that
died lapse by themselves. A user is online while one of their entries is alive.

``User.is_online`` follows the entries through ``presence_sync``, which reads them while it holds
the user's row lock. Two processes racing — the last tab closes on one while a new tab opens on
the other — both sync, one after the other, and the later one sees the final state. Lapsed
entries are found by ``presence_sweep``, which one process runs per heartbeat interval
(``sweep_when_due``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from chats import hooks
from chats.models import Chat, ChatKind, ChatStatus
from crm.events import send_event, staff_group, user_group
from crm.redis import Script

logger = logging.getLogger(__name__)

SWEEP_LOCK_KEY = "presence:sweep"
ALIVE_BATCH = 500


def _timeout() -> float:
    return float(settings.PRESENCE_TIMEOUT_SECONDS)


# --- Where connection entries live ----------------------------------------------------------


class RedisConnections:
    """Entries in Redis: one sorted set per user, connection id → heartbeat (Redis' clock, so
    servers with skewed clocks agree). Every operation is one atomic script, on the process's
    shared pools (``crm.redis``): sync methods for threads, ``a*`` ones for the event loop."""

    _REFRESH = Script(
        """
    local t = redis.call('TIME')
    local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
    local timeout = tonumber(ARGV[1])
    local before = {}
    for i, key in ipairs(KEYS) do
        redis.call('ZREMRANGEBYSCORE', key, '-inf', now - timeout)
        before[i] = redis.call('ZCARD', key)
        redis.call('ZADD', key, now, ARGV[i + 1])
        redis.call('EXPIRE', key, math.ceil(timeout * 2))
    end
    return before
    """
    )
    _DROP = Script(
        """
    local t = redis.call('TIME')
    local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
    redis.call('ZREM', KEYS[1], ARGV[1])
    redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
    return redis.call('ZCARD', KEYS[1])
    """
    )
    _ALIVE = Script(
        """
    local t = redis.call('TIME')
    local cutoff = tonumber(t[1]) + tonumber(t[2]) / 1000000 - tonumber(ARGV[1])
    local counts = {}
    for i, key in ipairs(KEYS) do
        counts[i] = redis.call('ZCOUNT', key, '(' .. cutoff, '+inf')
    end
    return counts
    """
    )

    def __init__(self, url: str, prefix: str):
        self.url = url
        self.prefix = prefix

    def _key(self, user_id: int) -> str:
        return f"{self.prefix}:presence:{user_id}"

    def _refresh_args(self, entries: list[tuple[int, str]]) -> tuple[list, list]:
        keys = [self._key(user_id) for user_id, _ in entries]
        return keys, [_timeout(), *(connection for _, connection in entries)]

    @staticmethod
    def _firsts(entries: list[tuple[int, str]], before: list) -> set[int]:
        return {user_id for (user_id, _), n in zip(entries, before, strict=True) if int(n) == 0}

    def refresh(self, *, user_id: int, connection: str) -> bool:
        """Record a heartbeat; True when the user had no live connection before it."""
        return bool(self.refresh_many([(user_id, connection)]))

    def refresh_many(self, entries: list[tuple[int, str]]) -> set[int]:
        """Record a heartbeat of each (user id, connection id) in one round trip; returns the
        users who had no live connection before it."""
        if not entries:
            return set()
        return self._firsts(entries, self._REFRESH.run(*self._refresh_args(entries), url=self.url))

    async def arefresh(self, *, user_id: int, connection: str) -> bool:
        return bool(await self.arefresh_many([(user_id, connection)]))

    async def arefresh_many(self, entries: list[tuple[int, str]]) -> set[int]:
        if not entries:
            return set()
        before = await self._REFRESH.arun(*self._refresh_args(entries), url=self.url)
        return self._firsts(entries, before)

    def drop(self, *, user_id: int, connection: str) -> int:
        """Forget a closed connection; returns how many of the user's are still alive."""
        return int(self._DROP.run([self._key(user_id)], [connection, _timeout()], url=self.url))

    async def adrop(self, *, user_id: int, connection: str) -> int:
        keys, args = [self._key(user_id)], [connection, _timeout()]
        return int(await self._DROP.arun(keys, args, url=self.url))

    def alive(self, user_ids: Iterable[int]) -> dict[int, int]:
        user_ids = list(user_ids)
        counts: dict[int, int] = {}
        for start in range(0, len(user_ids), ALIVE_BATCH):
            batch = user_ids[start : start + ALIVE_BATCH]
            keys = [self._key(uid) for uid in batch]
            found = self._ALIVE.run(keys, [_timeout()], url=self.url)
            counts.update(zip(batch, (int(n) for n in found), strict=True))
        return counts


class CacheConnections:
    """Entries in the process's cache (the embedded default: one process), same semantics."""

    _lock = threading.Lock()

    @staticmethod
    def _key(user_id: int) -> str:
        return f"presence:{user_id}"

    @staticmethod
    def _live(entries: dict[str, float], now: float) -> dict[str, float]:
        return {conn: at for conn, at in entries.items() if at > now - _timeout()}

    def refresh(self, *, user_id: int, connection: str) -> bool:
        with self._lock:
            now = time.time()
            entries = self._live(cache.get(self._key(user_id)) or {}, now)
            before = len(entries)
            entries[connection] = now
            cache.set(self._key(user_id), entries, timeout=_timeout() * 2)
        return before == 0

    def drop(self, *, user_id: int, connection: str) -> int:
        with self._lock:
            entries = self._live(cache.get(self._key(user_id)) or {}, time.time())
            entries.pop(connection, None)
            cache.set(self._key(user_id), entries, timeout=_timeout() * 2)
        return len(entries)

    def refresh_many(self, entries: list[tuple[int, str]]) -> set[int]:
        firsts = set()
        for user_id, connection in entries:
            if self.refresh(user_id=user_id, connection=connection):
                firsts.add(user_id)
        return firsts

    def alive(self, user_ids: Iterable[int]) -> dict[int, int]:
        now = time.time()
        return {uid: len(self._live(cache.get(self._key(uid)) or {}, now)) for uid in user_ids}

    # The cache may be any backend: its calls run in a thread.

    async def arefresh(self, *, user_id: int, connection: str) -> bool:
        return await sync_to_async(self.refresh, thread_sensitive=False)(
            user_id=user_id, connection=connection
        )

    async def arefresh_many(self, entries: list[tuple[int, str]]) -> set[int]:
        return await sync_to_async(self.refresh_many, thread_sensitive=False)(entries)

    async def adrop(self, *, user_id: int, connection: str) -> int:
        return await sync_to_async(self.drop, thread_sensitive=False)(
            user_id=user_id, connection=connection
        )


_redis_connections: dict[tuple[str, str], RedisConnections] = {}


def connections() -> RedisConnections | CacheConnections:
    if not settings.REDIS_URL:
        return CacheConnections()
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    key = (settings.REDIS_URL, prefix)
    if key not in _redis_connections:
        _redis_connections[key] = RedisConnections(settings.REDIS_URL, prefix)
    return _redis_connections[key]


# --- The user's state follows the entries ---------------------------------------------------


def status_audience(user: User) -> list[str]:
    """The organization's staff, and for staff also the customers whose open chats they have."""
    groups = [staff_group(user.organization_id)]
    if user.is_staff:
        customer_ids = (
            Chat.objects.filter(
                organization_id=user.organization_id,
                kind=ChatKind.SUPPORT,
                assignee_id=user.pk,
                customer__isnull=False,
            )
            .exclude(status=ChatStatus.CLOSED)
            .values_list("customer_id", flat=True)
            .distinct()
        )
        groups += [user_group(cid) for cid in customer_ids]
    return groups


def presence_sync(*, user_id: int) -> bool | None:
    """Make ``is_online`` match the user's live connections; emits ``user:status`` and calls
    ``chats.hooks.presence_changed`` when it changed. Returns the new state, or None when
    nothing changed."""
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=user_id).first()
        if user is None:
            return None
        online = connections().alive([user_id]).get(user_id, 0) > 0
        if online == user.is_online:
            return None
        user.is_online = online
        user.last_seen_at = timezone.now()
        user.save(update_fields=["is_online", "last_seen_at"])
        _announce(user)
    _announce_until_settled(user)
    hooks.presence_changed(user_id=user_id, is_online=online)
    return online


def _announce(user: User) -> None:
    send_event(
        "user:status",
        {"user_id": user.pk, "is_online": user.is_online, "last_seen_at": user.last_seen_at},
        groups=status_audience(user),
    )


def _announce_until_settled(user: User, *, rounds: int = 5) -> None:
    """Make sure the last ``user:status`` anyone receives is the stored state.

    The event leaves after the commit that released the row lock, so another process's sync
    can commit the opposite state and deliver its event first: watchers would keep the older
    state (shown offline while connected elsewhere). So, once ours is out, read the state again;
    when it changed meanwhile, say the current one. Whoever commits after that read sends its
    own event after ours."""
    announced = user.is_online
    for _ in range(rounds):
        current = User.objects.filter(pk=user.pk).values("is_online", "last_seen_at").first()
        if current is None or current["is_online"] == announced:
            return
        user.is_online, user.last_seen_at = current["is_online"], current["last_seen_at"]
        _announce(user)  # outside a transaction: delivered right away
        announced = user.is_online


def presence_sweep() -> list[int]:
    """Mark offline every user shown online whose connections all lapsed (their process died,
    or their entries vanished). Returns their ids."""
    online_ids = list(User.objects.filter(is_online=True).values_list("pk", flat=True))
    alive = connections().alive(online_ids)
    lapsed = [uid for uid in online_ids if alive.get(uid, 0) == 0]
    return [uid for uid in lapsed if presence_sync(user_id=uid) is False]


# --- Called by the connections' lifecycle (chats.realtime, chats.heartbeat) -----------------


async def connection_refresh(*, user_id: int, connection: str) -> None:
    """A connection opened: count its entry; the user's first live one makes them online."""
    if await connections().arefresh(user_id=user_id, connection=connection):
        await database_sync_to_async(presence_sync)(user_id=user_id)


async def sweep_when_due() -> None:
    """Sweep lapsed users, when no process did for a heartbeat interval (the lock)."""
    if await cache.aadd(SWEEP_LOCK_KEY, 1, timeout=settings.PRESENCE_HEARTBEAT_SECONDS):
        await database_sync_to_async(presence_sweep)()


async def connection_closed(*, user_id: int, connection: str) -> None:
    remaining = await connections().adrop(user_id=user_id, connection=connection)
    if remaining == 0:
        await database_sync_to_async(presence_sync)(user_id=user_id)
