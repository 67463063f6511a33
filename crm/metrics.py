"""Prometheus metrics shared by every part of the app (exposed at /metrics).

Define metrics here, increment them where things happen. Labels stay low-cardinality
(no user or chat ids).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

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
MESSAGES_SENT = Counter("crm_messages_sent_total", "Chat messages created", ["kind"])
CELERY_TASK_FAILURES = Counter(
    "crm_celery_task_failures_total", "Celery tasks that failed for good", ["task"]
)
