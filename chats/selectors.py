"""Reads of chats and messages, always through what the viewer may see."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.db.models import (
    BigIntegerField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from accounts.models import STAFF_ROLES, Organization, User
from chats import error_codes
from chats.models import (
    INTERNAL_KINDS,
    Chat,
    ChatKind,
    ChatStatus,
    Inbox,
    InboxKind,
    Membership,
    Message,
)
from crm.errors import NotFound
from crm.i18n import organization_override
from crm.tenancy import scoped

HISTORY_DEFAULT_LIMIT = 50
HISTORY_MAX_LIMIT = 200
SEARCH_LIMIT = 50
SEARCH_PROBE = 1000


def staff_users_q(prefix: str = "") -> Q:
    """Users who count as staff (``User.is_staff``), as a filter: staff roles or superusers."""
    return Q(**{f"{prefix}role__in": STAFF_ROLES}) | Q(**{f"{prefix}is_superuser": True})


def inboxes_of(user: User) -> QuerySet[Inbox]:
    return scoped(Inbox.objects.all(), user.organization_id).order_by("id")


def inbox_for(user: User, inbox_id: int | str, *, queryset: QuerySet[Inbox] | None = None) -> Inbox:
    """An inbox of the user's organization, or NotFound (also for another organization's)."""
    inboxes = scoped(
        queryset if queryset is not None else Inbox.objects.all(), user.organization_id
    )
    try:
        return inboxes.get(pk=int(inbox_id))
    except (Inbox.DoesNotExist, ValueError, TypeError):
        raise NotFound(_("Inbox not found."), code=error_codes.INBOX_NOT_FOUND) from None


def web_inbox_for(*, organization: Organization | int) -> Inbox:
    """The organization's web (cabinet) inbox, created on first use."""
    org_id = organization if isinstance(organization, int) else organization.pk
    inbox = Inbox.objects.filter(organization_id=org_id, kind=InboxKind.WEB).first()
    if inbox is not None:
        return inbox
    try:
        with transaction.atomic():
            with organization_override(org_id):
                name = _("Website")
            return Inbox.objects.create(organization_id=org_id, kind=InboxKind.WEB, name=name)
    except IntegrityError:  # created concurrently
        return Inbox.objects.get(organization_id=org_id, kind=InboxKind.WEB)


def chats_visible_to(user: User) -> QuerySet[Chat]:
    """Customers: their own support chats. Staff: the organization's support chats and the
    internal chats they take part in. Nothing of another organization."""
    chats = scoped(Chat.objects.all(), user.organization_id)
    if not user.is_staff:
        return chats.filter(kind=ChatKind.SUPPORT, customer=user)
    participates = Membership.objects.filter(chat=OuterRef("pk"), user=user, is_participant=True)
    return chats.filter(
        Q(kind=ChatKind.SUPPORT) | Q(kind__in=INTERNAL_KINDS) & Exists(participates)
    )


def chat_for(user: User, chat_id: int | str, *, queryset: QuerySet[Chat] | None = None) -> Chat:
    """A chat the user may read, or NotFound (also for another organization's chat)."""
    chats = chats_visible_to(user) if queryset is None else queryset
    try:
        return chats.get(pk=int(chat_id))
    except (Chat.DoesNotExist, ValueError, TypeError):
        raise NotFound(_("Chat not found."), code=error_codes.CHAT_NOT_FOUND) from None


def counted_messages_q(user: User) -> Q:
    """Messages that count as unread for ``user`` (against their read pointer): not deleted,
    not system, not their own; notes and staff-only messages only for staff."""
    q = Q(deleted_at__isnull=True) & ~Q(kind="system") & ~Q(sender_id=user.pk)
    if not user.is_staff:
        q &= Q(staff_only=False)
    return q


def visible_messages_q(user: User) -> Q:
    """Messages the user may see in a chat they can read: customers never see staff-only ones."""
    return Q() if user.is_staff else Q(staff_only=False)


def messages_of(chat: Chat, *, viewer: User) -> QuerySet[Message]:
    return Message.objects.filter(chat=chat).filter(visible_messages_q(viewer))


def _with_message_relations(messages: QuerySet[Message]) -> QuerySet[Message]:
    return messages.select_related("sender").prefetch_related("attachments")


# --- Chat list ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatFilters:
    """The chat list's filters, already validated. ``None`` means "not filtered"."""

    kinds: tuple[str, ...] | None = None
    statuses: tuple[str, ...] | None = None
    priorities: tuple[str, ...] | None = None
    assigned: bool | None = None
    assignee_id: int | None = None
    inbox_id: int | None = None
    unread: bool | None = None
    q: str = ""


