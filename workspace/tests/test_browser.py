"""The conversation list and the dashboard in a real browser (Debian's Chromium through
Playwright) against a real daphne server, with customers writing over the API.

Marked ``browser``: skipped without Chromium on a developer machine, a failure in CI.
"""

from __future__ import annotations

import pytest

from chats.tests.test_browser import _login
from crm.tests.browser import ADMIN, PASSWORD
from crm.tests.daphne_servers import http_json

# The fixtures ``server`` and ``browser`` come from crm.tests.browser (loaded in conftest.py).

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FITS = "() => document.documentElement.scrollWidth <= window.innerWidth"


def _customer(server, email: str, name: str) -> tuple[str, int]:
    status, body = http_json(
        "POST",
        f"{server.url}/api/auth/register",
        {"email": email, "password": PASSWORD, "name": name, "organization": "acme"},
    )
    assert status == 201, body
    token = body["access"]
    status, chat = http_json("GET", f"{server.url}/api/chats/my-chat", token=token)
    assert status == 200, chat
    return token, chat["id"]


def _say(server, token: str, chat_id: int, text: str) -> None:
    status, body = http_json(
        "POST", f"{server.url}/api/chats/{chat_id}/messages", {"text": text}, token=token
    )
    assert status == 201, body


def _sign_in(page, server) -> None:
    page.goto(f"{server.url}/admin/login/?next=/admin/")
    page.fill("#id_username", ADMIN)
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(f"{server.url}/admin/")


def _live(page) -> None:
    page.wait_for_selector("#live-state[data-state=open]", timeout=15000)


