"""Operator workflow: assignment, the auto-assignment queue, status and priority, availability,
canned responses, and the audit trail.

Locking: every change that moves chats between operators locks the chat row first and then the
organization's operator profiles (all of them, in primary-key order, in one statement), and
counts loads only after holding those locks. So two assignments in one organization never
decide on the same stale counts and never deadlock on each other; the backlog is read with
``SKIP LOCKED`` so a drain never waits for a chat someone else is changing.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, transaction
from django.db.models import Model
from django.utils import timezone

from accounts.models import STAFF_ROLES, Organization, User
from chats import events as chat_events
from chats.models import Chat, ChatStatus, Priority
from chats.selectors import chats_visible_to
from chats.services import message_post_system
from crm.errors import Conflict, Forbidden, NotFound, ValidationFailed
from operators import error_codes, events
from operators.models import (
    ASSIGNABLE_ROLES,
    AuditEvent,
    Availability,
    CannedResponse,
    OperatorProfile,
)
from operators.selectors import backlog_of, open_loads

MAX_CAPACITY = 1000

# --- Audit ----------------------------------------------------------------------------------


def audit_record(
    *,
    actor: User | None,
    organization: Organization | int,
    verb: str,
    target: Model | None = None,
    data: dict | None = None,
) -> AuditEvent:
    """One row of the audit log. ``actor`` None means the system did it."""
    org_id = organization if isinstance(organization, int) else organization.pk
    return AuditEvent.objects.create(
        organization_id=org_id,
        actor=actor,
        verb=verb,
        target_type=ContentType.objects.get_for_model(target) if target is not None else None,
        target_id=str(target.pk) if target is not None else "",
        target_repr=str(target)[:200] if target is not None else "",
        data=data or {},
    )


# --- Profiles and the queue lock ------------------------------------------------------------


def operator_profile_get(user: User) -> OperatorProfile:
    """The user's profile, created with the defaults (offline) the first time."""
    try:
        return user.operator_profile
    except OperatorProfile.DoesNotExist:
        pass
    try:
        with transaction.atomic():
            profile = OperatorProfile.objects.create(user=user)
    except IntegrityError:  # created concurrently
        profile = OperatorProfile.objects.get(user=user)
    user.operator_profile = profile
    return profile


def _lock_queue(organization_id: int) -> dict[int, OperatorProfile]:
    """Lock every operator profile of the organization; returns them by user id."""
    profiles = (
        OperatorProfile.objects.filter(user__organization_id=organization_id)
        .select_related("user")
        .select_for_update(of=("self",))
        .order_by("pk")
    )
    return {p.user_id: p for p in profiles}


def _grace_cutoff(now: datetime) -> datetime:
    return now - timedelta(seconds=settings.OPERATOR_OFFLINE_GRACE_SECONDS)


def _receives_chats(profile: OperatorProfile, *, now: datetime) -> bool:
    """Online, an operator role, active, and not disconnected past the grace period."""
    user = profile.user
    return (
        profile.availability == Availability.ONLINE
        and user.is_active
        and user.role in ASSIGNABLE_ROLES
        and (profile.disconnected_at is None or profile.disconnected_at > _grace_cutoff(now))
    )


_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(order=True)
class _Slot:
    """An operator with room, ordered the way the queue picks: fewest open chats, then the
    one assigned longest ago (never assigned first), then the lower user id."""

    load: int
    last_assigned_at: datetime
    user_id: int
    room: int = field(compare=False)
    profile: OperatorProfile = field(compare=False)


def _slots(profiles: dict[int, OperatorProfile], *, now: datetime) -> list[_Slot]:
    candidates = [p for p in profiles.values() if _receives_chats(p, now=now)]
    loads = open_loads([p.user_id for p in candidates]) if candidates else {}
    slots = []
    for p in candidates:
        load = loads.get(p.user_id, 0)
        if load < p.capacity:
            slots.append(_Slot(load, p.last_assigned_at or _NEVER, p.user_id, p.capacity - load, p))
    heapq.heapify(slots)
    return slots