def _last_message_field(viewer: User) -> str:
    # Customers never see notes: their lists show the newest message they may read.
    return "last_message" if viewer.is_staff else "last_public_message"


def chats_for_list(viewer: User, filters: ChatFilters | None = None) -> QuerySet[Chat]:
    """The viewer's chats by last activity, filtered, with everything ``chat_data`` renders:
    a fixed number of queries whatever the page size (the page, participants, attachments of
    the last messages). Each chat carries ``viewer_unread``."""
    filters = filters or ChatFilters()
    chats = chats_visible_to(viewer)
    support_only = False
    if filters.kinds:
        chats = chats.filter(kind__in=filters.kinds)
    if filters.statuses:
        chats = chats.filter(status__in=filters.statuses)
        support_only = True
    if filters.priorities:
        chats = chats.filter(priority__in=filters.priorities)
        support_only = True
    if filters.assigned is True:
        chats = chats.filter(assignee__isnull=False)
    elif filters.assigned is False:
        chats = chats.filter(assignee__isnull=True)
        support_only = True
    if filters.assignee_id is not None:
        chats = chats.filter(assignee_id=filters.assignee_id)
    if filters.inbox_id is not None:
        chats = chats.filter(inbox_id=filters.inbox_id)
    if support_only:
        chats = chats.filter(kind=ChatKind.SUPPORT)
    if filters.unread:
        chats = chats.filter(
            Exists(Membership.objects.filter(chat=OuterRef("pk"), user=viewer, unread_count__gt=0))
        )
    if filters.q:
        text = filters.q
        chats = chats.filter(
            Q(customer__name__icontains=text)
            | Q(customer__email__icontains=text)
            | Q(subject__icontains=text)
            | Q(name__icontains=text)
        )
    chats = with_list_data(chats, viewer=viewer)
    if viewer.is_staff:
        return chats.order_by("-last_activity_at", "-id")
    # Customers: by the newest message they may read, so a note never moves a chat up.
    return chats.annotate(
        public_activity_at=Coalesce("last_public_message__created_at", "created_at")
    ).order_by("-public_activity_at", "-id")


def with_list_data(chats: QuerySet[Chat], *, viewer: User) -> QuerySet[Chat]:
    last = _last_message_field(viewer)
    unread = Membership.objects.filter(chat=OuterRef("pk"), user=viewer).values("unread_count")
    return (
        chats.select_related("customer", "assignee", "inbox", last, f"{last}__sender")
        .prefetch_related(
            f"{last}__attachments",
            Prefetch(
                "memberships",
                queryset=Membership.objects.filter(is_participant=True)
                .exclude(chat__kind=ChatKind.SUPPORT)
                .select_related("user")
                .order_by("joined_at", "id"),
                to_attr="participant_rows",
            ),
        )
        .annotate(viewer_unread=Coalesce(Subquery(unread[:1]), 0, output_field=IntegerField()))
    )


def chat_detail_for(viewer: User, chat_id: int | str) -> Chat:
    """One chat as the list shows it (unread count, participants, last message), or 404."""
    return chat_for(
        viewer, chat_id, queryset=with_list_data(chats_visible_to(viewer), viewer=viewer)
    )


def participants_of(chat: Chat) -> list[User]:
    """Participants of an internal chat (uses the list's prefetch when there is one)."""
    if chat.is_support:
        return []
    rows = getattr(chat, "participant_rows", None)
    if rows is None:
        rows = (
            Membership.objects.filter(chat=chat, is_participant=True)
            .select_related("user")
            .order_by("joined_at", "id")
        )
    return [row.user for row in rows]


def last_message_for(chat: Chat, *, viewer_is_staff: bool) -> Message | None:
    if viewer_is_staff:
        return chat.last_message if chat.last_message_id else None
    return chat.last_public_message if chat.last_public_message_id else None


# --- Messages -------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryPage:
    messages: list[Message]
    has_more: bool


