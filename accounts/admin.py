from django import forms
from django.contrib import admin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.contrib.auth.models import Group
from django.urls import path, reverse
from django.utils.html import format_html

from accounts.models import Organization, User
from crm.tenancy import TenantAdmin


@admin.register(Organization)
class OrganizationAdmin(TenantAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    readonly_fields = ["created_at"]

    def has_add_permission(self, request) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser


class UserCreationForm(forms.ModelForm):
    password = forms.CharField(
        widget=forms.PasswordInput,
        required=False,
        help_text="Leave empty for a user without a password (e.g. a channel customer).",
    )

    class Meta:
        model = User
        fields = ["email", "name", "role", "organization", "is_active"]

    def save(self, commit: bool = True) -> User:
        user = super().save(commit=False)
        if self.cleaned_data.get("password"):
            user.set_password(self.cleaned_data["password"])
        else:
            user.set_unusable_password()
        if commit:
            user.save()
        return user


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
    readonly_fields = ["last_login", "date_joined", "last_seen_at", "is_online", "password_link"]
    fields = [
        "email",
        "name",
        "role",
        "organization",
        "avatar",
        "is_active",
        "password_link",
        "last_login",
        "date_joined",
        "is_online",
        "last_seen_at",
    ]
    change_password_form = AdminPasswordChangeForm

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

    @admin.display(description="Password")
    def password_link(self, obj: User) -> str:
        if not obj.pk:
            return "-"
        url = reverse("admin:accounts_user_password_change", args=[obj.pk])
        return format_html('<a href="{}">Set password</a>', url)

    def get_urls(self):

        view = self.admin_site.admin_view(self.user_change_password)
        return [
            path("<id>/password/", view, name="accounts_user_password_change"),
            *super().get_urls(),
        ]

    def user_change_password(self, request, id, form_url=""):
        from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

        return DjangoUserAdmin.user_change_password(self, request, id, form_url)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        from accounts.services import user_groups_sync

        if not change or "role" in form.changed_data:
            user_groups_sync(obj)


admin.site.unregister(Group)
