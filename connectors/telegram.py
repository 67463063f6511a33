"""Telegram Bot API: webhook in, Bot API calls out.

Inbound: ``message`` and ``edited_message`` of private chats — text, photo (the largest size),
document, voice, audio, video, video note, sticker (as an image), location and contact (as
text). Outbound: ``sendMessage`` (split past 4,096 characters at a line, else a word boundary),
``sendPhoto`` / ``sendDocument`` / ``sendVideo`` / ``sendAudio`` as multipart uploads of the
stored file with the text as caption when it fits.
"""

from __future__ import annotations

import hmac
import re
import threading
from typing import Any

import httpx
from django.conf import settings
from django.utils.translation import gettext as _

from chats.models import Inbox, Message
from chats.services.channels import ChannelSender
from connectors import error_codes
from connectors.base import (
    Ambiguous,
    Connector,
    FetchError,
    InboundEvent,
    InboundMessage,
    OutboundPart,
    Rejected,
    RemoteFile,
    RetryLater,
    Verdict,
    stored_file,
)
from connectors.base import split_text as base_split_text
from connectors.fetch import configured_host, fetch_bytes
from crm import crypto
from crm.errors import ValidationFailed

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
PHOTO_LIMIT = 10 * 1024 * 1024  # larger images go as documents
ALLOWED_UPDATES = ["message", "edited_message"]
TOKEN_RE = re.compile(r"^\d{3,20}:[A-Za-z0-9_-]{20,100}$")
SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
MEDIA_METHODS = {"image": "sendPhoto", "video": "sendVideo", "audio": "sendAudio"}
MEDIA_FIELDS = {
    "sendPhoto": "photo",
    "sendVideo": "video",
    "sendAudio": "audio",
    "sendDocument": "document",
}

_client_lock = threading.Lock()
_client: httpx.Client | None = None


def client() -> httpx.Client:
    """One connection pool per process (httpx clients are thread-safe)."""
    global _client
    with _client_lock:
        if _client is None:
            timeout = settings.CONNECTOR_TIMEOUT_SECONDS
            _client = httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)))
        return _client


def api_url(token: str, method: str) -> str:
    return f"{settings.TELEGRAM_API_URL}/bot{token}/{method}"


def split_text(text: str, limit: int = TEXT_LIMIT) -> list[str]:
    return base_split_text(text, limit)


def _call_error(method: str, response: httpx.Response) -> Exception:
    try:
        body = response.json()
    except ValueError:
        body = {}
    description = str(body.get("description") or response.reason_phrase or "no description")
    detail = f"Telegram {method}: {response.status_code} {description}"[:500]
    status = response.status_code
    if status == 429:
        retry_after = (body.get("parameters") or {}).get("retry_after")
        return RetryLater(
            detail,
            retry_after=float(retry_after) if retry_after is not None else None,
            code=error_codes.RATE_LIMITED,
        )
    if status >= 500:
        return RetryLater(detail, code=error_codes.PROVIDER_UNAVAILABLE)
    if status == 403:
        return Rejected(detail, code=error_codes.BOT_BLOCKED)
    if status in (401, 404):
        return Rejected(detail, code=error_codes.INVALID_TOKEN)
    return Rejected(detail, code=error_codes.PROVIDER_REJECTED)


def call(token: str, method: str, *, json: dict | None = None, **kwargs: Any) -> Any:
    """One Bot API call; its ``result``, or a ``SendError`` that says whether the provider may
    have acted on it. A connection that never opened, or a body never fully written, cannot
    have been acted on (RetryLater); a request that left and got no answer may have been
    (Ambiguous)."""
    try:
        response = client().post(api_url(token, method), json=json, **kwargs)
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise RetryLater(f"Telegram {method}: cannot connect ({exc.__class__.__name__})") from exc
    except (httpx.WriteError, httpx.WriteTimeout) as exc:
        raise RetryLater(f"Telegram {method}: request not sent ({exc.__class__.__name__})") from exc
    except httpx.HTTPError as exc:
        raise Ambiguous(
            f"Telegram {method}: no answer ({exc.__class__.__name__}); it may have been delivered."
        ) from exc
    if response.status_code != 200:
        raise _call_error(method, response)
    try:
        body = response.json()
    except ValueError:
        return {}
    if not body.get("ok", False):
        raise _call_error(method, response)
    return body.get("result")


