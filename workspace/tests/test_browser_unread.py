"""Unread counters in a real browser (Debian's Chromium through Playwright) against a real
daphne server: the server sends no unread:updated for a customer's message, the operator's
inbox badge and nav total rise from message:new, and fall when the chat is opened (the read's
unread:updated reaching every tab of the operator).

Marked ``browser``: skipped without Chromium on a developer machine, a failure in CI.
"""

from __future__ import annotations

import contextlib
import json

import pytest

from crm.tests.daphne_servers import http_json
from workspace.tests.test_browser import _customer, _live, _say, _sign_in

# The fixtures ``server`` and ``browser`` come from crm.tests.browser (loaded in conftest.py).

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _frame_types(page) -> list[str]:
    """The types of the frames the page's WebSocket receives, as they arrive."""
    types: list[str] = []

    def on_socket(socket):
        def on_frame(payload):
            with contextlib.suppress(TypeError, ValueError, KeyError):
                types.append(json.loads(payload)["type"])

        socket.on("framereceived", on_frame)

    page.on("websocket", on_socket)
    return types


def _nav_total(page, expected: str) -> None:
    page.wait_for_function(
        "(n) => { const el = document.querySelector('.nav-count[data-unread-total]');"
        " return n === '' ? el.hidden : !el.hidden && el.textContent === n; }",
        arg=expected,
        timeout=10000,
    )


def test_counters_rise_from_message_new_and_fall_when_the_chat_is_opened(server, browser):
    anna, chat = _customer(server, "anna@example.com", "Anna Early")
    _say(server, anna, chat, "Hello, anyone?")

    context = browser.new_context(viewport={"width": 1366, "height": 900})
    errors: list[str] = []
    inbox = context.new_page()
    inbox.on("pageerror", lambda exc: errors.append(str(exc)))
    frames = _frame_types(inbox)
    _sign_in(inbox, server)
    inbox.goto(f"{server.url}/admin/inbox/?tab=all")
    _live(inbox)
    row = inbox.locator(f"li.row[data-chat-id='{chat}']")
    row.locator(".unread-badge:not([hidden])", has_text="1").wait_for(timeout=10000)
    # The nav total came with connection:established.
    _nav_total(inbox, "1")
    assert "connection:established" in frames

    # The customer writes twice: both counters rise from message:new alone.
    _say(server, anna, chat, "Is my order on its way?")
    _say(server, anna, chat, "Order 1042")
    row.locator(".unread-badge:not([hidden])", has_text="3").wait_for(timeout=10000)
    _nav_total(inbox, "3")
    assert frames.count("message:new") >= 2
    assert "unread:updated" not in frames

    # Opening the chat in a second tab reads it: both tabs' counters fall.
    conversation = context.new_page()
    conversation.on("pageerror", lambda exc: errors.append(str(exc)))
    conversation.goto(f"{server.url}/admin/inbox/{chat}/")
    conversation.wait_for_function("() => window.__cvReady === true", timeout=15000)
    _nav_total(conversation, "")
    row.locator(".unread-badge[hidden]").wait_for(state="attached", timeout=10000)
    _nav_total(inbox, "")
    assert "unread:updated" in frames

    # A message into the open, visible conversation is read there at once: its nav total never
    # shows it; the inbox tab counts it, then hears the read.
    conversation.evaluate(
        "() => { window.totals = []; new MutationObserver(() => window.totals.push("
        "document.documentElement.dataset.unreadShown)).observe(document.documentElement,"
        " {attributes: true, attributeFilter: ['data-unread-shown']}); }"
    )
    _say(server, anna, chat, "Thanks!")
    conversation.locator("#cv-messages", has_text="Thanks!").wait_for(timeout=10000)
    inbox.locator(f"li.row[data-chat-id='{chat}'] .row-preview", has_text="Thanks!").wait_for(
        timeout=10000
    )
    _nav_total(inbox, "")
    row.locator(".unread-badge[hidden]").wait_for(state="attached", timeout=10000)
    conversation.wait_for_timeout(300)
    assert "1" not in conversation.evaluate("() => window.totals")
    _nav_total(conversation, "")

    # With the conversation closed, a message the customer deletes again lowers the counters:
    # one heard here (known unread), then one sent before the page loaded (asked of the server).
    conversation.close()
    oops = _send(server, anna, chat, "Oops, wrong chat")
    row.locator(".unread-badge:not([hidden])", has_text="1").wait_for(timeout=10000)
    _nav_total(inbox, "1")
    _delete(server, anna, oops)
    row.locator(".unread-badge[hidden]").wait_for(state="attached", timeout=10000)
    _nav_total(inbox, "")
    earlier = _send(server, anna, chat, "Sent before the reload")
    inbox.reload()
    _live(inbox)
    _nav_total(inbox, "1")
    _delete(server, anna, earlier)
    row.locator(".unread-badge[hidden]").wait_for(state="attached", timeout=10000)
    _nav_total(inbox, "")
    assert errors == []


def _send(server, token: str, chat_id: int, text: str) -> int:
    status, body = http_json(
        "POST", f"{server.url}/api/chats/{chat_id}/messages", {"text": text}, token=token
    )
    assert status == 201, body
    return body["id"]


def _delete(server, token: str, message_id: int) -> None:
    status, body = http_json("DELETE", f"{server.url}/api/messages/{message_id}", token=token)
    assert status in (200, 204), (status, body)
