"""WhatsApp Business Cloud API.

Inbound: Meta checks the webhook URL with a ``GET`` (``hub.mode=subscribe``, ``hub.verify_token``,
``hub.challenge``: the challenge comes back as plain text when the token is the inbox's), then
posts changes signed with ``X-Hub-Signature-256: sha256=<HMAC-SHA256 of the raw body with the
app secret>``. A change carries ``messages`` (text, image, document, audio, video, sticker,
location, plus buttons and contacts as text) and ``statuses`` of what we sent (sent, delivered,
read, failed). Media is fetched with ``GET /{media_id}`` (JSON with a ``url``) and then that
URL, both with the bearer access token.

Outbound: ``POST /{phone_number_id}/messages`` (text, split past 4,096 characters; media after
``POST /{phone_number_id}/media``; approved templates). Graph API errors: 429 and the
throttling codes retry, 5xx retry, 131047 (the 24-hour window has closed) and other 4xx fail.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from django.conf import settings
from django.http import HttpResponse
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
    SendError,
    StatusReport,
    Verdict,
    split_text,
    stored_file,
)
from connectors.fetch import RefusedURL, configured_host, fetch_bytes, host_matches
from connectors.http import client, transport_error
from crm.errors import ValidationFailed

SIGNATURE_HEADER = "X-Hub-Signature-256"
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
REPLY_WINDOW = timedelta(hours=24)
PHONE_NUMBER_ID_RE = re.compile(r"^\d{5,32}$")
# Graph API error codes: the re-engagement error (outside the 24-hour window), throttling.
WINDOW_CLOSED_CODES = {131047}
THROTTLED_CODES = {4, 80007, 130429, 131048, 131056}
AUTH_CODES = {190}
MEDIA_TYPES = {"image": "image", "video": "video", "audio": "audio"}
STATUSES = {"sent": "sent", "delivered": "delivered", "read": "read", "failed": "failed"}
INBOUND_MEDIA = {
    "image": "image.jpg",
    "document": "document",
    "audio": "audio.ogg",
    "video": "video.mp4",
    "sticker": "sticker.webp",
}


def api_url(path: str) -> str:
    return f"{settings.WHATSAPP_API_URL}/{path.lstrip('/')}"


def _auth(inbox: Inbox) -> dict[str, str]:
    return {"Authorization": f"Bearer {inbox.bot_token}"}


def graph_error(what: str, response: httpx.Response) -> SendError:
    try:
        error = (response.json() or {}).get("error") or {}
    except ValueError:
        error = {}
    code = error.get("code")
    message = error.get("message") or response.reason_phrase or "no description"
    details = (error.get("error_data") or {}).get("details") or ""
    detail = f"WhatsApp {what}: {response.status_code} {message} {details}".strip()[:500]
    if code is not None:
        detail = f"{detail} (code {code})"
    status = response.status_code
    if status == 429 or code in THROTTLED_CODES:
        retry_after = response.headers.get("Retry-After")
        return RetryLater(
            detail,
            retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None,
            code=error_codes.RATE_LIMITED,
        )
    if status >= 500:
        return RetryLater(detail, code=error_codes.PROVIDER_UNAVAILABLE)
    if code in WINDOW_CLOSED_CODES:
        return Rejected(detail, code=error_codes.REPLY_WINDOW_CLOSED)
    if status == 401 or code in AUTH_CODES:
        return Rejected(detail, code=error_codes.INVALID_TOKEN)
    return Rejected(detail, code=error_codes.PROVIDER_REJECTED)


def call(inbox: Inbox, method: str, path: str, **kwargs: Any) -> dict:
    """One Graph API call with the inbox's token: the JSON answer, or a ``SendError``."""
    try:
        response = client().request(method, api_url(path), headers=_auth(inbox), **kwargs)
    except httpx.HTTPError as exc:
        raise transport_error(f"WhatsApp {path}", exc) from exc
    if response.status_code != 200:
        raise graph_error(path, response)
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def signature_of(body: bytes, app_secret: str) -> str:
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def _signature_valid(given: str, body: bytes, app_secret: str) -> bool:
    if not given or not app_secret:
        return False
    return hmac.compare_digest(given.encode(), signature_of(body, app_secret).encode())


