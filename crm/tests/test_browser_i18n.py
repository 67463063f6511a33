"""Switching the language in a real browser (Debian's Chromium through Playwright) against a
real daphne server: the cabinet and the workspace change language, the scripts speak it too
(their JSON catalog, Intl plural rules), and nothing overflows a phone's width in Russian.

Marked ``browser``: skipped without Chromium on a developer machine, a failure in CI.
"""

from __future__ import annotations

import pytest

from crm.tests.browser import ADMIN, PASSWORD
from crm.tests.daphne_servers import http_json
from crm.tests.test_i18n_pages import english_words

# The fixtures ``server`` and ``browser`` come from crm.tests.browser (loaded in conftest.py).
pytestmark = [pytest.mark.browser, pytest.mark.slow]

FITS = "() => document.documentElement.scrollWidth <= window.innerWidth"
PLURALS = """() => import("/static/crm/i18n.js").then((m) => [1, 2, 5, 21].map((n) =>
  m.interpolate(m.ngettext("%(count)s unread message", "%(count)s unread messages", n),
                { count: n })))"""


def test_the_cabinet_switches_to_russian_and_back(server, browser):
    context = browser.new_context(viewport={"width": 390, "height": 800}, locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto(f"{server.url}/login/")
    assert page.locator("main h1").inner_text() == "Sign in"
    page.click(".lang-switch button[data-language=ru]")
    page.wait_for_selector("html[lang=ru]")
    assert page.locator("main h1").inner_text() == "Войти"
    assert page.evaluate(FITS)

    # Registered in Russian, the live chat's script speaks Russian too.
    page.goto(f"{server.url}/register/?organization=acme")
    assert page.locator("main h1").inner_text() == "Создайте аккаунт"
    page.fill("input[name=name]", "Ира Клиентова")
    page.fill("input[name=email]", "ira@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{server.url}/chat/")
    page.wait_for_selector("#status:has-text('Подключено')", timeout=15000)
    assert page.get_attribute("#text", "placeholder") == "Сообщение…"
    page.fill("#text", "Здравствуйте! Где мой заказ?")
    page.keyboard.press("Enter")
    page.locator("li.msg.mine .tick", has_text="Отправлено").wait_for(timeout=10000)
    assert page.evaluate(FITS)
    assert page.evaluate(PLURALS) == [
        "1 непрочитанное сообщение",
        "2 непрочитанных сообщения",
        "5 непрочитанных сообщений",
        "21 непрочитанное сообщение",
    ]

    # Back to English: the choice is kept on the account.
    page.click(".lang-switch button[data-language=en]")
    page.wait_for_selector("html[lang=en]")
    page.wait_for_selector("#status:has-text('Connected')", timeout=15000)
    token = server.login("ira@example.com")
    status, me = http_json("GET", f"{server.url}/api/auth/me", token=token)
    assert status == 200 and me["language"] == "en"
    assert errors == []


@pytest.mark.parametrize("width", [1280, 390])
def test_the_workspace_switches_to_russian(server, browser, width):
    admin = server.login(ADMIN)
    status, customer = http_json(
        "POST",
        f"{server.url}/api/auth/register",
        {"email": "ivan@example.com", "password": PASSWORD, "name": "Иван", "organization": "acme"},
    )
    assert status == 201, customer
    status, chat = http_json("GET", f"{server.url}/api/chats/my-chat", token=customer["access"])
    status, _sent = http_json(
        "POST",
        f"{server.url}/api/chats/{chat['id']}/messages",
        {"text": "Добрый день! Как оформить возврат?"},
        token=customer["access"],
    )
    assert status == 201

    context = browser.new_context(viewport={"width": width, "height": 900}, locale="en-US")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{server.url}/admin/login/?next=/admin/inbox/")
    page.fill("#id_username", ADMIN)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{server.url}/admin/inbox/")
    assert page.locator(".inbox-title h1").inner_text() == "Inbox"
    page.wait_for_selector("#live-state[data-state=open]", timeout=15000)

    page.click("#user-tools .lang-switch button[data-language=ru]")
    page.wait_for_selector("html[lang=ru]")
    assert page.locator(".inbox-title h1").inner_text() == "Входящие"
    page.wait_for_selector("#live-state[data-state=open]", timeout=15000)
    assert page.locator("#live-state .live-label").inner_text() == "В реальном времени"
    assert page.evaluate(FITS)
    # What the scripts rendered too (rows, labels): Russian only. "Website" and "Acme" are the
    # English organization's own names (its web inbox was created in English).
    data = ("Website", "Acme", "Admin")
    assert english_words(page.content(), data=data) == []
    status, me = http_json("GET", f"{server.url}/api/auth/me", token=admin)
    assert me["language"] == "ru"  # kept on the account

    # The conversation page: the script's labels and dates in Russian.
    page.goto(f"{server.url}/admin/inbox/{chat['id']}/")
    page.wait_for_function("() => window.__cvReady === true", timeout=15000)
    assert page.locator("#cv-assignee").inner_text() == "Никто не назначен"
    assert page.locator("#cv-send").inner_text() == "Отправить"
    page.click(".cv-mode[data-mode=note]")
    assert page.locator("#cv-send").inner_text() == "Добавить заметку"
    assert page.evaluate(FITS)
    assert english_words(page.content(), data=data) == []
    assert errors == []
