"""The conversation page of a WhatsApp chat in a real browser (Debian's Chromium, Playwright,
a real daphne server, the Graph API stand-in): the closed window's banner, the composer that
refuses replies but takes notes, the template form, and the countdown once the customer writes.
Screenshots at 1280 and 390 px go to the test's tmp directory."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
import uuid

import pytest

from connectors.conftest import WA_NUMBER_ID, WA_SECRET, WA_TOKEN, wa_message, wa_payload
from connectors.standins.whatsapp import GraphStandIn
from connectors.whatsapp import signature_of
from crm.tests.browser import ADMIN, PASSWORD, database_for_server
from crm.tests.daphne_servers import BASE_DIR, http_json, server_environment, start_daphne
from workspace.tests.test_browser_conversation import staff_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SERVER_PORT = 18150
GRAPH_PORT = 18151


@pytest.fixture
def graph_server():
    with GraphStandIn(GRAPH_PORT, tokens={WA_TOKEN}) as graph:
        yield graph


@pytest.fixture
def server(tmp_path, graph_server):
    """The shared browser server's setup, on this module's port, with the Graph stand-in."""
    from django.conf import settings

    database_url, extra, drop = database_for_server(tmp_path)
    env = server_environment(
        database_url=database_url,
        redis_url=settings.REDIS_URL or "",
        key_prefix=f"crmbrowser:{uuid.uuid4().hex[:8]}",
        MEDIA_ROOT=str(tmp_path / "media"),
        WHATSAPP_API_URL=graph_server.url,
        # The page is what is tested: webhook deliveries and sends run in the server process
        # (the worker's part is covered by the connector tests).
        CELERY_TASK_ALWAYS_EAGER="true",
        **extra,
    )
    manage = [sys.executable, "manage.py"]
    subprocess.run(
        [*manage, "migrate", "--noinput", "-v0"], cwd=BASE_DIR, env=env, check=True, timeout=300
    )
    subprocess.run(
        [*manage, "create_organization", "acme", "--name", "Acme"]
        + ["--admin-email", ADMIN, "--admin-password", PASSWORD],
        cwd=BASE_DIR,
        env=env,
        check=True,
        timeout=120,
    )
    daphne = start_daphne(env, port=SERVER_PORT)
    try:
        yield daphne
    finally:
        daphne.stop()
        drop()


def _webhook(url: str, inbox_id: int, payload: dict) -> int:
    body = json.dumps(payload).encode()
    request = urllib.request.Request(
        f"{url}/api/webhooks/whatsapp/{inbox_id}",
        data=body,
        headers={
            "Content-Type": "application/json",
            "X-Hub-Signature-256": signature_of(body, WA_SECRET),
        },
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def test_the_closed_window_banner_notes_and_the_template_picker(
    server, graph_server, browser, tmp_path
):
    status, login = http_json(
        "POST", f"{server.url}/api/auth/login", {"email": ADMIN, "password": PASSWORD}
    )
    assert status == 200, login
    token = login["access"]
    status, inbox = http_json(
        "POST",
        f"{server.url}/api/inboxes",
        {
            "kind": "whatsapp",
            "name": "WhatsApp",
            "phone_number_id": WA_NUMBER_ID,
            "access_token": WA_TOKEN,
            "app_secret": WA_SECRET,
            "auto_assign": False,
        },
        token=token,
    )
    assert status == 201, inbox
    old = int(time.time()) - 25 * 3600
    assert _webhook(server.url, inbox["id"], wa_payload(wa_message(text="Hello?", timestamp=old)))
    chats = []
    for _ in range(50):
        status, listed = http_json("GET", f"{server.url}/api/chats?kind=support", token=token)
        chats = listed["results"]
        if chats:
            break
        time.sleep(0.2)
    chat = chats[0]

    page = staff_page(server, browser, ADMIN, chat["id"], width=1280)
    banner = page.locator("#cv-window")
    banner.wait_for(state="visible")
    assert banner.get_attribute("data-state") == "closed"
    assert "24 hours" in page.locator("#cv-window-text").inner_text()
    assert page.locator("#cv-text").is_disabled() and page.locator("#cv-send").is_disabled()
    page.screenshot(path=str(tmp_path / "whatsapp-closed-1280.png"))

    # a private note still goes in
    page.click(".cv-mode[data-mode=note]")
    assert not page.locator("#cv-text").is_disabled()
    page.fill("#cv-text", "Customer asked on Monday")
    page.keyboard.press("Enter")
    page.locator("#cv-messages li", has_text="Customer asked on Monday").wait_for()
    page.click(".cv-mode[data-mode=reply]")
    assert page.locator("#cv-text").is_disabled()

    # the template picker
    page.click("#cv-template-open")
    page.fill("#cv-template input[name=name]", "order_update")
    page.fill("#cv-template input[name=language]", "en_US")
    page.fill("#cv-template textarea[name=parameters]", "#1042\ntoday")
    page.screenshot(path=str(tmp_path / "whatsapp-template-1280.png"))
    page.click("#cv-template button[type=submit]")
    page.locator("#cv-messages li", has_text="order_update").wait_for()
    [call] = graph_server.wait_for_calls("messages", 1)
    assert call.body["type"] == "template"
    assert call.body["template"]["name"] == "order_update"
    page.locator("#cv-template").wait_for(state="hidden")

    # the customer answers: the window opens and counts down
    assert _webhook(server.url, inbox["id"], wa_payload(wa_message(text="Thanks!")))
    page.wait_for_function(
        "() => document.getElementById('cv-window').dataset.state === 'open'", timeout=10000
    )
    assert "left" in page.locator("#cv-window-text").inner_text()
    assert not page.locator("#cv-text").is_disabled()
    assert not page.errors

    phone = staff_page(server, browser, ADMIN, chat["id"], width=390)
    phone.locator("#cv-window").wait_for(state="visible")
    phone.click("#cv-template-open")
    phone.screenshot(path=str(tmp_path / "whatsapp-390.png"), full_page=True)
    width = phone.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 390, width
