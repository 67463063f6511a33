"""Back office for organizations and users. Every change goes through ``accounts.services``,
like the API: password rules on creation, group sync on role changes, and deactivation ends
the user's tokens and sockets."""

from __future__ import annotations

import copy

from django import forms
from django.contrib import admin, messages
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts import services
from accounts.models import Organization, User
from crm.errors import DomainError
from crm.tenancy import TenantAdmin


@admin.register(Organization)
class OrganizationAdmin(TenantAdmin):
    list_display = ["name", "slug", "language", "created_at"]
    search_fields = ["name", "slug"]
    fields = ["name", "slug", "language", "created_at"]
    readonly_fields = ["created_at"]

    def get_readonly_fields(self, request, obj=None):
        # The slug is in sign-up links and settings (DEFAULT_ORGANIZATION): fixed once made.
        return [*self.readonly_fields, "slug"] if obj else self.readonly_fields

    def has_add_permission(self, request) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # an organization owns users, chats and orders: nothing deletes it here

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            services.organization_update(
                actor=request.user, organization=obj, name=data["name"], language=data["language"]
            )
        else:
            obj.pk = services.organization_create(
                slug=data["slug"], name=data["name"], language=data["language"]
            ).pk


class UserCreationForm(forms.ModelForm):
    password = forms.CharField(
        widget=forms.PasswordInput,
        required=False,
        strip=False,
        help_text=_("Leave empty for a user without a password (e.g. a channel customer)."),
    )

    class Meta:
        model = User
        fields = ["email", "name", "role", "organization", "is_active"]

    def clean(self):
        data = super().clean()
        password = data.get("password")
        if password:
            # The rules the service applies again on saving, shown here on the field.
            candidate = User(email=data.get("email") or "", name=data.get("name") or "")
            try:
                validate_password(password, candidate)
            except ValidationError as exc:
                self.add_error("password", exc)
        return data


class UserPasswordForm(AdminPasswordChangeForm):
    """Django's set-password form; saving goes through ``user_password_set``."""

    actor: User

    def save(self, commit: bool = True) -> User:
        usable = self.cleaned_data.get("set_usable_password", True)
        password = self.cleaned_data["password1"] if usable else None
        return services.user_password_set(actor=self.actor, user=self.user, password=password)


@admin.register(User)
class UserAdmin(TenantAdmin):
    list_display = [
        "email",
        "name",
        "role",
        "organization",
        "is_active",
        "is_online",
        "last_seen_at",
    ]
    list_filter = ["role", "is_active", "is_online"]
    search_fields = ["email", "name"]
    ordering = ["email"]
    list_select_related = ["organization"]
    actions = ["deactivate_users", "activate_users"]
    readonly_fields = [
        "email",
        "organization",
        "last_login",
        "date_joined",
        "last_seen_at",
        "is_online",
        "is_superuser",
        "password_link",
    ]
    fields = [
        "email",
        "name",
        "role",
        "organization",
        "avatar",
        "language",
        "is_active",
        "password_link",
        "last_login",
        "date_joined",
        "is_online",
        "last_seen_at",
    ]
    # A new picture replaces the old one; there is no "clear" box the services would not honour.
    formfield_overrides = {models.ImageField: {"widget": forms.FileInput}}
    change_password_form = UserPasswordForm
    change_user_password_template = None  # Django's set-password page

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = UserCreationForm
            kwargs["fields"] = [
                f
                for f in UserCreationForm.Meta.fields + ["password"]
                if request.user.is_superuser or f != "organization"
            ]
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        if obj is None:
            fields = UserCreationForm.Meta.fields + ["password"]
        else:
            fields = list(self.fields)
            if request.user.is_superuser:
                fields.append("is_superuser")
        return [f for f in fields if request.user.is_superuser or f != "organization"]

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else []

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # users keep their history: deactivate them instead

    @admin.display(description=_("Password"))
    def password_link(self, obj: User) -> str:
        if not obj.pk:
            return "-"
        url = reverse("admin:accounts_user_password_change", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, _("Set password"))

    def get_urls(self):
        view = self.admin_site.admin_view(self.user_change_password)
        return [
            path("<id>/password/", view, name="accounts_user_password_change"),
            *super().get_urls(),
        ]

    def user_change_password(self, request, id, form_url=""):
        from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

        # Django's view, with a form that knows who sets the password (one copy per request).
        this = copy.copy(self)
        this.change_password_form = type(
            "UserPasswordForm", (UserPasswordForm,), {"actor": request.user}
        )
        return DjangoUserAdmin.user_change_password(this, request, id, form_url)

    # --- Writes through the services ------------------------------------------------------

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if not change:
            user = services.staff_user_create(
                actor=request.user,
                organization=data.get("organization"),
                email=data["email"],
                name=data.get("name", ""),
                role=data["role"],
                password=data.get("password") or None,
            )
            if not data.get("is_active", True):
                user = services.user_update(actor=request.user, user=user, is_active=False)
            obj.pk, obj._state.adding = user.pk, False
            return
        user = User.objects.get(pk=obj.pk)  # ``obj`` already holds the form's values
        changes = {
            key: data[key] for key in ("name", "role", "is_active") if key in form.changed_data
        }
        if changes:
            services.user_update(actor=request.user, user=user, **changes)
        if "language" in form.changed_data:
            services.profile_update(user=user, language=data["language"])
        if "avatar" in form.changed_data and data.get("avatar"):
            # Through the media pipeline (type, size, pixels, resize), like the profile API.
            services.profile_update(user=user, avatar=data["avatar"])

    def save_related(self, request, form, formsets, change):
        """Nothing to save: groups follow the role inside the services."""

    def _set_active(self, request, queryset, active: bool) -> None:
        done = 0
        for user in queryset:
            try:
                services.user_update(actor=request.user, user=user, is_active=active)
            except DomainError as exc:
                self.message_user(
                    request,
                    _("%(email)s: %(detail)s") % {"email": user.email, "detail": exc.detail},
                    messages.ERROR,
                )
            else:
                done += 1
        if done:
            if active:
                text = ngettext("Activated %(done)s user.", "Activated %(done)s users.", done)
            else:
                text = ngettext("Deactivated %(done)s user.", "Deactivated %(done)s users.", done)
            self.message_user(
                request,
                text % {"done": done},
                messages.SUCCESS,
            )

    @admin.action(
        description=_("Deactivate selected users (ends their sessions)"), permissions=["change"]
    )
    def deactivate_users(self, request, queryset):
        self._set_active(request, queryset, False)

    @admin.action(description=_("Activate selected users"), permissions=["change"])
    def activate_users(self, request, queryset):
        self._set_active(request, queryset, True)


admin.site.unregister(Group)
