"""Inboxes: where customer conversations arrive. Admins manage them; secrets are write-only."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from functools import lru_cache
from typing import Any
from zoneinfo import available_timezones

from django.db import transaction
from django.db.models.deletion import ProtectedError

from accounts.models import User
from chats import channels, error_codes, hooks
from chats.models import Inbox, InboxKind
from chats.selectors import inbox_for
from crm import crypto
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
# Automation settings, the same for every kind (the automation app acts on them).
AUTOMATION_FIELDS = (
    "greeting",
    "away_message",
    "working_hours",
    "timezone",
    "bot_enabled",
    "handoff_keywords",
)
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_REPLY_LENGTH = 4000
MAX_RANGES_PER_DAY = 10
MAX_HANDOFF_KEYWORDS = 20
MAX_KEYWORD_LENGTH = 64
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
# What each kind needs before it can receive anything; generated when the admin gives none.
REQUIRED = {
    InboxKind.WEB: (),
    InboxKind.TELEGRAM: ("bot_token",),
    InboxKind.WHATSAPP: ("phone_number_id", "access_token", "app_secret"),
    InboxKind.API: (),
}
GENERATED = {
    InboxKind.TELEGRAM: ("webhook_secret",),
    InboxKind.WHATSAPP: ("verify_token",),
    InboxKind.API: ("api_token", "webhook_secret"),
}
# Settings named for the provider that are kept in a shared column: WhatsApp's permanent
# access token is the inbox's bot token (both are the bearer credential of its API).
ALIASES = {"access_token": "bot_token"}


def _unalias(settings: dict[str, Any]) -> dict[str, Any]:
    settings = dict(settings)
    for alias, field in ALIASES.items():
        value = settings.pop(alias, None)
        if value not in (None, "") and settings.get(field) in (None, ""):
            settings[field] = value
    return settings


def _require_admin(actor: User) -> None:
    if not actor.is_org_admin:
        raise Forbidden(
            "Only an organization admin manages inboxes.", code=error_codes.INBOX_FORBIDDEN
        )


def _audit(actor: User, verb: str, inbox: Inbox, data: dict) -> None:
    hooks.inbox_changed(actor=actor, inbox=inbox, verb=verb, data=data)


MAX_SECRET_LENGTH = {"bot_token": 512}


def inbox_missing_settings(*, kind: str, values: Mapping[str, Any]) -> list[str]:
    """The settings a ``kind`` of inbox needs that ``values`` lacks (forms check it early)."""
    return [
        f
        for f in REQUIRED.get(kind, ())
        if not str(values.get(f) or values.get(ALIASES.get(f, f)) or "").strip()
    ]


def _check_complete(inbox: Inbox) -> None:
    missing = inbox_missing_settings(
        kind=inbox.kind, values={f: getattr(inbox, f) for f in SETTING_FIELDS}
    )
    if missing:
        raise ValidationFailed(
            f"A {inbox.get_kind_display()} inbox needs {', '.join(missing)}.",
            code=error_codes.INBOX_INCOMPLETE,
            fields={f: ["This field is required for this kind of inbox."] for f in missing},
        )
    too_long = {
        f: [f"At most {MAX_SECRET_LENGTH.get(f, 256)} characters."]
        for f in Inbox.SECRET_FIELDS
        if len(getattr(inbox, f) or "") > MAX_SECRET_LENGTH.get(f, 256)
    }
    if too_long:
        raise ValidationFailed(
            "A setting is too long.", code=error_codes.INVALID_SETTINGS, fields=too_long
        )
    channels.validate_settings(inbox)  # the connector of this kind knows its provider's rules
    _digests_set(inbox)


def _digests_set(inbox: Inbox) -> None:
    inbox.webhook_secret_digest = (
        crypto.digest(inbox.webhook_secret) if inbox.webhook_secret else ""
    )
    inbox.api_token_digest = crypto.digest(inbox.api_token) if inbox.api_token else ""


def _name(name: str) -> str:
    name = (name or "").strip()
    if not name or len(name) > 120:
        raise ValidationFailed(
            "An inbox needs a name of at most 120 characters.",
            code=error_codes.INVALID_NAME,
            fields={"name": ["1 to 120 characters."]},
        )
    return name


@lru_cache(maxsize=1)
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _working_hours_clean(value: Any) -> tuple[dict[str, list[list[str]]], list[str]]:
    """``{"mon": [["09:00", "18:00"]], ...}``: days mon..sun, each a list of [start, end]
    times (HH:MM, 24:00 may end a day), start before end. Returns the value, days in week
    order and ranges sorted, and the problems found."""
    if value in (None, ""):
        return {}, []
    if not isinstance(value, dict):
        return {}, ['An object of days to time ranges, e.g. {"mon": [["09:00", "18:00"]]}.']
    errors: list[str] = []
    cleaned: dict[str, list[list[str]]] = {}
    for day, ranges in value.items():
        if day not in DAYS:
            errors.append(f"Unknown day {day!r}: use {', '.join(DAYS)}.")
            continue
        if not isinstance(ranges, list) or len(ranges) > MAX_RANGES_PER_DAY:
            errors.append(f"{day}: a list of at most {MAX_RANGES_PER_DAY} [start, end] pairs.")
            continue
        for i, pair in enumerate(ranges):
            where = f"{day}[{i}]"
            if not (
                isinstance(pair, list | tuple)
                and len(pair) == 2
                and all(isinstance(t, str) for t in pair)
            ):
                errors.append(f'{where}: a pair of times such as ["09:00", "18:00"].')
                continue
            start, end = pair
            if not _TIME.match(start) or not (_TIME.match(end) or end == "24:00"):
                errors.append(f"{where}: times are HH:MM from 00:00 to 23:59 (24:00 may end).")
            elif start >= end:
                errors.append(f"{where}: the start {start} must be before the end {end}.")
            else:
                cleaned.setdefault(day, []).append([start, end])
    ordered = {day: sorted(cleaned[day]) for day in DAYS if day in cleaned}
    return ordered, errors


def _handoff_keywords_clean(value: Any) -> tuple[list[str], list[str]]:
    if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
        return [], ['A list of words or phrases, e.g. ["operator", "оператор"].']
    keywords: list[str] = []
    for keyword in value:
        keyword = " ".join(keyword.lower().split())
        if not keyword or len(keyword) > MAX_KEYWORD_LENGTH:
            return [], [f"Each keyword has 1 to {MAX_KEYWORD_LENGTH} characters."]
        if keyword not in keywords:
            keywords.append(keyword)
    if len(keywords) > MAX_HANDOFF_KEYWORDS:
        return [], [f"At most {MAX_HANDOFF_KEYWORDS} keywords."]
    return keywords, []


def inbox_automation_clean(given: dict[str, Any]) -> dict[str, Any]:
    """The automation settings among ``given`` (absent or None: unchanged), validated all at
    once so that one 400 names every bad field. Forms (the back office) can reuse it."""
    cleaned: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for field in ("greeting", "away_message"):
        if given.get(field) is None:
            continue
        text = str(given[field]).strip()
        if len(text) > MAX_REPLY_LENGTH:
            errors[field] = [f"At most {MAX_REPLY_LENGTH} characters."]
        cleaned[field] = text
    if "working_hours" in given:
        cleaned["working_hours"], problems = _working_hours_clean(given["working_hours"])
        if problems:
            errors["working_hours"] = problems
    if given.get("timezone") is not None:
        name = str(given["timezone"]).strip()
        if name not in _time_zones():
            errors["timezone"] = [
                f"Unknown time zone {name!r}: use an IANA name like Europe/Moscow."
            ]
        cleaned["timezone"] = name
    if given.get("bot_enabled") is not None:
        cleaned["bot_enabled"] = bool(given["bot_enabled"])
    if given.get("handoff_keywords") is not None:
        cleaned["handoff_keywords"], problems = _handoff_keywords_clean(given["handoff_keywords"])
        if problems:
            errors["handoff_keywords"] = problems
    if errors:
        raise ValidationFailed(
            f"Invalid automation settings: {', '.join(sorted(errors))}.",
            code=error_codes.INVALID_INBOX_SETTINGS,
            fields=errors,
        )
    return cleaned


@transaction.atomic
def inbox_create(
    *, actor: User, kind: str, name: str, auto_assign: bool = True, **settings: Any
) -> tuple[Inbox, dict[str, str]]:
    """Returns the inbox and the secrets generated for it (shown to the admin this once)."""
    _require_admin(actor)
    settings = _unalias(settings)
    if kind not in InboxKind.values:
        raise ValidationFailed(f"Unknown inbox kind {kind!r}.", code=error_codes.INVALID_KIND)
    if kind == InboxKind.WEB:
        raise Conflict(
            "Every organization has exactly one web inbox, created for it.",
            code=error_codes.WEB_INBOX_EXISTS,
        )
    inbox = Inbox(
        organization_id=actor.organization_id, kind=kind, name=_name(name), auto_assign=auto_assign
    )
    for field in SETTING_FIELDS:
        setattr(inbox, field, (settings.get(field) or "").strip())
    for field, value in inbox_automation_clean(settings).items():
        setattr(inbox, field, value)
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
    changes = _unalias(changes)
    inbox = inbox_for(actor, inbox_id, queryset=Inbox.objects.select_for_update())
    automation = inbox_automation_clean(changes)
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
    for field, value in automation.items():
        if getattr(inbox, field) != value:
            setattr(inbox, field, value)
            changed.append(field)
    _check_complete(inbox)
    if changed:
        inbox.save(update_fields=[*changed, "webhook_secret_digest", "api_token_digest"])
        # Secret values never go into the audit log, only which settings changed.
        _audit(actor, "inbox.updated", inbox, {"changed": sorted(changed)})
    return inbox


@transaction.atomic
def inbox_delete(*, actor: User, inbox_id: int) -> None:
    _require_admin(actor)
    inbox = inbox_for(actor, inbox_id)
    if inbox.kind == InboxKind.WEB:
        raise Conflict("The web inbox cannot be deleted.", code=error_codes.WEB_INBOX_REQUIRED)
    try:
        with transaction.atomic():
            _audit(actor, "inbox.deleted", inbox, {"kind": inbox.kind, "name": inbox.name})
            inbox.delete()
    except ProtectedError:
        raise Conflict(
            "This inbox has conversations: deactivate it instead (is_active=false).",
            code=error_codes.INBOX_IN_USE,
        ) from None


def inbox_secrets_reencrypt() -> int:
    """Write every inbox's secrets again: encrypted with the newest key, digests recomputed."""
    count = 0
    for pk in Inbox.objects.values_list("pk", flat=True).iterator():
        with transaction.atomic():
            inbox = Inbox.objects.select_for_update().get(pk=pk)
            _digests_set(inbox)
            inbox.save(
                update_fields=[*Inbox.SECRET_FIELDS, "webhook_secret_digest", "api_token_digest"]
            )
            count += 1
    return count
