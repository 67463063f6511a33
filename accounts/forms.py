"""Cabinet forms: they only parse input; the services decide."""

from django import forms
from django.conf import settings
from django.utils.translation import gettext_lazy as _


class LoginForm(forms.Form):
    email = forms.EmailField(
        label=_("Email"),
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}),
    )
    password = forms.CharField(
        label=_("Password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class RegisterForm(forms.Form):
    name = forms.CharField(
        max_length=150, label=_("Name"), widget=forms.TextInput(attrs={"autocomplete": "name"})
    )
    email = forms.EmailField(
        label=_("Email"), widget=forms.EmailInput(attrs={"autocomplete": "email"})
    )
    password = forms.CharField(
        label=_("Password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=_("At least 8 characters, not entirely numeric, not a common password."),
    )
    organization = forms.SlugField(required=False, widget=forms.HiddenInput)


class ProfileForm(forms.Form):
    name = forms.CharField(max_length=150, required=False, label=_("Name"))
    language = forms.ChoiceField(
        required=False,
        label=_("Language"),
        choices=[("", _("As in my browser")), *settings.LANGUAGES],
    )
    old_password = forms.CharField(
        required=False,
        label=_("Current password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    new_password = forms.CharField(
        required=False,
        label=_("New password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
