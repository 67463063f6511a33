"""Workspace pages, mounted under /admin/ before the admin's own URLs (same login)."""

from django.urls import path

from workspace import conversation_views, dashboard_views, inbox_views

urlpatterns = [
    path("inbox/", inbox_views.inbox_view, name="workspace-inbox"),
    path("inbox/counts/", inbox_views.inbox_counts_view, name="workspace-inbox-counts"),
    path(
        "dashboard/numbers/",
        dashboard_views.dashboard_numbers_view,
        name="workspace-dashboard-numbers",
    ),
    path(
        "inbox/<int:chat_id>/", conversation_views.conversation_view, name="workspace-conversation"
    ),
]
