"""Who of the staff has a conversation open right now, across every server process.

A staff connection that joins a chat (``chat:join``) becomes one of its viewers until it leaves,
disconnects or its heartbeat lapses. After each change the chat's viewers go out as
``chat:viewers`` {chat_id, viewers: [{id, name}]} to the organization's staff (never to the
customer), so an operator sees "Boris is also viewing" before two people answer at once.

Entries hold the time of the connection's last heartbeat: a Redis sorted set per chat with
``REDIS_URL`` (every process sees the same set; each change is one atomic script, on Redis'
clock), the cache otherwise (the embedded default is one process). An entry older than
``PRESENCE_TIMEOUT_SECONDS`` no longer counts, so the viewers of a process that died lapse.
"""

from __future__ import annotations

import json
import threading
import time

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.cache import cache

from crm import events
from crm.events import staff_group

EVENT = "chat:viewers"


def _timeout() -> float:
    return float(settings.PRESENCE_TIMEOUT_SECONDS)


def _member(*, user_id: int, name: str, connection: str) -> str:
    return json.dumps([user_id, name, connection])


def _viewers(members: list[str]) -> list[dict]:
    """One row per person (a person may have the chat open in two tabs), in arrival order."""
    seen: dict[int, dict] = {}
    for raw in members:
        user_id, name, _connection = json.loads(raw)
        seen.setdefault(user_id, {"id": user_id, "name": name})
    return list(seen.values())


class RedisViewers:
    _CHANGE = """
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

    def __init__(self, url: str, prefix: str):
        import redis

        self.client = redis.Redis.from_url(url)
        self.prefix = prefix
        self._change = self.client.register_script(self._CHANGE)

    def change(self, chat_id: int, member: str, *, add: bool) -> list[str]:
        key = f"{self.prefix}:viewers:{chat_id}"
        found = self._change(keys=[key], args=[member, _timeout(), "add" if add else "drop"])
        return [m.decode() if isinstance(m, bytes) else m for m in found]


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
    viewers = await sync_to_async(viewers_change, thread_sensitive=False)(
        chat_id=chat_id, user_id=user_id, name=name, connection=connection, add=add
    )
    await _tell(organization_id=organization_id, chat_id=chat_id, viewers=viewers)
    return viewers


async def refresh(
    *,
    organization_id: int,
    chat_ids: list[int],
    user_id: int,
    name: str,
    connection: str,
) -> None:
    """A heartbeat: keep this connection's entries alive. When the viewers differ from what
    staff were last told (someone's process died and their entry lapsed), tell them again."""
    for chat_id in chat_ids:
        viewers = await sync_to_async(viewers_change, thread_sensitive=False)(
            chat_id=chat_id, user_id=user_id, name=name, connection=connection, add=True
        )
        told = await cache.aget(_told_key(chat_id))
        if told is not None and told != sorted(v["id"] for v in viewers):
            await _tell(organization_id=organization_id, chat_id=chat_id, viewers=viewers)
