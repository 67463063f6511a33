"""Every API error is JSON ``{detail, code}`` with a human ``detail``, in every mode; server
errors are logged once; bodies are parsed with bounds; the debug page keeps secrets out."""

from __future__ import annotations

import logging
import sys

import pytest
from django.test import override_settings
from django.views.debug import ExceptionReporter, get_default_exception_reporter_filter

pytestmark = pytest.mark.django_db

SECRETS = {
    "DATABASE_URL": "postgres://crm:db-hunter2@db.internal:5432/crm",
    "REDIS_URL": "redis://:redis-hunter2@cache.internal:6379/0",
    "CELERY_BROKER_URL": "redis://:broker-hunter2@cache.internal:6379/1",
}


def _json_error(response, status: int) -> dict:
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert isinstance(body["detail"], str) and isinstance(body["code"], str)
    return body


@pytest.mark.parametrize("path", ["/api/auth/login", "/api/auth/register", "/api/orders"])
def test_deeply_nested_json_is_a_400(api_client, admin_user, path):
    api_client.force_authenticate(admin_user)
    response = api_client.post(path, data="[" * 100_000, content_type="application/json")
    body = _json_error(response, 400)
    assert body["code"] == "parse_error"


def test_debug_page_hides_urls_with_passwords(rf):
    with override_settings(DEBUG=True, **SECRETS):
        safe = get_default_exception_reporter_filter().get_safe_settings()
        for name in SECRETS:
            assert safe[name] != SECRETS[name]
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            html = ExceptionReporter(rf.get("/api/x"), *sys.exc_info()).get_traceback_html()
    for value in SECRETS.values():
        assert value not in html


@pytest.mark.parametrize("debug", [False, True])
def test_unknown_api_path_is_json_404_in_every_mode(api_client, debug):
    with override_settings(DEBUG=debug):
        body = _json_error(api_client.get("/api/no-such-thing"), 404)
        assert body["code"] == "not_found"
        _json_error(api_client.post("/api/no/such/thing", {}, format="json"), 404)
        # A browser-like client without a CSRF cookie: still the JSON 404, not a CSRF page.
        from django.test import Client

        strict = Client(enforce_csrf_checks=True)
        _json_error(strict.patch("/api/users/false", "{}", content_type="application/json"), 404)


@pytest.mark.parametrize(
    "header",
    [
        "Bearer abc.def.ghi",
        "Bearer " + "a" * 300,
        "Bearer",
        "Bearer a b",
    ],
)
def test_jwt_failures_have_a_human_detail(api_client, header):
    body = _json_error(api_client.get("/api/chats", HTTP_AUTHORIZATION=header), 401)
    assert "ErrorDetail" not in body["detail"] and "{" not in body["detail"]


def test_refresh_failure_has_a_human_detail(api_client):
    response = api_client.post("/api/auth/refresh", {"refresh": "nope"}, format="json")
    body = _json_error(response, 401)
    assert "ErrorDetail" not in body["detail"]


@override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=1024)
def test_oversize_body_is_413_json(api_client, admin_user):
    big = '{"email": "' + "x" * 5000 + '", "password": "y"}'
    body = _json_error(
        api_client.post("/api/auth/login", data=big, content_type="application/json"), 413
    )
    assert body["code"] == "too_large"
    api_client.force_authenticate(admin_user)
    _json_error(api_client.patch("/api/auth/me", data=big, content_type="application/json"), 413)


@override_settings(ROOT_URLCONF="crm.tests.boom_urls")
@pytest.mark.parametrize("path", ["/api/test-boom", "/api/test-plain-boom"])
def test_server_error_is_json_and_logged_once(caplog, path):
    from django.test import Client

    client = Client(raise_request_exception=False)
    with caplog.at_level(logging.ERROR):
        response = client.get(path)
    body = _json_error(response, 500)
    assert body == {"detail": "Internal server error.", "code": "server_error"}
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [(r.name, r.getMessage()) for r in errors]
    assert errors[0].exc_info is not None


@pytest.mark.parametrize("debug", [False, True])
def test_logging_config_writes_a_server_error_once(capsys, debug):
    """Django's own console handler (with DEBUG) and the root handler must not both print it."""
    import logging.config

    from django.conf import settings
    from django.utils.log import DEFAULT_LOGGING

    try:
        with override_settings(DEBUG=debug):
            logging.config.dictConfig(DEFAULT_LOGGING)
            logging.config.dictConfig(settings.LOGGING)
            capsys.readouterr()
            logging.getLogger("django.request").error("Internal Server Error: /api/x-marker")
            err = capsys.readouterr().err
    finally:
        logging.config.dictConfig(DEFAULT_LOGGING)
        logging.config.dictConfig(settings.LOGGING)
    assert err.count("/api/x-marker") == 1, err