def _largest_photo(sizes: list[dict]) -> dict:
    return max(
        sizes,
        key=lambda s: (s.get("file_size") or 0, (s.get("width") or 0) * (s.get("height") or 0)),
    )


def _describe_location(location: dict) -> str:
    lat, lon = location.get("latitude"), location.get("longitude")
    return f"📍 Location: {lat}, {lon} https://www.openstreetmap.org/?mlat={lat}&mlon={lon}"


def _describe_contact(contact: dict) -> str:
    name = " ".join(filter(None, [contact.get("first_name"), contact.get("last_name")]))
    return f"👤 Contact: {name} {contact.get('phone_number', '')}".strip()


def _files_and_text(msg: dict) -> tuple[list[RemoteFile], str]:
    text = msg.get("text") or msg.get("caption") or ""
    files: list[RemoteFile] = []
    if msg.get("photo"):
        photo = _largest_photo(msg["photo"])
        files.append(RemoteFile(photo["file_id"], "photo.jpg", photo.get("file_size")))
    for key, default_name in (
        ("document", "document"),
        ("video", "video.mp4"),
        ("audio", "audio.mp3"),
        ("voice", "voice.ogg"),
        ("video_note", "video_note.mp4"),
    ):
        item = msg.get(key)
        if item and item.get("file_id"):
            files.append(
                RemoteFile(
                    item["file_id"], item.get("file_name") or default_name, item.get("file_size")
                )
            )
    sticker = msg.get("sticker")
    if sticker:
        if sticker.get("is_animated") or sticker.get("is_video"):
            text = text or f"[sticker {sticker.get('emoji', '')}]".replace(" ]", "]")
        else:
            files.append(RemoteFile(sticker["file_id"], "sticker.webp", sticker.get("file_size")))
    if msg.get("location") and not msg.get("venue"):
        text = _describe_location(msg["location"])
    if msg.get("venue"):
        venue = msg["venue"]
        text = f"{venue.get('title', '')}, {venue.get('address', '')}\n" + _describe_location(
            venue.get("location") or {}
        )
    if msg.get("contact"):
        text = _describe_contact(msg["contact"])
    if not text and not files:
        text = "[a message of a kind this inbox does not show]"
    return files, text


