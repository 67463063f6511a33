"""Reads of the operator workflow, always scoped by organization."""

from __future__ import annotations

from django.db.models import Case, Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from accounts.models import STAFF_ROLES, Organization, User
from chats.models import PRIORITY_RANK, Chat, ChatKind, ChatStatus
from crm.errors import NotFound
from crm.tenancy import scoped
from operators import error_codes
from operators.models import AuditEvent, Availability, CannedResponse

# What counts against an operator's capacity: their open support chats. Pending chats wait on
# the customer, closed ones are done.
LOAD_STATUS = ChatStatus.OPEN


def priority_rank() -> Case:
    return Case(
        *(When(priority=priority, then=Value(rank)) for priority, rank in PRIORITY_RANK.items()),
        default=Value(0),
        output_field=IntegerField(),
    )


# Open support chats waiting for an operator in auto-assigning inboxes.
WAITING_Q = Q(
    kind=ChatKind.SUPPORT, status=ChatStatus.OPEN, assignee__isnull=True, inbox__auto_assign=True
)


def backlog_of(*, organization: Organization | int) -> QuerySet[Chat]:
    """The queue of waiting chats: the most urgent first, then the oldest."""
    return (
        scoped(Chat.objects.filter(WAITING_Q), organization)
        .annotate(priority_rank=priority_rank())
        .order_by("-priority_rank", "created_at", "pk")
    )


def open_loads(user_ids: list[int]) -> dict[int, int]:
    """Open support chats assigned to each of ``user_ids`` (one grouped query)."""
    rows = (
        Chat.objects.filter(assignee_id__in=user_ids, kind=ChatKind.SUPPORT, status=LOAD_STATUS)
        .values("assignee_id")
        .annotate(n=Count("id"))
        .values_list("assignee_id", "n")
    )
    return dict(rows)


def assigned_count(user_ref: str, status: str) -> Coalesce:
    """Subquery: support chats in ``status`` assigned to the user ``user_ref`` points at."""
    counted = (
        Chat.objects.filter(assignee_id=OuterRef(user_ref), kind=ChatKind.SUPPORT, status=status)
        .order_by()
        .values("assignee_id")
        .annotate(n=Count("id"))
        .values("n")
    )
    return Coalesce(Subquery(counted[:1]), 0)


def operators_of(*, organization: Organization | int) -> QuerySet[User]:
    """The organization's active staff with their profile (may be missing: defaults apply) and
    their open and pending chat counts, in one query."""
    return (
        scoped(User.objects.all(), organization)
        .filter(role__in=STAFF_ROLES, is_active=True)
        .select_related("operator_profile")
        .annotate(open_chats=assigned_count("pk", ChatStatus.OPEN))
        .annotate(pending_chats=assigned_count("pk", ChatStatus.PENDING))
        .order_by("name", "pk")
    )


def operator_of(*, organization: Organization | int, user_id: int | str) -> User:
    try:
        return operators_of(organization=organization).get(pk=int(user_id))
    except (User.DoesNotExist, ValueError, TypeError):
        raise NotFound(_("Operator not found."), code=error_codes.OPERATOR_NOT_FOUND) from None


def with_availability(operators: QuerySet[User], availability: str) -> QuerySet[User]:
    """Staff with that availability (no profile yet counts as offline)."""
    q = Q(operator_profile__availability=availability)
    if availability == Availability.OFFLINE:
        q |= Q(operator_profile__isnull=True)
    return operators.filter(q)


def chat_for_payload(chat_id: int) -> Chat:
    """A chat with what ``chats.payloads.chat_data`` reads, in one query and one prefetch."""
    return (
        Chat.objects.select_related("inbox", "customer", "assignee", "last_message__sender")
        .prefetch_related("last_message__attachments")
        .get(pk=chat_id)
    )


def canned_responses_of(*, organization: Organization | int, query: str = "") -> QuerySet:
    responses = scoped(CannedResponse.objects.all(), organization).order_by("shortcut", "pk")
    query = query.strip()
    if query:
        responses = responses.filter(Q(shortcut__icontains=query) | Q(text__icontains=query))
    return responses


def canned_response_of(*, organization: Organization | int, response_id: int) -> CannedResponse:
    try:
        return scoped(CannedResponse.objects.all(), organization).get(pk=response_id)
    except CannedResponse.DoesNotExist:
        raise NotFound(
            _("Canned response not found."), code=error_codes.CANNED_RESPONSE_NOT_FOUND
        ) from None


def audit_events_of(*, organization: Organization | int) -> QuerySet[AuditEvent]:
    return scoped(AuditEvent.objects.all(), organization).select_related("actor", "target_type")


def organizations_with_backlog() -> list[int]:
    return list(
        Chat.objects.filter(WAITING_Q)
        .order_by()
        .values_list("organization_id", flat=True)
        .distinct()
    )
