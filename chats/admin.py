"""Back office for chats, messages, inboxes and projects, scoped to the user's organization.

Chats and messages are read here; what changes them (rename, assign, close, reopen, answer)
goes through services: the operators app subclasses ``ChatAdmin`` with those actions, and
conversations are answered on the workspace's conversation page, linked from each row.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Exists, OuterRef, QuerySet
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator, format_lazy
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from chats import selectors, services
from chats.models import Chat, ChatKind, Inbox, InboxKind, Membership, Message, Project
from chats.services.inboxes import (
    AUTOMATION_FIELDS,
    inbox_automation_clean,
    inbox_missing_settings,
)
from crm.errors import DomainError
from crm.tenancy import TenantAdmin, TenantInline
from media.admin import attachments_html

INLINE_MESSAGES = 50


class UnreadForMeFilter(admin.SimpleListFilter):
    title = _("unread")
    parameter_name = "unread"

    def lookups(self, request, model_admin):
        return [("yes", _("Unread for me"))]

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
    fields = [
        "id",
        "created_at",
        "sender",
        "kind",
        "text",
        "attachment_list",
        "staff_only",
        "deleted_at",
    ]
    readonly_fields = fields
    ordering = ["id"]

    @admin.display(description=_("attachments"))
    def attachment_list(self, message: Message) -> str:
        return attachments_html(message.attachments.all())

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        rows = (
            super().get_queryset(request).select_related("sender").prefetch_related("attachments")
        )
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
    list_display_links = ["id"]
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
        "conversation",
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
    # Everything but the name changes only through the services (API, admin actions).
    readonly_fields = [f for f in fields if f != "name"]
    inlines = [MessageInline]

    @admin.display(description=_("chat"), ordering="name")
    def title(self, chat: Chat) -> str:
        """A support chat opens in the workspace's conversation page (the id opens this form)."""
        if chat.kind != ChatKind.SUPPORT:
            return str(chat)
        url = reverse("workspace-conversation", args=[chat.pk])
        return format_html('<a href="{}" title="{}">{}</a>', url, _("Open the conversation"), chat)

    @admin.display(description=_("conversation"))
    def conversation(self, chat: Chat) -> str:
        if chat.kind != ChatKind.SUPPORT:
            return "—"
        url = reverse("workspace-conversation", args=[chat.pk])
        return format_html('<a href="{}" class="button">{}</a>', url, _("Open the conversation"))

    def save_model(self, request, obj, form, change):
        if change and "name" in form.changed_data:
            services.chat_update(actor=request.user, chat=obj, name=form.cleaned_data["name"])

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # conversations are closed, never deleted here

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
    title = _("deleted")
    parameter_name = "deleted"

    def lookups(self, request, model_admin):
        return [("no", _("Not deleted")), ("yes", _("Deleted"))]

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
        "attachment_list",
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

    @admin.display(description=_("text"))
    def short_text(self, message: Message) -> str:
        return Truncator(message.text).chars(80)

    @admin.display(description=_("attachments"))
    def attachment_list(self, message: Message) -> str:
        return attachments_html(message.attachments.all())

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

    @admin.action(description=_("Delete selected messages (soft)"), permissions=["view"])
    def soft_delete(self, request, queryset):
        done = 0
        for message in queryset:
            try:
                services.message_delete(actor=request.user, message=message)
                done += 1
            except DomainError as exc:
                self.message_user(
                    request,
                    _("#%(pk)s: %(detail)s") % {"pk": message.pk, "detail": exc.detail},
                    messages.ERROR,
                )
        if done:
            self.message_user(
                request,
                ngettext("Deleted %(done)s message.", "Deleted %(done)s messages.", done)
                % {"done": done},
                messages.SUCCESS,
            )


