"""WhatsApp templates: what reaches a customer outside the 24-hour window."""

from __future__ import annotations

import logging
import re

from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import User
from connectors import error_codes, registry
from connectors.models import OutboundTemplate
from crm.errors import Conflict, NotFound, ValidationFailed

logger = logging.getLogger(__name__)


# --- Templates (WhatsApp) -------------------------------------------------------------------

TEMPLATE_NAME_RE = re.compile(r"^[a-z0-9_]{1,512}$")
TEMPLATE_LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(_[A-Za-z0-9]{2,4})?$")
MAX_TEMPLATE_PARAMETERS = 20
MAX_TEMPLATE_PARAMETER_LENGTH = 1024


def _template_clean(name: object, language: object, parameters: object) -> tuple[str, str, list]:
    errors: dict[str, list[str]] = {}
    name = str(name or "").strip()
    language = str(language or "").strip()
    if not TEMPLATE_NAME_RE.match(name):
        errors["name"] = [_("The template's name as approved: lowercase letters, digits, _.")]
    if not TEMPLATE_LANGUAGE_RE.match(language):
        errors["language"] = [_("A language code such as en_US, ru or pt_BR.")]
    if not isinstance(parameters, list) or len(parameters) > MAX_TEMPLATE_PARAMETERS:
        errors["parameters"] = [_("A list of at most 20 texts for {{1}}, {{2}}, ...")]
        parameters = []
    cleaned = []
    for value in parameters:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            errors["parameters"] = [_("Each parameter is a text.")]
            break
        value = str(value).strip()
        if not value or len(value) > MAX_TEMPLATE_PARAMETER_LENGTH:
            errors["parameters"] = [_("Each parameter has 1 to 1024 characters.")]
            break
        cleaned.append(value)
    if errors:
        raise ValidationFailed(
            _("This template cannot be sent."), code=error_codes.INVALID_TEMPLATE, fields=errors
        )
    return name, language, cleaned


def template_send(
    *,
    actor: User,
    chat_id: int,
    name: object,
    language: object,
    parameters: object = (),
    client_id: str | None = None,
):
    """Send an approved template to the customer of a WhatsApp chat: allowed outside the
    24-hour window (it is what reopens it). Stored as a message of the staff member, delivered
    by the same task as any reply (idempotency, retries, failure). Returns the ``SendResult``."""
    from chats.selectors import chat_for
    from chats.services import message_send

    if not actor.is_staff:
        raise NotFound(_("Chat not found."), code=error_codes.CHAT_NOT_FOUND)
    chat = chat_for(actor, chat_id)  # 404 for another organization's chat
    connector = registry.connector_for(chat.inbox.kind) if chat.inbox_id else None
    if not chat.is_support or not getattr(connector, "supports_templates", False):
        raise Conflict(
            _("Templates are sent only in WhatsApp conversations."),
            code=error_codes.TEMPLATES_UNSUPPORTED,
        )
    name, language, values = _template_clean(name, language, list(parameters or []))
    text = _("Template “%(name)s” (%(language)s)") % {"name": name, "language": language}
    if values:
        text += "\n" + "\n".join(f"{{{{{i}}}}} = {v}" for i, v in enumerate(values, 1))
    with transaction.atomic():
        result = message_send(
            sender=actor, chat=chat, text=text, client_id=client_id, outside_reply_window=True
        )
        if result.created:
            OutboundTemplate.objects.create(
                message=result.message, name=name, language=language, parameters=values
            )
    return result
