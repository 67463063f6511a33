"""Which language a person reads: the user's own choice, else the browser's, else the
organization's. System lines and automated replies are written in the organization's language.

Pages learn the user in ``AuthenticationMiddleware`` (session); the API authenticates JWTs
inside the view, so ``JWTAuthentication`` here activates the user's language as soon as DRF
knows who is asking, before the view (and any error it raises) runs.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.http import HttpRequest
from django.middleware.locale import LocaleMiddleware
from django.utils import translation
from django.utils.translation.trans_real import parse_accept_lang_header
from rest_framework_simplejwt import authentication

if TYPE_CHECKING:
    from accounts.models import Organization, User


def supported(code: str | None) -> str | None:
    """``code`` as one of ``LANGUAGES`` ("ru-RU" → "ru"), or None."""
    if not code:
        return None
    try:
        return translation.get_supported_language_variant(code)
    except LookupError:
        return None


def _from_browser(request: HttpRequest) -> str | None:
    return _from_cookie_or_header(
        request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME),
        request.META.get("HTTP_ACCEPT_LANGUAGE", ""),
    )


def _from_cookie_or_header(cookie: str | None, header: str) -> str | None:
    if cookie := supported(cookie):
        return cookie
    for code, _quality in parse_accept_lang_header(header):
        if code != "*" and (found := supported(code)):
            return found
    return None


def language_for(request: HttpRequest, user: Any = None) -> str:
    """The user's ``language``, else the language cookie or ``Accept-Language``, else the
    user's organization's ``language``, else ``LANGUAGE_CODE``."""
    return _language(user, lambda: _from_browser(request))


def language_for_scope(scope: dict, user: Any = None) -> str:
    """``language_for`` of a WebSocket connection (its handshake's cookie and headers).
    Reads the database: call it from a thread (``database_sync_to_async``)."""
    headers = dict(scope.get("headers") or [])
    header = headers.get(b"accept-language", b"").decode("latin-1")
    cookie = (scope.get("cookies") or {}).get(settings.LANGUAGE_COOKIE_NAME)
    return _language(user, lambda: _from_cookie_or_header(cookie, header))


def language_for_environ(environ: dict, user: Any = None) -> str:
    """``language_for`` of a Socket.IO connection (its handshake's WSGI-style environ).
    Reads the database: call it from a thread (``database_sync_to_async``)."""
    from http.cookies import SimpleCookie

    cookies = SimpleCookie()
    try:
        cookies.load(environ.get("HTTP_COOKIE", ""))
    except Exception:
        cookies = SimpleCookie()
    cookie = cookies.get(settings.LANGUAGE_COOKIE_NAME)
    header = environ.get("HTTP_ACCEPT_LANGUAGE", "")
    return _language(user, lambda: _from_cookie_or_header(cookie and cookie.value, header))


def _language(user: Any, from_browser) -> str:
    if user is not None and getattr(user, "is_authenticated", False):
        own = supported(user.language)
        if own:
            return own
    found = from_browser()
    if found:
        return found
    if user is not None and getattr(user, "is_authenticated", False):
        organization = supported(organization_language(organization_of(user)))
        if organization:
            return organization
    return settings.LANGUAGE_CODE


def activate_for(request: HttpRequest, user: Any) -> str:
    language = language_for(request, user)
    translation.activate(language)
    request.LANGUAGE_CODE = translation.get_language()
    return language


class UserLanguageMiddleware(LocaleMiddleware):
    """Django's ``LocaleMiddleware`` (``Content-Language``, ``Vary``), choosing the language
    by ``language_for``. Sits after ``AuthenticationMiddleware``."""

    def process_request(self, request: HttpRequest) -> None:
        try:
            activate_for(request, getattr(request, "user", None))
        except Exception as exc:
            from crm import outage

            if outage.part_down(exc) is None:
                raise
            # The session's user cannot be read (PostgreSQL or Redis down): the browser's
            # language; the view meets the same outage and its handling answers.
            translation.activate(_from_browser(request) or settings.LANGUAGE_CODE)
            request.LANGUAGE_CODE = translation.get_language()


class JWTAuthentication(authentication.JWTAuthentication):
    """simplejwt's authentication that also switches to the user's language."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # The user comes with their organization (a join, no extra query): the language may
        # fall back to the organization's, and most views read it next anyway.
        users = self.user_model
        self.user_model = SimpleNamespace(
            objects=users.objects.select_related("organization"), DoesNotExist=users.DoesNotExist
        )

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            activate_for(request._request, result[0])
        return result


# Organization languages, per process for a minute: the fallback of every request of a user
# without a language of their own, and of every system line, without a query each time.
# organization_language_forget() clears an entry at once (in this process).
_ORGANIZATION_LANGUAGES: dict[int, tuple[str, float]] = {}
_ORGANIZATION_LANGUAGE_SECONDS = 60.0


def organization_language(organization: Organization | int | None) -> str:
    """The organization's ``language``."""
    from accounts.models import Organization

    if organization is None:
        return settings.LANGUAGE_CODE
    if isinstance(organization, Organization):
        return organization.language or settings.LANGUAGE_CODE
    now = time.monotonic()
    cached = _ORGANIZATION_LANGUAGES.get(organization)
    if cached is not None and cached[1] > now:
        return cached[0]
    found = Organization.objects.filter(pk=organization).values_list("language", flat=True)
    language = next(iter(found), None) or settings.LANGUAGE_CODE
    _ORGANIZATION_LANGUAGES[organization] = (language, now + _ORGANIZATION_LANGUAGE_SECONDS)
    return language


def organization_language_forget(organization_id: int | None = None) -> None:
    if organization_id is None:
        _ORGANIZATION_LANGUAGES.clear()
    else:
        _ORGANIZATION_LANGUAGES.pop(organization_id, None)


@contextmanager
def organization_override(organization: Organization | int | None):
    """Write in the organization's language (system lines, automated replies, demo data)."""
    with translation.override(organization_language(organization)):
        yield


def user_override(user: User):
    """Write to a user in their language (emails): theirs, else their organization's."""
    language = supported(user.language) or organization_language(user.organization_id)
    return translation.override(language)


_JS_CATALOGS: dict[str, dict] = {}


def js_catalog_for(language: str | None) -> dict:
    """The ``djangojs`` catalog of ``language``: ``{"lang", "catalog"}``, where a plural
    entry is the list of its forms (CLDR order for the language: one, few, many)."""
    language = supported(language) or settings.LANGUAGE_CODE
    if language not in _JS_CATALOGS:
        from django.utils.translation.trans_real import DjangoTranslation
        from django.views.i18n import JavaScriptCatalog

        view = JavaScriptCatalog()
        view.translation = DjangoTranslation(
            language, domain="djangojs", localedirs=[str(p) for p in settings.LOCALE_PATHS]
        )
        catalog = {
            msgid: text
            for msgid, text in view.get_catalog().items()
            if text and msgid != ""  # untranslated entries fall back to the English in JS
        }
        _JS_CATALOGS[language] = {"lang": language, "catalog": catalog}
    return _JS_CATALOGS[language]


def organization_of(obj: Any) -> Organization | int | None:
    """The organization of a tenant-owned row: the loaded one if it is, else its id."""
    cached = getattr(obj, "_state", None) and obj._state.fields_cache.get("organization")
    return cached or getattr(obj, "organization_id", None)


# --- Model labels ---------------------------------------------------------------------------
# Django names a field without a verbose_name after itself ("created at"); writing each one out
# in the models would put every label into migrations. Instead the labels of our own apps are
# made translatable when the apps are ready, and crm/model_labels.py lists them for the
# catalog (a test keeps that list complete).


def _our_app_configs():
    from django.apps import apps

    root = str(settings.BASE_DIR)
    return [
        config
        for config in apps.get_app_configs()
        if str(config.path).startswith(root) and "site-packages" not in str(config.path)
    ]


def _label_holders():
    """(object, attribute) pairs whose string is a label a person reads in the back office."""
    for config in _our_app_configs():
        yield config, "verbose_name"
        for model in config.get_models():
            yield model._meta, "verbose_name"
            yield model._meta, "verbose_name_plural"
            for field in model._meta.local_fields + model._meta.local_many_to_many:
                yield field, "verbose_name"
                if field.help_text:
                    yield field, "help_text"


_WRAPPED_LABELS: set[str] = set()


def model_label_msgids() -> set[str]:
    """The labels ``model_labels_translate`` made translatable (the msgids they need)."""
    return set(_WRAPPED_LABELS)


def model_labels_translate() -> None:
    from django.utils.functional import Promise
    from django.utils.translation import gettext_lazy

    for config in _our_app_configs():
        for model in config.get_models():
            meta = model._meta
            if "verbose_name_plural" not in meta.original_attrs:
                # Django's default plural is a lazy "{verbose_name}s" of the English name.
                meta.verbose_name_plural = f"{meta.verbose_name}s"
    for holder, attribute in _label_holders():
        value = getattr(holder, attribute)
        if value and not isinstance(value, Promise):
            _WRAPPED_LABELS.add(str(value))
            setattr(holder, attribute, gettext_lazy(str(value)))


def model_labels_source() -> str:
    """The text of crm/model_labels.py for the models as they are now."""
    lines = [
        '"""Labels Django derives from our models\' and apps\' names (see',
        "crm.i18n.model_labels_translate), listed so that makemessages puts them in the catalog.",
        "Generated: ``python manage.py shell -c 'from crm.i18n import model_labels_write;",
        'model_labels_write()\'`` after a model changes (crm/tests/test_i18n.py says when)."""',
        "",
        "from django.utils.translation import gettext_noop",
        "",
        "LABELS = [",
        *(
            f"    gettext_noop({json.dumps(label, ensure_ascii=False)}),"
            for label in sorted(model_label_msgids())
        ),
        "]",
        "",
    ]
    return "\n".join(lines)


def model_labels_write() -> None:
    (settings.BASE_DIR / "crm" / "model_labels.py").write_text(model_labels_source())
