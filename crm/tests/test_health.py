import pytest

from crm import health


def test_liveness_needs_no_database(client):
    # No django_db mark: any database access here would raise.
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readiness_checks_every_part(client):
    response = client.get("/health/ready")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "channel_layer", "broker"}
    assert all(check["status"] == "ok" for check in body["checks"].values())


@pytest.mark.django_db
def test_readiness_names_the_failing_part(client, settings, monkeypatch):
    # A channel layer that points at a closed port: the real client fails to connect.
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{"address": "redis://127.0.0.1:9", "socket_connect_timeout": 1}]},
        }
    }
    from channels.layers import channel_layers

    monkeypatch.setattr(channel_layers, "backends", {})
    response = client.get("/health/ready")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["channel_layer"]
    assert body["checks"]["database"]["status"] == "ok"
    assert "channel_layer" in body["detail"]


@pytest.mark.django_db
def test_readiness_reports_broker_down(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    from crm.celery import app

    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:9/0"
    try:
        response = client.get("/health/ready")
    finally:
        app.conf.broker_url = original
    assert response.status_code == 503
    assert "broker" in response.json()["failed"]
    assert set(health.CHECKS) == {"database", "channel_layer", "broker"}


@pytest.mark.django_db
def test_openapi_schema_and_docs(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in ("/api/auth/login", "/api/auth/register", "/api/auth/refresh", "/api/users"):
        assert path in paths
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content


@pytest.mark.django_db
def test_readiness_error_text_only_with_the_metrics_token(client, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.METRICS_TOKEN = "s3cret-metrics-token"
    from crm.celery import app

    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:9/0"
    try:
        anonymous = client.get("/health/ready")
        wrong = client.get("/health/ready", HTTP_AUTHORIZATION="Bearer nope")
        operator = client.get("/health/ready", HTTP_AUTHORIZATION="Bearer s3cret-metrics-token")
    finally:
        app.conf.broker_url = original
    for response in (anonymous, wrong):
        assert response.status_code == 503
        body = response.json()
        assert body["failed"] == ["broker"]
        assert body["checks"]["broker"] == {"status": "down", "ms": body["checks"]["broker"]["ms"]}
        assert "127.0.0.1" not in response.content.decode() and ":9" not in str(body["checks"])
    assert operator.status_code == 503
    assert "error" in operator.json()["checks"]["broker"]
