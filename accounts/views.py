"""Cabinet pages for customers: sign in, register, sign out, profile."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login, logout, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from accounts import selectors, services
from accounts.forms import LoginForm, ProfileForm, RegisterForm
from crm.client_ip import request_ip
from crm.errors import DomainError, RateLimited
from crm.i18n import language_for
from crm.ratelimit import hit


def _client_ip(request: HttpRequest) -> str:
    return request_ip(request)


def _home_for(user) -> str:
    return "/admin/" if user.is_staff else "/chat/"


def _apply_domain_error(form, exc: DomainError) -> None:
    fields = exc.extra.get("fields") or {}
    for name, errors in fields.items():
        if name in form.fields:
            for error in errors:
                form.add_error(name, error)
    if not any(name in form.fields for name in fields):
        form.add_error(None, exc.detail)


def home(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect(_home_for(request.user))
    return render(request, "cabinet/home.html")


@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        next_url = ""
    form = LoginForm(request.POST or None)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            user = services.auth_login(
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                ip=_client_ip(request),
            )
        except DomainError as exc:
            form.add_error(None, exc.detail)
            status = exc.status_code if exc.status_code == 429 else 400
        else:
            login(request, user, backend="accounts.backends.EmailBackend")
            return redirect(next_url or _home_for(user))
    elif request.method == "POST":
        status = 400
    return render(request, "cabinet/login.html", {"form": form, "next": next_url}, status=status)


@require_http_methods(["GET", "POST"])
def register_view(request: HttpRequest) -> HttpResponse:
    initial = {"organization": request.GET.get("organization", "")}
    form = RegisterForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST" and form.is_valid():
        decision = hit("register_ip", f"ip:{_client_ip(request)}")
        try:
            if not decision.allowed:
                raise RateLimited(_("Too many sign-ups from your network. Try again later."))
            slug = form.cleaned_data["organization"] or settings.DEFAULT_ORGANIZATION
            organization = (
                services.organization_default()
                if slug == settings.DEFAULT_ORGANIZATION
                else selectors.organization_by_slug(slug)
            )
            user = services.customer_register(
                organization=organization,
                email=form.cleaned_data["email"],
                password=form.cleaned_data["password"],
                name=form.cleaned_data["name"],
            )
        except DomainError as exc:
            _apply_domain_error(form, exc)
            status = exc.status_code if exc.status_code == 429 else 400
        else:
            login(request, user, backend="accounts.backends.EmailBackend")
            messages.success(request, _("Welcome! Write to us any time."))
            return redirect(_home_for(user))
    elif request.method == "POST":
        status = 400
    return render(request, "cabinet/register.html", {"form": form}, status=status)


@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    logout(request)
    return redirect("cabinet-login")


@login_required
@require_http_methods(["GET", "POST"])
def profile_view(request: HttpRequest) -> HttpResponse:
    form = ProfileForm(
        request.POST or None,
        initial={"name": request.user.name, "language": request.user.language},
    )
    status = 200
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = services.profile_update(
                user=request.user,
                name=data["name"],
                language=data["language"],
                old_password=data["old_password"] or None,
                new_password=data["new_password"] or None,
            )
        except DomainError as exc:
            _apply_domain_error(form, exc)
            status = 400
        else:
            if data["new_password"]:
                update_session_auth_hash(request, user)
            # The page after the redirect speaks the chosen language.
            translation.activate(language_for(request, user))
            messages.success(request, _("Profile saved."))
            response = redirect("cabinet-profile")
            _remember_language(response, user.language)
            return response
    elif request.method == "POST":
        status = 400
    return render(request, "cabinet/profile.html", {"form": form}, status=status)


def _remember_language(response: HttpResponse, language: str) -> None:
    if language:
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            samesite="Lax",
        )
    else:
        response.delete_cookie(settings.LANGUAGE_COOKIE_NAME)


@require_POST
def language_set(request: HttpRequest) -> HttpResponse:
    """The language switch of the cabinet and the back office: a signed-in user's choice is
    kept on the account, an anonymous visitor's in a cookie (like Django's ``set_language``)."""
    language = request.POST.get("language", "")
    if language not in dict(settings.LANGUAGES):
        return HttpResponseBadRequest(_("Unknown language."))
    next_url = request.POST.get("next") or request.headers.get("referer") or "/"
    if not url_has_allowed_host_and_scheme(next_url, {request.get_host()}, request.is_secure()):
        next_url = "/"
    if request.user.is_authenticated:
        services.profile_update(user=request.user, language=language)
    response = redirect(next_url)
    _remember_language(response, language)
    return response
