"""A daphne of the app on the embedded default (SQLite file, in-memory layer, no Redis), for
tests that need a real server: python-socketio's client speaks HTTP and WebSocket to it.

The database is its own SQLite file, migrated and seeded by ``manage.py`` before the server
starts (the test process's database is another one): ``seeded_server`` returns the server and
what the seed made (ids and access tokens).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from crm.tests.daphne_servers import BASE_DIR, LOOPBACK, DaphneServer, free_port, start_daphne

SEED = r"""
import json
from accounts.models import Role
from accounts.tests.factories import OrganizationFactory, UserFactory
from chats.tests.factories import internal_chat, support_chat
from rest_framework_simplejwt.tokens import AccessToken

acme = OrganizationFactory(slug="acme", name="Acme")
globex = OrganizationFactory(slug="globex", name="Globex")
users = {
    "admin": UserFactory(organization=acme, role=Role.ADMIN, name="Anna"),
    "operator": UserFactory(organization=acme, role=Role.OPERATOR, name="Boris"),
    "customer": UserFactory(organization=acme, role=Role.CUSTOMER, name="Carl"),
    "other_customer": UserFactory(organization=globex, role=Role.CUSTOMER, name="Xena"),
    "leaver": UserFactory(organization=acme, role=Role.OPERATOR, name="Lev"),
}
chats = {
    "support": support_chat(users["customer"]),
    "foreign": support_chat(users["other_customer"]),
    "direct": internal_chat("direct", [users["admin"], users["operator"]]),
}
print(json.dumps({
    "users": {k: {"id": u.pk, "token": str(AccessToken.for_user(u))} for k, u in users.items()},
    "chats": {k: c.pk for k, c in chats.items()},
}))
"""


def embedded_environment(sqlite_path: str, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DJANGO_SETTINGS_MODULE", "PYTEST_XDIST_WORKER", "DATABASE_URL", "REDIS_URL")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="crm.settings",
        SQLITE_PATH=sqlite_path,
        DEBUG="false",
        ALLOWED_HOSTS=f"{LOOPBACK},localhost",
        PYTHONUNBUFFERED="1",
        LOG_LEVEL="WARNING",
        PRESENCE_HEARTBEAT_SECONDS="1",
        PRESENCE_TIMEOUT_SECONDS="3",
        # A long-poll answers within this long: polling clients close without a wait.
        SOCKETIO_PING_INTERVAL="2",
        SOCKETIO_PING_TIMEOUT="5",
    )
    env.update(extra)
    return env


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode:
        raise RuntimeError(f"manage.py {args[0]} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


@contextlib.contextmanager
def seeded_server(**extra: str):
    """``(server, seed)``: a daphne on the embedded default with the seed's data."""
    directory = tempfile.mkdtemp(prefix="crm-embedded-")
    sqlite_path = str(Path(directory) / "db.sqlite3")
    env = embedded_environment(sqlite_path, **extra)
    _manage(env, "migrate", "--noinput", "-v0")
    output = _manage(env, "shell", "-v0", "-c", SEED)
    seed = json.loads(output.strip().splitlines()[-1])
    server: DaphneServer = start_daphne(env, port=free_port())
    try:
        yield server, seed
    finally:
        server.stop()
        for path in Path(directory).iterdir():
            path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            Path(directory).rmdir()
