"""The conversation list at /admin/inbox/ and the numbers its tabs and the dashboard refresh."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from accounts.models import User
from chats.models import ChatStatus, InboxKind, Priority
from chats.payloads import chat_data
from chats.selectors import last_message_for
from workspace import selectors
from workspace.selectors import ACTIVE_STATUSES, INBOX_TABS, InboxQuery

MAX_ID = 2**63 - 1
TAB_LABELS = {"mine": _("Mine"), "unassigned": _("Unassigned"), "all": _("All")}
STATUS_CHOICES = [
    ("active", _("Open & pending")),
    *ChatStatus.choices,
    ("any", _("Any status")),
]


class InboxFilterForm(forms.Form):
    """The list's query string. Unknown or bad values fall back to "not filtered"."""

    tab = forms.ChoiceField(choices=[(t, TAB_LABELS[t]) for t in INBOX_TABS], required=False)
    status = forms.ChoiceField(choices=STATUS_CHOICES, required=False)
    priority = forms.ChoiceField(
        choices=[("", _("Any priority")), *Priority.choices], required=False
    )
    inbox = forms.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    assignee = forms.IntegerField(min_value=1, max_value=MAX_ID, required=False)
    q = forms.CharField(max_length=200, required=False, strip=True)


def inbox_query_from(request: HttpRequest) -> tuple[InboxQuery, dict]:
    """The validated query and the cleaned values (invalid fields are dropped, never a 500)."""
    form = InboxFilterForm(request.GET)
    form.is_valid()
    data = {name: form.cleaned_data.get(name) for name in form.fields if name not in form.errors}
    status = data.get("status") or "active"
    statuses = {"active": ACTIVE_STATUSES, "any": None}.get(status, (status,))
    query = InboxQuery(
        tab=data.get("tab") or "mine",
        statuses=statuses,
        priorities=(data["priority"],) if data.get("priority") else None,
        inbox_id=data.get("inbox"),
        assignee_id=data.get("assignee"),
        q=data.get("q") or "",
    )
    data["status"] = status
    return query, data


def api_params(query: InboxQuery, viewer: User) -> dict[str, str]:
    """The same filters as ``/api/chats`` query parameters (the live list refetches them)."""
    params = {"kind": "support"}
    if query.statuses:
        params["status"] = ",".join(query.statuses)
    if query.priorities:
        params["priority"] = ",".join(query.priorities)
    if query.inbox_id:
        params["inbox"] = str(query.inbox_id)
    if query.q:
        params["q"] = query.q
    if query.tab == "mine":
        params["assignee"] = "me"
    elif query.tab == "unassigned":
        params["assigned"] = "false"
    elif query.assignee_id:
        params["assignee"] = str(query.assignee_id)
    return params


def row_data(chat, *, viewer: User) -> dict:
    """A row's data as the API gives it, for the live list to keep."""
    return chat_data(
        chat,
        unread_count=getattr(chat, "viewer_unread", 0),
        last_message=getattr(chat, "preview_message", None)
        or last_message_for(chat, viewer_is_staff=True),
    )


@staff_member_required
@require_GET
def inbox_view(request: HttpRequest) -> HttpResponse:
    query, values = inbox_query_from(request)
    page = selectors.inbox_chats(request.user, query)
    counts = selectors.inbox_counts(request.user, query)
    inboxes = list(selectors.inbox_inboxes(request.user))
    assignees = selectors.inbox_assignees(request.user)
    filtered = bool(
        values["status"] != "active"
        or query.priorities
        or query.inbox_id
        or query.q
        or (query.tab == "all" and query.assignee_id)
    )
    context = {
        **admin.site.each_context(request),
        "title": _("Inbox"),
        "query": query,
        "values": values,
        "chats": page.chats,
        "has_more": page.has_more,
        "counts": counts,
        "tabs": [(tab, TAB_LABELS[tab], counts[tab]) for tab in INBOX_TABS],
        "status_choices": STATUS_CHOICES,
        "priority_choices": Priority.choices,
        "inboxes": inboxes,
        "inbox_kinds": dict(InboxKind.choices),
        "assignees": assignees,
        "filtered": filtered,
        "list_state": {
            "tab": query.tab,
            "statuses": list(query.statuses or []),
            "priorities": list(query.priorities or []),
            "inbox_id": query.inbox_id,
            "assignee_id": query.assignee_id,
            "q": query.q,
            "api_params": api_params(query, request.user),
            "page_size": selectors.INBOX_PAGE_SIZE,
            "has_more": page.has_more,
            "chats": [row_data(chat, viewer=request.user) for chat in page.chats],
        },
    }
    return render(request, "workspace/inbox.html", context)


@staff_member_required
@require_GET
def inbox_counts_view(request: HttpRequest) -> JsonResponse:
    """``{mine, unassigned, all}`` under the list's filters (the tabs refresh them live)."""
    query, _ = inbox_query_from(request)
    return JsonResponse(selectors.inbox_counts(request.user, query))
