"""Private parts for fault tests: a ``redis-server`` on its own port and a PostgreSQL database
of its own that can be made to refuse connections. Never the machine's shared Redis on 6379,
never another database."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

from crm.tests.daphne_servers import BASE_DIR, free_port

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class PrivateRedis:
    """``redis-server`` on a free loopback port, started and stopped at will (same port)."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix=f"crm-redis-{self.port}-")
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
                "--protected-mode",
                "no",
            ],  # fmt: skip
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                if redis.Redis(port=self.port, socket_connect_timeout=0.5).ping():
                    return
            time.sleep(0.05)
        raise RuntimeError(f"redis-server on port {self.port} did not start")

    def stop(self) -> None:
        """Stop the server (its data goes with it, as after a crash without persistence)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def admin_url() -> str:
    """Where to create databases: ``FAULTS_PG_URL``, else the server of ``DATABASE_URL``,
    else the local server as ``root``."""
    url = os.environ.get("FAULTS_PG_URL") or os.environ.get("DATABASE_URL") or ""
    if not url.startswith("postgres"):
        url = "postgres://root@127.0.0.1:5432/postgres"
    parts = urlsplit(url)
    return parts._replace(path="/postgres").geturl()


class PrivateDatabase:
    """A PostgreSQL database of its own, migrated, that can refuse every connection."""

    def __init__(self, server_url: str | None = None, name: str | None = None):
        self.server_url = server_url or admin_url()
        self.name = name or f"crm_faults_{uuid.uuid4().hex[:10]}"

    @property
    def url(self) -> str:
        return urlsplit(self.server_url)._replace(path=f"/{self.name}").geturl()

    def _admin(self, sql: str, *params) -> None:
        import psycopg

        with psycopg.connect(self.server_url, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql, params)

    def create(self, env: dict[str, str]) -> None:
        self._admin(f'CREATE DATABASE "{self.name}"')
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
            cwd=BASE_DIR,
            env={**env, "DATABASE_URL": self.url},
            check=True,
        )

    def refuse(self) -> None:
        """Cut every connection to the database and refuse new ones."""
        self._admin(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false')
        self._admin(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            self.name,
        )

    def allow(self) -> None:
        self._admin(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')

    def drop(self) -> None:
        with contextlib.suppress(Exception):
            self.allow()
        self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def seed(env: dict[str, str], *, tenants: int, customers: int) -> list[dict]:
    """Organizations with one operator and ``customers`` customers with a support chat each,
    made by ``faults.seed`` in the stack's database; returns their ids and access tokens."""
    result = subprocess.run(
        [sys.executable, "-m", "faults.seed", str(tenants), str(customers)],
        cwd=BASE_DIR,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def database_count(url: str, sql: str, *params) -> list[tuple]:
    import psycopg

    with psycopg.connect(url, connect_timeout=5) as conn:
        return conn.execute(sql, params).fetchall()


__all__ = ["BASE_DIR", "Path", "PrivateDatabase", "PrivateRedis", "database_count", "seed"]
