"""The dashboard on the admin index (/admin/) and the numbers it refreshes live."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from workspace import selectors
from workspace.templatetags.workspace import duration


def numbers_data(numbers: selectors.DashboardNumbers) -> dict:
    return {
        "my_open": numbers.my_open,
        "unassigned": numbers.unassigned,
        "pending": numbers.pending,
        "operators_online": numbers.operators_online,
        "operators_total": numbers.operators_total,
        "first_response_seconds": numbers.first_response.median_seconds,
        "first_response": duration(numbers.first_response.median_seconds),
        "first_response_count": numbers.first_response.count,
    }


def dashboard_context(request: HttpRequest) -> dict:
    """What templates/admin/index.html shows above the app list (staff only: the admin index
    is behind the admin's own login and permission check)."""
    user = request.user
    if not getattr(user, "is_staff", False):
        return {}
    return {
        "dashboard": selectors.dashboard_numbers(user),
        "dashboard_unassigned": selectors.dashboard_unassigned(user),
    }


@staff_member_required
@require_GET
def dashboard_numbers_view(request: HttpRequest) -> JsonResponse:
    return JsonResponse(numbers_data(selectors.dashboard_numbers(request.user)))