def _drain(
    organization_id: int,
    profiles: dict[int, OperatorProfile],
    *,
    not_back_to: dict[int, int] | None = None,
) -> list[Chat]:
    """Hand waiting chats to operators with room until either runs out. ``not_back_to`` maps a
    chat id to the operator it was just taken from, who does not get it back. Needs
    ``_lock_queue`` held."""
    now = timezone.now()
    slots = _slots(profiles, now=now)
    room = sum(s.room for s in slots)
    if not room:
        return []
    not_back_to = not_back_to or {}
    waiting = (
        backlog_of(organization=organization_id)
        .select_related("inbox")
        .select_for_update(skip_locked=True, no_key=True, of=("self",))[:room]
    )
    assigned = []
    for chat in waiting:
        if not slots:
            break
        skipped = []
        while slots and slots[0].user_id == not_back_to.get(chat.pk):
            skipped.append(heapq.heappop(slots))
        if slots:
            slot = heapq.heappop(slots)
            _assignee_set(
                chat,
                slot.profile.user,
                actor=None,
                verb="chat.auto_assigned",
                text=f"Assigned to {slot.profile.user} automatically.",
                profiles=profiles,
            )
            assigned.append(chat)
            slot.load += 1
            slot.room -= 1
            slot.last_assigned_at = chat.assigned_at
            if slot.room > 0:
                heapq.heappush(slots, slot)
        for s in skipped:
            heapq.heappush(slots, s)
    return assigned


def _assignee_set(
    chat: Chat,
    assignee: User | None,
    *,
    actor: User | None,
    verb: str,
    text: str,
    data: dict | None = None,
    profiles: dict[int, OperatorProfile] | None = None,
) -> None:
    """Change the (locked) chat's assignee, keep the tie-breaker (also in the locked
    ``profiles``), audit, tell staff."""
    previous_id = chat.assignee_id
    now = timezone.now()
    chat.assignee = assignee
    chat.assigned_at = now if assignee is not None else None
    chat.save(update_fields=["assignee", "assigned_at"])
    if assignee is not None:
        OperatorProfile.objects.filter(user=assignee).update(last_assigned_at=now)
        if profiles is not None and assignee.pk in profiles:
            profiles[assignee.pk].last_assigned_at = now
    audit_record(
        actor=actor,
        organization=chat.organization_id,
        verb=verb,
        target=chat,
        data={"from": previous_id, "to": assignee.pk if assignee else None, **(data or {})},
    )
    _announce(chat, text=text, actor=actor)


def _announce(chat: Chat, *, text: str, actor: User | None) -> None:
    """A staff-only system line in the chat and ``chat:updated`` with the new state."""
    message = message_post_system(chat=chat, text=text, staff_only=True, actor=actor)
    chat.last_message, chat.last_message_at = message, message.created_at
    chat_events.chat_updated(chat)


def _locked_support_chat(actor: User, chat_id: int) -> Chat:
    """The chat, locked, if the actor is staff who may see it (404 otherwise, also for another
    organization's chat)."""
    if not actor.is_staff:
        raise Forbidden("Only staff handle support chats.")
    try:
        # FOR NO KEY UPDATE like chats' own writers: see chats.services.common._locked.
        chat = chats_visible_to(actor).select_for_update(no_key=True).get(pk=int(chat_id))
    except (Chat.DoesNotExist, ValueError, TypeError):
        raise NotFound("Chat not found.", code=error_codes.CHAT_NOT_FOUND) from None
    if not chat.is_support:
        raise ValidationFailed("Only support chats are assigned.", code=error_codes.NOT_SUPPORT)
    return chat


def _staff_member(*, organization_id: int | None, user_id: int) -> User:
    """An active staff member of the organization (``None``: any, for the platform owner)."""
    users = User.objects.filter(pk=user_id, role__in=STAFF_ROLES, is_active=True)
    if organization_id is not None:
        users = users.filter(organization_id=organization_id)
    user = users.first()
    if user is None:
        raise NotFound("Operator not found.", code=error_codes.OPERATOR_NOT_FOUND)
    return user


# --- Assignment -----------------------------------------------------------------------------


