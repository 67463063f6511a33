"""The connector interface: what every messaging channel implements, and what it reports.

A connector is stateless and knows one provider's wire format. The rules every channel shares
(which messages leave, idempotency, retries, delivery states) live in ``connectors.services``,
so a provider module only verifies, parses, fetches and sends.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from chats.services.channels import ChannelSender
from connectors import error_codes

if TYPE_CHECKING:
    from django.http import HttpRequest

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


@dataclass(frozen=True)
class StatusReport:
    """The provider says what became of a message we sent (WhatsApp statuses)."""

    external_id: str
    delivery: str
    error: dict | None = None


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

    def map_status(self, status: str) -> str | None:
        """A provider delivery status as our ``Delivery`` value (None: ignore it)."""
        return None
