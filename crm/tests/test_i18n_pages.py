"""Every cabinet and workspace page, rendered in Russian, shows no English interface words.

The check reads what a person sees of the server's HTML: text outside scripts and styles, and
the attributes read aloud or shown on hover (title, placeholder, aria-label, alt). Emails,
addresses and a few names that stay as they are (brands, key names, codes) are allowed.
The scripts' own texts are checked in the browser (crm/tests/test_browser_i18n.py).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from accounts.models import Role
from accounts.tests.factories import OrganizationFactory, UserFactory
from chats.services import message_send, support_chat_get_or_create
from operators import services as operators
from operators.models import CannedResponse
from orders.services import order_create

ALLOWED = {
    # brands, channels and formats
    "Connector", "CRM", "Telegram", "WhatsApp", "API", "English", "ID", "URL", "MIME",
    "SHA", "JSON", "HTML", "SVG", "PNG", "JPEG", "GIF", "WebP", "IANA", "ISO",
    # keys and codes a person types or reads as they are
    "Enter", "Shift", "RUB", "EUR", "USD", "me",
    # Django admin's own untranslated alt texts (the search icon, boolean icons)
    "Search", "True", "False", "None",
}  # fmt: skip
_SKIPPED = {"script", "style", "svg", "template", "noscript"}
_READ_ATTRIBUTES = {"title", "placeholder", "aria-label", "alt"}
_EMAIL_OR_URL = re.compile(r"\S+@\S+|https?://\S+|/[\w/.?=&%-]*")
_LATIN_WORD = re.compile(r"[A-Za-z_][A-Za-z'’_]+")  # order_update: an identifier, not a word


class _VisibleText(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.skipping = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in _SKIPPED:
            self.skipping += 1
        attributes = dict(attrs)
        for name in _READ_ATTRIBUTES:
            if attributes.get(name):
                self.parts.append(attributes[name])
        if (
            tag == "input"
            and attributes.get("type") in ("submit", "button")
            and "value" in attributes
        ):
            self.parts.append(attributes["value"] or "")

    def handle_endtag(self, tag):
        if tag in _SKIPPED and self.skipping:
            self.skipping -= 1

    def handle_data(self, data):
        if not self.skipping:
            self.parts.append(data)


def english_words(html: str, *, data: tuple[str, ...] = ()) -> list[str]:
    """Latin words a person reads on the page; ``data``: names the test's data gave."""
    parser = _VisibleText()
    parser.feed(html)
    text = _EMAIL_OR_URL.sub(" ", " ".join(parser.parts))
    words = {w for w in _LATIN_WORD.findall(text) if "_" not in w}
    return sorted(w for w in words if w not in ALLOWED and w not in data)


def test_the_checker_sees_english():
    html = (
        '<p>Заказы <b>Orders</b></p><input placeholder="Find"><script>var x = "Hidden";'
        '</script><a href="/admin/" title="Открыть">ann@example.com</a>'
    )
    assert english_words(html) == ["Find", "Orders"]


@pytest.fixture
def lavka(db):
    organization = OrganizationFactory(slug="lavka", name="Лавка", language="ru")
    admin = UserFactory(organization=organization, role=Role.ADMIN, name="Анна Админ")
    operator = UserFactory(organization=organization, role=Role.OPERATOR, name="Олег Оператор")
    customer = UserFactory(organization=organization, role=Role.CUSTOMER, name="Ира Клиентова")
    chat, _created = support_chat_get_or_create(customer=customer)
    message_send(sender=customer, chat=chat, text="Здравствуйте! Когда приедет доставка?")
    operators.chat_assign(actor=admin, chat=chat, operator_id=operator.pk)
    message_send(sender=operator, chat=chat, text="Добрый день! Завтра до обеда.")
    order = order_create(
        actor=customer,
        title="Кофемолка",
        currency="RUB",
        items=[{"name": "Кофемолка ручная", "quantity": "1", "unit_price": "2490.00"}],
    )
    CannedResponse.objects.create(
        organization=organization, shortcut="доставка", text="Доставка занимает 2–4 дня."
    )
    other = UserFactory(organization=organization, role=Role.CUSTOMER, name="Пётр Новиков")
    other_chat, _created = support_chat_get_or_create(customer=other)
    message_send(sender=other, chat=other_chat, text="Помогите с оплатой, пожалуйста")
    return {
        "admin": admin,
        "operator": operator,
        "customer": customer,
        "chat": chat,
        "order": order,
    }


def _russian(client, path: str, status: int = 200) -> str:
    response = client.get(path, HTTP_ACCEPT_LANGUAGE="ru-RU,ru;q=0.9")
    assert response.status_code == status, path
    assert response["Content-Language"] == "ru"
    html = response.content.decode()
    assert '<html lang="ru"' in html
    return html


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/", "/login/", "/register/", "/admin/login/"])
def test_anonymous_cabinet_pages_in_russian(client, path):
    assert english_words(_russian(client, path)) == []


@pytest.mark.django_db
def test_not_found_page_in_russian(client):
    assert english_words(_russian(client, "/no-such-page/", status=404)) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/chat/", "/orders/", "/orders/new/", "/orders/{order}/", "/profile/"]
)
def test_customer_cabinet_pages_in_russian(client, lavka, path):
    customer = lavka["customer"]  # no language of their own: their organization's (ru)
    client.force_login(customer)
    response = client.get(path.format(order=lavka["order"].pk))
    assert response.status_code == 200 and response["Content-Language"] == "ru"
    html = response.content.decode()
    assert english_words(html) == []
    if path == "/orders/":
        assert "1 заказ" in html and "2\xa0490,00" in html


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/inbox/",
        "/admin/inbox/?tab=unassigned",
        "/admin/inbox/?tab=all",
        "/admin/inbox/?tab=all&status=closed&q=zzz",
        "/admin/inbox/{chat}/",
    ],
)
@pytest.mark.parametrize("who", ["admin", "operator"])
def test_workspace_pages_in_russian(client, lavka, path, who):
    user = lavka[who]
    user.language = "ru"
    user.save(update_fields=["language"])
    client.force_login(user)
    html = _russian(client, path.format(chat=lavka["chat"].pk))
    assert english_words(html) == []
    assert 'id="crm-i18n"' in html  # the scripts' catalog is on the page


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    [
        "/admin/chats/chat/",
        "/admin/orders/order/",
        "/admin/orders/order/{order}/change/",
        "/admin/accounts/user/",
        "/admin/operators/cannedresponse/",
        "/admin/chats/inbox/add/",
        "/admin/chats/inbox/add/?kind=telegram",
    ],
)
def test_back_office_lists_in_russian(client, lavka, path):
    admin = lavka["admin"]
    admin.language = "ru"
    admin.save(update_fields=["language"])
    client.force_login(admin)
    html = _russian(client, path.format(order=lavka["order"].pk))
    # The inbox form's data: the default handoff keywords (what customers type), a working
    # hours example in JSON, Telegram's @BotFather.
    data = ("operator", "human", "mon", "BotFather", "newbot")
    assert english_words(html, data=data) == []
    if path == "/admin/accounts/user/":
        assert "4 записи" in html  # Russian plural forms, not Django's "4 users"


@pytest.mark.django_db
def test_the_same_page_in_english_for_an_english_user(client, lavka):
    operator = lavka["operator"]
    operator.language = "en"
    operator.save(update_fields=["language"])
    client.force_login(operator)
    html = client.get("/admin/inbox/", HTTP_ACCEPT_LANGUAGE="ru").content.decode()
    assert "Inbox" in html and "Входящие" not in html
    assert "Русский" in html  # the switch offers the other language
