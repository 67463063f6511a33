"""Writes of chats: the customer's support chat, direct, group and project chats, their
participants, names, and (through the operators' workflow) status and priority."""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from accounts.models import User
from chats import error_codes, events, hooks
from chats.models import Chat, ChatKind, ChatStatus, Inbox, Membership, Project
from chats.selectors import chat_for, chats_visible_to, staff_users_q, web_inbox_for
from chats.services.common import MAX_NAME_LENGTH, MAX_PARTICIPANTS, _locked, participant_ids_of
from chats.services.read_state import _emit_own_unread
from crm.errors import Conflict, Forbidden, NotFound, ValidationFailed

# --- Support chats --------------------------------------------------------------------------


def support_chat_get_or_create(
    *, customer: User, inbox: Inbox | None = None, subject: str = ""
) -> tuple[Chat, bool]:
    """The customer's support chat in ``inbox`` (the web inbox by default), created once even
    when several first requests race (a unique constraint decides)."""
    inbox = inbox or web_inbox_for(organization=customer.organization_id)
    if inbox.organization_id != customer.organization_id:
        raise NotFound(_("Inbox not found."), code=error_codes.INBOX_NOT_FOUND)
    existing = Chat.objects.filter(kind=ChatKind.SUPPORT, inbox=inbox, customer=customer).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            chat = Chat.objects.create(
                organization_id=customer.organization_id,
                kind=ChatKind.SUPPORT,
                inbox=inbox,
                customer=customer,
                subject=subject[:200],
                # With the inbox's bot on, the bot handles the new conversation: it waits as
                # pending (auto-assignment takes open chats only) until the bot hands it off.
                status=ChatStatus.PENDING if inbox.bot_enabled else ChatStatus.OPEN,
            )
            Membership.objects.create(chat=chat, user=customer, is_participant=True)
            events.chat_new(chat)
            chat_opened(chat)
    except IntegrityError:
        return Chat.objects.get(kind=ChatKind.SUPPORT, inbox=inbox, customer=customer), False
    return chat, True


def chat_opened(chat: Chat) -> None:
    """A support chat was created or reopened: hand it to auto-assignment (a hook)."""
    hooks.support_chat_opened(chat)


# --- Internal chats -------------------------------------------------------------------------


def _require_staff(actor: User) -> None:
    if not actor.is_staff:
        raise Forbidden(_("Only staff can do this."), code=error_codes.STAFF_ONLY)


def _staff_members(*, organization_id: int, ids, field: str = "participant_ids") -> list[User]:
    """Active staff of the organization with these ids; anything else (unknown, another
    organization's, a customer) is refused alike, so ids of other tenants reveal nothing."""
    try:
        wanted = {int(i) for i in ids}
    except (TypeError, ValueError):
        raise ValidationFailed(
            _("Participants are user ids."),
            code=error_codes.INVALID_PARTICIPANTS,
            fields={field: [_("Ids.")]},
        ) from None
    if len(wanted) > MAX_PARTICIPANTS:
        raise ValidationFailed(
            _("At most %(MAX_PARTICIPANTS)s participants.")
            % {"MAX_PARTICIPANTS": MAX_PARTICIPANTS},
            code=error_codes.TOO_MANY_PARTICIPANTS,
        )
    users = list(
        User.objects.filter(
            staff_users_q(), pk__in=wanted, organization_id=organization_id, is_active=True
        )
    )
    unknown = sorted(wanted - {u.pk for u in users})
    if unknown:
        raise ValidationFailed(
            _("Participants must be active staff of your organization."),
            code=error_codes.INVALID_PARTICIPANTS,
            fields={
                field: [
                    _("Not a staff member of this organization: %(unknown)s.")
                    % {"unknown": unknown}
                ]
            },
        )
    return users


