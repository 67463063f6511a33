"""The webhook endpoint of every channel: ``/api/webhooks/<kind>/<inbox_id>``.

It verifies the request, writes the delivery down and answers; the work happens in a task, so
the provider gets its answer at once and no provider is called inside the request."""

from __future__ import annotations

import json

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from connectors import error_codes, registry, services
from connectors.base import Verdict

MAX_BODY = 1024 * 1024  # a Telegram update is a few kilobytes


def _error(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail, "code": code}, status=status)


@csrf_exempt
@require_POST
def webhook(request: HttpRequest, kind: str, inbox_id: int) -> JsonResponse:
    connector = registry.connector_for(kind)
    inbox = services.inbox_for_webhook(kind=kind, inbox_id=inbox_id) if connector else None
    if inbox is None:
        return _error(404, error_codes.INBOX_NOT_FOUND, "Inbox not found.")
    verdict = connector.verify(request, inbox)
    if verdict is Verdict.NOT_FOUND:
        return _error(404, error_codes.INBOX_NOT_FOUND, "Inbox not found.")
    if verdict is not Verdict.ACCEPT:
        return _error(403, error_codes.INVALID_SIGNATURE, "The webhook secret is missing or wrong.")
    if len(request.body) > MAX_BODY:
        return _error(413, error_codes.PAYLOAD_TOO_LARGE, "The update is too large.")
    try:
        payload = json.loads(request.body)
    except (ValueError, RecursionError):
        return _error(400, error_codes.INVALID_JSON, "The body is not JSON.")
    key = connector.update_key(payload) if isinstance(payload, dict) else None
    if key is None:
        return _error(400, error_codes.INVALID_UPDATE, "Not an update this channel sends.")
    _, created = services.webhook_update_store(inbox=inbox, key=key, payload=payload)
    return JsonResponse({"ok": True, "duplicate": not created})