@transaction.atomic
def chat_assign(*, actor: User, chat: Chat, operator_id: int) -> Chat:
    """A senior operator or an admin gives the chat to a staff member (capacity does not bind
    a manager). The previous assignee's freed room goes to the backlog."""
    chat = _locked_support_chat(actor, chat.pk)
    if not actor.is_manager:
        raise Forbidden(
            "Only a senior operator or an admin assigns chats.", code=error_codes.NOT_MANAGER
        )
    operator = _staff_member(organization_id=chat.organization_id, user_id=operator_id)
    if chat.status == ChatStatus.CLOSED:
        raise Conflict(
            "A closed chat cannot be assigned; reopen it first.", code=error_codes.CHAT_CLOSED
        )
    if chat.assignee_id == operator.pk:
        return chat
    profiles = _lock_queue(chat.organization_id)
    previous_id = chat.assignee_id
    text = (
        f"{actor} took the chat."
        if operator.pk == actor.pk
        else f"{actor} assigned the chat to {operator}."
    )
    _assignee_set(chat, operator, actor=actor, verb="chat.assigned", text=text, profiles=profiles)
    if previous_id is not None:
        _drain(chat.organization_id, profiles)
    return chat


@transaction.atomic
def chat_unassign(*, actor: User, chat: Chat) -> Chat:
    """A manager, or the assignee themselves, returns the chat to the queue. With auto-assign
    on it goes to the next operator with room — not straight back to the one it left."""
    chat = _locked_support_chat(actor, chat.pk)
    if not (actor.is_manager or chat.assignee_id == actor.pk):
        raise Forbidden(
            "Only a senior operator, an admin or the assignee unassigns a chat.",
            code=error_codes.NOT_MANAGER,
        )
    if chat.assignee_id is None:
        return chat
    profiles = _lock_queue(chat.organization_id)
    previous_id = chat.assignee_id
    previous = chat.assignee
    _assignee_set(
        chat, None, actor=actor, verb="chat.unassigned", text=f"{actor} unassigned {previous}."
    )
    _drain(chat.organization_id, profiles, not_back_to={chat.pk: previous_id})
    chat.refresh_from_db(fields=["assignee", "assigned_at", "last_message", "last_message_at"])
    return chat


@transaction.atomic
def chat_take(*, actor: User, chat: Chat) -> Chat:
    """Any staff member takes an unassigned open or pending chat; taking a pending one (the
    bot's, or parked) opens it — the person takes over. Of two taking at once, the second waits
    for the first's row lock and then gets ``409 chat_already_assigned``."""
    chat = _locked_support_chat(actor, chat.pk)
    if chat.assignee_id == actor.pk:
        return chat
    if chat.assignee_id is not None:
        raise Conflict(
            f"The chat is already assigned to {chat.assignee}.",
            code=error_codes.CHAT_ALREADY_ASSIGNED,
        )
    if chat.status == ChatStatus.CLOSED:
        raise Conflict(
            "A closed chat cannot be taken; reopen it first.", code=error_codes.CHAT_NOT_OPEN
        )
    if chat.status == ChatStatus.PENDING:
        chat.status = ChatStatus.OPEN
        chat.save(update_fields=["status"])
        audit_record(
            actor=actor,
            organization=chat.organization_id,
            verb="chat.status_changed",
            target=chat,
            data={"from": ChatStatus.PENDING, "to": ChatStatus.OPEN},
        )
    profiles = _lock_queue(chat.organization_id)
    _assignee_set(
        chat,
        actor,
        actor=actor,
        verb="chat.taken",
        text=f"{actor} took the chat.",
        profiles=profiles,
    )
    return chat


# --- Status and priority --------------------------------------------------------------------


def _status_change_words(actor: User, chat: Chat, old_status: str) -> tuple[str, str]:
    """The audit verb and the system line for a status change."""
    if chat.status == ChatStatus.CLOSED:
        return "chat.closed", f"{actor} closed the chat."
    if old_status == ChatStatus.CLOSED:
        return "chat.reopened", f"{actor} reopened the chat."
    return "chat.status_changed", f"{actor} set the status to {chat.get_status_display()}."


