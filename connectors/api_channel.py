"""The API channel: our own protocol, for any bridge (a WhatsApp Web gateway, a shop's chat).

Inbound: ``POST /api/webhooks/api/{inbox_id}`` with ``Authorization: Bearer <api_token>`` and
``{"message_id", "contact": {"id", "name", "email"?, "phone"?}, "text", "attachments"?:
[{"url", "name"}]}``; answered with ``{"chat_id", "message_id"}`` of the stored message (the
delivery is processed inside the request: the bridge waits for the ids). Idempotent on
``message_id``.

Outbound: ``POST <callback_url>`` with ``{"event": "message.created", "delivery_id", "message":
{...}, "contact": {"id"}}`` signed ``X-Connector-Signature: sha256=<HMAC-SHA256 of the raw body
with webhook_secret>``. Any 2xx is ``sent``. Every other answer, a timeout or a refused
connection is retried with backoff: ``delivery_id`` stays the same for every try of one message,
so the receiver drops a copy it has seen, and resending is always safe.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core import signing
from django.utils.translation import gettext as _

from chats.models import Inbox, Message
from chats.services.channels import ChannelSender
from connectors import error_codes
from connectors.base import (
    Connector,
    FetchError,
    InboundEvent,
    InboundMessage,
    OutboundPart,
    Rejected,
    RemoteFile,
    RetryLater,
    Verdict,
)
from connectors.fetch import RefusedURL, fetch_bytes, guarded_stream
from connectors.http import transport_error
from crm import crypto

SIGNATURE_HEADER = "X-Connector-Signature"
MAX_ATTACHMENTS = 10
MAX_ID_LENGTH = 128
FILE_SALT = "connectors.api_channel.file"
DELIVERY_NAMESPACE = uuid.UUID("6f7e1c1a-3c55-4d1e-9a53-0b8f6f0c2a11")


def signature_of(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def delivery_id(message: Message) -> str:
    """The same for every try of one message (the receiver's deduplication key)."""
    return str(uuid.uuid5(DELIVERY_NAMESPACE, f"{message.chat.inbox_id}:{message.pk}"))


def file_token(*, inbox_id: int, media_id: int) -> str:
    return signing.dumps({"i": inbox_id, "m": media_id}, salt=FILE_SALT, compress=True)


def file_token_read(token: str, *, inbox_id: int) -> int | None:
    """The media id a link names, when the link is ours, for this inbox and not expired."""
    try:
        data = signing.loads(token, salt=FILE_SALT, max_age=settings.CONNECTOR_FILE_URL_SECONDS)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or data.get("i") != inbox_id:
        return None
    media_id = data.get("m")
    return media_id if isinstance(media_id, int) else None


def file_url(*, inbox_id: int, media_id: int) -> str:
    token = file_token(inbox_id=inbox_id, media_id=media_id)
    return f"{settings.CONNECTOR_PUBLIC_URL}/api/webhooks/api/{inbox_id}/files/{token}"


def _identifier(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return None
    value = str(value).strip()
    return value if 0 < len(value) <= MAX_ID_LENGTH else None


def message_payload(message: Message, recipient: str) -> dict[str, Any]:
    files = sorted(message.attachments.all(), key=lambda f: f.pk)
    return {
        "event": "message.created",
        "delivery_id": delivery_id(message),
        "message": {
            "id": message.pk,
            "chat_id": message.chat_id,
            "kind": message.kind,
            "text": message.text,
            "attachments": [
                {
                    "url": file_url(inbox_id=message.chat.inbox_id, media_id=f.pk),
                    "name": f.original_name,
                    "mime": f.mime,
                    "size": f.size,
                }
                for f in files
            ],
            "created_at": message.created_at.isoformat(),
        },
        "contact": {"id": recipient},
    }


class ApiChannelConnector(Connector):
    kind = "api"
    inline = True

    def validate_settings(self, inbox: Inbox) -> None:
        """``callback_url`` is checked by the API (a URL); without it nothing leaves."""

    # --- inbound ----------------------------------------------------------------------------

    def verify(self, request, inbox: Inbox) -> Verdict:
        scheme, _, given = (request.headers.get("Authorization") or "").partition(" ")
        given = given.strip()
        if scheme.lower() != "bearer" or not given or not inbox.api_token:
            return Verdict.FORBIDDEN
        if hmac.compare_digest(given.encode(), inbox.api_token.encode()):
            return Verdict.ACCEPT
        if (
            Inbox.objects.filter(api_token_digest=crypto.digest(given))
            .exclude(pk=inbox.pk)
            .exists()
        ):
            return Verdict.NOT_FOUND
        return Verdict.FORBIDDEN

    def update_key(self, payload: dict[str, Any]) -> str | None:
        contact = payload.get("contact")
        if not isinstance(contact, dict) or _identifier(contact.get("id")) is None:
            return None
        text = payload.get("text", "")
        attachments = payload.get("attachments") or []
        if not isinstance(text, str) or not isinstance(attachments, list):
            return None
        if len(attachments) > MAX_ATTACHMENTS or not all(
            isinstance(a, dict) and isinstance(a.get("url"), str) for a in attachments
        ):
            return None
        if not text.strip() and not attachments:
            return None
        message_id = _identifier(payload.get("message_id"))
        if message_id is None:
            return None
        # The same id from two contacts are two messages.
        return hashlib.sha256(f"{contact['id']}\n{message_id}".encode()).hexdigest()

    def parse(self, payload: dict[str, Any]) -> list[InboundEvent]:
        contact = payload["contact"]
        name = str(contact.get("name") or contact.get("phone") or contact.get("email") or "")
        files = []
        for attachment in payload.get("attachments") or []:
            url = attachment["url"]
            fallback = urlsplit(url).path.rsplit("/", 1)[-1] or "file"
            files.append(RemoteFile(url, str(attachment.get("name") or fallback)[:200]))
        return [
            InboundMessage(
                sender=ChannelSender(
                    external_id=_identifier(contact["id"]) or "",
                    name=name[:150],
                    username=str(contact.get("phone") or contact.get("email") or "")[:150],
                ),
                external_id=_identifier(payload["message_id"]) or "",
                text=str(payload.get("text") or ""),
                files=tuple(files),
            )
        ]

    def fetch_file(self, inbox: Inbox, file: RemoteFile, *, max_size: int) -> tuple[bytes, str]:
        # The bridge chose the link: public addresses only, every redirect checked again.
        content = fetch_bytes(
            file.file_id,
            max_size=max_size,
            name=file.name,
            max_redirects=settings.CONNECTOR_FETCH_MAX_REDIRECTS,
        )
        return content, file.name

    # --- outbound ---------------------------------------------------------------------------

    def plan(self, message: Message) -> list[OutboundPart]:
        return [OutboundPart(0, "callback", extra={"message_id": message.pk})]

    def send_part(self, inbox: Inbox, recipient: str, part: OutboundPart) -> str:
        if not inbox.callback_url:
            raise Rejected(
                _("The inbox has no callback_url to deliver to."),
                code=error_codes.CALLBACK_MISSING,
            )
        message = (
            Message.objects.select_related("chat")
            .prefetch_related("attachments")
            .get(pk=part.extra["message_id"])
        )
        body = json.dumps(message_payload(message, recipient), separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature_of(body, inbox.webhook_secret),
            "User-Agent": "ConnectorCRM-Webhook/1",
        }
        try:
            # The inbox's admin chose the URL: public addresses only, as for fetched links.
            with guarded_stream("POST", inbox.callback_url, content=body, headers=headers) as got:
                got.read()
                response = got
        except RefusedURL as exc:
            raise Rejected(
                _("The callback URL is refused: %(reason)s.") % {"reason": exc},
                code=error_codes.URL_REFUSED,
            ) from exc
        except FetchError as exc:  # the name does not resolve (now)
            raise RetryLater(f"callback: {exc}", code=error_codes.PROVIDER_UNAVAILABLE) from exc
        except httpx.HTTPError as exc:
            raise transport_error("callback", exc, idempotent=True) from exc
        if not 200 <= response.status_code < 300:
            retry_after = response.headers.get("Retry-After")
            raise RetryLater(
                f"callback: {response.status_code} {response.reason_phrase}"[:500],
                retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None,
                code=(
                    error_codes.RATE_LIMITED
                    if response.status_code == 429
                    else error_codes.PROVIDER_UNAVAILABLE
                ),
            )
        return delivery_id(message)
