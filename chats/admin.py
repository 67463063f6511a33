"""Back office for chats, messages, inboxes and projects, scoped to the user's organization.

Chats and messages are read here; what changes them (assign, close, reopen, answer) goes
through services: the operators app subclasses ``ChatAdmin`` with those actions.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Exists, OuterRef, QuerySet
from django.utils.text import Truncator

from chats import selectors, services
from chats.models import Chat, Inbox, Membership, Message, Project
from crm.errors import DomainError
from crm.tenancy import TenantAdmin, TenantInline

INLINE_MESSAGES = 50


class UnreadForMeFilter(admin.SimpleListFilter):
    title = "unread"
    parameter_name = "unread"

    def lookups(self, request, model_admin):
        return [("yes", "Unread for me")]

    def queryset(self, request, queryset: QuerySet[Chat]) -> QuerySet[Chat]:
        if self.value() != "yes":
            return queryset
        return queryset.filter(
            Exists(
                Membership.objects.filter(
                    chat=OuterRef("pk"), user=request.user, unread_count__gt=0
                )
            )
        )


class MessageInline(TenantInline, admin.TabularInline):
    """The newest messages of the chat, read-only (answers go through the conversation page)."""

    model = Message
    fk_name = "chat"
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ["id", "created_at", "sender", "kind", "text", "staff_only", "deleted_at"]
    readonly_fields = fields
    ordering = ["id"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        rows = super().get_queryset(request).select_related("sender")
        chat = getattr(request, "_chats_admin_chat", None)
        if chat is not None:
            # Only the newest page: a long conversation must not render thousands of rows.
            ids = list(
                Message.objects.filter(chat=chat)
                .order_by("-id")
                .values_list("id", flat=True)[:INLINE_MESSAGES]
            )
            rows = rows.filter(id__gte=min(ids)) if ids else rows.none()
        return rows


@admin.register(Chat)
class ChatAdmin(TenantAdmin):
    list_display = [
        "id",
        "title",
        "kind",
        "status",
        "priority",
        "customer",
        "assignee",
        "inbox",
        "last_activity_at",
    ]
    list_display_links = ["id", "title"]
    list_filter = [
        "kind",
        "status",
        "priority",
        ("assignee", admin.RelatedOnlyFieldListFilter),
        ("inbox", admin.RelatedOnlyFieldListFilter),
        UnreadForMeFilter,
    ]
    list_select_related = ["customer", "assignee", "inbox"]
    search_fields = ["subject", "name", "customer__email", "customer__name"]
    ordering = ["-last_activity_at", "-id"]
    fields = [
        "kind",
        "name",
        "subject",
        "inbox",
        "customer",
        "status",
        "priority",
        "assignee",
        "assigned_at",
        "first_response_at",
        "closed_at",
        "project",
        "created_by",
        "last_message_at",
        "created_at",
    ]
    # Everything but the names changes only through the services (API, admin actions).
    readonly_fields = [f for f in fields if f not in ("name", "subject")]
    inlines = [MessageInline]

    @admin.display(description="chat", ordering="name")
    def title(self, chat: Chat) -> str:
        return str(chat)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        # Staff see the support chats of their organization and the internal chats they are in.
        return queryset.filter(pk__in=selectors.chats_visible_to(request.user).values("pk"))

    def get_inline_instances(self, request, obj=None):
        request._chats_admin_chat = obj
        return super().get_inline_instances(request, obj)

    def has_add_permission(self, request) -> bool:
        return False  # chats start from a customer's first message or the API


class DeletedFilter(admin.SimpleListFilter):
    title = "deleted"
    parameter_name = "deleted"

    def lookups(self, request, model_admin):
        return [("no", "Not deleted"), ("yes", "Deleted")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(deleted_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(deleted_at__isnull=True)
        return queryset


@admin.register(Message)
class MessageAdmin(TenantAdmin):
    list_display = ["id", "chat", "sender", "kind", "short_text", "staff_only", "created_at"]
    list_filter = ["kind", "staff_only", "chat__kind", DeletedFilter]
    list_select_related = ["chat", "sender"]
    search_fields = ["text"]
    ordering = ["-id"]
    show_full_result_count = False  # no COUNT(*) over every message on each page
    fields = [
        "chat",
        "sender",
        "kind",
        "text",
        "staff_only",
        "client_id",
        "external_id",
        "delivery",
        "created_at",
        "edited_at",
        "deleted_at",
    ]
    readonly_fields = fields
    actions = ["soft_delete"]

    @admin.display(description="text")
    def short_text(self, message: Message) -> str:
        return Truncator(message.text).chars(80)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if request.user.is_superuser:
            return queryset
        return queryset.filter(
            chat__in=selectors.chats_visible_to(request.user).values("pk")
        ).filter(selectors.visible_messages_q(request.user))

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # soft delete only, through the action

    @admin.action(description="Delete selected messages (soft)", permissions=["view"])
    def soft_delete(self, request, queryset):
        done = 0
        for message in queryset:
            try:
                services.message_delete(actor=request.user, message=message)
                done += 1
            except DomainError as exc:
                self.message_user(request, f"#{message.pk}: {exc.detail}", messages.ERROR)
        if done:
            self.message_user(request, f"Deleted {done} message(s).", messages.SUCCESS)


class InboxForm(forms.ModelForm):
    """Secrets are write-only: never rendered back, kept when the field is left empty."""

    callback_url = forms.URLField(required=False, max_length=500, assume_scheme="https")

    class Meta:
        model = Inbox
        fields = [
            "name",
            "kind",
            "auto_assign",
            "is_active",
            "phone_number_id",
            "callback_url",
            *Inbox.SECRET_FIELDS,
        ]
        widgets = {name: forms.PasswordInput(render_value=False) for name in Inbox.SECRET_FIELDS}

    def clean(self):
        data = super().clean()
        for name in Inbox.SECRET_FIELDS:
            if not data.get(name) and self.instance.pk:
                data[name] = getattr(self.instance, name)
        return data


@admin.register(Inbox)
class InboxAdmin(TenantAdmin):
    form = InboxForm
    list_display = ["name", "kind", "auto_assign", "is_active", "created_at"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name"]
    readonly_fields = ["webhook_url"]

    @admin.display(description="Webhook URL (give it to the provider)")
    def webhook_url(self, obj: Inbox) -> str:
        from chats import channels

        return (channels.webhook_path(obj) if obj.pk else None) or "–"


@admin.register(Project)
class ProjectAdmin(TenantAdmin):
    list_display = ["name", "emoji", "color", "created_at"]
    search_fields = ["name"]
    filter_horizontal = ["members"]

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if db_field.name == "members":
            field.queryset = field.queryset.filter(selectors.staff_users_q())
        return field
