"""Rate limits by scope, counted in the cache so every process shares them.

One mechanism serves the REST throttles, the login brute-force guard and the WebSocket frame
limit. Rates come from ``settings.RATE_LIMITS`` as ``"<count>/<period>"`` where the period is
``s``, ``m``/``min``, ``h``/``hour`` or ``d``/``day``, optionally with a multiplier: ``5/5m``.
Counting uses fixed windows: cheap (one INCR) and good enough for abuse limits. On Redis
(``crm.cache``) a count is one round trip on the process's shared pool (``ahit`` on the event
loop, no thread hop), whatever the number of sockets counting.

While the cache (Redis) is unreachable, counting falls back to a limiter inside the process
(``local_hit``): each process then enforces the limit on its own, which is looser across
processes but never lets a Redis outage fail or open up a request.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import re
import threading
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache
from rest_framework.throttling import BaseThrottle

from crm import outage
from crm.client_ip import request_ip

_UNITS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
    "d": 86400,
    "day": 86400,
}
_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*([a-z]+)\s*$")


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int


@dataclass(frozen=True)
class Decision:
    allowed: bool
    count: int
    limit: int
    retry_after: int


def parse_rate(text: str) -> Rate:
    match = _RATE_RE.match(text.lower())
    if not match or match.group(3) not in _UNITS:
        raise ValueError(f"Bad rate {text!r}: expected e.g. '5/5m', '200/min', '10/h'.")
    count, multiplier, unit = match.groups()
    return Rate(int(count), int(multiplier or 1) * _UNITS[unit])


def rate_for(scope: str) -> Rate:
    try:
        return parse_rate(settings.RATE_LIMITS[scope])
    except KeyError:
        raise ValueError(f"No rate limit configured for scope {scope!r}.") from None


def _window(rate: Rate, now: float) -> tuple[int, int]:
    index = int(now // rate.seconds)
    retry_after = max(1, math.ceil((index + 1) * rate.seconds - now))
    return index, retry_after


def _key(scope: str, ident: str, index: int) -> str:
    if len(ident) > 64 or not ident.isascii() or not ident.isprintable() or " " in ident:
        # Whatever a client sent (an email, an address) stays a short, safe cache key.
        ident = "h:" + hashlib.sha256(ident.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return f"rl:{scope}:{ident}:{index}"


def hit(scope: str, ident: str) -> Decision:
    """Count one event; ``allowed`` is False once the window's limit is passed."""
    rate = rate_for(scope)
    index, retry_after = _window(rate, time.time())
    key = _key(scope, ident, index)
    try:
        if hasattr(cache, "count"):  # Redis (crm.cache): one round trip
            count = cache.count(key, rate.seconds + 1)
        else:
            cache.add(key, 0, timeout=rate.seconds + 1)
            try:
                count = cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.set(key, 1, timeout=rate.seconds + 1)
                count = 1
    except outage.REDIS_ERRORS as exc:
        count = local_hit(key, rate, exc)
    else:
        outage.recovered("rate_limit")
    return Decision(count <= rate.count, count, rate.count, retry_after)


def peek(scope: str, ident: str) -> Decision:
    """The state of the window without counting: is one more event allowed?"""
    rate = rate_for(scope)
    index, retry_after = _window(rate, time.time())
    key = _key(scope, ident, index)
    try:
        count = cache.get(key, 0)
    except outage.REDIS_ERRORS as exc:
        count = local_peek(key, exc)
    return Decision(count < rate.count, count, rate.count, retry_after)


async def ahit(scope: str, ident: str) -> Decision:
    rate = rate_for(scope)
    index, retry_after = _window(rate, time.time())
    key = _key(scope, ident, index)
    try:
        if hasattr(cache, "acount"):  # Redis (crm.cache): one round trip on the event loop
            count = await cache.acount(key, rate.seconds + 1)
        else:
            await cache.aadd(key, 0, timeout=rate.seconds + 1)
            try:
                count = await cache.aincr(key)
            except ValueError:
                await cache.aset(key, 1, timeout=rate.seconds + 1)
                count = 1
    except outage.REDIS_ERRORS as exc:
        count = local_hit(key, rate, exc)
    else:
        outage.recovered("rate_limit")
    return Decision(count <= rate.count, count, rate.count, retry_after)


@dataclass(frozen=True)
class Reservation:
    """One counted attempt, given back with ``release`` when it turns out not to count."""

    decision: Decision
    key: str


def reserve(scope: str, ident: str) -> Reservation:
    """Count an attempt before doing it: check and count are one atomic step (the cache's
    ``incr``: atomic on Redis, under a lock in the in-memory cache), so of any number of
    concurrent attempts at most the limit are allowed through."""
    rate = rate_for(scope)
    index, _ = _window(rate, time.time())
    return Reservation(hit(scope, ident), _key(scope, ident, index))


def release(reservation: Reservation) -> None:
    """Give back a reserved attempt (it succeeded, or another limit refused it)."""
    # A window that expired meanwhile has nothing left to give back.
    with contextlib.suppress(ValueError):
        try:
            cache.decr(reservation.key)
        except outage.REDIS_ERRORS:
            local_release(reservation.key)


# --- The fallback while the cache is down: counters in this process -------------------------

_local_counts: dict[str, tuple[int, float]] = {}  # key -> (count, expires at)
_local_lock = threading.Lock()
LOCAL_MAX_KEYS = 100_000


def local_hit(key: str, rate: Rate, exc: BaseException | None = None) -> int:
    """Count one event for ``key`` in this process's own window counters."""
    if exc is not None:
        outage.report("rate_limit", exc)
    now = time.monotonic()
    with _local_lock:
        if len(_local_counts) >= LOCAL_MAX_KEYS:
            for stale in [k for k, (_, until) in _local_counts.items() if until <= now]:
                del _local_counts[stale]
            if len(_local_counts) >= LOCAL_MAX_KEYS:
                _local_counts.clear()
        count, until = _local_counts.get(key, (0, now + rate.seconds + 1))
        if until <= now:
            count, until = 0, now + rate.seconds + 1
        _local_counts[key] = (count + 1, until)
    return count + 1


def local_release(key: str) -> None:
    with _local_lock:
        count, until = _local_counts.get(key, (0, 0.0))
        if count > 0:
            _local_counts[key] = (count - 1, until)


def local_peek(key: str, exc: BaseException | None = None) -> int:
    if exc is not None:
        outage.report("rate_limit", exc)
    count, until = _local_counts.get(key, (0, 0.0))
    return count if until > time.monotonic() else 0


class ScopeThrottle(BaseThrottle):
    """DRF throttle counting every request of a view in ``rate_scope``.

    Subclasses choose the identity: the client address (default) or the user.
    """

    rate_scope: str = ""
    by_user: bool = False

    def ident_for(self, request) -> str:
        if self.by_user and request.user and request.user.is_authenticated:
            return f"user:{request.user.pk}"
        return f"ip:{self.get_ident(request)}"

    def get_ident(self, request) -> str:
        # DRF's own believes any X-Forwarded-For: the address comes from TRUSTED_PROXIES.
        return request_ip(request)

    def allow_request(self, request, view) -> bool:
        decision = hit(self.rate_scope, self.ident_for(request))
        self._retry_after = decision.retry_after
        return decision.allowed

    def wait(self) -> float | None:
        return getattr(self, "_retry_after", None)


class RegisterThrottle(ScopeThrottle):
    rate_scope = "register_ip"
