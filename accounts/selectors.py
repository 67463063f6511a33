"""Reads of organizations and users. Every user query is scoped by organization."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from accounts import error_codes
from accounts.models import STAFF_ROLES, Organization, User
from crm.errors import NotFound
from crm.tenancy import scoped


def organization_by_slug(slug: str) -> Organization:
    try:
        return Organization.objects.get(slug=slug)
    except Organization.DoesNotExist:
        raise NotFound(
            _("No organization %(slug)r.") % {"slug": slug}, code=error_codes.ORGANIZATION_NOT_FOUND
        ) from None


def users_of(*, organization: Organization) -> QuerySet[User]:
    return scoped(User.objects.all(), organization).select_related("organization")


def staff_of(*, organization: Organization) -> QuerySet[User]:
    return users_of(organization=organization).filter(role__in=STAFF_ROLES)


def user_search(*, organization: Organization, query: str, limit: int = 20) -> QuerySet[User]:
    users = users_of(organization=organization).filter(is_active=True)
    query = (query or "").strip()
    if query:
        users = users.filter(Q(name__icontains=query) | Q(email__icontains=query))
    return users.order_by("name", "email")[:limit]


def user_visible_to(*, viewer: User, user_id: int) -> User:
    """A user the viewer may look at: staff see their organization, customers themselves and
    their organization's staff. Anything else is "not found" (no existence leak)."""
    users = users_of(organization=viewer.organization)
    if not viewer.is_staff:
        users = users.filter(Q(pk=viewer.pk) | Q(role__in=STAFF_ROLES))
    try:
        return users.get(pk=user_id)
    except (User.DoesNotExist, ValueError, TypeError):
        raise NotFound(_("User not found."), code=error_codes.USER_NOT_FOUND) from None
