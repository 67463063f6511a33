"""The cabinet in a real browser: headless Chromium (Debian's) driven by Playwright against a
real daphne server, with an operator answering over the API.

Marked ``browser``: skipped without Chromium on a developer machine, a failure in CI.
"""

from __future__ import annotations

import pytest

from crm.tests.browser import PASSWORD
from crm.tests.browser import database_for_server as _database_for_server  # noqa: F401
from crm.tests.daphne_servers import http_json

# The fixtures ``server`` and ``browser`` come from crm.tests.browser (loaded in conftest.py).
pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _login(server, email: str) -> str:
    return server.login(email)


def test_customer_chats_live_with_an_operator(server, browser, tmp_path):
    admin = _login(server, "boss@acme.example")
    page = browser.new_page(viewport={"width": 390, "height": 800})  # a phone
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # Register through the cabinet and land in the live chat.
    page.goto(f"{server.url}/register/?organization=acme")
    page.fill("input[name=name]", "Paula Customer")
    page.fill("input[name=email]", "paula@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{server.url}/chat/")
    page.wait_for_selector("#status:has-text('Connected')", timeout=15000)

    # The customer writes; the message is acknowledged over the socket.
    page.fill("#text", "Hello, where is my parcel?")
    page.keyboard.press("Enter")
    mine = page.locator("li.msg.mine", has_text="Hello, where is my parcel?")
    mine.wait_for(timeout=10000)
    page.wait_for_function(
        "() => !document.querySelector('li.msg.mine.pending') && "
        "document.querySelector('li.msg.mine').dataset.id < 9007199254740991",
        timeout=10000,
    )

    # The operator finds the chat over the API and answers; the answer arrives live.
    status, chats = http_json("GET", f"{server.url}/api/chats?kind=support", token=admin)
    assert status == 200 and chats["results"], chats
    chat = chats["results"][0]
    assert chat["customer"]["email"] == "paula@example.com"
    assert chat["last_message"]["text"] == "Hello, where is my parcel?"
    hostile = '<img src=x onerror="window.pwned=1">On its way!'
    status, reply = http_json(
        "POST",
        f"{server.url}/api/chats/{chat['id']}/messages",
        {"text": hostile, "client_id": "op-1"},
        token=admin,
    )
    assert status == 201, reply
    page.locator("li.msg.theirs", has_text="On its way!").wait_for(timeout=10000)
    # Shown as text, never as HTML.
    assert page.locator("#messages img").count() == 0
    assert page.evaluate("() => window.pwned") is None

    # A note never reaches the customer.
    status, _ = http_json(
        "POST",
        f"{server.url}/api/chats/{chat['id']}/messages",
        {"text": "VIP customer", "kind": "note"},
        token=admin,
    )
    assert status == 201

    # Replying means having read: the customer's first message shows as seen.
    mine.locator(".tick", has_text="Seen").wait_for(timeout=10000)

    # A new message is "Sent" until the operator reads the chat; then the receipt arrives live.
    page.fill("#text", "Thanks!")
    page.keyboard.press("Enter")
    thanks = page.locator("li.msg.mine:not(.pending)", has_text="Thanks!")
    thanks.locator(".tick", has_text="Sent").wait_for(timeout=10000)  # stored, not yet read
    status, _ = http_json("POST", f"{server.url}/api/chats/{chat['id']}/read", {}, token=admin)
    assert status == 200
    thanks.locator(".tick", has_text="Seen").wait_for(timeout=10000)

    # A photo: uploaded, attached, shown through the access-checked thumbnail URL.
    from io import BytesIO

    from PIL import Image

    buffer = BytesIO()
    Image.new("RGB", (64, 48), "#3b82f6").save(buffer, "PNG")
    page.set_input_files(
        "#file", files=[{"name": "photo.png", "mimeType": "image/png", "buffer": buffer.getvalue()}]
    )
    page.fill("#text", "Here is a photo")
    page.keyboard.press("Enter")
    photo = page.locator("li.msg.mine", has_text="Here is a photo").locator("img")
    photo.wait_for(timeout=15000)
    assert page.evaluate("(img) => img.complete && img.naturalWidth > 0", photo.element_handle())

    # The operator has one unread message: the photo sent after their read.
    page.wait_for_timeout(500)
    status, counts = http_json("GET", f"{server.url}/api/unread/counts", token=admin)
    assert status == 200 and counts["chats"].get(str(chat["id"])) == 1  # the photo

    page.screenshot(path=str(tmp_path / "chat.png"), full_page=True)
    assert "VIP customer" not in page.content()
    assert errors == []

    # After a reload the history is there, in order.
    page.reload()
    page.wait_for_selector("#status:has-text('Connected')", timeout=15000)
    texts = page.locator("li.msg .text").all_inner_texts()
    assert texts == ["Hello, where is my parcel?", hostile, "Thanks!", "Here is a photo"]


def test_customer_places_and_cancels_an_order(server, browser):
    page = browser.new_page()
    page.goto(f"{server.url}/register/?organization=acme")
    page.fill("input[name=name]", "Olaf Orders")
    page.fill("input[name=email]", "olaf@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{server.url}/chat/")

    page.goto(f"{server.url}/orders/new/")
    page.fill("input[name=title]", "Two lamps")
    page.fill("input[name=currency]", "EUR")
    page.fill("input[name=items-0-name]", "Lamp")
    page.fill("input[name=items-0-quantity]", "2")
    page.fill("input[name=items-0-unit_price]", "12.50")
    page.click("main button[type=submit]")
    page.wait_for_selector("h1:has-text('Two lamps')")
    assert "25.00 EUR" in page.inner_text("tfoot")

    page.fill("input[name=comment]", "Found them elsewhere")
    page.click("button.danger")
    page.wait_for_selector(".badge:has-text('Cancelled')")
    assert "Found them elsewhere" in page.inner_text(".history")
    page.goto(f"{server.url}/orders/")
    assert page.locator("tbody tr").count() == 1


def test_customer_sees_the_inbox_greeting_marked_as_automatic(server, browser):
    admin = _login(server, "boss@acme.example")
    status, inboxes = http_json("GET", f"{server.url}/api/inboxes", token=admin)
    assert status == 200, inboxes
    web = next(i for i in inboxes["results"] if i["kind"] == "web")
    status, body = http_json(
        "PATCH",
        f"{server.url}/api/inboxes/{web['id']}",
        {"greeting": "Hi! We usually answer within ten minutes."},
        token=admin,
    )
    assert status == 200, body

    page = browser.new_page(viewport={"width": 390, "height": 800})
    page.goto(f"{server.url}/register/?organization=acme")
    page.fill("input[name=name]", "Greta Greeted")
    page.fill("input[name=email]", "greta@example.com")
    page.fill("input[name=password]", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{server.url}/chat/")
    page.wait_for_selector("#status:has-text('Connected')", timeout=15000)
    page.fill("#text", "Do you ship to Riga?")
    page.keyboard.press("Enter")

    greeting = page.locator("li.msg.automated", has_text="within ten minutes")
    greeting.wait_for(timeout=10000)
    assert greeting.locator(".who").inner_text() == "Automatic reply"
    texts = page.locator("li.msg .text").all_inner_texts()
    assert texts == ["Do you ship to Riga?", "Hi! We usually answer within ten minutes."]
