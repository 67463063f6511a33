"""Django's Redis cache on the process's shared pools (``crm.redis``).

Django keeps a cache instance per thread and per async context, and its ``RedisCache`` gives
each instance connection pools of its own: every socket's task that touched the cache held a
Redis connection of its own (10,000 sockets, 10,000 connections). Here every instance of the
process uses ``crm.redis``'s bounded pools instead, and the ``a*`` methods talk to Redis on
the event loop (the stock ones run the sync method in a thread: one thread hop per call,
serialized with the database calls of ``thread_sensitive`` code).

``count`` / ``acount`` are the rate limiter's window counter: INCR, and the expiry set by the
first count, in one round trip.
"""

# ruff: noqa: ASYNC109 - ``timeout`` is the cache API's (seconds a key lives), not a wait.
from __future__ import annotations

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient

from crm import redis as shared

_COUNT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""

_clients: dict[tuple, RedisCacheClient] = {}


class SharedRedisCacheClient(RedisCacheClient):
    """Django's client with the process's pools; pool options come from crm.redis."""

    def get_client(self, key=None, *, write=False):
        return shared.client(self._servers[self._get_connection_pool_index(write)])

    def aget_client(self, key=None, *, write=False):
        return shared.aclient(self._servers[self._get_connection_pool_index(write)])

    # --- The same operations on the event loop ---

    async def aadd(self, key, value, timeout):
        client = self.aget_client(key, write=True)
        value = self._serializer.dumps(value)
        if timeout == 0:
            if ret := bool(await client.set(key, value, nx=True)):
                await client.delete(key)
            return ret
        return bool(await client.set(key, value, ex=timeout, nx=True))

    async def aget(self, key, default):
        value = await self.aget_client(key).get(key)
        return default if value is None else self._serializer.loads(value)

    async def aset(self, key, value, timeout):
        client = self.aget_client(key, write=True)
        value = self._serializer.dumps(value)
        if timeout == 0:
            await client.delete(key)
        else:
            await client.set(key, value, ex=timeout)

    async def atouch(self, key, timeout):
        client = self.aget_client(key, write=True)
        if timeout is None:
            return bool(await client.persist(key))
        return bool(await client.expire(key, timeout))

    async def adelete(self, key):
        return bool(await self.aget_client(key, write=True).delete(key))

    async def aget_many(self, keys):
        keys = list(keys)
        found = await self.aget_client(None).mget(keys)
        pairs = zip(keys, found, strict=True)
        return {k: self._serializer.loads(v) for k, v in pairs if v is not None}

    async def ahas_key(self, key):
        return bool(await self.aget_client(key).exists(key))

    async def aincr(self, key, delta):
        client = self.aget_client(key, write=True)
        if not await client.exists(key):
            raise ValueError(f"Key '{key}' not found.")
        return await client.incr(key, delta)

    async def aset_many(self, data, timeout):
        async with self.aget_client(None, write=True).pipeline() as pipeline:
            pipeline.mset({k: self._serializer.dumps(v) for k, v in data.items()})
            if timeout is not None:
                for key in data:
                    pipeline.expire(key, timeout)
            await pipeline.execute()

    async def adelete_many(self, keys):
        await self.aget_client(None, write=True).delete(*keys)

    def count(self, key, timeout):
        return int(self.get_client(key, write=True).eval(_COUNT, 1, key, timeout))

    async def acount(self, key, timeout):
        return int(await self.aget_client(key, write=True).eval(_COUNT, 1, key, timeout))


class RedisCache(DjangoRedisCache):
    """``django.core.cache.backends.redis.RedisCache`` on the process's shared pools."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = SharedRedisCacheClient

    @property
    def _cache(self) -> SharedRedisCacheClient:
        # One client per process and location: instances per context share it (and its pools).
        key = (tuple(self._servers), repr(sorted(self._options.items())))
        found = _clients.get(key)
        if found is None:
            found = _clients.setdefault(key, self._class(self._servers, **self._options))
        return found

    async def aadd(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        key = self.make_and_validate_key(key, version=version)
        return await self._cache.aadd(key, value, self.get_backend_timeout(timeout))

    async def aget(self, key, default=None, version=None):
        key = self.make_and_validate_key(key, version=version)
        return await self._cache.aget(key, default)

    async def aset(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        key = self.make_and_validate_key(key, version=version)
        await self._cache.aset(key, value, self.get_backend_timeout(timeout))

    async def atouch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        key = self.make_and_validate_key(key, version=version)
        return await self._cache.atouch(key, self.get_backend_timeout(timeout))

    async def adelete(self, key, version=None):
        key = self.make_and_validate_key(key, version=version)
        return await self._cache.adelete(key)

    async def aget_many(self, keys, version=None):
        key_map = {self.make_and_validate_key(key, version=version): key for key in keys}
        found = await self._cache.aget_many(key_map)
        return {key_map[k]: v for k, v in found.items()}

    async def ahas_key(self, key, version=None):
        key = self.make_and_validate_key(key, version=version)
        return await self._cache.ahas_key(key)

    async def aincr(self, key, delta=1, version=None):
        key = self.make_and_validate_key(key, version=version)
        return await self._cache.aincr(key, delta)

    async def aset_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        if not data:
            return []
        safe = {self.make_and_validate_key(key, version=version): v for key, v in data.items()}
        await self._cache.aset_many(safe, self.get_backend_timeout(timeout))
        return []

    async def adelete_many(self, keys, version=None):
        if not keys:
            return
        safe = [self.make_and_validate_key(key, version=version) for key in keys]
        await self._cache.adelete_many(safe)

    def count(self, key, timeout: int, version=None) -> int:
        """Count one in ``key`` (0 when absent); the first count sets its expiry."""
        return self._cache.count(self.make_and_validate_key(key, version=version), int(timeout))

    async def acount(self, key, timeout: int, version=None) -> int:
        key = self.make_and_validate_key(key, version=version)
        return await self._cache.acount(key, int(timeout))