class InboxForm(forms.ModelForm):
    """Secrets are write-only: never rendered back; left empty, the stored one stays. Saving
    goes through the inbox services (audit row, generated secrets)."""

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
            *AUTOMATION_FIELDS,
        ]
        widgets = {name: forms.PasswordInput(render_value=False) for name in Inbox.SECRET_FIELDS}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "kind" in self.fields:  # the web inbox exists from the start: no second one
            self.fields["kind"].choices = [
                c for c in self.fields["kind"].choices if c[0] != InboxKind.WEB
            ]
        if "timezone" in self.fields:  # left empty: the inbox keeps its zone (UTC at first)
            self.fields["timezone"].required = False
        for name in Inbox.SECRET_FIELDS:
            if self.instance.pk and getattr(self.instance, name):
                self.fields[name].help_text = "Set; leave empty to keep it."

    def submitted_secrets(self) -> dict[str, str]:
        return {
            name: self.cleaned_data[name]
            for name in Inbox.SECRET_FIELDS
            if name in self.cleaned_data and self.cleaned_data[name]
        }

    def clean(self):
        data = super().clean()
        kind = self.instance.kind if self.instance.pk else data.get("kind")
        if kind:
            values = {
                name: data.get(name) or (getattr(self.instance, name) if self.instance.pk else "")
                for name in (*Inbox.SECRET_FIELDS, "phone_number_id")
            }
            for name in inbox_missing_settings(kind=kind, values=values):
                self.add_error(name, _("This field is required for this kind of inbox."))
        data["timezone"] = data.get("timezone") or self.instance.timezone or "UTC"
        try:  # the service's rules for greetings, hours, time zone and keywords, on the fields
            inbox_automation_clean({f: data[f] for f in AUTOMATION_FIELDS if f in data})
        except DomainError as exc:
            for name, problems in exc.extra.get("fields", {}).items():
                self.add_error(name if name in self.fields else None, problems)
        return data


# The settings each kind of inbox uses, in the order the form shows them.
CHANNEL_FIELDS = {
    InboxKind.WEB: (),
    InboxKind.TELEGRAM: ("bot_token", "webhook_secret"),
    InboxKind.WHATSAPP: ("phone_number_id", "bot_token", "app_secret", "verify_token"),
    InboxKind.API: ("callback_url", "api_token", "webhook_secret"),
}
_GENERATED = _("Generated when left empty and shown once, after saving.")
# What each setting is called and where to find it, by kind (the token field is shared:
# Telegram's bot token is WhatsApp's access token).
CHANNEL_LABELS = {
    InboxKind.TELEGRAM: {
        "bot_token": (_("Bot token"), _("From @BotFather (/newbot).")),
        "webhook_secret": (
            _("Webhook secret"),
            format_lazy("{} {}", _("Telegram sends it with every update."), _GENERATED),
        ),
    },
    InboxKind.WHATSAPP: {
        "phone_number_id": (
            _("Phone number ID"),
            _("Meta for Developers: WhatsApp → API Setup (not the phone number itself)."),
        ),
        "bot_token": (
            _("Access token"),
            _("A permanent token of a system user with whatsapp_business_messaging."),
        ),
        "app_secret": (_("App secret"), _("Meta for Developers: App settings → Basic.")),
        "verify_token": (
            _("Verify token"),
            format_lazy("{} {}", _("Meta asks for it with the webhook URL."), _GENERATED),
        ),
    },
    InboxKind.API: {
        "callback_url": (
            _("Callback URL"),
            _("The bridge's address: replies are POSTed there, signed. Empty: nothing leaves."),
        ),
        "api_token": (
            _("API token"),
            format_lazy(
                "{} {}",
                _("The bridge sends it with each request: Authorization: Bearer and the token."),
                _GENERATED,
            ),
        ),
        "webhook_secret": (
            _("Webhook secret"),
            format_lazy("{} {}", _("Callbacks are signed with it (HMAC-SHA256)."), _GENERATED),
        ),
    },
}
# On the add page before a kind is chosen: the shared field says whose it is.
ANY_KIND_LABELS = {
    "bot_token": (_("Bot token (Telegram) or access token (WhatsApp)"), ""),
    "webhook_secret": (_("Webhook secret (Telegram, API channel)"), _GENERATED),
    "verify_token": (_("Verify token (WhatsApp)"), _GENERATED),
    "api_token": (_("API token (API channel)"), _GENERATED),
    "phone_number_id": (_("Phone number ID (WhatsApp)"), ""),
    "app_secret": (_("App secret (WhatsApp)"), ""),
    "callback_url": (_("Callback URL (API channel)"), ""),
}
CHANNEL_KINDS = (InboxKind.TELEGRAM, InboxKind.WHATSAPP, InboxKind.API)


