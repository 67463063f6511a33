"""What a request does while PostgreSQL or Redis is down.

PostgreSQL holds the truth: without it a request cannot be served and answers 503 with
``Retry-After`` (``crm.middleware``). Redis carries hints — live events, presence, rate-limit
counters, the broker's queue — so the work that needs only PostgreSQL goes on without it.

``part_down(exc)`` names the part an exception says is unreachable (``"database"``, ``"redis"``)
or returns None for any other error. ``report`` logs an outage once per burst instead of once
per failed call: the first failure of a part is a warning, later ones within
``OUTAGE_LOG_SECONDS`` are only counted, and the first success after them logs the recovery.
"""

from __future__ import annotations

import logging
import threading
import time

logger = logging.getLogger("crm.outage")

OUTAGE_LOG_SECONDS = 30.0
RETRY_AFTER_SECONDS = 5


def _redis_errors() -> tuple[type[BaseException], ...]:
    errors: list[type[BaseException]] = []
    try:
        import redis.exceptions

        errors += [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError]
    except ImportError:  # pragma: no cover - redis is a dependency
        pass
    try:
        import kombu.exceptions

        errors.append(kombu.exceptions.OperationalError)
    except ImportError:  # pragma: no cover - celery is a dependency
        pass
    return tuple(errors)


REDIS_ERRORS = _redis_errors()


def part_down(exc: BaseException) -> str | None:
    """The part an exception shows to be unreachable, or None."""
    from django.db import InterfaceError, OperationalError

    if isinstance(exc, REDIS_ERRORS):
        return "redis"
    if isinstance(exc, OperationalError | InterfaceError):
        return "database"
    if isinstance(exc, ConnectionError | TimeoutError):  # a socket to another service
        return "service"
    return None


class _Burst:
    __slots__ = ("first_at", "logged_at", "suppressed", "failures")

    def __init__(self, now: float):
        self.first_at = now
        self.logged_at = now
        self.suppressed = 0
        self.failures = 1


_bursts: dict[str, _Burst] = {}
_lock = threading.Lock()


def report(what: str, exc: BaseException) -> None:
    """``what`` (e.g. "channel_layer", "rate_limit") failed because of ``exc``."""
    now = time.monotonic()
    with _lock:
        burst = _bursts.get(what)
        if burst is None:
            _bursts[what] = _Burst(now)
            log, suppressed = True, 0
        else:
            burst.failures += 1
            log = now - burst.logged_at >= OUTAGE_LOG_SECONDS
            suppressed = burst.suppressed
            if log:
                burst.logged_at, burst.suppressed = now, 0
            else:
                burst.suppressed += 1
    if log:
        logger.warning(
            "%s unavailable: %s: %s%s",
            what,
            type(exc).__name__,
            str(exc)[:200],
            f" ({suppressed} more failures since the last report)" if suppressed else "",
        )


def recovered(what: str) -> None:
    """``what`` worked: if it was failing, log the end of the outage once."""
    if what not in _bursts:  # the common case: no lock
        return
    with _lock:
        burst = _bursts.pop(what, None)
    if burst is not None:
        logger.warning(
            "%s available again after %d failures in %.1f s",
            what,
            burst.failures,
            time.monotonic() - burst.first_at,
        )
