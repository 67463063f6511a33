"""Logs: one line per event, with the request id of the request, task or socket frame that
caused it, and never a credential.

``LOG_FORMAT`` is ``json`` (one JSON object per line, the production default) or ``console``
(readable, coloured when a terminal; the development default). ``LOG_LEVEL`` sets the level,
``LOG_FILE`` adds a file with the same lines. Django's and every library's standard-library
log records go through the same processors as structlog's own, so they carry the request id
too. django-structlog binds the request id for HTTP (an ``X-Request-ID`` header from the proxy
is kept when ``DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID`` is on) and passes it to Celery
tasks; the WebSocket consumer binds one per connection and per frame (``bind_socket``).
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

import structlog

# Keys whose values are never logged, and the same names as query parameters or headers.
SECRET_KEY_RE = re.compile(
    r"(pass(word)?|secret|token|ticket|authorization|cookie|api[_-]?key|refresh|access|"
    r"signature|credential)",
    re.IGNORECASE,
)
_SECRET_QUERY_RE = re.compile(
    r"(?i)\b((?:[a-z_]*)(?:token|ticket|password|secret|signature|api_key|access|refresh))"
    r"=([^&\s'\"]+)"
)
_BEARER_RE = re.compile(r"(?i)\b(bearer|basic|token)\s+[A-Za-z0-9._~+/=-]{8,}")
_JWT_RE = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}")
REDACTED = "[redacted]"


def redact_text(text: str) -> str:
    if "=" in text:
        text = _SECRET_QUERY_RE.sub(lambda m: f"{m.group(1)}={REDACTED}", text)
    text = _BEARER_RE.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _JWT_RE.sub(REDACTED, text)


def redact(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if depth > 5:
        return value
    if isinstance(value, dict):
        return {
            k: REDACTED
            if isinstance(k, str) and SECRET_KEY_RE.search(k) and v
            else redact(v, depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(redact(v, depth + 1) for v in value)
    return value


def redact_processor(_logger, _method, event_dict: dict) -> dict:
    """structlog processor: credentials out of every key and string, the message included."""
    for key, value in list(event_dict.items()):
        if key in ("timestamp", "level", "logger"):
            continue
        if key not in ("event", "exception") and SECRET_KEY_RE.search(key) and value:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = redact(value)
    return event_dict


def _shared_processors() -> list:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.stdlib.PositionalArgumentsFormatter(),
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]


def configure_structlog() -> None:
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


class OneTraceback(logging.Filter):
    """A failed request's traceback is logged once, by Django (``django.request``, with the
    request id bound): django-structlog's ``request_failed`` line keeps only its summary."""

    def filter(self, record: logging.LogRecord) -> bool:
        msg = record.msg
        if isinstance(msg, dict) and msg.get("event") == "request_failed":
            msg.pop("exc_info", None)
            msg.pop("exception", None)
            msg["level"] = "info"
            record.levelno, record.levelname, record.exc_info = logging.INFO, "INFO", None
        return True


def logging_config(*, level: str, fmt: str, file: str = "") -> dict:
    """The ``LOGGING`` setting: stdlib and structlog records rendered by one formatter."""
    if fmt not in ("json", "console"):
        raise ValueError("LOG_FORMAT must be 'json' or 'console'.")
    renderer = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    formatter = {
        "()": structlog.stdlib.ProcessorFormatter,
        "processors": [
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            # Tracebacks become text first, so that they are redacted like the rest.
            structlog.processors.format_exc_info,
            redact_processor,
            renderer,
        ],
        "foreign_pre_chain": _shared_processors(),
    }
    handlers: dict[str, dict] = {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "structured",
        },
    }
    if file:
        handlers["file"] = {
            "class": "logging.handlers.WatchedFileHandler",
            "filename": file,
            "formatter": "structured",
        }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"structured": formatter},
        "filters": {"one_traceback": {"()": OneTraceback}},
        "handlers": handlers,
        "root": {"handlers": list(handlers), "level": level.upper()},
        "loggers": {
            # Django's own console handler (DEBUG) would print every error a second time.
            "django": {"handlers": [], "level": level.upper()},
            "django.db.backends": {"level": "WARNING"},
            "django_structlog": {"level": level.upper()},
            "django_structlog.middlewares.request": {"filters": ["one_traceback"]},
            # 4xx are in django-structlog's request_finished already (Django logs them after
            # the request's context is gone); server errors keep Django's one traceback.
            "django.request": {"level": "ERROR"},
            # daphne's access log: kept (its paths are redacted), at the chosen level.
            "daphne": {"level": "WARNING" if level.upper() == "WARNING" else "INFO"},
        },
    }


def bind_socket(**values: Any) -> str:
    """Bind a fresh request id (and ``values``) for the WebSocket work that follows."""
    request_id = str(uuid.uuid4())
    structlog.contextvars.bind_contextvars(request_id=request_id, **values)
    return request_id
