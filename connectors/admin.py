"""Back office: who writes from which channel (ChannelIdentity), read only and scoped to the
user's organization. Identities are made by inbound messages, never by hand."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from chats.models import ChannelIdentity
from crm.tenancy import TenantAdmin


@admin.register(ChannelIdentity)
class ChannelIdentityAdmin(TenantAdmin):
    list_display = ["customer", "inbox", "kind", "external_id", "username", "created_at"]
    list_filter = ["inbox__kind", ("inbox", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["customer", "inbox"]
    search_fields = ["external_id", "username", "name", "customer__name", "customer__email"]
    date_hierarchy = "created_at"
    ordering = ["-created_at", "-pk"]
    fields = [
        "customer",
        "inbox",
        "kind",
        "external_id",
        "name",
        "username",
        "language",
        "created_at",
    ]
    readonly_fields = fields

    @admin.display(description=_("Kind"), ordering="inbox__kind")
    def kind(self, identity: ChannelIdentity) -> str:
        return identity.inbox.get_kind_display()

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
