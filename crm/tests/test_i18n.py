"""English and Russian: the catalogs are complete, each request reads its language (the user's,
the browser's, the organization's), API errors and system lines come out in it."""

from __future__ import annotations

import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
from django.utils import translation
from django.utils.translation import ngettext

from accounts.models import Role
from accounts.tests.factories import OrganizationFactory, UserFactory
from chats.models import Message, MessageKind
from chats.services import message_send, support_chat_get_or_create
from crm import i18n
from operators import services as operators
from orders.templatetags.money import money

CATALOGS = sorted((Path(settings.BASE_DIR) / "locale").glob("*/LC_MESSAGES/*.po"))
# As `make messages-update` runs makemessages (Makefile).
MAKEMESSAGES_IGNORE = [
    ".venv",
    "staticfiles",
    "node_modules",
    "var",
    "*/tests/*",
    "benchmarks",
    "faults",
    "conftest.py",
    "*/conftest.py",
    "*/standins/*",
]


def _msgids(path: Path) -> set[str]:
    return {entry.msgid for entry in polib.pofile(str(path)) if not entry.obsolete}


# --- The catalogs ---------------------------------------------------------------------------


def test_russian_catalogs_exist():
    names = {(p.parent.parent.name, p.stem) for p in CATALOGS}
    assert names == {("ru", "django"), ("ru", "djangojs")}


