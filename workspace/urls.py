"""Workspace pages, mounted under /admin/ before the admin's own URLs (same login)."""

from django.urls import path

from workspace import conversation_views, inbox_views

urlpatterns = [
    path("inbox/", inbox_views.inbox_view, name="workspace-inbox"),
    path(
        "inbox/<int:chat_id>/", conversation_views.conversation_view, name="workspace-conversation"
    ),
]
