"""The webhook endpoint of every channel: ``/api/webhooks/<kind>/<inbox_id>``.

It verifies the request, writes the delivery down and answers; the work happens in a task, so
the provider gets its answer at once and no provider is called inside the request. A channel
whose sender waits for the stored ids (our own API channel, ``Connector.inline``) has its
delivery processed inside the request instead."""

from __future__ import annotations

import json

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from connectors import error_codes, registry, services
from connectors.base import Connector, Verdict


def _error(status: int, code: str, detail: str) -> JsonResponse:
    return JsonResponse({"detail": detail, "code": code}, status=status)


def _not_found() -> JsonResponse:
    return _error(404, error_codes.INBOX_NOT_FOUND, "Inbox not found.")


@csrf_exempt
@require_http_methods(["GET", "POST"])
def webhook(request: HttpRequest, kind: str, inbox_id: int) -> HttpResponse:
    connector = registry.connector_for(kind)
    if request.method == "GET":
        if connector is None or type(connector).handshake is Connector.handshake:
            return HttpResponse(status=405, headers={"Allow": "POST"})
        inbox = services.inbox_for_webhook(kind=kind, inbox_id=inbox_id)
        if inbox is None:
            return _not_found()
        return connector.handshake(request, inbox)
    inbox = services.inbox_for_webhook(kind=kind, inbox_id=inbox_id) if connector else None
    if inbox is None:
        return _not_found()
    verdict = connector.verify(request, inbox)
    if verdict is Verdict.NOT_FOUND:
        return _not_found()
    if verdict is not Verdict.ACCEPT:
        return _error(403, error_codes.INVALID_SIGNATURE, "The webhook secret is missing or wrong.")
    if len(request.body) > connector.max_body:
        return _error(413, error_codes.PAYLOAD_TOO_LARGE, "The update is too large.")
    try:
        payload = json.loads(request.body)
    except (ValueError, RecursionError):
        return _error(400, error_codes.INVALID_JSON, "The body is not JSON.")
    key = connector.update_key(payload) if isinstance(payload, dict) else None
    if key is None:
        return _error(400, error_codes.INVALID_UPDATE, "Not an update this channel sends.")
    if connector.inline:
        answer = services.webhook_update_receive_now(inbox=inbox, key=key, payload=payload)
        return JsonResponse(answer)
    _, created = services.webhook_update_store(inbox=inbox, key=key, payload=payload)
    return JsonResponse({"ok": True, "duplicate": not created})


@require_http_methods(["GET"])
def api_channel_file(request: HttpRequest, inbox_id: int, token: str) -> HttpResponse:
    """An attachment of an outbound API-channel message, for the bridge: the link is signed
    for this inbox and expires (``CONNECTOR_FILE_URL_SECONDS``); anything else is 404."""
    media = services.api_channel_file_for(inbox_id=inbox_id, token=token)
    if media is None:
        return _not_found()
    from media.api import file_response

    return file_response(media, thumbnail=False)