@transaction.atomic
def chat_update_support_fields(
    *, actor: User, chat: Chat, status: str | None = None, priority: str | None = None
) -> Chat:
    """Staff change a support chat's status and/or priority: audit rows, a staff-only system
    line and ``chat:updated``. Closing (or parking as pending) frees the assignee's room for
    the backlog; reopening puts the chat through auto-assignment."""
    if status is not None and status not in ChatStatus.values:
        raise ValidationFailed(f"Unknown status {status!r}.", code=error_codes.INVALID_STATUS)
    if priority is not None and priority not in Priority.values:
        raise ValidationFailed(f"Unknown priority {priority!r}.", code=error_codes.INVALID_PRIORITY)
    chat = _locked_support_chat(actor, chat.pk)
    old_status, old_priority = chat.status, chat.priority
    changed: list[str] = []
    lines: list[str] = []
    if status is not None and status != old_status:
        chat.status = status
        chat.closed_at = timezone.now() if status == ChatStatus.CLOSED else None
        changed += ["status", "closed_at"]
        verb, line = _status_change_words(actor, chat, old_status)
        audit_record(
            actor=actor,
            organization=chat.organization_id,
            verb=verb,
            target=chat,
            data={"from": old_status, "to": status},
        )
        lines.append(line)
    if priority is not None and priority != old_priority:
        chat.priority = priority
        changed.append("priority")
        audit_record(
            actor=actor,
            organization=chat.organization_id,
            verb="chat.priority_changed",
            target=chat,
            data={"from": old_priority, "to": priority},
        )
        lines.append(f"{actor} set the priority to {chat.get_priority_display()}.")
    if not changed:
        return chat
    chat.save(update_fields=changed)
    _announce(chat, text=" ".join(lines), actor=actor)
    if "status" in changed:
        if chat.status == ChatStatus.OPEN:
            chat_auto_assign(chat=chat)
        elif old_status == ChatStatus.OPEN and chat.assignee_id is not None:
            _drain(chat.organization_id, _lock_queue(chat.organization_id))
    return chat


def chat_close(*, actor: User, chat: Chat) -> Chat:
    return chat_update_support_fields(actor=actor, chat=chat, status=ChatStatus.CLOSED)


def chat_reopen(*, actor: User, chat: Chat) -> Chat:
    return chat_update_support_fields(actor=actor, chat=chat, status=ChatStatus.OPEN)


def chat_set_priority(*, actor: User, chat: Chat, priority: str) -> Chat:
    return chat_update_support_fields(actor=actor, chat=chat, priority=priority)


# --- Auto-assignment ------------------------------------------------------------------------


@transaction.atomic
def chat_auto_assign(*, chat: Chat) -> Chat:
    """A support chat was created or became open again. In an auto-assigning inbox it keeps a
    previous assignee who is online with room, or else joins the queue, which is drained at
    once (highest priority, then oldest, first — so a newcomer never jumps the backlog).

    Updates ``chat`` in place with its assignee."""
    locked = (
        Chat.objects.select_for_update(no_key=True, of=("self",))
        .select_related("inbox")
        .get(pk=chat.pk)
    )
    if not (
        locked.is_support
        and locked.status == ChatStatus.OPEN
        and locked.inbox is not None
        and locked.inbox.auto_assign
    ):
        return chat
    profiles = _lock_queue(locked.organization_id)
    if locked.assignee_id is not None:
        profile = profiles.get(locked.assignee_id)
        if (
            profile is not None
            and _receives_chats(profile, now=timezone.now())
            and open_loads([locked.assignee_id]).get(locked.assignee_id, 0) <= profile.capacity
        ):
            return chat
        previous = locked.assignee
        _assignee_set(
            locked,
            None,
            actor=None,
            verb="chat.unassigned",
            text=f"{previous} is not available; the chat is back in the queue.",
            data={"reason": "assignee_unavailable"},
        )
    _drain(locked.organization_id, profiles)
    chat.refresh_from_db(fields=["assignee", "assigned_at", "last_message", "last_message_at"])
    return chat


@transaction.atomic
def backlog_drain(*, organization: Organization | int) -> list[Chat]:
    """Give waiting chats to operators with room now (idempotent; also run periodically)."""
    org_id = organization if isinstance(organization, int) else organization.pk
    return _drain(org_id, _lock_queue(org_id))


# --- Availability and capacity --------------------------------------------------------------


def _profile_locked(profiles: dict[int, OperatorProfile], user: User) -> OperatorProfile:
    """The user's profile among the locked ones (created offline if missing)."""
    profile = profiles.get(user.pk)
    if profile is None:
        operator_profile_get(user)
        profile = (
            OperatorProfile.objects.select_for_update(of=("self",))
            .select_related("user")
            .get(user=user)
        )
        profiles[user.pk] = profile
    return profile


