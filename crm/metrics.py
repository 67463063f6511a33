"""Prometheus metrics shared by every part of the app (exposed at /metrics).

Define metrics here, increment them where things happen. Labels stay low-cardinality
(no user or chat ids).
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import time
from collections.abc import Callable

from celery.signals import task_failure
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import choose_encoder

HTTP_REQUESTS = Counter(
    "crm_http_requests_total", "HTTP requests handled", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "crm_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
WS_CONNECTIONS = Gauge(
    "crm_websocket_connections",
    "Open WebSocket connections in this process",
    multiprocess_mode="livesum",
)
WS_SLOW_CLOSED = Counter(
    "crm_websocket_slow_closed_total",
    "Real-time connections closed because they fell behind (1013); they resume",
    ["transport"],
)
MESSAGES_SENT = Counter("crm_messages_sent_total", "Chat messages created", ["kind"])
CELERY_TASK_FAILURES = Counter(
    "crm_celery_task_failures_total", "Celery tasks that failed for good", ["task"]
)


# --- Counting ------------------------------------------------------------------------------

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


class RequestMetricsMiddleware:
    """Counts every HTTP request and its latency by method, URL pattern (never the raw path:
    ids would explode the label space) and status. Outermost, so it times everything."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        method = request.method if request.method in _METHODS else "other"
        match = getattr(request, "resolver_match", None)
        route = "/" + match.route if match is not None and match.route else "unmatched"
        HTTP_LATENCY.labels(method=method, route=route).observe(elapsed)
        HTTP_REQUESTS.labels(method=method, route=route, status=str(response.status_code)).inc()
        return response


@task_failure.connect(weak=False)
def _count_task_failure(sender=None, **kwargs) -> None:
    CELERY_TASK_FAILURES.labels(task=getattr(sender, "name", None) or "unknown").inc()


class DatabaseCollector:
    """Gauges read from the database at scrape time (the same from every process)."""

    def collect(self):
        from django.db.models import Count, Q

        from chats.models import Chat, ChatKind, ChatStatus
        from operators.models import OperatorProfile

        counts = Chat.objects.filter(kind=ChatKind.SUPPORT).aggregate(
            open=Count("pk", filter=Q(status=ChatStatus.OPEN)),
            pending=Count("pk", filter=Q(status=ChatStatus.PENDING)),
            unassigned=Count("pk", filter=Q(status=ChatStatus.OPEN, assignee__isnull=True)),
        )
        chats = GaugeMetricFamily(
            "crm_open_chats", "Support chats that are not closed, by status", labels=["status"]
        )
        for status in (ChatStatus.OPEN, ChatStatus.PENDING):
            chats.add_metric([status], counts[status])
        yield chats
        yield GaugeMetricFamily(
            "crm_unassigned_chats",
            "Open support chats waiting for an operator",
            value=counts["unassigned"],
        )
        availability = dict(
            OperatorProfile.objects.values_list("availability")
            .annotate(n=Count("pk"))
            .values_list("availability", "n")
        )
        operators = GaugeMetricFamily(
            "crm_operators", "Operator profiles by availability", labels=["availability"]
        )
        for value in ("online", "away", "offline"):
            operators.add_metric([value], availability.get(value, 0))
        yield operators


# --- Exposition ----------------------------------------------------------------------------


def _process_registry() -> CollectorRegistry:
    """With PROMETHEUS_MULTIPROC_DIR set, the sum over every process of this machine (web and
    worker processes write their samples there); otherwise this process's own."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return REGISTRY


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _refusal(request: HttpRequest) -> HttpResponse | None:
    token = settings.METRICS_TOKEN
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip(), token):
            return None
        response = HttpResponse("A valid bearer token is required.\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    if _is_loopback(request.META.get("REMOTE_ADDR", "")):
        return None
    return HttpResponse("Metrics are served to loopback only (set METRICS_TOKEN).\n", status=403)


@never_cache
@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text format. ``METRICS_TOKEN`` set: only with ``Authorization: Bearer``;
    unset: only from a loopback address."""
    refusal = _refusal(request)
    if refusal is not None:
        return refusal
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    body = encode(_Exposed(_process_registry(), DatabaseCollector()))
    return HttpResponse(body, content_type=content_type)


class _Exposed:
    """One collection of several sources, so each format is written once (OpenMetrics ends
    with a single ``# EOF``)."""

    def __init__(self, *sources) -> None:
        self.sources = sources

    def collect(self):
        for source in self.sources:
            yield from source.collect()
