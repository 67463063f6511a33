"""One conversation at /admin/inbox/<chat_id>/: the page renders the chat, its newest history
and the side panel's data at once; conversation.js takes over for everything live."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from chats.api import render_chat
from chats.payloads import message_data
from crm.errors import NotFound
from orders.payloads import order_data
from workspace.conversation_selectors import conversation_for


@staff_member_required
def conversation_view(request: HttpRequest, chat_id: int) -> HttpResponse:
    try:
        conversation = conversation_for(request.user, chat_id)
    except NotFound:
        raise Http404(_("Conversation not found.")) from None
    chat = conversation.chat
    data = {
        "chat": render_chat(chat, viewer=request.user),
        "messages": [message_data(m) for m in conversation.messages],
        "has_more": conversation.has_more,
        "customer_read_up_to": conversation.customer_read_up_to,
        "orders": [
            {**order_data(o), "admin_url": reverse("admin:orders_order_change", args=[o.pk])}
            for o in conversation.orders
        ],
        "earlier": [
            {
                "id": c.pk,
                "subject": c.subject,
                "status": c.status,
                "inbox": c.inbox.name if c.inbox_id else "",
                "last_activity_at": c.last_activity_at,
                "url": reverse("workspace-conversation", args=[c.pk]),
            }
            for c in conversation.earlier
        ],
        "inbox_url": reverse("workspace-inbox"),
        "order_add_url": reverse("admin:orders_order_add"),
    }
    context = {
        **admin.site.each_context(request),
        "title": _customer_title(chat, conversation.identities) if chat.customer_id else str(chat),
        "chat": chat,
        "identities": conversation.identities,
        "conversation": data,
    }
    return render(request, "workspace/conversation.html", context)


def _customer_title(chat, identities) -> str:
    """The customer's name, else email, else their channel handle (channel customers have no
    email)."""
    customer = chat.customer
    if customer.name or customer.email:
        return str(customer.name or customer.email)
    for identity in identities:
        return identity.username or identity.external_id
    return str(_("Customer"))