def _profile_change(
    profile: OperatorProfile,
    profiles: dict[int, OperatorProfile],
    *,
    organization_id: int,
    **values,
) -> None:
    """Save ``values`` on the locked profile; announce an availability change, and fill new
    room (the operator started receiving chats, or their capacity grew) from the backlog."""
    now = timezone.now()
    was_receiving = _receives_chats(profile, now=now)
    previous_availability, previous_capacity = profile.availability, profile.capacity
    for name, value in values.items():
        setattr(profile, name, value)
    profile.save(update_fields=[*values, "updated_at"])
    if profile.availability != previous_availability:
        events.operator_status(profile, organization_id=organization_id)
    if _receives_chats(profile, now=now) and (
        not was_receiving or profile.capacity > previous_capacity
    ):
        _drain(organization_id, profiles)


@transaction.atomic
def operator_availability_set(*, user: User, availability: str) -> OperatorProfile:
    """The operator says whether they are online, away or offline. Going online hands them
    waiting chats at once; ``operator:status`` tells the staff."""
    if not user.is_staff:
        raise Forbidden("Only staff have an availability.")
    _availability_validate(availability)
    profiles = _lock_queue(user.organization_id)
    profile = _profile_locked(profiles, user)
    values: dict = {"availability": availability, "availability_before_disconnect": ""}
    if availability == Availability.ONLINE:
        # An explicit "online" counts even from a client that holds no socket.
        values["disconnected_at"] = None
    _profile_change(profile, profiles, organization_id=user.organization_id, **values)
    return profile


def _availability_validate(availability: str) -> None:
    if availability not in Availability.values:
        raise ValidationFailed(
            f"Unknown availability {availability!r}.",
            code=error_codes.INVALID_AVAILABILITY,
            fields={"availability": [f"Use one of: {', '.join(Availability.values)}."]},
        )


@transaction.atomic
def operator_profile_update(
    *,
    actor: User,
    user_id: int,
    capacity: int | None = None,
    availability: str | None = None,
) -> OperatorProfile:
    """A senior operator or an admin sets a staff member's capacity (and availability). More
    room is filled from the backlog at once."""
    if not actor.is_manager:
        raise Forbidden(
            "Only a senior operator or an admin changes operators.", code=error_codes.NOT_MANAGER
        )
    user = _staff_member(
        organization_id=None if actor.is_superuser else actor.organization_id, user_id=user_id
    )
    if capacity is not None and not (0 <= capacity <= MAX_CAPACITY):
        raise ValidationFailed(
            f"Capacity is 0 to {MAX_CAPACITY}.",
            code=error_codes.INVALID_CAPACITY,
            fields={"capacity": [f"Use 0 to {MAX_CAPACITY}."]},
        )
    if availability is not None:
        _availability_validate(availability)
    profiles = _lock_queue(user.organization_id)
    profile = _profile_locked(profiles, user)
    values: dict = {}
    if capacity is not None and capacity != profile.capacity:
        values["capacity"] = capacity
    if availability is not None and availability != profile.availability:
        values.update(availability=availability, availability_before_disconnect="")
    if not values:
        return profile
    changes = {
        name: {"from": getattr(profile, name), "to": values[name]}
        for name in ("capacity", "availability")
        if name in values
    }
    _profile_change(profile, profiles, organization_id=user.organization_id, **values)
    audit_record(
        actor=actor,
        organization=user.organization_id,
        verb="operator.updated",
        target=user,
        data=changes,
    )
    return profile


@transaction.atomic
def operator_connected(*, user_id: int) -> OperatorProfile | None:
    """The staff member's first socket opened: they count as present again, and get back the
    availability presence took when they dropped off."""
    user = User.objects.filter(pk=user_id, role__in=STAFF_ROLES).first()
    if user is None:
        return None
    profiles = _lock_queue(user.organization_id)
    profile = _profile_locked(profiles, user)
    values: dict = {"disconnected_at": None, "availability_before_disconnect": ""}
    if profile.availability == Availability.OFFLINE and profile.availability_before_disconnect:
        values["availability"] = profile.availability_before_disconnect
    _profile_change(profile, profiles, organization_id=user.organization_id, **values)
    return profile


