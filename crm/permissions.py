"""DRF permission classes shared by every app's API: who may call a view at all. Object-level
rules (which chat, which order) live in each app's selectors and services."""

from __future__ import annotations

from django.utils.translation import gettext_lazy
from rest_framework.permissions import BasePermission


class IsStaff(BasePermission):
    message = gettext_lazy("Only staff of the organization can do this.")

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)


class IsOrgAdmin(BasePermission):
    message = gettext_lazy("Only an organization admin can do this.")

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_org_admin)
