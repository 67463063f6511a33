"""Who is on the other end of a WebSocket, and keeping their credentials out of the logs.

A connection to ``/ws/`` is authenticated by the first of:

- ``?ticket=<t>``: a single-use ticket from ``POST /api/auth/ws-ticket``, valid
  ``WS_TICKET_SECONDS`` (browsers and apps: the long-lived token never appears in a URL);
- ``?token=<access JWT>``: for simple API clients;
- the session cookie: the cabinet and the back office.

A ticket or token that is given but bad never falls back to the cookie: the consumer sees an
anonymous user and closes with 4401. Tickets live in the cache (shared by every process with
``REDIS_URL``), stored under a hash of the ticket. Single use holds across processes: of two
connections presenting the same ticket, only the one whose delete removed the entry gets in.

Socket.IO (``chats.socketio``) signs its connections in with the same functions
(``ticket_redeem``, ``user_for_access_token``, the session) and the same Origin rule
(``origin_allowed``).

Credentials in query strings end up in access logs unless someone removes them: the
middleware strips them from the scope, and ``RedactingAccessLog`` replaces their values in
daphne's access log (which writes the query string of plain HTTP requests, such as a
``GET /ws/?token=…`` that a proxy did not upgrade).
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from urllib.parse import parse_qsl, urlencode, urlparse

from channels.auth import get_user as session_user
from channels.db import database_sync_to_async
from channels.middleware import BaseMiddleware
from channels.security.websocket import OriginValidator
from channels.sessions import CookieMiddleware, SessionMiddleware
from daphne.access import AccessLogGenerator
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.utils import translation
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError

from accounts.models import User
from crm.client_ip import install_daphne_forwarding, scope_ip
from crm.i18n import language_for_scope

TICKET_PARAM = "ticket"
TOKEN_PARAM = "token"  # noqa: S105 (the query parameter's name)
MAX_CREDENTIAL_LENGTH = 4096
# Query parameters whose values never reach a log line.
SECRET_PARAM_RE = re.compile(r"token|ticket|secret|password|signature|key", re.IGNORECASE)


# --- Tickets --------------------------------------------------------------------------------


def _ticket_key(ticket: str) -> str:
    return "wsticket:" + hashlib.sha256(ticket.encode()).hexdigest()


def ticket_issue(*, user: User) -> dict:
    """A fresh single-use ticket for ``user``: ``{"ticket", "expires_in"}``."""
    ttl = settings.WS_TICKET_SECONDS
    ticket = secrets.token_urlsafe(32)
    cache.set(
        _ticket_key(ticket), {"user_id": user.pk, "expires_at": time.time() + ttl}, timeout=ttl
    )
    return {"ticket": ticket, "expires_in": ttl}


async def ticket_redeem(ticket: str) -> User | None:
    """The active user the ticket was issued to, once; None when unknown, used or expired."""
    if not ticket or len(ticket) > MAX_CREDENTIAL_LENGTH:
        return None
    key = _ticket_key(ticket)
    entry = await cache.aget(key)
    # Whoever deletes the entry redeems it: a concurrent second use finds nothing to delete.
    if entry is None or not await cache.adelete(key):
        return None
    if entry["expires_at"] < time.time():
        return None
    return await _active_user(entry["user_id"])


@database_sync_to_async
def _active_user(user_id: int) -> User | None:
    return User.objects.filter(pk=user_id, is_active=True).select_related("organization").first()


# --- Access JWT -----------------------------------------------------------------------------


@database_sync_to_async
def user_for_access_token(raw: str) -> User | None:
    """The active user of a valid access JWT (the same checks as the HTTP API), else None."""
    if not raw or len(raw) > MAX_CREDENTIAL_LENGTH:
        return None
    auth = JWTAuthentication()
    try:
        return auth.get_user(auth.get_validated_token(raw))
    except (InvalidToken, TokenError, AuthenticationFailed):
        return None


# --- Origin ---------------------------------------------------------------------------------


def origin_allowed(origin: str) -> bool:
    """The Origin rule of ``/ws/`` (``AllowedHostsOriginValidator``: its host is one of
    ``ALLOWED_HOSTS``), for Socket.IO; an origin of ``CORS_ALLOWED_ORIGINS`` is allowed too
    (a frontend served from another address, as the seeds' were)."""
    if origin in settings.CORS_ALLOWED_ORIGINS:
        return True
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = ["localhost", "127.0.0.1", "[::1]"]
    try:
        parsed = urlparse(origin)
    except ValueError:
        return False
    return OriginValidator(None, hosts).valid_origin(parsed)


# --- Middleware -----------------------------------------------------------------------------


class WebSocketAuthMiddleware(BaseMiddleware):
    """Sets ``scope["user"]`` (a User or AnonymousUser) and ``scope["auth_method"]``
    (``ticket``, ``token``, ``session`` or None), and drops credentials from the query string.
    Expects ``scope["session"]`` (SessionMiddleware) for the cookie."""

    async def __call__(self, scope, receive, send):
        query = scope.get("query_string", b"").decode("latin-1")
        given = dict(parse_qsl(query))
        user: User | None
        if TICKET_PARAM in given:
            method, user = "ticket", await ticket_redeem(given[TICKET_PARAM])
        elif TOKEN_PARAM in given:
            method, user = "token", await user_for_access_token(given[TOKEN_PARAM])
        else:
            found = await session_user(scope)
            method, user = "session", (found if found.is_authenticated else None)
        # Errors and texts of this connection in the user's language (the consumer's handlers
        # run in this task's context, their threads too).
        translation.activate(await database_sync_to_async(language_for_scope)(scope, user))
        peer = scope.get("client") or ("", 0)
        scope = {
            **scope,
            # The client's address by TRUSTED_PROXIES (daphne alone would believe any header).
            "client": (scope_ip(scope), peer[1] if len(peer) > 1 else 0),
            "user": user or AnonymousUser(),
            "auth_method": method if user else None,
            "query_string": redact_query(query, drop=True).encode("latin-1"),
        }
        return await super().__call__(scope, receive, send)


def WebSocketAuthStack(inner):
    return CookieMiddleware(SessionMiddleware(WebSocketAuthMiddleware(inner)))


# --- Logs -----------------------------------------------------------------------------------


def redact_query(query: str, *, drop: bool = False) -> str:
    """The query string with the values of secret-looking parameters replaced (or, with
    ``drop``, those parameters removed)."""
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(SECRET_PARAM_RE.search(name) for name, _ in pairs):
        return query
    kept = [
        (name, "[redacted]" if SECRET_PARAM_RE.search(name) else value)
        for name, value in pairs
        if not (drop and SECRET_PARAM_RE.search(name))
    ]
    return urlencode(kept, safe="[]")


def redact_path(path: str) -> str:
    """A request path as logged (``/ws/?token=…``) with secret query values replaced."""
    base, sep, query = path.partition("?")
    return f"{base}{sep}{redact_query(query)}" if sep else path


class RedactingAccessLog(AccessLogGenerator):
    """daphne's access log, with secret query parameter values replaced by ``[redacted]``."""

    def write_entry(self, host, date, request, *args, **kwargs):
        method, sep, path = request.partition(" ")
        return super().write_entry(host, date, f"{method}{sep}{redact_path(path)}", *args, **kwargs)


def install_access_log_redaction() -> None:
    """Make ``daphne``'s command line build its access log with ``RedactingAccessLog``.

    The command line imports the application (this project's ``crm.asgi``) before it creates
    the access log, by looking the class up in ``daphne.cli``: replacing it there is the one
    place that covers ``daphne crm.asgi:application`` however it is started.
    """
    import daphne.cli

    daphne.cli.AccessLogGenerator = RedactingAccessLog
    install_daphne_forwarding()
