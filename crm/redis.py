"""One Redis connection pool per process, shared by everything that talks to Redis directly.

Per-connection objects (a socket's task, a thread) must never build clients of their own: a
client per socket is a Redis connection per socket, and about 10,000 sockets exhaust Redis'
client limit. ``client()`` is for threads (sync code), ``aclient()`` for the event loop; both
are bounded (``REDIS_POOL_SIZE`` connections each, callers wait for a free one at most
``REDIS_POOL_TIMEOUT``) and bounded in time (``REDIS_SOCKET_TIMEOUT`` per call). Django's cache
(``crm.cache.RedisCache``), presence, viewers and rate limits all go through them, and the
channel layer has a bounded pool too (``crm.channel_layer``): a server process holds a handful
of Redis connections whatever its number of sockets.

Each connection names itself (``CLIENT SETNAME``) ``<REDIS_CLIENT_NAME>:<pid>:sync|async``:
``CLIENT LIST`` shows which process holds what (``connections_of``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import types
import weakref
from typing import Any

from django.conf import settings

_lock = threading.Lock()
_sync: dict[tuple[str, int], Any] = {}
# Per event loop: an asyncio connection belongs to the loop that opened it.
_async: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Any]] = (
    weakref.WeakKeyDictionary()
)


def client_name(kind: str, pid: int | None = None) -> str:
    """The name the process's ``kind`` ("sync", "async") connections give themselves."""
    prefix = getattr(settings, "REDIS_CLIENT_NAME", "crm")
    return f"{prefix}:{pid or os.getpid()}:{kind}"


def _options(kind: str) -> dict:
    timeout = settings.REDIS_SOCKET_TIMEOUT
    return {
        "max_connections": getattr(settings, "REDIS_POOL_SIZE", 10),
        # Waiting for a free connection: a burst (hundreds of sockets closing at once) queues
        # for the pool's few connections; a stuck Redis frees each after ``timeout``.
        "timeout": getattr(settings, "REDIS_POOL_TIMEOUT", 5.0),
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "health_check_interval": 30,
        "client_name": client_name(kind),
    }


def client(url: str | None = None):
    """The process's synchronous client for ``url`` (default ``REDIS_URL``)."""
    import redis

    url = url or settings.REDIS_URL
    key = (url, os.getpid())  # a forked child (a Celery worker) opens its own
    found = _sync.get(key)
    if found is None:
        with _lock:
            found = _sync.get(key)
            if found is None:
                pool = redis.BlockingConnectionPool.from_url(url, **_options("sync"))
                found = _sync[key] = redis.Redis(connection_pool=pool)
    return found


def aclient(url: str | None = None):
    """The running event loop's asyncio client for ``url`` (default ``REDIS_URL``)."""
    import redis.asyncio as aredis

    url = url or settings.REDIS_URL
    loop = asyncio.get_running_loop()
    clients = _async.get(loop)
    if clients is None:
        clients = _async[loop] = {}
        _close_with(loop)
    found = clients.get(url)
    if found is None:
        pool = aredis.BlockingConnectionPool.from_url(url, **_options("async"))
        found = clients[url] = aredis.Redis(connection_pool=pool)
    return found


def _close_with(loop: asyncio.AbstractEventLoop) -> None:
    """Disconnect the loop's pools when it closes (tests run a loop each), before its
    transports go: no connection is left open on a dead loop."""
    original = loop.close

    def close(self, *args, **kwargs):
        clients = _async.pop(self, None) or {}
        for found in clients.values():
            if not self.is_running() and not self.is_closed():
                with contextlib.suppress(Exception):  # closing anyway
                    self.run_until_complete(found.connection_pool.disconnect())
        self.close = original
        return original(*args, **kwargs)

    loop.close = types.MethodType(close, loop)


def connections_of(pid: int, url: str | None = None) -> list[dict]:
    """The ``CLIENT LIST`` entries of the Redis connections process ``pid`` holds (found by
    their local ports in /proc, so channels_redis' and Celery's unnamed ones count too)."""
    ports = tcp_ports_of(pid)
    listed = client(url).client_list()
    return [c for c in listed if int(c["addr"].rsplit(":", 1)[1]) in ports]


def tcp_ports_of(pid: int) -> set[int]:
    """Local ports of the established TCP sockets of process ``pid`` (Linux /proc)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("tcp", "tcp6"):
        try:
            with open(f"/proc/{pid}/net/{table}") as rows:
                next(rows)
                for row in rows:
                    fields = row.split()
                    if fields[3] == "01" and fields[9] in inodes:  # ESTABLISHED
                        ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        except FileNotFoundError:
            continue
    return ports


class Script:
    """A Lua script run on the shared clients: ``run`` from threads, ``arun`` on the event loop
    (EVALSHA, loading it again when Redis forgot it, e.g. after a restart)."""

    def __init__(self, source: str):
        import hashlib

        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()  # noqa: S324 - Redis' script id

    def run(self, keys: list, args: list, *, url: str | None = None):
        from redis.exceptions import NoScriptError

        redis = client(url)
        try:
            return redis.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return redis.eval(self.source, len(keys), *keys, *args)

    async def arun(self, keys: list, args: list, *, url: str | None = None):
        from redis.exceptions import NoScriptError

        redis = aclient(url)
        try:
            return await redis.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return await redis.eval(self.source, len(keys), *keys, *args)
