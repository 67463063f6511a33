"""Error reporting to Sentry, on only when ``SENTRY_DSN`` is set.

The Django, Celery and Redis integrations; no personal data is sent (the SDK's
default) and ``scrub_event`` removes what could still carry it: credentials in headers, cookies,
query strings and bodies, the user to an id, e-mail addresses and client addresses.
"""

from __future__ import annotations

import re
from typing import Any

from crm.logging import REDACTED, SECRET_KEY_RE, redact

_EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}")
_PERSONAL_KEY_RE = re.compile(r"(e-?mail|phone|name|address|ip_address|text|content)", re.I)


def _scrub(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return _EMAIL_RE.sub(REDACTED, redact(value))
    if depth > 8:
        return value
    if isinstance(value, dict):
        return {
            k: REDACTED
            if isinstance(k, str) and (SECRET_KEY_RE.search(k) or _PERSONAL_KEY_RE.search(k))
            else _scrub(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(v, depth + 1) for v in value]
    return value


def scrub_event(event: dict, hint: dict | None = None) -> dict:
    """``before_send``: the event without credentials or personal data."""
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("cookies", None)
        request.pop("data", None)  # bodies carry messages, passwords, files
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {
                k: REDACTED
                if SECRET_KEY_RE.search(k) or k.lower() in ("x-forwarded-for", "x-real-ip")
                else v
                for k, v in headers.items()
            }
        if request.get("query_string"):
            request["query_string"] = redact(str(request["query_string"]))
        if request.get("url"):
            request["url"] = redact(str(request["url"]))
        request.pop("env", None)
    user = event.get("user")
    if isinstance(user, dict):
        event["user"] = {"id": user["id"]} if "id" in user else {}
    for key in ("extra", "contexts", "tags"):
        if isinstance(event.get(key), dict):
            event[key] = _scrub(event[key])
    for crumb in (event.get("breadcrumbs") or {}).get("values", []) or []:
        if isinstance(crumb, dict):
            if isinstance(crumb.get("message"), str):
                crumb["message"] = _scrub(crumb["message"])
            if isinstance(crumb.get("data"), dict):
                crumb["data"] = _scrub(crumb["data"])
    for exception in (event.get("exception") or {}).get("values", []) or []:
        if isinstance(exception.get("value"), str):
            exception["value"] = _scrub(exception["value"])
        for frame in (exception.get("stacktrace") or {}).get("frames", []) or []:
            if isinstance(frame.get("vars"), dict):
                frame["vars"] = _scrub(frame["vars"])
            for key in ("pre_context", "context_line", "post_context"):
                if frame.get(key):
                    frame[key] = _scrub(frame[key])
    if isinstance(event.get("logentry"), dict):
        event["logentry"] = _scrub(event["logentry"])
    if isinstance(event.get("message"), str):
        event["message"] = _scrub(event["message"])
    return event


def init(*, dsn: str, environment: str, release: str = "", traces_sample_rate: float = 0.0):
    if not dsn:
        return False
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration
    from sentry_sdk.integrations.redis import RedisIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        release=release or None,
        integrations=[DjangoIntegration(), CeleryIntegration(), RedisIntegration()],
        # No personal data: the SDK's default (its send_default_pii option is deprecated and
        # left unset) keeps user info, cookies and bodies out, and scrub_event does the rest.
        before_send=scrub_event,
        traces_sample_rate=traces_sample_rate,
        max_request_body_size="never",
    )
    return True
