"""Inboxes: where customer conversations arrive. Admins manage them; secrets are write-only."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.db.models.deletion import ProtectedError

from accounts.models import User
from chats.models import Inbox, InboxKind
from chats.selectors import inbox_for
from crm.errors import Conflict, Forbidden, ValidationFailed

SETTING_FIELDS = (
    "bot_token",
    "phone_number_id",
    "app_secret",
    "verify_token",
    "webhook_secret",
    "api_token",
    "callback_url",
)
# What each kind needs before it can receive anything; generated when the admin gives none.
REQUIRED = {
    InboxKind.WEB: (),
    InboxKind.TELEGRAM: ("bot_token",),
    InboxKind.WHATSAPP: ("phone_number_id", "bot_token", "app_secret"),
    InboxKind.API: (),
}
GENERATED = {
    InboxKind.TELEGRAM: ("webhook_secret",),
    InboxKind.WHATSAPP: ("verify_token",),
    InboxKind.API: ("api_token",),
}


def _require_admin(actor: User) -> None:
    if not actor.is_org_admin:
        raise Forbidden("Only an organization admin manages inboxes.", code="inbox_forbidden")


def _audit(actor: User, verb: str, inbox: Inbox, data: dict) -> None:
    from operators.services import audit_record

    audit_record(
        actor=actor, organization=inbox.organization_id, verb=verb, target=inbox, data=data
    )


def inbox_missing_settings(*, kind: str, values: Mapping[str, Any]) -> list[str]:
    """The settings a ``kind`` of inbox needs that ``values`` lacks (forms check it early)."""
    return [f for f in REQUIRED.get(kind, ()) if not str(values.get(f) or "").strip()]


def _check_complete(inbox: Inbox) -> None:
    missing = inbox_missing_settings(
        kind=inbox.kind, values={f: getattr(inbox, f) for f in SETTING_FIELDS}
    )
    if missing:
        raise ValidationFailed(
            f"A {inbox.get_kind_display()} inbox needs {', '.join(missing)}.",
            code="inbox_incomplete",
            fields={f: ["This field is required for this kind of inbox."] for f in missing},
        )


def _name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise ValidationFailed(
            "An inbox needs a name of at most 120 characters.",
            code="invalid_name",
            fields={"name": ["1 to 120 characters."]},
        )
    return name


@transaction.atomic
def inbox_create(
    *, actor: User, kind: str, name: str, auto_assign: bool = True, **settings: Any
) -> tuple[Inbox, dict[str, str]]:
    """Returns the inbox and the secrets generated for it (shown to the admin this once)."""
    _require_admin(actor)
    if kind not in InboxKind.values:
        raise ValidationFailed(f"Unknown inbox kind {kind!r}.", code="invalid_kind")
    if kind == InboxKind.WEB:
        raise Conflict(
            "Every organization has exactly one web inbox, created for it.", code="web_inbox_exists"
        )
    inbox = Inbox(
        organization_id=actor.organization_id, kind=kind, name=_name(name), auto_assign=auto_assign
    )
    for field in SETTING_FIELDS:
        setattr(inbox, field, (settings.get(field) or "").strip())
    generated = {}
    for field in GENERATED.get(kind, ()):
        if not getattr(inbox, field):
            generated[field] = secrets.token_urlsafe(32)
            setattr(inbox, field, generated[field])
    _check_complete(inbox)
    inbox.save()
    _audit(actor, "inbox.created", inbox, {"kind": kind, "name": inbox.name})
    return inbox, generated


@transaction.atomic
def inbox_update(*, actor: User, inbox_id: int, **changes: Any) -> Inbox:
    """Change name, auto-assignment, activity or settings. An empty secret keeps the old one."""
    _require_admin(actor)
    inbox = inbox_for(actor, inbox_id, queryset=Inbox.objects.select_for_update())
    changed: list[str] = []
    if "name" in changes:
        inbox.name = _name(changes["name"])
        changed.append("name")
    for flag in ("auto_assign", "is_active"):
        if flag in changes and changes[flag] is not None:
            setattr(inbox, flag, bool(changes[flag]))
            changed.append(flag)
    for field in SETTING_FIELDS:
        if changes.get(field) is None:
            continue
        value = str(changes[field]).strip()
        if field in Inbox.SECRET_FIELDS and not value:
            continue  # secrets are write-only: an empty value keeps the stored one
        setattr(inbox, field, value)
        changed.append(field)
    _check_complete(inbox)
    if changed:
        inbox.save(update_fields=changed)
        # Secret values never go into the audit log, only which settings changed.
        _audit(actor, "inbox.updated", inbox, {"changed": sorted(changed)})
    return inbox


@transaction.atomic
def inbox_delete(*, actor: User, inbox_id: int) -> None:
    _require_admin(actor)
    inbox = inbox_for(actor, inbox_id)
    if inbox.kind == InboxKind.WEB:
        raise Conflict("The web inbox cannot be deleted.", code="web_inbox_required")
    try:
        with transaction.atomic():
            _audit(actor, "inbox.deleted", inbox, {"kind": inbox.kind, "name": inbox.name})
            inbox.delete()
    except ProtectedError:
        raise Conflict(
            "This inbox has conversations: deactivate it instead (is_active=false).",
            code="inbox_in_use",
        ) from None
