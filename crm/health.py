"""Liveness and readiness probes."""

from __future__ import annotations

import hmac
import logging
import time
import uuid

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)


@never_cache
@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers. No I/O."""
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


async def _layer_roundtrip() -> None:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer configured")
    # A channel of its own rather than new_channel(): channels_redis serves all of a process's
    # "!" channels through one shared receive, which a probe that times out must not disturb.
    token = uuid.uuid4().hex
    channel = f"health.{token}"
    await layer.send(channel, {"type": "health.check", "token": token})
    message = await layer.receive(channel)
    if message.get("token") != token:
        raise RuntimeError("channel layer returned another message")


def _check_channel_layer() -> None:
    import asyncio

    async def run() -> None:
        await asyncio.wait_for(_layer_roundtrip(), timeout=3)

    async_to_sync(run)()


def _check_broker() -> None:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return  # tasks run in the request: there is no broker to reach
    from crm.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=3)


CHECKS = {
    "database": _check_database,
    "channel_layer": _check_channel_layer,
    "broker": _check_broker,
}


def _has_metrics_token(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token)


@never_cache
@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    """Readiness: the database, the channel layer and the Celery broker answer.

    Anyone learns which part is down; the error text (hosts, ports) only a caller with the
    metrics token (``Authorization: Bearer <METRICS_TOKEN>``), and the log."""
    details = _has_metrics_token(request)
    results: dict[str, dict] = {}
    failed: list[str] = []
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            check()
        except Exception as exc:  # any failure makes the part "down"; its text helps the operator
            error = f"{type(exc).__name__}: {exc}"[:300]
            logger.warning("Readiness: %s is down: %s", name, error)
            results[name] = {"status": "down"}
            if details:
                results[name]["error"] = error
            failed.append(name)
        else:
            results[name] = {"status": "ok"}
        results[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    body = {"status": "ok" if not failed else "unavailable", "checks": results}
    if failed:
        body["failed"] = failed
        body["detail"] = "Not ready: " + ", ".join(failed) + " unavailable."
    return JsonResponse(body, status=503 if failed else 200)
