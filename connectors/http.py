"""The HTTP client the connectors share: one connection pool per process (thread-safe), with
the connector call timeout, and the rule for which transport errors may have been acted on."""

from __future__ import annotations

import threading

import httpx
from django.conf import settings

from connectors.base import Ambiguous, RetryLater

_lock = threading.Lock()
_client: httpx.Client | None = None


def client() -> httpx.Client:
    global _client
    with _lock:
        if _client is None:
            timeout = settings.CONNECTOR_TIMEOUT_SECONDS
            _client = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)))
        return _client


def reset() -> None:
    """Forget the pool (tests change the timeout)."""
    global _client
    with _lock:
        _client = None


def transport_error(what: str, exc: httpx.HTTPError, *, idempotent: bool = False) -> Exception:
    """A connection that never opened, or a body never fully written, cannot have been acted on
    (``RetryLater``); a request that left and got no answer may have been (``Ambiguous``),
    unless the receiver deduplicates (``idempotent``) and sending again is safe."""
    if isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout):
        return RetryLater(f"{what}: cannot connect ({exc.__class__.__name__})")
    if isinstance(exc, httpx.WriteError | httpx.WriteTimeout) or idempotent:
        return RetryLater(f"{what}: no answer ({exc.__class__.__name__})")
    return Ambiguous(f"{what}: no answer ({exc.__class__.__name__}); it may have been delivered.")
