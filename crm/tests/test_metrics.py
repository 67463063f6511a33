"""GET /metrics: Prometheus text format, what it counts, and who may read it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from chats.tests.factories import support_chat
from crm.celery import app as celery_app

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]


def families(response) -> dict:
    return {f.name: f for f in text_string_to_metric_families(response.content.decode())}


def sample(name: str, **labels) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_format_and_the_metrics_we_promise(client, customer, operator):
    chat = support_chat(customer)
    from chats.services import message_send

    message_send(sender=customer, chat=chat, text="hi")
    client.get("/health")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    found = families(response)
    for name in (
        "crm_http_requests",
        "crm_http_request_duration_seconds",
        "crm_websocket_connections",
        "crm_messages_sent",
        "crm_open_chats",
        "crm_unassigned_chats",
        "crm_operators",
        "crm_celery_task_failures",
    ):
        assert name in found, name
    open_chats = {s.labels["status"]: s.value for s in found["crm_open_chats"].samples}
    assert open_chats == {"open": 1.0, "pending": 0.0}
    assert found["crm_unassigned_chats"].samples[0].value == 1.0
    health = [
        s
        for s in found["crm_http_requests"].samples
        if s.name == "crm_http_requests_total" and s.labels.get("route") == "/health"
    ]
    assert health and health[0].labels == {"method": "GET", "route": "/health", "status": "200"}


def test_openmetrics_when_asked(client):
    response = client.get("/metrics", HTTP_ACCEPT="application/openmetrics-text; version=1.0.0")
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.decode().rstrip().endswith("# EOF")
    assert response.content.decode().count("# EOF") == 1


def test_requests_are_counted_by_route_pattern_not_path(client, customer, client_for):
    before = sample("crm_http_requests_total", method="GET", route="/api/users/<int:user_id>",
                    status="404")  # fmt: skip
    latency_before = sample(
        "crm_http_request_duration_seconds_count", method="GET", route="/api/users/<int:user_id>"
    )
    client_for(customer).get("/api/users/987654")
    assert (
        sample(
            "crm_http_requests_total", method="GET", route="/api/users/<int:user_id>", status="404"
        )
        == before + 1
    )
    assert (
        sample(
            "crm_http_request_duration_seconds_count",
            method="GET",
            route="/api/users/<int:user_id>",
        )
        == latency_before + 1
    )
    unmatched = sample("crm_http_requests_total", method="GET", route="unmatched", status="404")
    client.get("/no/such/page")
    assert (
        sample("crm_http_requests_total", method="GET", route="unmatched", status="404")
        == unmatched + 1
    )


def test_celery_failures_are_counted():
    @celery_app.task(name="crm.tests.always_fails")
    def always_fails():
        raise RuntimeError("boom")

    before = sample("crm_celery_task_failures_total", task="crm.tests.always_fails")
    always_fails.apply()
    assert sample("crm_celery_task_failures_total", task="crm.tests.always_fails") == before + 1


def test_without_a_token_only_loopback(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="::1").status_code == 200
    refused = client.get("/metrics", REMOTE_ADDR="10.1.2.3")
    assert refused.status_code == 403 and b"crm_" not in refused.content
    assert client.get("/metrics", REMOTE_ADDR="").status_code == 403
    assert client.post("/metrics").status_code == 405


def test_with_a_token_only_the_bearer(client, settings):
    settings.METRICS_TOKEN = "s3cret-metrics-token"
    missing = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert missing.status_code == 401 and missing["WWW-Authenticate"].startswith("Bearer")
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 401
    basic = client.get("/metrics", HTTP_AUTHORIZATION="Basic s3cret-metrics-token")
    assert basic.status_code == 401
    ok = client.get(
        "/metrics", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token", REMOTE_ADDR="10.1.2.3"
    )
    assert ok.status_code == 200 and b"crm_http_requests_total" in ok.content
    assert ok["Cache-Control"].startswith("max-age=0")


def test_multiprocess_mode_adds_up_every_process(tmp_path):
    """Two processes count messages into PROMETHEUS_MULTIPROC_DIR; a third serves the sum."""
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    env.pop("DATABASE_URL", None)
    write = (
        "from crm.metrics import MESSAGES_SENT, HTTP_REQUESTS\n"
        "MESSAGES_SENT.labels(kind='text').inc(2)\n"
        "HTTP_REQUESTS.labels(method='GET', route='/health', status='200').inc()\n"
    )
    read = (
        "from prometheus_client import generate_latest\n"
        "from crm.metrics import _process_registry\n"
        "print(generate_latest(_process_registry()).decode())\n"
    )
    for _ in range(2):
        subprocess.run([sys.executable, "-c", write], cwd=ROOT, env=env, check=True, timeout=60)
    out = subprocess.run(
        [sys.executable, "-c", read], cwd=ROOT, env=env, check=True, timeout=60,
        capture_output=True, text=True,
    ).stdout  # fmt: skip
    found = {f.name: f for f in text_string_to_metric_families(out)}
    sent = [s for s in found["crm_messages_sent"].samples if s.name == "crm_messages_sent_total"]
    assert [(s.labels["kind"], s.value) for s in sent] == [("text", 4.0)]
    requests = [s for s in found["crm_http_requests"].samples if s.name.endswith("_total")]
    assert requests[0].value == 2.0
