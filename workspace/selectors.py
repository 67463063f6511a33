"""Reads behind the workspace pages: the conversation list and the dashboard.

Built on ``chats.selectors`` (visibility, list data) and ``operators`` (stats, operators), so
the pages show exactly what the API shows.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from accounts.models import STAFF_ROLES, User
from chats.models import Chat, ChatKind, ChatStatus, Inbox, Message, MessageKind
from chats.selectors import ChatFilters, chats_for_list, chats_visible_to, inboxes_of
from crm.tenancy import scoped
from operators.models import Availability
from operators.selectors import operators_of
from operators.stats import MedianResult, median_duration

INBOX_PAGE_SIZE = 50
INBOX_TABS = ("mine", "unassigned", "all")
# The statuses a list shows unless told otherwise: the conversations still being worked on.
ACTIVE_STATUSES = (ChatStatus.OPEN, ChatStatus.PENDING)
DASHBOARD_UNASSIGNED_ROWS = 5


@dataclass(frozen=True)
class InboxQuery:
    """What the conversation list shows: a tab and its filters, already validated."""

    tab: str = "mine"
    statuses: tuple[str, ...] | None = ACTIVE_STATUSES
    priorities: tuple[str, ...] | None = None
    inbox_id: int | None = None
    assignee_id: int | None = None
    q: str = ""


@dataclass(frozen=True)
class InboxPage:
    chats: list[Chat]
    has_more: bool


def _filters(viewer: User, query: InboxQuery) -> ChatFilters:
    """``query`` as the chat list's filters (the tab narrows by assignee)."""
    filters = ChatFilters(
        kinds=(ChatKind.SUPPORT,),
        statuses=query.statuses,
        priorities=query.priorities,
        inbox_id=query.inbox_id,
        q=query.q,
    )
    if query.tab == "mine":
        return replace(filters, assignee_id=viewer.pk)
    if query.tab == "unassigned":
        return replace(filters, assigned=False)
    if query.tab == "all" and query.assignee_id is not None:
        return replace(filters, assignee_id=query.assignee_id)
    return filters


def inbox_chats(viewer: User, query: InboxQuery, *, limit: int = INBOX_PAGE_SIZE) -> InboxPage:
    """The first page of the tab, newest activity first, with everything a row shows (a fixed
    number of queries whatever the page size)."""
    limit = max(1, min(limit, INBOX_PAGE_SIZE))
    chats = (
        chats_for_list(viewer, _filters(viewer, query))
        .select_related("last_public_message__sender")
        .prefetch_related("last_public_message__attachments")
    )
    rows = list(chats[: limit + 1])
    for chat in rows:
        chat.preview_message = inbox_preview_message(chat)
    return InboxPage(rows[:limit], len(rows) > limit)


def inbox_preview_message(chat: Chat) -> Message | None:
    """The message a row previews: the newest one, unless it is a system line (someone took
    the chat, changed its priority...) and an earlier conversation message says more."""
    last = chat.last_message if chat.last_message_id else None
    if last is not None and last.kind == MessageKind.SYSTEM and chat.last_public_message_id:
        public = chat.last_public_message
        if public.kind != MessageKind.SYSTEM:
            return public
    return last


def _support_chats(viewer: User, query: InboxQuery) -> QuerySet[Chat]:
    """The tab-independent filters of ``query`` as a plain queryset (no list data joined), the
    same rules as ``chats_for_list``."""
    chats = chats_visible_to(viewer).filter(kind=ChatKind.SUPPORT)
    if query.statuses:
        chats = chats.filter(status__in=query.statuses)
    if query.priorities:
        chats = chats.filter(priority__in=query.priorities)
    if query.inbox_id is not None:
        chats = chats.filter(inbox_id=query.inbox_id)
    if query.q:
        chats = chats.filter(
            Q(customer__name__icontains=query.q)
            | Q(customer__email__icontains=query.q)
            | Q(subject__icontains=query.q)
            | Q(name__icontains=query.q)
        )
    return chats.order_by()


def inbox_counts(viewer: User, query: InboxQuery) -> dict[str, int]:
    """How many conversations each tab holds under the same filters, in one query."""
    everyone = Q() if query.assignee_id is None else Q(assignee_id=query.assignee_id)
    return _support_chats(viewer, query).aggregate(
        mine=Count("pk", filter=Q(assignee_id=viewer.pk)),
        unassigned=Count("pk", filter=Q(assignee__isnull=True)),
        # The "All" tab narrowed to one assignee counts only theirs.
        all=Count("pk", filter=everyone) if query.assignee_id is not None else Count("pk"),
    )


def inbox_inboxes(viewer: User) -> QuerySet[Inbox]:
    """The channels the inbox filter offers."""
    return inboxes_of(viewer)


def inbox_assignees(viewer: User) -> list[User]:
    """Staff the assignee filter offers: the organization's active operators."""
    return list(operators_of(organization=viewer.organization_id))


# --- Dashboard ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DashboardNumbers:
    my_open: int
    unassigned: int
    pending: int
    operators_online: int
    operators_total: int
    first_response: MedianResult


def _start_of_today(now: datetime) -> datetime:
    local = timezone.localtime(now)
    return local.replace(hour=0, minute=0, second=0, microsecond=0)


def dashboard_numbers(viewer: User, *, now: datetime | None = None) -> DashboardNumbers:
    """The dashboard's cards: counts in one query, operators in one, today's median first
    response as ``operators.stats`` computes it (first answers given today)."""
    now = now or timezone.now()
    support = Chat.objects.filter(organization_id=viewer.organization_id, kind=ChatKind.SUPPORT)
    counts = support.aggregate(
        my_open=Count("pk", filter=Q(status=ChatStatus.OPEN, assignee_id=viewer.pk)),
        unassigned=Count("pk", filter=Q(status__in=ACTIVE_STATUSES, assignee__isnull=True)),
        pending=Count("pk", filter=Q(status=ChatStatus.PENDING)),
    )
    staff = scoped(User.objects.all(), viewer.organization_id).filter(
        role__in=STAFF_ROLES, is_active=True
    )
    people = staff.aggregate(
        total=Count("pk"),
        online=Count("pk", filter=Q(operator_profile__availability=Availability.ONLINE)),
    )
    today = _start_of_today(now)
    first_response = median_duration(
        support.filter(first_response_at__gte=today, first_response_at__lt=now),
        end="first_response_at",
    )
    return DashboardNumbers(
        my_open=counts["my_open"],
        unassigned=counts["unassigned"],
        pending=counts["pending"],
        operators_online=people["online"],
        operators_total=people["total"],
        first_response=first_response,
    )


def dashboard_unassigned(viewer: User, *, limit: int = DASHBOARD_UNASSIGNED_ROWS) -> list[Chat]:
    """The newest conversations waiting for someone, as the inbox rows show them."""
    return inbox_chats(viewer, InboxQuery(tab="unassigned"), limit=limit).chats