def message_history(
    *,
    chat: Chat,
    viewer: User,
    before: int | None = None,
    after: int | None = None,
    limit: int = HISTORY_DEFAULT_LIMIT,
) -> HistoryPage:
    """A page of a chat's history in ascending id order, keyset-paginated on the id.

    Without cursors: the newest ``limit`` messages. ``before``: the newest ones older than it
    (scrolling back). ``after``: the oldest ones newer than it (catching up after a reconnect).
    ``has_more`` says whether more exist in the direction of paging. Deleted messages stay as
    placeholders so that cursors and read pointers keep their place.
    """
    limit = max(1, min(int(limit), HISTORY_MAX_LIMIT))
    messages = messages_of(chat, viewer=viewer)
    if before is not None:
        messages = messages.filter(id__lt=before)
    if after is not None:
        messages = messages.filter(id__gt=after)
        rows = list(_with_message_relations(messages.order_by("id"))[: limit + 1])
        return HistoryPage(rows[:limit], len(rows) > limit)
    rows = list(_with_message_relations(messages.order_by("-id"))[: limit + 1])
    page = rows[:limit]
    page.reverse()
    return HistoryPage(page, len(rows) > limit)


def message_for(viewer: User, message_id: int | str) -> Message:
    """A message the viewer may read (in a chat they see; no notes for customers), or 404."""
    try:
        message_id = int(message_id)
    except (TypeError, ValueError):
        raise NotFound(_("Message not found."), code=error_codes.MESSAGE_NOT_FOUND) from None
    messages = (
        Message.objects.filter(pk=message_id, chat__in=chats_visible_to(viewer))
        .filter(visible_messages_q(viewer))
        .select_related("sender", "chat")
        .prefetch_related("attachments")
    )
    message = messages.first()
    if message is None:
        raise NotFound(_("Message not found."), code=error_codes.MESSAGE_NOT_FOUND)
    return message


def message_search(
    *, viewer: User, query: str, chat_id: int | None = None, limit: int = SEARCH_LIMIT
) -> list[Message]:
    """Messages matching ``query`` in chats the viewer may read, newest first.

    PostgreSQL: full-text search over ``to_tsvector('simple', text)`` (a GIN index created by
    the migrations on PostgreSQL only); elsewhere a case-insensitive substring match.
    """
    query = (query or "").strip()
    if not query:
        return []
    chats = chats_visible_to(viewer)
    if chat_id is not None:
        chats = chats.filter(pk=chat_id)
    messages = Message.objects.filter(chat__in=chats, deleted_at__isnull=True).filter(
        visible_messages_q(viewer)
    )
    order = F("id").desc()
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchVector

        messages = messages.annotate(search=SearchVector("text", config="simple")).filter(
            search=SearchQuery(query, config="simple", search_type="websearch")
        )
        # Newest-first with LIMIT tempts the planner to walk the primary key backwards and
        # test every row, which is fast for common words and a full scan for rare ones (its
        # guess for a word it has no statistics on is 0.5% of the rows). A bounded probe
        # through the GIN index tells which case this is; few matches are then sorted
        # (ordering by id + 0 keeps the planner off the primary key), many are walked.
        if messages.values("pk")[:SEARCH_PROBE].count() < SEARCH_PROBE:
            order = ExpressionWrapper(F("id") + 0, output_field=BigIntegerField()).desc()
    else:
        messages = messages.filter(text__icontains=query)
    return list(_with_message_relations(messages.order_by(order))[:limit])


# --- Unread counts --------------------------------------------------------------------------


def unread_totals(user_ids: list[int]) -> dict[int, int]:
    """Each user's unread total over all their chats. Membership rows exist only for chats the
    user may read, so the sum needs no visibility join (and reads the partial index)."""
    rows = (
        Membership.objects.filter(user_id__in=user_ids, unread_count__gt=0)
        .values("user_id")
        .annotate(total=Sum("unread_count"))
    )
    totals = dict.fromkeys(user_ids, 0)
    totals.update({row["user_id"]: row["total"] or 0 for row in rows})
    return totals


def unassigned_count(*, organization_id: int) -> int:
    """Open or pending support chats that nobody is assigned to."""
    return Chat.objects.filter(
        organization_id=organization_id,
        kind=ChatKind.SUPPORT,
        status__in=[ChatStatus.OPEN, ChatStatus.PENDING],
        assignee__isnull=True,
    ).count()


def unread_counts_for(user: User) -> dict:
    """``{total, chats: {chat_id: n}}`` with only the chats that have unread messages, plus
    ``unassigned`` for staff."""
    rows = Membership.objects.filter(user=user, unread_count__gt=0).values_list(
        "chat_id", "unread_count"
    )
    chats = {str(chat_id): count for chat_id, count in rows}
    data: dict = {"total": sum(chats.values()), "chats": chats}
    if user.is_staff:
        data["unassigned"] = unassigned_count(organization_id=user.organization_id)
    return data
