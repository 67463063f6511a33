"""What the browser tests share: a real daphne server on a database of its own (a SQLite file,
or a new PostgreSQL database on the services run) with an organization ``acme`` and its admin,
and Debian's headless Chromium driven by Playwright.

Use the fixtures by importing them into a test module: ``from crm.tests.browser import browser,
server``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from unittest import mock

import pytest

from crm.tests import daphne_servers
from crm.tests.daphne_servers import BASE_DIR, http_json, server_environment, start_daphne

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PASSWORD = "a-Long-pass-77"
ADMIN = "boss@acme.example"


def database_for_server(tmp_path) -> tuple[str, dict[str, str], Callable[[], None]]:
    """A fresh database the server process owns: SQLite file, or a new PostgreSQL database."""
    from django.conf import settings

    default = settings.DATABASES["default"]
    if default["ENGINE"].endswith("sqlite3"):
        return "", {"SQLITE_PATH": str(tmp_path / "browser.sqlite3")}, lambda: None
    import psycopg

    name = f"crm_browser_{uuid.uuid4().hex[:10]}"
    params = {
        "host": default["HOST"] or "127.0.0.1",
        "port": default["PORT"] or 5432,
        "user": default["USER"],
        "dbname": "postgres",
    }
    with psycopg.connect(**params, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(**params, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    url = f"postgres://{params['user']}@{params['host']}:{params['port']}/{name}"
    return url, {}, drop


class BrowserServer:
    """A daphne process that can be stopped and started again on the same port."""

    def __init__(self, env: dict[str, str]):
        self.env = env
        self.daphne = start_daphne(env)

    @property
    def url(self) -> str:
        return self.daphne.url

    def restart(self, between: Callable[[], None] | None = None) -> None:
        port = self.daphne.port
        self.daphne.stop()
        if between is not None:
            between()
        with mock.patch.object(daphne_servers, "free_port", return_value=port):
            self.daphne = start_daphne(self.env)

    def manage(self, *args: str, timeout: int = 120) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR,
            env=self.env,
            check=True,
            timeout=timeout,
            capture_output=True,
            text=True,
        )
        return done.stdout

    def login(self, email: str) -> str:
        status, body = http_json(
            "POST", f"{self.url}/api/auth/login", {"email": email, "password": PASSWORD}
        )
        assert status == 200, body
        return body["access"]

    def call(self, method: str, path: str, body=None, *, token: str) -> dict:
        status, answer = http_json(method, f"{self.url}{path}", body, token=token)
        assert status < 300, (status, answer)
        return answer


@pytest.fixture
def server(tmp_path):
    """A migrated server with the organization ``acme`` whose admin is ``ADMIN``."""
    from django.conf import settings

    database_url, extra, drop = database_for_server(tmp_path)
    env = server_environment(
        database_url=database_url,
        redis_url=settings.REDIS_URL or "",
        key_prefix=f"crmbrowser:{uuid.uuid4().hex[:8]}",
        MEDIA_ROOT=str(tmp_path / "media"),
        **extra,
    )
    manage = [sys.executable, "manage.py"]
    subprocess.run(
        [*manage, "migrate", "--noinput", "-v0"], cwd=BASE_DIR, env=env, check=True, timeout=300
    )
    subprocess.run(
        [
            *manage,
            "create_organization",
            "acme",
            "--name",
            "Acme",
            "--admin-email",
            ADMIN,
            "--admin-password",
            PASSWORD,
        ],
        cwd=BASE_DIR,
        env=env,
        check=True,
        timeout=120,
    )
    running = BrowserServer(env)
    try:
        yield running
    finally:
        running.daphne.stop()
        drop()


@pytest.fixture
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"Chromium not found at {CHROMIUM}: `make test` installs it (Debian chromium).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