def _clean_name(name: str | None, *, required: bool) -> str:
    name = (name or "").strip()
    if required and not name:
        raise ValidationFailed(
            _("A name is required."),
            code=error_codes.NAME_REQUIRED,
            fields={"name": [_("Required.")]},
        )
    if len(name) > MAX_NAME_LENGTH:
        raise ValidationFailed(
            _("Names are limited to %(MAX_NAME_LENGTH)s characters.")
            % {"MAX_NAME_LENGTH": MAX_NAME_LENGTH},
            code=error_codes.NAME_TOO_LONG,
            fields={
                "name": [
                    _("At most %(MAX_NAME_LENGTH)s characters.")
                    % {"MAX_NAME_LENGTH": MAX_NAME_LENGTH}
                ]
            },
        )
    return name


def _add_members(chat: Chat, users: list[User]) -> None:
    """New participants see the history but none of it counts as unread."""
    pointer = chat.last_message_id or 0
    Membership.objects.bulk_create(
        [
            Membership(chat=chat, user=u, is_participant=True, last_read_message_id=pointer)
            for u in users
        ],
        ignore_conflicts=True,
    )
    # A staff member who read a chat before without taking part keeps their pointer.
    Membership.objects.filter(chat=chat, user__in=users, is_participant=False).update(
        is_participant=True
    )


def chat_direct_get_or_create(*, actor: User, other_id: int) -> tuple[Chat, bool]:
    """The one direct chat between two staff members; asking again returns the same chat."""
    _require_staff(actor)
    (other,) = _staff_members(organization_id=actor.organization_id, ids=[other_id])
    if other.pk == actor.pk:
        raise ValidationFailed(
            _("A direct chat needs another staff member."),
            code=error_codes.INVALID_PARTICIPANTS,
            fields={"participant_ids": [_("Name one other staff member.")]},
        )
    low, high = sorted((actor.pk, other.pk))
    key = f"{low}:{high}"
    existing = Chat.objects.filter(
        organization_id=actor.organization_id, kind=ChatKind.DIRECT, direct_key=key
    ).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            chat = Chat.objects.create(
                organization_id=actor.organization_id,
                kind=ChatKind.DIRECT,
                direct_key=key,
                created_by=actor,
            )
            _add_members(chat, [actor, other])
            events.chat_new(chat, participant_ids=[actor.pk, other.pk])
    except IntegrityError:  # both asked at the same time: the constraint picked one chat
        return Chat.objects.get(
            organization_id=actor.organization_id, kind=ChatKind.DIRECT, direct_key=key
        ), False
    return chat, True


@transaction.atomic
def chat_group_create(*, actor: User, name: str, participant_ids: list[int]) -> Chat:
    _require_staff(actor)
    name = _clean_name(name, required=True)
    members = _staff_members(organization_id=actor.organization_id, ids=participant_ids)
    chat = Chat.objects.create(
        organization_id=actor.organization_id, kind=ChatKind.GROUP, name=name, created_by=actor
    )
    users = {u.pk: u for u in [actor, *members]}
    _add_members(chat, list(users.values()))
    events.chat_new(chat, participant_ids=list(users))
    return chat


@transaction.atomic
def chat_project_get_or_create(
    *,
    actor: User,
    project_id: int | None = None,
    name: str = "",
    participant_ids: list[int] | None = None,
) -> tuple[Chat, bool]:
    """A project's chat: for an existing project (its chat if it has one), or a new project
    named ``name``. Its participants are the project's members (the actor joins)."""
    _require_staff(actor)
    extra = _staff_members(organization_id=actor.organization_id, ids=participant_ids or [])
    if project_id is not None:
        project = (
            Project.objects.select_for_update()
            .filter(organization_id=actor.organization_id, pk=project_id)
            .first()
        )
        if project is None:
            raise ValidationFailed(
                _("No such project in your organization."),
                code=error_codes.INVALID_PROJECT,
                fields={"project_id": [_("Unknown project.")]},
            )
        existing = Chat.objects.filter(project=project).first()
        if existing is not None:
            if not Membership.objects.filter(
                chat=existing, user=actor, is_participant=True
            ).exists():
                raise Conflict(
                    _("This project already has a chat; a participant can add you to it."),
                    code=error_codes.PROJECT_CHAT_EXISTS,
                )
            return existing, False
    else:
        project = Project.objects.create(
            organization_id=actor.organization_id, name=_clean_name(name, required=True)
        )
    members = list(User.objects.filter(staff_users_q(), projects=project, is_active=True)) + [
        actor,
        *extra,
    ]
    users = {u.pk: u for u in members}
    project.members.add(*users.values())
    chat = Chat.objects.create(
        organization_id=actor.organization_id,
        kind=ChatKind.PROJECT,
        name=project.name,
        project=project,
        created_by=actor,
    )
    _add_members(chat, list(users.values()))
    events.chat_new(chat, participant_ids=list(users))
    return chat, True