@pytest.mark.parametrize("path", CATALOGS, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_catalog_is_complete_no_untranslated_or_fuzzy_entry(path):
    """msgfmt --check --statistics (as `make messages-check`) and polib agree: every entry
    translated, none fuzzy, and the format placeholders match."""
    catalog = polib.pofile(str(path))
    assert catalog.untranslated_entries() == []
    assert catalog.fuzzy_entries() == []
    assert catalog.percent_translated() == 100
    assert "nplurals=3" in catalog.metadata["Plural-Forms"]
    for entry in catalog.translated_entries():
        if entry.msgid_plural:
            assert len(entry.msgstr_plural) == 3 and all(entry.msgstr_plural.values()), entry
    msgfmt = shutil.which("msgfmt")
    assert msgfmt, "gettext's msgfmt is missing: `make install` installs it"
    done = subprocess.run(
        [msgfmt, "--check", "--statistics", "-o", "/dev/null", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "untranslated" not in done.stderr and "fuzzy" not in done.stderr, done.stderr
    assert f"{len(catalog)} translated messages" in done.stderr


@pytest.mark.parametrize("domain", ["django", "djangojs"])
def test_catalog_has_every_source_string(domain, tmp_path, monkeypatch):
    """makemessages over a copy of the code (it writes into the locale/ beside the files it
    reads) finds no string the committed catalog lacks, and the catalog keeps no string the
    code no longer has."""
    base = Path(settings.BASE_DIR)
    copy = tmp_path / "src"
    shutil.copytree(
        base,
        copy,
        ignore=shutil.ignore_patterns(
            ".*", "locale", "staticfiles", "var", "node_modules", "__pycache__", "*.sqlite3*"
        ),
    )
    monkeypatch.chdir(copy)
    with override_settings(LOCALE_PATHS=[str(copy / "locale")]):
        call_command(
            "makemessages",
            locale=["ru"],
            domain=domain,
            no_location=True,
            ignore_patterns=MAKEMESSAGES_IGNORE,
            verbosity=0,
        )
    fresh = _msgids(copy / "locale" / "ru" / "LC_MESSAGES" / f"{domain}.po") - {""}
    committed = _msgids(base / "locale" / "ru" / "LC_MESSAGES" / f"{domain}.po") - {""}
    assert fresh - committed == set(), "run `make messages-update` and translate"
    assert committed - fresh == set(), "run `make messages-update` (stale entries)"


def test_model_labels_list_is_current():
    """crm/model_labels.py lists every label Django derives from our models' names."""
    path = Path(settings.BASE_DIR) / "crm" / "model_labels.py"
    assert path.read_text() == i18n.model_labels_source(), (
        "regenerate: python manage.py shell -c "
        "'from crm.i18n import model_labels_write; model_labels_write()'"
    )


def test_model_labels_read_in_russian():
    from chats.models import Chat
    from orders.models import Order

    with translation.override("ru"):
        assert str(Chat._meta.get_field("assignee").verbose_name) == "ответственный"
        assert str(Order._meta.verbose_name_plural) == "заказы"
        assert str(Chat._meta.get_field("status").choices[1][1]) == "В ожидании"
    with translation.override("en"):
        assert str(Order._meta.verbose_name_plural) == "orders"


@pytest.mark.parametrize(
    ("count", "expected"),
    [(1, "1 чат"), (2, "2 чата"), (4, "4 чата"), (5, "5 чатов"), (11, "11 чатов"), (21, "21 чат")],
)
def test_russian_plural_forms(count, expected):
    with translation.override("ru"):
        assert ngettext("%(count)s chat", "%(count)s chats", count) % {"count": count} == expected


def test_money_is_formatted_for_the_language():
    with translation.override("en"):
        assert money(Decimal("1012.5"), "EUR") == "1,012.50"
    with translation.override("ru"):
        assert money(Decimal("1012.5"), "EUR") == "1\xa0012,50"
        assert money(Decimal("32990"), "JPY") == "32\xa0990"


# --- Which language a request reads ----------------------------------------------------------


@pytest.fixture
def russian_organization(db):
    return OrganizationFactory(slug="lavka", name="Лавка", language="ru")


def _me(client, **headers):
    return client.get("/api/auth/me", **headers)


@pytest.mark.django_db
def test_the_users_language_wins_then_the_browsers_then_the_organizations(
    client_for, russian_organization
):
    user = UserFactory(organization=russian_organization, role=Role.OPERATOR)
    client = client_for(user)
    assert _me(client)["Content-Language"] == "ru"  # the organization's
    assert _me(client, HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9")["Content-Language"] == "en"
    assert _me(client, HTTP_ACCEPT_LANGUAGE="de-DE")["Content-Language"] == "ru"  # unsupported
    user.language = "en"
    user.save(update_fields=["language"])
    assert _me(client, HTTP_ACCEPT_LANGUAGE="ru-RU")["Content-Language"] == "en"  # their own


@pytest.mark.django_db
def test_me_reads_and_writes_the_language(client_for, customer):
    client = client_for(customer)
    assert client.get("/api/auth/me").json()["language"] == ""
    response = client.patch("/api/auth/me", {"language": "ru"}, format="json")
    assert response.status_code == 200 and response.json()["language"] == "ru"
    customer.refresh_from_db()
    assert customer.language == "ru"
    assert response["Content-Language"] == "ru"  # this answer is already in Russian

    refused = client.patch("/api/auth/me", {"language": "de"}, format="json")
    assert refused.status_code == 400
    body = refused.json()
    assert body["code"] == "invalid" and "language" in body and "de" in body["detail"]
    customer.refresh_from_db()
    assert customer.language == "ru"  # nothing changed

    assert client.patch("/api/auth/me", {"language": ""}, format="json").json()["language"] == ""


@pytest.mark.django_db
def test_an_api_error_in_russian_for_a_russian_user_and_english_for_an_english_one(
    client_for, organization
):
    russian = UserFactory(organization=organization, role=Role.OPERATOR, language="ru")
    english = UserFactory(organization=organization, role=Role.OPERATOR, language="en")
    # Ours (crm/errors.py and the services).
    ru = client_for(russian).get("/api/chats/999999")
    en = client_for(english).get("/api/chats/999999")
    assert ru.status_code == en.status_code == 404
    assert ru.json() == {"detail": "Чат не найден.", "code": "chat_not_found"}
    assert en.json() == {"detail": "Chat not found.", "code": "chat_not_found"}
    # DRF's and Django's own messages, from their catalogs.
    ru = client_for(russian).get("/api/users")
    en = client_for(english).get("/api/users")
    assert ru.status_code == en.status_code == 403
    assert ru.json()["detail"] == "Это доступно только администратору организации."
    assert en.json()["detail"] == "Only an organization admin can do this."
    ru = client_for(russian).post("/api/chats", {"kind": "group"}, format="json")
    en = client_for(english).post("/api/chats", {"kind": "group"}, format="json")
    assert ru.status_code == en.status_code == 400
    assert ru.json()["code"] == en.json()["code"]
    assert en.json()["detail"].isascii() and not ru.json()["detail"].isascii()


@pytest.mark.django_db
def test_a_bad_token_is_refused_in_the_browsers_language(api_client):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")
    ru = api_client.get("/api/auth/me", HTTP_ACCEPT_LANGUAGE="ru")
    en = api_client.get("/api/auth/me", HTTP_ACCEPT_LANGUAGE="en")
    assert ru.status_code == en.status_code == 401
    assert ru.json()["code"] == en.json()["code"]
    assert en.json()["detail"].isascii() and not ru.json()["detail"].isascii()


@pytest.mark.django_db
def test_the_language_switch_keeps_the_choice(client, customer):
    response = client.post("/language/", {"language": "ru", "next": "/login/"})
    assert response.status_code == 302 and response["Location"] == "/login/"
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "ru"
    page = client.get("/login/")
    assert '<html lang="ru">' in page.content.decode() and "Войти" in page.content.decode()

    client.force_login(customer)
    response = client.post("/language/", {"language": "en", "next": "https://evil.example/"})
    assert response["Location"] == "/"  # never off-site
    customer.refresh_from_db()
    assert customer.language == "en"
    assert client.post("/language/", {"language": "xx"}).status_code == 400
    customer.refresh_from_db()
    assert customer.language == "en"


# --- What the organization's language decides ------------------------------------------------


@pytest.mark.django_db
def test_a_system_line_is_posted_in_the_organizations_language(russian_organization):
    operator = UserFactory(organization=russian_organization, role=Role.OPERATOR, language="en")
    customer = UserFactory(organization=russian_organization, role=Role.CUSTOMER, name="Ира")
    chat, _created = support_chat_get_or_create(customer=customer)
    message_send(sender=customer, chat=chat, text="Здравствуйте!")
    with translation.override("en"):  # the operator reads English; the line is the org's
        operators.chat_take(actor=operator, chat=chat)
        operators.chat_set_priority(actor=operator, chat=chat, priority="urgent")
    lines = list(
        Message.objects.filter(chat=chat, kind=MessageKind.SYSTEM)
        .order_by("id")
        .values_list("text", flat=True)
    )
    assert lines == [
        f"{operator}: чат взят в работу.",
        f"{operator}: приоритет — «Срочный».",
    ]


@pytest.mark.django_db
def test_an_english_organization_gets_english_system_lines(organization, operator, customer):
    chat, _created = support_chat_get_or_create(customer=customer)
    message_send(sender=customer, chat=chat, text="Hello")
    with translation.override("ru"):
        operators.chat_take(actor=operator, chat=chat)
    line = Message.objects.filter(chat=chat, kind=MessageKind.SYSTEM).latest("id")
    assert line.text == f"{operator} took the chat."


@pytest.mark.django_db
def test_the_bot_speaks_the_organizations_language_to_words_without_letters(
    russian_organization,
):
    from automation import bot

    assert bot.language_of("Где мой заказ?") == "ru"
    assert bot.language_of("Where is my order?", default="ru") == "en"
    assert bot.language_of("???", default="ru") == "ru"
    with translation.override("en"):
        assert bot.prompt_text(language="ru", keywords=["оператор"]).startswith(
            "Я автоматический помощник"
        )


@pytest.mark.django_db
def test_the_russian_demo_organization(client_for):
    from io import StringIO

    out = StringIO()
    call_command("seed_demo", stdout=out)
    printed = out.getvalue()
    assert "demo-ru" in printed and "olga@demo-ru.example.com" in printed
    assert "admin@demo.example.com" in printed
    from accounts.models import Organization, User

    lavka = Organization.objects.get(slug="demo-ru")
    assert lavka.language == "ru" and lavka.name == "Кофейная лавка"
    lines = Message.objects.filter(chat__organization=lavka, kind=MessageKind.SYSTEM)
    assert lines.exists()
    assert all(not line.isascii() for line in lines.values_list("text", flat=True))
    customers = User.objects.filter(organization=lavka, role=Role.CUSTOMER)
    assert customers.count() >= 5 and all(not c.name.isascii() for c in customers)


def test_the_language_middleware_leaves_an_outage_to_the_view(rf):
    """PostgreSQL down while the session's user is read: the middleware takes the browser's
    language and lets the view meet the outage (its handling answers 503), never raising."""
    from django.db import OperationalError
    from django.http import HttpResponse
    from django.utils.functional import SimpleLazyObject

    def down():
        raise OperationalError("connection refused")

    request = rf.get("/chat/", HTTP_ACCEPT_LANGUAGE="ru")
    request.user = SimpleLazyObject(down)
    middleware = i18n.UserLanguageMiddleware(lambda r: HttpResponse("ok"))
    with translation.override("en"):
        assert middleware.process_request(request) is None
        assert request.LANGUAGE_CODE == "ru" and translation.get_language() == "ru"
    request = rf.get("/chat/")
    request.user = SimpleLazyObject(lambda: 1 / 0)  # a bug is not an outage: it is raised
    with pytest.raises(ZeroDivisionError):
        middleware.process_request(request)


def test_a_domain_errors_default_text_is_plain_text_in_the_language_of_the_moment():
    import json

    from crm.errors import Forbidden, NotFound

    with translation.override("ru"):
        error = NotFound(code="chat_not_found")
    assert type(error.detail) is str and error.detail == "Не найдено."
    assert json.loads(json.dumps(error.as_dict())) == {
        "detail": "Не найдено.",
        "code": "chat_not_found",
    }
    with translation.override("en"):
        assert Forbidden().detail == "You do not have permission to perform this action."