def _chosen_kind(request, obj) -> str | None:
    """The kind the page is about: the inbox's, or the one chosen on the add page."""
    if obj is not None:
        return obj.kind
    kind = request.POST.get("kind") or request.GET.get("kind")
    return kind if kind in CHANNEL_KINDS else None


def public_base(request) -> str:
    """Where providers reach the site: ``CONNECTOR_PUBLIC_URL``, else this request's host."""
    from django.conf import settings

    return settings.CONNECTOR_PUBLIC_URL or request.build_absolute_uri("/").rstrip("/")


@admin.register(Inbox)
class InboxAdmin(TenantAdmin):
    form = InboxForm
    list_display = ["name", "kind", "auto_assign", "is_active", "created_at"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name"]
    actions = None  # deleting goes one by one: the service refuses inboxes in use

    def get_readonly_fields(self, request, obj=None):
        return ["kind", "webhook_url"] if obj else []

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            obj.public_base = public_base(request)  # for the webhook URL shown
        return obj

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        kind = _chosen_kind(request, obj)
        labels = CHANNEL_LABELS.get(kind, {}) if kind else ANY_KIND_LABELS
        chosen_on_add = obj is None and kind is not None

        class KindForm(form):
            def __init__(self, *args, **kw):
                super().__init__(*args, **kw)
                for name, (label, help_text) in labels.items():
                    if name in self.fields:
                        self.fields[name].label = label
                        if not self.fields[name].help_text:  # "Set; leave empty to keep it."
                            self.fields[name].help_text = help_text
                if chosen_on_add and "kind" in self.fields:
                    self.fields["kind"].initial = kind
                    self.fields["kind"].widget = forms.HiddenInput()

        KindForm.__name__ = form.__name__
        return KindForm

    def get_fieldsets(self, request, obj=None):
        kind = _chosen_kind(request, obj)
        if obj is not None:
            channel = CHANNEL_FIELDS[obj.kind]
        elif kind:
            channel = CHANNEL_FIELDS[kind]
        else:
            channel = tuple(dict.fromkeys(f for fields in CHANNEL_FIELDS.values() for f in fields))
        sets = [(None, {"fields": ["name", "kind", "auto_assign", "is_active"]})]
        if obj and obj.kind != InboxKind.WEB:
            sets.append((_("Webhook"), {"fields": ["webhook_url"]}))
        if channel:
            if obj:
                title, description = _("Channel settings"), None
            elif kind:
                title = format_lazy("{}: {}", InboxKind(kind).label, _("channel settings"))
                description = _kind_links(request, exclude=kind, lead=_("Another kind:"))
            else:
                title = _("Channel settings")
                description = format_html(
                    "{} {}",
                    _("What the chosen kind needs. Choose the kind first for its own form:"),
                    _kind_links(request),
                )
            sets.append((title, {"fields": list(channel), "description": description}))
        sets.append((_("Automation"), {"fields": list(AUTOMATION_FIELDS)}))
        return sets

    def has_delete_permission(self, request, obj=None) -> bool:
        if obj is not None and obj.kind == InboxKind.WEB:
            return False  # every organization keeps its web inbox
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        settings = {"phone_number_id": data.get("phone_number_id", ""), **form.submitted_secrets()}
        settings["callback_url"] = data.get("callback_url") or ""
        settings.update({f: data[f] for f in AUTOMATION_FIELDS if f in data})
        if not change:
            inbox, generated = services.inbox_create(
                actor=request.user,
                kind=data["kind"],
                name=data["name"],
                auto_assign=data.get("auto_assign", True),
                **settings,
            )
            if not data.get("is_active", True):
                services.inbox_update(actor=request.user, inbox_id=inbox.pk, is_active=False)
            obj.pk, obj._state.adding = inbox.pk, False
            inbox.public_base = public_base(request)
            if generated:
                self.message_user(
                    request,
                    format_html(
                        "{} {}",
                        _("Copy the generated secrets now: they are shown only this once.")
                        if len(generated) > 1
                        else _("Copy the generated secret now: it is shown only this once."),
                        format_html_join(
                            " ",
                            "<code>{}</code>: <code>{}</code>",
                            sorted(generated.items()),
                        ),
                    ),
                    messages.WARNING,
                )
            url = self.webhook_url(inbox)
            if inbox.kind != InboxKind.WEB and url != "–":
                self.message_user(
                    request,
                    format_html(
                        "{} {}",
                        _("Webhook URL (give it to the provider or the bridge):"),
                        url,
                    ),
                    messages.INFO,
                )
            return
        changes = {
            key: data[key]
            for key in (
                "name",
                "auto_assign",
                "is_active",
                "phone_number_id",
                "callback_url",
                *AUTOMATION_FIELDS,
            )
            if key in form.changed_data
        }
        changes.update(form.submitted_secrets())
        if changes:
            services.inbox_update(actor=request.user, inbox_id=obj.pk, **changes)

    def delete_model(self, request, obj):
        services.inbox_delete(actor=request.user, inbox_id=obj.pk)

    def delete_queryset(self, request, queryset):
        for inbox in queryset:
            services.inbox_delete(actor=request.user, inbox_id=inbox.pk)

    @admin.display(description=_("Webhook URL (give it to the provider or the bridge)"))
    def webhook_url(self, obj: Inbox) -> str:
        from chats import channels

        path = channels.webhook_path(obj) if obj.pk else None
        if not path:
            return "–"
        return format_html(
            '<code style="overflow-wrap: anywhere">{}{}</code>',
            getattr(obj, "public_base", ""),
            path,
        )


def _kind_links(request, *, exclude: str | None = None, lead=""):
    """Links to the add page of each channel kind."""
    links = format_html_join(
        ", ",
        '<a href="?kind={}">{}</a>',
        ((k.value, k.label) for k in CHANNEL_KINDS if k != exclude),
    )
    return format_html("{} {}", lead, links) if lead else links


@admin.register(Project)
class ProjectAdmin(TenantAdmin):
    """Projects through the chats services: adding one opens its chat with the members
    chosen; afterwards members change in the chat (participants), the rest here."""

    list_display = ["name", "emoji", "color", "created_at"]
    search_fields = ["name"]
    filter_horizontal = ["members"]
    fields = ["name", "description", "emoji", "color", "members"]

    def get_readonly_fields(self, request, obj=None):
        return ["members"] if obj else []

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if db_field.name == "members":
            field.queryset = field.queryset.filter(selectors.staff_users_q(), is_active=True)
        return field

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the project's chat and its history would go with it

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            chat, _ = services.chat_project_get_or_create(
                actor=request.user,
                name=data["name"],
                participant_ids=[u.pk for u in data.get("members", [])],
            )
            obj.pk, obj._state.adding = chat.project_id, False
        services.project_update(
            actor=request.user,
            project_id=obj.pk,
            name=data["name"],
            description=data.get("description", ""),
            emoji=data.get("emoji", ""),
            color=data.get("color", ""),
        )

    def save_related(self, request, form, formsets, change):
        """Nothing to save: members joined with the project's chat."""
