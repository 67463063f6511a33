"""One conversation at /admin/inbox/<chat_id>/."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@staff_member_required
def conversation_view(request: HttpRequest, chat_id: int) -> HttpResponse:
    return render(request, "workspace/conversation.html", {"chat_id": chat_id})
