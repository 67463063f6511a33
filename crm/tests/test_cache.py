"""Django's cache on Redis (crm.cache): every context's instance shares the process's pools,
and the event-loop methods store what the thread ones read, and the reverse."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import pytest
from django.conf import settings
from django.core.cache import cache, caches

from crm import ratelimit
from crm import redis as shared

pytestmark = pytest.mark.services


@pytest.fixture(autouse=True)
def _on_redis():
    assert settings.REDIS_URL, "services tests run with REDIS_URL"
    assert settings.CACHES["default"]["BACKEND"] == "crm.cache.RedisCache"


async def test_instances_of_many_contexts_share_one_bounded_pool():
    instances, clients = [], []

    async def one_socket(n: int) -> None:
        instances.append(caches["default"])  # each task: an instance of its own (Django)
        clients.append(caches["default"]._cache)
        await cache.aset(f"socket:{n}", n, timeout=30)
        assert await cache.aget(f"socket:{n}") == n

    # Each in a context of its own, as daphne runs each socket's application.
    await asyncio.gather(
        *(asyncio.create_task(one_socket(n), context=contextvars.Context()) for n in range(200))
    )

    def in_thread():
        clients.append(caches["default"]._cache)
        assert cache.get("socket:7") == 7

    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join()
    assert len({id(i) for i in instances}) > 1  # separate contexts...
    assert len({id(c) for c in clients}) == 1  # ...one client
    pool = shared.aclient().connection_pool
    assert len(pool._available_connections) + len(pool._in_use_connections) <= (
        settings.REDIS_POOL_SIZE
    )
    names = {c["name"] for c in shared.client().client_list()}
    assert shared.client_name("async") in names and shared.client_name("sync") in names


async def test_loop_methods_agree_with_thread_methods():
    sync = asyncio.to_thread
    await cache.aset("a", {"x": [1, 2]}, timeout=30)
    assert await sync(cache.get, "a") == {"x": [1, 2]}
    await sync(cache.set, "b", 5, 30)
    assert await cache.aget("b") == 5
    assert await cache.aget("missing", "default") == "default"

    assert await cache.aadd("b", 9) is False  # exists
    assert await cache.aadd("c", 1, timeout=30) is True
    assert await cache.aincr("b", 2) == 7
    assert await cache.adecr("b") == 6
    with pytest.raises(ValueError):
        await cache.aincr("nothing")

    await cache.aset_many({"m1": "one", "m2": 2}, timeout=30)
    assert await cache.aget_many(["m1", "m2", "m3"]) == {"m1": "one", "m2": 2}
    assert await sync(cache.get_many, ["m1", "m2"]) == {"m1": "one", "m2": 2}
    assert await cache.ahas_key("m1") and not await cache.ahas_key("m3")
    assert await cache.atouch("m1", 100) is True
    client = shared.client()
    assert 90 < client.ttl(cache.make_key("m1")) <= 100
    assert await cache.adelete("m1") is True and await cache.adelete("m1") is False
    await cache.adelete_many(["m2", "a"])
    assert await sync(cache.get_many, ["m2", "a"]) == {}


async def test_a_window_count_is_one_round_trip_that_sets_the_expiry():
    assert await cache.acount("w", 30) == 1
    assert await cache.acount("w", 30) == 2
    assert await asyncio.to_thread(cache.count, "w", 30) == 3
    assert await cache.aget("w") == 3  # the cache reads the counter
    assert 0 < shared.client().ttl(cache.make_key("w")) <= 30


async def test_rate_limits_count_on_the_loop_and_in_threads_alike(settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "ws_frames": "3/min"}
    decisions = [await ratelimit.ahit("ws_frames", "user:1") for _ in range(2)]
    decisions.append(await asyncio.to_thread(ratelimit.hit, "ws_frames", "user:1"))
    decisions.append(await ratelimit.ahit("ws_frames", "user:1"))
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.count for d in decisions] == [1, 2, 3, 4]
    assert not (await asyncio.to_thread(ratelimit.peek, "ws_frames", "user:1")).allowed
