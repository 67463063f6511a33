"""The connector interface: what every messaging channel implements, and what it reports.

A connector is stateless and knows one provider's wire format. The rules every channel shares
(which messages leave, idempotency, retries, delivery states) live in ``connectors.services``,
so a provider module only verifies, parses, fetches and sends.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from chats.services.channels import ChannelSender
from connectors import error_codes

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

    from chats.models import Inbox, Message


class Verdict(enum.Enum):
    ACCEPT = "accept"
    FORBIDDEN = "forbidden"  # bad or missing secret: 403
    NOT_FOUND = "not_found"  # a credential of another inbox: answered as if this one did not exist


@dataclass(frozen=True)
class RemoteFile:
    """A file the provider holds, fetched by a task before the message is stored."""

    file_id: str
    name: str
    size: int | None = None


@dataclass(frozen=True)
class InboundMessage:
    sender: ChannelSender
    external_id: str
    text: str = ""
    files: tuple[RemoteFile, ...] = ()
    edited: bool = False
    sent_at: datetime | None = None  # the provider's timestamp (reply windows count from it)
    account: str = ""  # the provider's account it was sent to ("": the inbox's own)


@dataclass(frozen=True)
class StatusReport:
    """The provider says what became of a message we sent (WhatsApp statuses)."""

    external_id: str
    delivery: str
    error: dict | None = None
    account: str = ""


InboundEvent = InboundMessage | StatusReport


@dataclass(frozen=True)
class OutboundPart:
    """One provider call of an outbound message: a text piece or one attachment."""

    index: int
    method: str
    text: str = ""
    media_id: int | None = None
    extra: dict = field(default_factory=dict)


class SendError(Exception):
    code = error_codes.PROVIDER_ERROR

    def __init__(self, detail: str, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code:
            self.code = code


class RetryLater(SendError):
    """The provider certainly did not take the message (429, 5xx, no connection): try again,
    after ``retry_after`` seconds when the provider said so."""

    code = error_codes.PROVIDER_UNAVAILABLE

    def __init__(self, detail: str, *, retry_after: float | None = None, code: str | None = None):
        super().__init__(detail, code=code)
        self.retry_after = retry_after


class Rejected(SendError):
    """The provider refused the message for good (blocked by the user, bad request)."""

    code = error_codes.PROVIDER_REJECTED


class Ambiguous(SendError):
    """The request left but no answer came back (a read timeout, a dropped connection): the
    provider may have accepted it. Never retried automatically."""

    code = error_codes.DELIVERY_UNKNOWN


class FetchError(Exception):
    """A provider file could not be fetched; ``retry`` says whether trying again may help."""

    def __init__(self, detail: str, *, retry: bool) -> None:
        super().__init__(detail)
        self.retry = retry


class Connector(ABC):
    kind: ClassVar[str]
    # Free-form replies may leave only this long after the customer's last message (None: any
    # time). Chats reads it through ``chats.channels`` and refuses replies outside it.
    reply_window: ClassVar[timedelta | None] = None
    # Webhook bodies larger than this are refused (413) before they are parsed.
    max_body: ClassVar[int] = 1024 * 1024
    # The sender waits for the stored message's ids (our own API channel): a delivery is
    # processed inside the webhook request rather than by a task.
    inline: ClassVar[bool] = False

    def handshake(self, request: HttpRequest, inbox: Inbox) -> HttpResponse | None:
        """The answer to a ``GET`` of the webhook URL (a provider's subscription check);
        None: the channel has none (405)."""
        return None

    def webhook_path(self, inbox: Inbox) -> str:
        return f"/api/webhooks/{self.kind}/{inbox.pk}"

    @abstractmethod
    def validate_settings(self, inbox: Inbox) -> None:
        """Raise ``crm.errors.ValidationFailed`` for settings the provider cannot work with."""

    @abstractmethod
    def verify(self, request: HttpRequest, inbox: Inbox) -> Verdict:
        """Whether a webhook request really comes from the provider for this inbox."""

    @abstractmethod
    def update_key(self, payload: dict[str, Any]) -> str | None:
        """The provider's id of one webhook delivery (None: not a delivery we understand)."""

    @abstractmethod
    def parse(self, payload: dict[str, Any]) -> list[InboundEvent]:
        """The messages, edits and status reports in one delivery."""

    @abstractmethod
    def fetch_file(self, inbox: Inbox, file: RemoteFile, *, max_size: int) -> tuple[bytes, str]:
        """The bytes and a file name; raises ``FetchError``."""

    @abstractmethod
    def plan(self, message: Message) -> list[OutboundPart]:
        """The provider calls that deliver ``message``, in order (the same every time)."""

    @abstractmethod
    def send_part(self, inbox: Inbox, recipient: str, part: OutboundPart) -> str:
        """Make one call to ``recipient`` (the customer's external id); returns the provider's
        id of what it stored ("" when it gave none). Raises ``SendError``."""

    def account_of(self, inbox: Inbox) -> str:
        """The provider's account an inbox stands for (WhatsApp: its phone number id), when
        one webhook URL can receive the deliveries of several (one Meta app, many numbers)."""
        return ""

    def map_status(self, status: str) -> str | None:
        """A provider delivery status as our ``Delivery`` value (None: ignore it)."""
        return None


def split_text(text: str, limit: int) -> list[str]:
    """Pieces of at most ``limit`` characters, cut at the last line break, else the last space
    of each window (a hard cut only for a word longer than the limit)."""
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = window.rfind("\n")
        if cut < limit // 2:
            cut = window.rfind(" ")
        if cut <= 0:
            cut = limit
        piece = rest[:cut].rstrip()
        if piece:
            parts.append(piece)
        rest = rest[cut:].lstrip(" \n")
    if rest.strip() or not parts:
        parts.append(rest)
    return parts


def stored_file(media_id: int | None) -> tuple[str, bytes, str]:
    """Name, bytes and MIME type of a stored attachment, from wherever it is held now."""
    from media.models import MediaFile
    from media.storage import local_storage, remote_storage

    media = MediaFile.objects.get(pk=media_id)
    storage = local_storage() if media.held_locally else remote_storage()
    with storage.open(media.file.name, "rb") as fh:
        return media.original_name or "file", fh.read(), media.mime
