"""Back office: operators, canned responses, the audit log, and the assignment actions on the
chat list. Every change goes through ``operators.services``, like the API."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.text import format_lazy
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from accounts.models import STAFF_ROLES, User
from chats.models import Chat, ChatKind, Priority
from crm.errors import DomainError
from crm.tenancy import TenantAdmin
from operators import selectors, services
from operators.models import AuditEvent, CannedResponse, OperatorProfile

# --- Chat list actions ----------------------------------------------------------------------

try:  # the chats app's own chat admin, when it has one: keep it and add the actions
    from chats.admin import ChatAdmin as _BaseChatAdmin
except ImportError:

    class _BaseChatAdmin(TenantAdmin):
        list_display = ["__str__", "kind", "status", "priority", "assignee", "last_message_at"]
        list_filter = ["kind", "status", "priority", "inbox"]
        list_select_related = ["assignee", "inbox", "customer"]
        search_fields = ["subject", "name", "customer__email", "customer__name"]
        readonly_fields = ["assignee", "assigned_at", "first_response_at", "closed_at"]


def _run_on_chats(
    request, queryset: QuerySet[Chat], action: Callable[[Chat], object], done: str
) -> None:
    """Apply one service to each selected support chat; report successes and refusals."""
    ok = 0
    for chat in queryset.filter(kind=ChatKind.SUPPORT):
        try:
            action(chat)
        except DomainError as exc:
            messages.warning(request, f"{chat}: {exc.detail}")
        else:
            ok += 1
    if ok:
        count = ngettext("%(count)s chat", "%(count)s chats", ok) % {"count": ok}
        messages.success(request, f"{done}: {count}.")


def _priority_action(priority: str, label: str):
    def set_priority(modeladmin, request, queryset):
        _run_on_chats(
            request,
            queryset,
            lambda chat: services.chat_set_priority(
                actor=request.user, chat=chat, priority=priority
            ),
            gettext("Priority set to %(label)s") % {"label": label},
        )

    set_priority.__name__ = f"set_priority_{priority}"
    return admin.action(
        description=format_lazy(_("Set priority: {label}"), label=label), permissions=["change"]
    )(set_priority)


class ChatAdmin(_BaseChatAdmin):
    actions = [
        *(_BaseChatAdmin.actions or ()),
        "assign_to_me",
        "assign_to",
        "close_chats",
        "reopen_chats",
        *(_priority_action(value, label) for value, label in Priority.choices),
    ]

    @admin.action(description=_("Assign to me"), permissions=["change"])
    def assign_to_me(self, request, queryset):
        user = request.user

        def assign(chat: Chat) -> Chat:
            if user.is_manager:
                return services.chat_assign(actor=user, chat=chat, operator_id=user.pk)
            return services.chat_take(actor=user, chat=chat)

        _run_on_chats(request, queryset, assign, gettext("Assigned to you"))

    @admin.action(description=_("Assign to…"), permissions=["change"])
    def assign_to(self, request, queryset):
        """Asks for the operator on an intermediate page, then assigns."""
        operators = selectors.operators_of(organization=request.user.organization_id)
        chosen = request.POST.get("operator")
        if request.POST.get("apply") and chosen:
            _run_on_chats(
                request,
                queryset,
                lambda chat: services.chat_assign(
                    actor=request.user, chat=chat, operator_id=int(chosen)
                ),
                gettext("Assigned"),
            )
            return None
        return TemplateResponse(
            request,
            "admin/operators/assign_to.html",
            {
                **self.admin_site.each_context(request),
                "title": gettext("Assign chats"),
                "opts": self.model._meta,
                "chats": queryset.filter(kind=ChatKind.SUPPORT),
                "operators": operators,
                "action_checkbox_name": ACTION_CHECKBOX_NAME,
                "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
            },
        )

    @admin.action(description=_("Close"), permissions=["change"])
    def close_chats(self, request, queryset):
        _run_on_chats(
            request,
            queryset,
            lambda chat: services.chat_close(actor=request.user, chat=chat),
            "Closed",
        )

    @admin.action(description=_("Reopen"), permissions=["change"])
    def reopen_chats(self, request, queryset):
        _run_on_chats(
            request,
            queryset,
            lambda chat: services.chat_reopen(actor=request.user, chat=chat),
            "Reopened",
        )


if admin.site.is_registered(Chat):
    admin.site.unregister(Chat)
admin.site.register(Chat, ChatAdmin)


# --- Operators ------------------------------------------------------------------------------


@admin.register(OperatorProfile)
class OperatorProfileAdmin(TenantAdmin):
    list_display = [
        "user",
        "role",
        "availability",
        "capacity",
        "open_chats",
        "last_assigned_at",
        "disconnected_at",
    ]
    list_filter = ["availability"]
    list_select_related = ["user"]
    ordering = ["user__name", "user_id"]
    search_fields = ["user__email", "user__name"]
    fields = ["user", "availability", "capacity", "last_assigned_at", "disconnected_at"]
    readonly_fields = ["last_assigned_at", "disconnected_at"]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(open_chats=selectors.assigned_count("user_id", "open"))
        )

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "user"] if obj else self.readonly_fields

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            kwargs["queryset"] = User.objects.filter(
                role__in=STAFF_ROLES, operator_profile__isnull=True
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @admin.display(description=_("Role"))
    def role(self, profile: OperatorProfile) -> str:
        return profile.user.get_role_display()

    @admin.display(description=_("Open chats"), ordering="open_chats")
    def open_chats(self, profile: OperatorProfile) -> int:
        return profile.open_chats

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # set the operator offline instead; the profile keeps their history

    def save_model(self, request, obj, form, change):
        # Through the service: the audit row, operator:status and backlog draining follow.
        if not change:
            obj.pk = services.operator_profile_get(obj.user).pk
        services.operator_profile_update(
            actor=request.user,
            user_id=obj.user_id,
            capacity=obj.capacity,
            availability=obj.availability,
        )


@admin.register(CannedResponse)
class CannedResponseAdmin(TenantAdmin):
    list_display = ["shortcut", "short_text", "updated_at"]
    search_fields = ["shortcut", "text"]
    fields = ["shortcut", "text"]

    @admin.display(description=_("Text"))
    def short_text(self, response: CannedResponse) -> str:
        return response.text if len(response.text) <= 80 else response.text[:79] + "…"

    def save_model(self, request, obj, form, change):
        if change:
            services.canned_response_update(
                actor=request.user, response=obj, shortcut=obj.shortcut, text=obj.text
            )
        else:
            saved = services.canned_response_create(
                actor=request.user, shortcut=obj.shortcut, text=obj.text
            )
            obj.pk = saved.pk

    def delete_model(self, request, obj):
        services.canned_response_delete(actor=request.user, response=obj)

    def delete_queryset(self, request, queryset):
        for response in queryset:
            services.canned_response_delete(actor=request.user, response=response)


@admin.register(AuditEvent)
class AuditEventAdmin(TenantAdmin):
    """The audit log: read-only, the organization's own rows."""

    list_display = ["at", "actor", "verb", "target_link", "data"]
    list_filter = ["verb"]
    list_select_related = ["actor", "target_type"]
    search_fields = ["verb", "target_repr", "actor__email", "actor__name"]
    date_hierarchy = "at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("Target"))
    def target_link(self, event: AuditEvent) -> str:
        if event.target_type is None:
            return event.target_repr or "-"
        ct = event.target_type
        try:
            url = reverse(f"admin:{ct.app_label}_{ct.model}_change", args=[event.target_id])
        except NoReverseMatch:
            return event.target_repr
        return format_html('<a href="{}">{}</a>', url, event.target_repr)
