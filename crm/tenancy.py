"""Tenant scoping: the one way code gets and applies the caller's organization.

Every tenant-owned model declares ``tenant_path``, the lookup from the model to its
``Organization`` (``"organization"``, ``"chat__organization"``...). ``scoped()`` filters any
queryset by it; the API mixin and the admin base class below both go through it, so a model
cannot be listed for the wrong organization by forgetting a filter.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpResponseRedirect

from crm.errors import DomainError

if TYPE_CHECKING:
    from accounts.models import Organization


def tenant_path_of(model: type[Model]) -> str | None:
    return getattr(model, "tenant_path", None)


def scoped(queryset: QuerySet, organization: Organization | int | None) -> QuerySet:
    """Limit ``queryset`` to one organization. ``None`` means no organization: nothing."""
    path = tenant_path_of(queryset.model)
    if path is None:
        raise TypeError(f"{queryset.model.__name__} declares no tenant_path")
    if organization is None:
        return queryset.none()
    return queryset.filter(**{path: organization})


def organization_of(user: Any) -> Organization | None:
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return user.organization


class OrganizationMixin:
    """For DRF views: ``self.organization`` is the caller's organization."""

    @property
    def organization(self) -> Organization:
        return self.request.user.organization  # type: ignore[attr-defined]


class TenantAdmin(admin.ModelAdmin):
    """Admin base: querysets, form choices and autocompletes limited to the user's organization.

    Superusers (the platform owner) see every organization. Writes go through the services
    (``save_model``/``delete_model`` call them); a rule a service refuses that the form could
    not check (a concurrent change, one's own deactivation) comes back as an error message,
    with nothing changed.
    """

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as exc:
            self.message_user(request, exc.detail, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except DomainError as exc:
            self.message_user(request, exc.detail, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def _limit(self, request, queryset: QuerySet) -> QuerySet:
        if request.user.is_superuser or tenant_path_of(queryset.model) is None:
            return queryset
        return scoped(queryset, request.user.organization_id)

    def get_queryset(self, request):
        return self._limit(request, super().get_queryset(request))

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)
        if field is not None and hasattr(field, "queryset"):
            field.queryset = self._limit_related(request, field.queryset)
        return field

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if field is not None and hasattr(field, "queryset"):
            field.queryset = self._limit_related(request, field.queryset)
        return field

    def _limit_related(self, request, queryset: QuerySet) -> QuerySet:
        return self._limit(request, queryset)

    def get_search_results(self, request, queryset, search_term):
        # Autocomplete views call this on the related model's admin: keep it scoped too.
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        return self._limit(request, queryset), may_have_duplicates

    def save_model(self, request, obj, form, change):
        if (
            not change
            and tenant_path_of(type(obj)) == "organization"
            and not request.user.is_superuser
        ):
            obj.organization_id = request.user.organization_id
        super().save_model(request, obj, form, change)

    def get_exclude(self, request, obj=None):
        exclude = list(super().get_exclude(request, obj) or [])
        if not request.user.is_superuser and tenant_path_of(self.model) == "organization":
            exclude.append("organization")
        return exclude


class TenantInline:
    """Mixin for inlines: related choices limited like in ``TenantAdmin``."""

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        field = super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]
        if field is not None and hasattr(field, "queryset") and not request.user.is_superuser:
            model = field.queryset.model
            path = tenant_path_of(model)
            if path is not None:
                field.queryset = scoped(field.queryset, request.user.organization_id)
        return field
