"""Who of the staff has a conversation open right now, across every server process.

A staff connection that joins a chat (``chat:join``) becomes one of its viewers until it leaves,
disconnects or its heartbeat lapses. After each change the chat's viewers go out as
``chat:viewers`` {chat_id, viewers: [{id, name}]} to the organization's staff (never to the
customer), so an operator sees "Boris is also viewing" before two people answer at once.

Entries hold the time of the connection's last heartbeat: a Redis sorted set per chat with
``REDIS_URL`` (every process sees the same set; each change is one atomic script, on Redis'
clock), the cache otherwise (the embedded default is one process). Each server process
refreshes the entries of all its connections at once (``chats.heartbeat``). An entry older than
``PRESENCE_TIMEOUT_SECONDS`` no longer counts, so the viewers of a process that died lapse.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache

from crm import events
from crm.events import staff_group
from crm.redis import Script

EVENT = "chat:viewers"


def _timeout() -> float:
    return float(settings.PRESENCE_TIMEOUT_SECONDS)


def _member(*, user_id: int, name: str, connection: str) -> str:
    return json.dumps([user_id, name, connection])


def display_name(user) -> str:
    return user.name or user.email.split("@")[0]


def _viewers(members: list[str]) -> list[dict]:
    """One row per person (a person may have the chat open in two tabs), in arrival order."""
    seen: dict[int, dict] = {}
    for raw in members:
        user_id, name, _connection = json.loads(raw)
        seen.setdefault(user_id, {"id": user_id, "name": name})
    return list(seen.values())


class RedisViewers:
    """On the process's shared pools (``crm.redis``); each call one atomic script."""

    _CHANGE = Script(
        """
    local t = redis.call('TIME')
    local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
    redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
    if ARGV[3] == 'add' then
        redis.call('ZADD', KEYS[1], now, ARGV[1])
    else
        redis.call('ZREM', KEYS[1], ARGV[1])
    end
    redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) * 2))
    return redis.call('ZRANGE', KEYS[1], 0, -1)
    """
    )
    # ARGV: the timeout, then per key the number of its members and the members.
    _REFRESH = Script(
        """
    local t = redis.call('TIME')
    local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
    local timeout = tonumber(ARGV[1])
    local at = 2
    local found = {}
    for i, key in ipairs(KEYS) do
        redis.call('ZREMRANGEBYSCORE', key, '-inf', now - timeout)
        local n = tonumber(ARGV[at])
        for j = 1, n do
            redis.call('ZADD', key, now, ARGV[at + j])
        end
        at = at + n + 1
        redis.call('EXPIRE', key, math.ceil(timeout * 2))
        found[i] = redis.call('ZRANGE', key, 0, -1)
    end
    return found
    """
    )

    def __init__(self, url: str, prefix: str):
        self.url = url
        self.prefix = prefix

    def _key(self, chat_id: int) -> str:
        return f"{self.prefix}:viewers:{chat_id}"

    def change(self, chat_id: int, member: str, *, add: bool) -> list[str]:
        args = [member, _timeout(), "add" if add else "drop"]
        return _decoded(self._CHANGE.run([self._key(chat_id)], args, url=self.url))

    async def achange(self, chat_id: int, member: str, *, add: bool) -> list[str]:
        args = [member, _timeout(), "add" if add else "drop"]
        return _decoded(await self._CHANGE.arun([self._key(chat_id)], args, url=self.url))

    async def arefresh_many(self, members: dict[int, list[str]]) -> dict[int, list[str]]:
        """Refresh every chat's members in one round trip; returns each chat's members."""
        chat_ids = list(members)
        args: list = [_timeout()]
        for chat_id in chat_ids:
            args += [len(members[chat_id]), *members[chat_id]]
        keys = [self._key(chat_id) for chat_id in chat_ids]
        found = await self._REFRESH.arun(keys, args, url=self.url)
        return {chat_id: _decoded(m) for chat_id, m in zip(chat_ids, found, strict=True)}


def _decoded(members: list) -> list[str]:
    return [m.decode() if isinstance(m, bytes) else m for m in members]