def _internal_chat_for_change(actor: User, chat_id: int) -> Chat:
    chat = chat_for(actor, chat_id, queryset=_locked(chats_visible_to(actor)))
    _require_staff(actor)
    if chat.kind not in (ChatKind.GROUP, ChatKind.PROJECT):
        raise ValidationFailed(
            _("Only group and project chats have a changeable list of participants."),
            code=error_codes.FIXED_PARTICIPANTS,
        )
    return chat


@transaction.atomic
def chat_participant_add(*, actor: User, chat: Chat, user_id: int) -> Chat:
    """A participant adds a staff member of the organization to a group or project chat."""
    chat = _internal_chat_for_change(actor, chat.pk)
    (user,) = _staff_members(organization_id=chat.organization_id, ids=[user_id], field="user_id")
    if Membership.objects.filter(chat=chat, user=user, is_participant=True).exists():
        return chat
    _add_members(chat, [user])
    if chat.project_id:
        chat.project.members.add(user)
    participant_ids = participant_ids_of(chat)
    events.chat_new(chat, participant_ids=[user.pk])
    events.chat_updated(chat, participant_ids=[p for p in participant_ids if p != user.pk])
    return chat


@transaction.atomic
def chat_participant_remove(*, actor: User, chat: Chat, user_id: int) -> Chat:
    """Anyone may leave; removing someone else takes the chat's creator or a manager."""
    chat = _internal_chat_for_change(actor, chat.pk)
    try:
        user_id = int(user_id)
    except (TypeError, ValueError):
        raise NotFound(_("No such participant."), code=error_codes.PARTICIPANT_NOT_FOUND) from None
    if user_id != actor.pk and not (actor.is_manager or chat.created_by_id == actor.pk):
        raise Forbidden(
            _("Only the chat's creator or a manager removes other participants."),
            code=error_codes.NOT_CHAT_OWNER,
        )
    membership = Membership.objects.filter(chat=chat, user_id=user_id, is_participant=True).first()
    if membership is None:
        raise NotFound(_("No such participant."), code=error_codes.PARTICIPANT_NOT_FOUND)
    had_unread = membership.unread_count > 0
    membership.delete()
    if chat.project_id:
        chat.project.members.remove(user_id)
    remaining = participant_ids_of(chat)
    events.chat_updated(chat, participant_ids=[*remaining, user_id])
    if had_unread:  # their count there is gone: their other chats' total, to their own tabs
        _emit_own_unread(user_id, chat.pk, count=0)
    return chat


@transaction.atomic
def chat_update(
    *,
    actor: User,
    chat: Chat,
    name: str | None = None,
    status: str | None = None,
    priority: str | None = None,
) -> Chat:
    """Staff rename a chat they see; a support chat's status and priority go through the
    operators' workflow (which checks who may change them)."""
    chat = chat_for(actor, chat.pk, queryset=_locked(chats_visible_to(actor)))
    _require_staff(actor)
    if (status is not None or priority is not None) and not chat.is_support:
        raise ValidationFailed(
            _("Only support chats have a status and priority."), code=error_codes.NOT_SUPPORT
        )
    if name is not None:
        if chat.kind == ChatKind.DIRECT:
            raise ValidationFailed(
                _("Direct chats have no name."), code=error_codes.DIRECT_CHAT_NAME
            )
        name = _clean_name(name, required=chat.kind in (ChatKind.GROUP, ChatKind.PROJECT))
        if name != chat.name:
            chat.name = name
            chat.save(update_fields=["name"])
            events.chat_updated(chat, participant_ids=participant_ids_of(chat))
    if status is not None or priority is not None:
        chat = hooks.support_fields_update(actor=actor, chat=chat, status=status, priority=priority)
    return chat