def operator_disconnected(*, user_id: int, at: datetime | None = None) -> bool:
    """The staff member's last socket closed: the grace period starts. Returns whether they
    have a profile (staff that presence tracks)."""
    return bool(
        OperatorProfile.objects.filter(user_id=user_id).update(disconnected_at=at or timezone.now())
    )


@transaction.atomic
def operator_presence_lapse(*, user_id: int) -> bool:
    """Turn an operator offline once their grace period passed without a socket. Idempotent:
    a reconnection, an earlier run or a later disconnection make it a no-op. Returns whether
    it changed anything."""
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return False
    profiles = _lock_queue(user.organization_id)
    profile = profiles.get(user_id)
    if (
        profile is None
        or profile.disconnected_at is None
        or profile.disconnected_at > _grace_cutoff(timezone.now())
        or profile.availability == Availability.OFFLINE
    ):
        return False
    _profile_change(
        profile,
        profiles,
        organization_id=user.organization_id,
        availability=Availability.OFFLINE,
        availability_before_disconnect=profile.availability,
    )
    return True


def lapsed_operator_ids() -> list[int]:
    """Operators past their grace period who are not offline yet (for the periodic sweep)."""
    return list(
        OperatorProfile.objects.filter(
            disconnected_at__lte=_grace_cutoff(timezone.now()),
        )
        .exclude(availability=Availability.OFFLINE)
        .values_list("user_id", flat=True)
    )


# --- Canned responses -----------------------------------------------------------------------


def _require_admin(actor: User) -> None:
    if not actor.is_org_admin:
        raise Forbidden(
            "Only an organization admin manages canned responses.", code=error_codes.NOT_ADMIN
        )


def _canned_validate(*, shortcut: str, text: str) -> tuple[str, str]:
    shortcut, text = shortcut.strip(), text.strip()
    if not shortcut or not text:
        raise ValidationFailed(
            "A canned response needs a shortcut and a text.",
            code=error_codes.INVALID_CANNED_RESPONSE,
            fields={
                name: ["This field may not be blank."]
                for name, value in (("shortcut", shortcut), ("text", text))
                if not value
            },
        )
    return shortcut, text


def _canned_save(response: CannedResponse, **update_fields) -> CannedResponse:
    try:
        with transaction.atomic():
            response.save(**update_fields)
    except IntegrityError:
        raise ValidationFailed(
            f"The shortcut {response.shortcut!r} is taken.",
            code=error_codes.SHORTCUT_TAKEN,
            fields={"shortcut": ["A canned response with this shortcut exists."]},
        ) from None
    return response


@transaction.atomic
def canned_response_create(*, actor: User, shortcut: str, text: str) -> CannedResponse:
    _require_admin(actor)
    shortcut, text = _canned_validate(shortcut=shortcut, text=text)
    response = _canned_save(
        CannedResponse(
            organization_id=actor.organization_id, shortcut=shortcut, text=text, created_by=actor
        )
    )
    audit_record(
        actor=actor,
        organization=actor.organization_id,
        verb="canned_response.created",
        target=response,
    )
    return response


@transaction.atomic
def canned_response_update(
    *, actor: User, response: CannedResponse, shortcut: str | None = None, text: str | None = None
) -> CannedResponse:
    _require_admin(actor)
    if response.organization_id != actor.organization_id:
        raise NotFound("Canned response not found.", code=error_codes.CANNED_RESPONSE_NOT_FOUND)
    shortcut, text = _canned_validate(
        shortcut=response.shortcut if shortcut is None else shortcut,
        text=response.text if text is None else text,
    )
    response.shortcut, response.text = shortcut, text
    _canned_save(response)
    audit_record(
        actor=actor,
        organization=actor.organization_id,
        verb="canned_response.updated",
        target=response,
    )
    return response


@transaction.atomic
def canned_response_delete(*, actor: User, response: CannedResponse) -> None:
    _require_admin(actor)
    if response.organization_id != actor.organization_id:
        raise NotFound("Canned response not found.", code=error_codes.CANNED_RESPONSE_NOT_FOUND)
    audit_record(
        actor=actor,
        organization=actor.organization_id,
        verb="canned_response.deleted",
        target=response,
        data={"shortcut": response.shortcut},
    )
    response.delete()
