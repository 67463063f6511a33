"""Real daphne processes on 127.0.0.1, for end-to-end tests and benchmarks/realtime_latency.py.

Each server is ``daphne crm.asgi:application`` (the Procfile's command) with the environment
given, bound to a free loopback port, its output (access log included) in a file. The server's
settings module is ``crm.settings`` unless ``CRM_SERVER_SETTINGS`` names another one.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent
LOOPBACK = "127.0.0.1"
# No proxies from the environment: every request here stays on loopback.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# Ports of TEST_PORTS this process holds: a lock file each, so that other processes (xdist
# workers, other runs) never pick the same one before its server has bound it.
_held: dict[int, object] = {}


def free_port() -> int:
    """A free loopback port: any, or one of ``TEST_PORTS`` (e.g. ``18200-18299``) when set, so
    that servers of tests, benchmarks and the fault suite stay in a range. A port of the range
    is held by the process that took it until it exits."""
    span = os.environ.get("TEST_PORTS", "")
    if not span:
        with socket.socket() as sock:
            sock.bind((LOOPBACK, 0))
            return sock.getsockname()[1]
    import fcntl
    import random

    low, _, high = span.partition("-")
    ports = list(range(int(low), int(high or low) + 1))
    first = random.randrange(len(ports))
    for port in ports[first:] + ports[:first]:
        if port in _held:
            continue
        lock = open(Path(tempfile.gettempdir()) / f"crm-test-port-{port}.lock", "w")  # noqa: SIM115
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            continue
        with socket.socket() as sock:
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                lock.close()
                continue
        _held[port] = lock
        return port
    raise RuntimeError(f"no free port in TEST_PORTS={span}")


@dataclass
class DaphneServer:
    port: int
    process: subprocess.Popen
    log_path: Path
    _log_file: object = field(repr=False, default=None)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{LOOPBACK}:{self.port}/ws/"

    @property
    def origin(self) -> str:
        return self.url

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """Die without closing anything (SIGKILL), like a crashed process."""
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()
        if self._log_file is not None:
            self._log_file.close()
            self.log_path.unlink(missing_ok=True)
            self._log_file = None


def server_environment(
    *, database_url: str, redis_url: str, key_prefix: str, **extra: str
) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DJANGO_SETTINGS_MODULE", "PYTEST_XDIST_WORKER")
    }
    env.update(
        DJANGO_SETTINGS_MODULE=os.environ.get("CRM_SERVER_SETTINGS", "crm.settings"),
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        REDIS_KEY_PREFIX=key_prefix,
        DEBUG="false",
        ALLOWED_HOSTS=f"{LOOPBACK},localhost",
        PYTHONUNBUFFERED="1",
        DATABASE_POOL_MIN_SIZE="1",
        DATABASE_POOL_MAX_SIZE="8",
    )
    env.update(extra)
    return env


def start_daphne(
    env: dict[str, str],
    *,
    app: str = "crm.asgi:application",
    ready_timeout: float = 40,
    port: int | None = None,
    graceful: bool = False,
) -> DaphneServer:
    """``graceful``: the Procfile's ``python -m crm.server`` (daphne that drains on SIGTERM)
    instead of plain ``daphne``."""
    port = port or free_port()
    log_file = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed by stop())
        "w+", prefix=f"daphne-{port}-", suffix=".log", delete=False
    )
    daphne = Path(sys.executable).with_name("daphne")
    command = [sys.executable, "-m", "crm.server"] if graceful else [str(daphne)]
    process = subprocess.Popen(
        [*command, "-b", LOOPBACK, "-p", str(port), app],
        cwd=BASE_DIR,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    server = DaphneServer(port, process, Path(log_file.name), log_file)
    return server_ready(server, ready_timeout, "daphne")


def server_ready(server: DaphneServer, ready_timeout: float, name: str) -> DaphneServer:
    """``server`` once its /health answers 200; stopped, with its log in the error, when it
    exits or does not answer within ``ready_timeout`` seconds."""
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            break
        with contextlib.suppress(OSError):
            if http_json("GET", f"{server.url}/health", timeout=1)[0] == 200:
                return server
        time.sleep(0.2)
    output = server.log()[-3000:]
    server.stop()
    raise RuntimeError(f"{name} on port {server.port} did not start:\n{output}")


def http_json(
    method: str, url: str, body: dict | None = None, *, token: str | None = None, timeout=10
) -> tuple[int, dict]:
    """One JSON request; returns (status, body)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with _opener.open(request, timeout=timeout) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        raw, status = error.read(), error.code
    try:
        return status, json.loads(raw) if raw else {}
    except ValueError:
        return status, {"raw": raw[:200].decode(errors="replace")}
