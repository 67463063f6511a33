"""One Redis connection pool per process, shared by everything that talks to Redis directly.

Per-connection objects (a socket's task, a thread) must never build clients of their own: a
client per socket is a Redis connection per socket, and about 10,000 sockets exhaust Redis'
client limit. ``client()`` is for threads (sync code), ``aclient()`` for the event loop; both
are bounded (``REDIS_POOL_SIZE`` connections each, callers wait for a free one) and bounded in
time (``REDIS_SOCKET_TIMEOUT``).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from django.conf import settings

_lock = threading.Lock()
_sync: dict[str, Any] = {}
_async: dict[tuple[str, int], Any] = {}


def _options() -> dict:
    timeout = settings.REDIS_SOCKET_TIMEOUT
    return {
        "max_connections": getattr(settings, "REDIS_POOL_SIZE", 10),
        "timeout": timeout,  # waiting for a free connection
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "health_check_interval": 30,
    }


def client(url: str | None = None):
    """The process's synchronous client for ``url`` (default ``REDIS_URL``)."""
    import redis

    url = url or settings.REDIS_URL
    found = _sync.get(url)
    if found is None:
        with _lock:
            found = _sync.get(url)
            if found is None:
                pool = redis.BlockingConnectionPool.from_url(url, **_options())
                found = _sync[url] = redis.Redis(connection_pool=pool)
    return found


def aclient(url: str | None = None):
    """The running event loop's asyncio client for ``url`` (default ``REDIS_URL``)."""
    import redis.asyncio as aredis

    url = url or settings.REDIS_URL
    key = (url, id(asyncio.get_running_loop()))
    found = _async.get(key)
    if found is None:
        pool = aredis.BlockingConnectionPool.from_url(url, **_options())
        found = _async[key] = aredis.Redis(connection_pool=pool)
    return found