class TelegramConnector(Connector):
    kind = "telegram"

    # --- settings ---------------------------------------------------------------------------

    def validate_settings(self, inbox: Inbox) -> None:
        errors: dict[str, list[str]] = {}
        if inbox.bot_token and not TOKEN_RE.match(inbox.bot_token):
            errors["bot_token"] = ["A bot token looks like 123456789:AA… (from @BotFather)."]
        if inbox.webhook_secret and not SECRET_RE.match(inbox.webhook_secret):
            errors["webhook_secret"] = ["1 to 256 characters: letters, digits, _ and -."]
        if errors:
            raise ValidationFailed(
                _("These Telegram settings cannot work."),
                code=error_codes.INVALID_SETTINGS,
                fields=errors,
            )

    # --- inbound ----------------------------------------------------------------------------

    def verify(self, request, inbox: Inbox) -> Verdict:
        given = request.headers.get(SECRET_HEADER) or ""
        if not given or not inbox.webhook_secret:
            return Verdict.FORBIDDEN
        if hmac.compare_digest(given.encode(), inbox.webhook_secret.encode()):
            return Verdict.ACCEPT
        # A secret we issued to another inbox (another organization's, say): that inbox's
        # URL is not this one, and this one does not exist for the caller.
        if (
            Inbox.objects.filter(webhook_secret_digest=crypto.digest(given))
            .exclude(pk=inbox.pk)
            .exists()
        ):
            return Verdict.NOT_FOUND
        return Verdict.FORBIDDEN

    def update_key(self, payload: dict[str, Any]) -> str | None:
        update_id = payload.get("update_id")
        if isinstance(update_id, bool) or not isinstance(update_id, int):
            return None
        return str(update_id)

    def parse(self, payload: dict[str, Any]) -> list[InboundEvent]:
        edited = "edited_message" in payload
        msg = payload.get("edited_message") if edited else payload.get("message")
        if not isinstance(msg, dict):
            return []  # other update types are not asked for (allowed_updates)
        chat = msg.get("chat") or {}
        author = msg.get("from") or {}
        if chat.get("type") != "private" or "id" not in chat or "message_id" not in msg:
            return []  # groups and channels: not a customer conversation
        name = " ".join(filter(None, [author.get("first_name"), author.get("last_name")]))
        sender = ChannelSender(
            external_id=str(chat["id"]),
            name=name,
            username=author.get("username") or "",
            language=author.get("language_code") or "",
        )
        files, text = _files_and_text(msg)
        return [
            InboundMessage(
                sender=sender,
                external_id=str(msg["message_id"]),
                text=text,
                files=() if edited else tuple(files),
                edited=edited,
            )
        ]

    def fetch_file(self, inbox: Inbox, file: RemoteFile, *, max_size: int) -> tuple[bytes, str]:
        if file.size is not None and file.size > max_size:
            raise FetchError(f"{file.name} is larger than {max_size} bytes.", retry=False)
        try:
            info = call(inbox.bot_token, "getFile", json={"file_id": file.file_id}) or {}
        except RetryLater as exc:
            raise FetchError(exc.detail, retry=True) from exc
        except (Rejected, Ambiguous) as exc:  # getFile changes nothing: asking again is safe
            raise FetchError(exc.detail, retry=isinstance(exc, Ambiguous)) from exc
        path = info.get("file_path")
        if not path:
            raise FetchError("Telegram gave no file path (file too big for bots?).", retry=False)
        if (info.get("file_size") or 0) > max_size:
            raise FetchError(f"{file.name} is larger than {max_size} bytes.", retry=False)
        url = f"{settings.TELEGRAM_API_URL}/file/bot{inbox.bot_token}/{path}"
        # On the configured Bot API host (never redirected): the operator chose it.
        content = fetch_bytes(
            url,
            max_size=max_size,
            name=file.name,
            what="file download",
            trusted=(configured_host(settings.TELEGRAM_API_URL),),
        )
        name = file.name
        if name in ("photo.jpg", "document") and "." in path.rsplit("/", 1)[-1]:
            name = f"{name.split('.')[0]}.{path.rsplit('.', 1)[-1]}"
        return content, name

    # --- outbound ---------------------------------------------------------------------------

    def plan(self, message: Message) -> list[OutboundPart]:
        files = sorted(message.attachments.all(), key=lambda f: f.pk)
        text = message.text or ""
        parts: list[OutboundPart] = []
        caption = ""
        if files and len(text) <= CAPTION_LIMIT:
            caption, text = text, ""
        if text.strip():
            for piece in split_text(text):
                parts.append(OutboundPart(len(parts), "sendMessage", text=piece))
        for position, media in enumerate(files):
            method = MEDIA_METHODS.get(media.kind, "sendDocument")
            if method == "sendPhoto" and (media.size > PHOTO_LIMIT or media.mime == "image/gif"):
                method = "sendDocument"
            parts.append(
                OutboundPart(
                    len(parts), method, text=caption if position == 0 else "", media_id=media.pk
                )
            )
        return parts

    def send_part(self, inbox: Inbox, recipient: str, part: OutboundPart) -> str:
        if part.method == "sendMessage":
            result = call(
                inbox.bot_token, "sendMessage", json={"chat_id": recipient, "text": part.text}
            )
        else:
            name, content, mime = _stored_file(part.media_id)
            data = {"chat_id": recipient}
            if part.text:
                data["caption"] = part.text
            result = call(
                inbox.bot_token,
                part.method,
                data=data,
                files={MEDIA_FIELDS[part.method]: (name, content, mime)},
            )
        message_id = (result or {}).get("message_id") if isinstance(result, dict) else None
        return str(message_id) if message_id is not None else ""

    # --- setup ------------------------------------------------------------------------------

    def set_webhook(self, inbox: Inbox, *, base_url: str) -> Any:
        url = base_url.rstrip("/") + self.webhook_path(inbox)
        return call(
            inbox.bot_token,
            "setWebhook",
            json={
                "url": url,
                "secret_token": inbox.webhook_secret,
                "allowed_updates": ALLOWED_UPDATES,
            },
        )

    def webhook_info(self, inbox: Inbox) -> Any:
        return call(inbox.bot_token, "getWebhookInfo", json={})

    def get_me(self, inbox: Inbox) -> Any:
        return call(inbox.bot_token, "getMe", json={})


_stored_file = stored_file
