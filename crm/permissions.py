"""DRF permission classes shared by every app's API: who may call a view at all. Object-level
rules (which chat, which order) live in each app's selectors and services."""

from __future__ import annotations

from rest_framework.permissions import BasePermission


class IsStaff(BasePermission):
    message = "Only staff of the organization can do this."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)


class IsOrgAdmin(BasePermission):
    message = "Only an organization admin can do this."

    def has_permission(self, request, view) -> bool:
        return bool(request.user and request.user.is_authenticated and request.user.is_org_admin)