class CacheViewers:
    _lock = threading.Lock()

    def change(self, chat_id: int, member: str, *, add: bool) -> list[str]:
        key = f"viewers:{chat_id}"
        with self._lock:
            now = time.time()
            entries = {m: at for m, at in (cache.get(key) or {}).items() if at > now - _timeout()}
            if add:
                entries[member] = now
            else:
                entries.pop(member, None)
            cache.set(key, entries, timeout=_timeout() * 2)
        return sorted(entries, key=entries.get)

    def refresh_many(self, members: dict[int, list[str]]) -> dict[int, list[str]]:
        found: dict[int, list[str]] = {}
        for chat_id, chat_members in members.items():
            for member in chat_members:
                found[chat_id] = self.change(chat_id, member, add=True)
        return found

    # The cache may be any backend: its calls run in a thread.

    async def achange(self, chat_id: int, member: str, *, add: bool) -> list[str]:
        return await sync_to_async(self.change, thread_sensitive=False)(chat_id, member, add=add)

    async def arefresh_many(self, members: dict[int, list[str]]) -> dict[int, list[str]]:
        return await sync_to_async(self.refresh_many, thread_sensitive=False)(members)


_redis_stores: dict[tuple[str, str], RedisViewers] = {}


def store() -> RedisViewers | CacheViewers:
    if not settings.REDIS_URL:
        return CacheViewers()
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    key = (settings.REDIS_URL, prefix)
    if key not in _redis_stores:
        _redis_stores[key] = RedisViewers(settings.REDIS_URL, prefix)
    return _redis_stores[key]


def viewers_change(
    *, chat_id: int, user_id: int, name: str, connection: str, add: bool
) -> list[dict]:
    """Add (or refresh) or drop one connection's entry; returns the chat's viewers after it."""
    member = _member(user_id=user_id, name=name, connection=connection)
    return _viewers(store().change(chat_id, member, add=add))


def _told_key(chat_id: int) -> str:
    return f"viewers:told:{chat_id}"


async def _tell(*, organization_id: int, chat_id: int, viewers: list[dict]) -> None:
    await cache.aset(_told_key(chat_id), sorted(v["id"] for v in viewers), timeout=_timeout() * 2)
    await events.publish(
        EVENT, {"chat_id": chat_id, "viewers": viewers}, groups=[staff_group(organization_id)]
    )


async def announce(
    *,
    organization_id: int,
    chat_id: int,
    user_id: int,
    name: str,
    connection: str,
    add: bool,
) -> list[dict]:
    """Change the entry and tell the organization's staff who is viewing now."""
    member = _member(user_id=user_id, name=name, connection=connection)
    viewers = _viewers(await store().achange(chat_id, member, add=add))
    await _tell(organization_id=organization_id, chat_id=chat_id, viewers=viewers)
    return viewers


@dataclass(frozen=True)
class Viewing:
    """One connection's open chat, as a heartbeat refreshes it."""

    organization_id: int
    chat_id: int
    user_id: int
    name: str
    connection: str


async def entries_refresh(viewing: list[Viewing]) -> dict[int, list[dict]]:
    """A heartbeat of many connections: keep their entries alive, in one round trip. Returns
    each chat's viewers, for ``tell_changed``."""
    members: dict[int, list[str]] = {}
    for v in viewing:
        member = _member(user_id=v.user_id, name=v.name, connection=v.connection)
        members.setdefault(v.chat_id, []).append(member)
    if not members:
        return {}
    found = await store().arefresh_many(members)
    return {chat_id: _viewers(chat_members) for chat_id, chat_members in found.items()}


async def tell_changed(viewing: list[Viewing], found: dict[int, list[dict]]) -> None:
    """When a chat's viewers differ from what staff were last told (someone's process died and
    their entry lapsed), tell them again."""
    if not found:
        return
    organization_of = {v.chat_id: v.organization_id for v in viewing}
    told = await cache.aget_many([_told_key(chat_id) for chat_id in found])
    for chat_id, chat_viewers in found.items():
        before = told.get(_told_key(chat_id))
        if before is not None and before != sorted(v["id"] for v in chat_viewers):
            await _tell(
                organization_id=organization_of[chat_id], chat_id=chat_id, viewers=chat_viewers
            )