def _values(payload: dict[str, Any]):
    for entry in payload.get("entry") or []:
        if not isinstance(entry, dict):
            continue
        for change in entry.get("changes") or []:
            if isinstance(change, dict) and isinstance(change.get("value"), dict):
                yield change["value"]


def _timestamp(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _describe_location(location: dict) -> str:
    lat, lon = location.get("latitude"), location.get("longitude")
    head = ", ".join(filter(None, [location.get("name"), location.get("address")]))
    text = f"📍 Location: {lat}, {lon} https://www.openstreetmap.org/?mlat={lat}&mlon={lon}"
    return f"{head}\n{text}" if head else text


def _message_content(msg: dict) -> tuple[list[RemoteFile], str]:
    kind = msg.get("type")
    files: list[RemoteFile] = []
    text = ""
    if kind == "text":
        text = (msg.get("text") or {}).get("body") or ""
    elif kind in INBOUND_MEDIA:
        media = msg.get(kind) or {}
        text = media.get("caption") or ""
        if media.get("id"):
            name = media.get("filename") or INBOUND_MEDIA[kind]
            files.append(RemoteFile(str(media["id"]), name))
    elif kind == "location":
        text = _describe_location(msg.get("location") or {})
    elif kind == "button":
        text = (msg.get("button") or {}).get("text") or ""
    elif kind == "interactive":
        reply = msg.get("interactive") or {}
        chosen = reply.get("button_reply") or reply.get("list_reply") or {}
        text = chosen.get("title") or ""
    elif kind == "contacts":
        people = []
        for contact in msg.get("contacts") or []:
            name = (contact.get("name") or {}).get("formatted_name") or ""
            phones = ", ".join(p.get("phone", "") for p in contact.get("phones") or [])
            people.append(f"👤 Contact: {name} {phones}".strip())
        text = "\n".join(people)
    if not text and not files:
        text = "[a message of a kind this inbox does not show]"
    return files, text


class WhatsAppConnector(Connector):
    kind = "whatsapp"
    reply_window = REPLY_WINDOW
    supports_templates = True

    # --- settings ---------------------------------------------------------------------------

    def validate_settings(self, inbox: Inbox) -> None:
        if inbox.phone_number_id and not PHONE_NUMBER_ID_RE.match(inbox.phone_number_id):
            raise ValidationFailed(
                _("These WhatsApp settings cannot work."),
                code=error_codes.INVALID_SETTINGS,
                fields={
                    "phone_number_id": [
                        _("The phone number ID from WhatsApp Manager (digits), not the number.")
                    ]
                },
            )

    # --- inbound ----------------------------------------------------------------------------

    def handshake(self, request, inbox: Inbox) -> HttpResponse:
        mode = request.GET.get("hub.mode", "")
        token = request.GET.get("hub.verify_token", "")
        challenge = request.GET.get("hub.challenge", "")
        if (
            mode == "subscribe"
            and token
            and inbox.verify_token
            and hmac.compare_digest(token.encode(), inbox.verify_token.encode())
            and challenge
        ):
            return HttpResponse(challenge[:256], content_type="text/plain")
        return HttpResponse("Forbidden", status=403, content_type="text/plain")

    def verify(self, request, inbox: Inbox) -> Verdict:
        given = request.headers.get(SIGNATURE_HEADER) or ""
        body = request.body
        if _signature_valid(given, body, inbox.app_secret):
            return Verdict.ACCEPT
        if not given:
            return Verdict.FORBIDDEN
        # Signed for another inbox (another organization's number, say): the number in the
        # body names it, and its own secret proves it; this URL does not exist for the sender.
        try:
            numbers = {
                str((value.get("metadata") or {}).get("phone_number_id") or "")
                for value in _values(json.loads(body))
            } - {"", inbox.phone_number_id}
        except (ValueError, RecursionError, AttributeError):
            return Verdict.FORBIDDEN
        for other in Inbox.objects.filter(
            kind=self.kind, phone_number_id__in=list(numbers)[:5]
        ).exclude(pk=inbox.pk):
            if _signature_valid(given, body, other.app_secret):
                return Verdict.NOT_FOUND
        return Verdict.FORBIDDEN

    def update_key(self, payload: dict[str, Any]) -> str | None:
        """Meta gives a delivery no id: the key is made of what it carries (message ids, and
        status ids with their status), so a retried or duplicated delivery has the same one."""
        if payload.get("object") != "whatsapp_business_account":
            return None
        items: list[str] = []
        for value in _values(payload):
            for msg in value.get("messages") or []:
                if isinstance(msg, dict):
                    items.append(f"m:{msg.get('id')}")
            for status in value.get("statuses") or []:
                if isinstance(status, dict):
                    items.append(f"s:{status.get('id')}:{status.get('status')}")
        if not items:
            items.append("x:" + json.dumps(payload, sort_keys=True, separators=(",", ":")))
        if len(items) == 1 and len(items[0]) <= 128:
            return items[0]
        return "h:" + hashlib.sha256("\n".join(sorted(items)).encode()).hexdigest()

    def parse(self, payload: dict[str, Any]) -> list[InboundEvent]:
        events: list[InboundEvent] = []
        for value in _values(payload):
            account = str((value.get("metadata") or {}).get("phone_number_id") or "")
            names = {
                str(c.get("wa_id")): (c.get("profile") or {}).get("name") or ""
                for c in value.get("contacts") or []
                if isinstance(c, dict)
            }
            for msg in value.get("messages") or []:
                if not isinstance(msg, dict) or not msg.get("from") or not msg.get("id"):
                    continue
                if msg.get("type") in ("reaction", "system", "ephemeral", "unsupported"):
                    continue
                sender_id = str(msg["from"])
                files, text = _message_content(msg)
                events.append(
                    InboundMessage(
                        sender=ChannelSender(
                            external_id=sender_id, name=names.get(sender_id, ""), username=""
                        ),
                        external_id=str(msg["id"]),
                        text=text,
                        files=tuple(files),
                        sent_at=_timestamp(msg.get("timestamp")),
                        account=account,
                    )
                )
            for status in value.get("statuses") or []:
                if not isinstance(status, dict) or not status.get("id"):
                    continue
                delivery = STATUSES.get(status.get("status"))
                if delivery is None:
                    continue
                error = None
                if delivery == "failed":
                    first = (status.get("errors") or [{}])[0] or {}
                    code = first.get("code")
                    details = (first.get("error_data") or {}).get("details") or ""
                    error = {
                        "code": (
                            error_codes.REPLY_WINDOW_CLOSED
                            if code in WINDOW_CLOSED_CODES
                            else error_codes.PROVIDER_REJECTED
                        ),
                        "detail": (
                            f"WhatsApp: {first.get('title') or first.get('message') or 'failed'}"
                            f"{' — ' + details if details else ''} (code {code})"
                        ),
                    }
                events.append(StatusReport(str(status["id"]), delivery, error, account))
        return events

    def fetch_file(self, inbox: Inbox, file: RemoteFile, *, max_size: int) -> tuple[bytes, str]:
        try:
            info = call(inbox, "GET", file.file_id)
        except RetryLater as exc:
            raise FetchError(exc.detail, retry=True) from exc
        except SendError as exc:  # a lookup changes nothing: asking again is safe
            raise FetchError(exc.detail, retry=not isinstance(exc, Rejected)) from exc
        url = info.get("url")
        if not url:
            raise FetchError("WhatsApp gave no media URL.", retry=False)
        if int(info.get("file_size") or 0) > max_size:
            raise FetchError(f"{file.name} is larger than {max_size} bytes.", retry=False)
        # The link came from the Graph API: fetched (with the token) only on the configured API
        # host or Meta's media CDN (WHATSAPP_MEDIA_HOSTS, public addresses), never redirected.
        api_host = configured_host(settings.WHATSAPP_API_URL)
        host = configured_host(str(url))
        if not host_matches(host, [api_host, *settings.WHATSAPP_MEDIA_HOSTS]):
            raise RefusedURL(f"WhatsApp media link on an unexpected host ({host or '?'})")
        content = fetch_bytes(
            str(url),
            max_size=max_size,
            name=file.name,
            what="media download",
            headers=_auth(inbox),
            trusted=(api_host,),
        )
        return content, file.name

    def map_status(self, status: str) -> str | None:
        return STATUSES.get(status)

    def account_of(self, inbox: Inbox) -> str:
        return inbox.phone_number_id

    # --- outbound ---------------------------------------------------------------------------

    def plan(self, message: Message) -> list[OutboundPart]:
        from connectors.models import OutboundTemplate

        template = OutboundTemplate.objects.filter(message_id=message.pk).first()
        if template is not None:
            return [
                OutboundPart(
                    0,
                    "template",
                    extra={
                        "name": template.name,
                        "language": template.language,
                        "parameters": list(template.parameters),
                    },
                )
            ]
        files = sorted(message.attachments.all(), key=lambda f: f.pk)
        text = message.text or ""
        parts: list[OutboundPart] = []
        caption = ""
        if files and len(text) <= CAPTION_LIMIT:
            caption, text = text, ""
        if text.strip():
            for piece in split_text(text, TEXT_LIMIT):
                parts.append(OutboundPart(len(parts), "text", text=piece))
        for position, media in enumerate(files):
            parts.append(
                OutboundPart(
                    len(parts),
                    MEDIA_TYPES.get(media.kind, "document"),
                    text=caption if position == 0 else "",
                    media_id=media.pk,
                )
            )
        return parts

    def _message_body(self, inbox: Inbox, recipient: str, part: OutboundPart) -> dict:
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": recipient,
            "type": part.method,
        }
        if part.method == "text":
            body["text"] = {"body": part.text, "preview_url": False}
        elif part.method == "template":
            template: dict[str, Any] = {
                "name": part.extra["name"],
                "language": {"code": part.extra["language"]},
            }
            if part.extra["parameters"]:
                template["components"] = [
                    {
                        "type": "body",
                        "parameters": [
                            {"type": "text", "text": p} for p in part.extra["parameters"]
                        ],
                    }
                ]
            body["template"] = template
        else:
            # Uploading again after a refused send only stores a second copy at Meta
            # (kept 30 days, never shown): harmless, unlike a second message.
            name, content, mime = stored_file(part.media_id)
            uploaded = call(
                inbox,
                "POST",
                f"{inbox.phone_number_id}/media",
                data={"messaging_product": "whatsapp", "type": mime},
                files={"file": (name, content, mime)},
            )
            if not uploaded.get("id"):
                raise Rejected("WhatsApp media upload: no id in the answer.")
            media: dict[str, Any] = {"id": str(uploaded["id"])}
            if part.text and part.method != "audio":
                media["caption"] = part.text
            if part.method == "document":
                media["filename"] = name
            body[part.method] = media
        return body

    def send_part(self, inbox: Inbox, recipient: str, part: OutboundPart) -> str:
        body = self._message_body(inbox, recipient, part)
        answer = call(inbox, "POST", f"{inbox.phone_number_id}/messages", json=body)
        ids = [m.get("id") for m in answer.get("messages") or [] if isinstance(m, dict)]
        return str(ids[0]) if ids and ids[0] else ""