def test_the_inbox_list_is_live(server, browser):
    admin = _login(server, ADMIN)
    status, me = http_json("GET", f"{server.url}/api/auth/me", token=admin)
    assert status == 200
    anna, anna_chat = _customer(server, "anna@example.com", "Anna Early")
    _say(server, anna, anna_chat, "Hello, anyone?")

    context = browser.new_context(viewport={"width": 1366, "height": 900})
    errors: list[str] = []
    waiting = context.new_page()
    waiting.on("pageerror", lambda exc: errors.append(str(exc)))
    _sign_in(waiting, server)
    waiting.goto(f"{server.url}/admin/inbox/?tab=unassigned")
    _live(waiting)
    mine = context.new_page()
    mine.on("pageerror", lambda exc: errors.append(str(exc)))
    mine.goto(f"{server.url}/admin/inbox/?tab=mine")
    _live(mine)
    dashboard = context.new_page()
    dashboard.on("pageerror", lambda exc: errors.append(str(exc)))
    dashboard.goto(f"{server.url}/admin/")
    dashboard.wait_for_selector("#dashboard-cards[data-ready=true]", timeout=15000)
    assert dashboard.locator("[data-number=unassigned]").inner_text() == "1"
    assert waiting.locator("li.row").count() == 1
    assert mine.locator("li.row").count() == 0
    assert mine.locator("#empty").is_visible()

    # A new customer writes: the conversation appears at the top, unread, without a reload.
    waiting.evaluate("() => { window.sameDocument = true; }")
    ben, ben_chat = _customer(server, "ben@example.com", "Ben Newcomer")
    _say(server, ben, ben_chat, "My parcel never arrived")
    top = waiting.locator("li.row").first
    top.locator(".row-name", has_text="Ben Newcomer").wait_for(timeout=10000)
    top.locator(".row-preview", has_text="My parcel never arrived").wait_for(timeout=10000)
    top.locator(".unread-badge:not([hidden])", has_text="1").wait_for(timeout=10000)
    # The tab title counts new customer messages in Mine and Unassigned (for a few seconds
    # when the page is in view, until looked at otherwise).
    waiting.wait_for_function("() => document.title.startsWith('(')", timeout=5000)
    dashboard.wait_for_function(
        "() => document.querySelector('[data-number=unassigned]').textContent === '2'",
        timeout=10000,
    )
    dashboard.locator("#dashboard-unassigned li.row", has_text="Ben Newcomer").wait_for(
        timeout=10000
    )
    assert waiting.locator("li.row").count() == 2
    waiting.wait_for_function(
        "() => document.querySelector('[data-count=unassigned]').textContent.trim() === '2'",
        timeout=10000,
    )

    # The earlier customer writes again: their row moves back to the top, two unread.
    _say(server, anna, anna_chat, "Hello again, it is urgent")
    waiting.wait_for_function(
        "() => document.querySelector('li.row .row-name').textContent.includes('Anna Early')",
        timeout=10000,
    )
    first = waiting.locator("li.row").first
    first.locator(".unread-badge", has_text="2").wait_for(timeout=10000)
    first.locator(".row-preview", has_text="Hello again, it is urgent").wait_for(timeout=10000)

    # Assigned over the API: the row leaves Unassigned and arrives in Mine, counts follow.
    status, body = http_json(
        "POST",
        f"{server.url}/api/chats/{ben_chat}/assign",
        {"operator_id": me["id"]},
        token=admin,
    )
    assert status == 200, body
    waiting.locator(f"li.row[data-chat-id='{ben_chat}']").wait_for(state="detached", timeout=10000)
    row = mine.locator(f"li.row[data-chat-id='{ben_chat}']")
    row.wait_for(timeout=10000)
    row.locator(".assignee", has_text="You").wait_for(timeout=10000)
    row.locator(".unread-badge:not([hidden])", has_text="1").wait_for(timeout=10000)
    assert mine.locator("#empty").is_hidden()
    mine.wait_for_function(
        "() => document.querySelector('[data-count=mine]').textContent.trim() === '1'",
        timeout=10000,
    )
    # The dashboard followed: one waiting (Anna), one open chat of mine (Ben).
    dashboard.wait_for_function(
        "() => document.querySelector('[data-number=my_open]').textContent === '1' && "
        "document.querySelector('[data-number=unassigned]').textContent === '1' && "
        "document.querySelectorAll('#dashboard-unassigned li.row').length === 1",
        timeout=10000,
    )
    assert "Anna Early" in dashboard.locator("#dashboard-unassigned").inner_text()
    # Reading the chat clears the badge live.
    status, _ = http_json("POST", f"{server.url}/api/chats/{ben_chat}/read", {}, token=admin)
    assert status == 200
    row.locator(".unread-badge[hidden]").wait_for(state="attached", timeout=10000)
    # Ben writes again: still not Unassigned's, and that page knows without asking.
    asked: list[str] = []
    waiting.on("request", lambda request: asked.append(request.url))
    _say(server, ben, ben_chat, "Thanks for taking it")
    row.locator(".row-preview", has_text="Thanks for taking it").wait_for(timeout=10000)
    waiting.wait_for_timeout(500)
    assert waiting.locator(f"li.row[data-chat-id='{ben_chat}']").count() == 0
    assert not [url for url in asked if f"/api/chats/{ben_chat}" in url], asked
    # Offline while a customer writes: after reconnecting, the list fetches its first page
    # again and shows what it missed.
    waiting.evaluate(
        """async () => {
            const src = document.querySelector('script[src*="inbox"]').src;
            const { realtime } = await import(new URL('./session.js', src));
            window.rt = realtime;
            realtime.close();
        }"""
    )
    waiting.wait_for_function("() => !window.rt.connected", timeout=5000)
    cleo, cleo_chat = _customer(server, "cleo@example.com", "Cleo Offline")
    _say(server, cleo, cleo_chat, "Written while you were away")
    waiting.wait_for_timeout(500)
    assert waiting.locator(f"li.row[data-chat-id='{cleo_chat}']").count() == 0
    waiting.evaluate("() => window.rt.connect()")
    missed = waiting.locator(f"li.row[data-chat-id='{cleo_chat}']")
    missed.locator(".row-preview", has_text="Written while you were away").wait_for(timeout=10000)
    assert waiting.locator("li.row").first.get_attribute("data-chat-id") == str(cleo_chat)
    # Still the same documents: nothing was reloaded.
    assert waiting.evaluate("() => window.sameDocument") is True
    # Keyboard: j and k walk the rows, / goes to the search.
    waiting.bring_to_front()
    waiting.keyboard.press("j")
    assert waiting.evaluate("() => document.activeElement.closest('li.row').dataset.chatId") == (
        str(cleo_chat)
    )
    waiting.keyboard.press("/")
    assert waiting.evaluate("() => document.activeElement.name") == "q"
    # The sound switch is remembered by the browser.
    toggle = mine.locator("button.sound-toggle")
    assert toggle.get_attribute("aria-pressed") == "false"
    toggle.click()
    assert toggle.get_attribute("aria-pressed") == "true"
    mine.reload()
    assert mine.locator("button.sound-toggle").get_attribute("aria-pressed") == "true"
    assert mine.evaluate("() => localStorage.getItem('crm.workspace.sound')") == "on"
    assert errors == []
    context.close()


def test_the_list_and_the_dashboard_fit_a_phone(server, browser):
    anna, anna_chat = _customer(server, "anna@example.com", "Anna Verylongname-Withasurname")
    _say(server, anna, anna_chat, "A rather long first message " * 8)
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    _sign_in(page, server)
    page.wait_for_selector("#dashboard-cards[data-ready=true]", timeout=15000)
    assert page.locator(".card-stat").count() == 5
    assert page.evaluate(FITS), page.evaluate("() => document.documentElement.scrollWidth")
    page.goto(f"{server.url}/admin/inbox/?tab=all")
    _live(page)
    assert page.locator("li.row").count() == 1
    assert page.evaluate(FITS), page.evaluate("() => document.documentElement.scrollWidth")
    # The customer opens the cabinet: a green dot on their avatar, gone when they leave.
    cabinet = browser.new_context(viewport={"width": 390, "height": 844})
    customer = cabinet.new_page()
    customer.goto(f"{server.url}/login/")
    customer.fill("input[name=email]", "anna@example.com")
    customer.fill("input[name=password]", PASSWORD)
    customer.click("main button[type=submit]")
    customer.goto(f"{server.url}/chat/")
    page.wait_for_selector("li.row .avatar.is-online", timeout=15000)
    cabinet.close()
    page.wait_for_selector("li.row .avatar:not(.is-online)", timeout=15000)
    page.goto(f"{server.url}/admin/chats/chat/")
    assert page.evaluate(FITS), page.evaluate("() => document.documentElement.scrollWidth")
    context.close()
