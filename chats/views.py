"""The customer's live chat page in the cabinet."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from chats.services import support_chat_get_or_create


@login_required
def chat_view(request: HttpRequest) -> HttpResponse:
    if request.user.is_staff:
        return redirect("/admin/chats/chat/")
    chat, _ = support_chat_get_or_create(customer=request.user)
    return render(request, "cabinet/chat.html", {"chat": chat, "nav": "chat"})
