"""channels_redis' layer on a bounded pool per event loop.

Its stock pool opens a connection per concurrent command, up to 100, and then fails: 200
sockets closing at once (a group discard each) took a server process to 100 Redis connections
and refused the rest with ``MaxConnectionsError``. Here the pool blocks instead: at most
``REDIS_POOL_SIZE`` connections, callers wait up to ``REDIS_POOL_TIMEOUT`` for one; they name
themselves ``<REDIS_CLIENT_NAME>:<pid>:layer`` in ``CLIENT LIST`` (see crm.redis).
"""

from __future__ import annotations

from channels_redis.core import RedisChannelLayer as StockRedisChannelLayer
from django.conf import settings

from crm.redis import client_name


class RedisChannelLayer(StockRedisChannelLayer):
    def create_pool(self, index):
        import redis.asyncio as aredis

        host = dict(self.hosts[index])
        if "address" not in host:  # sentinels and the like: the stock pool
            return super().create_pool(index)
        address = host.pop("address")
        host.setdefault("max_connections", settings.REDIS_POOL_SIZE)
        host.setdefault("timeout", settings.REDIS_POOL_TIMEOUT)
        host.setdefault("client_name", client_name("layer"))
        return aredis.BlockingConnectionPool.from_url(address, **host)
