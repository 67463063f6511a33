"""The product's server processes for the real-time benchmarks: daphne (the Procfile's server,
``crm.tests.daphne_servers.start_daphne``) or uvicorn (``uvicorn[standard]``: uvloop, httptools,
the ``websockets`` protocol), with the same environment, on a port of ``TEST_PORTS``.

uvicorn runs without its access log (daphne writes none unless asked) and without the lifespan
protocol (Django's ASGI handler has none).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from crm.tests.daphne_servers import (
    BASE_DIR,
    LOOPBACK,
    DaphneServer,
    free_port,
    server_ready,
    start_daphne,
)

SERVER_KINDS = ("daphne", "uvicorn")


def start_uvicorn(
    env: dict[str, str], *, app: str = "crm.asgi:application", ready_timeout: float = 40
) -> DaphneServer:
    port = free_port()
    log_file = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed by stop())
        "w+", prefix=f"uvicorn-{port}-", suffix=".log", delete=False
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            "--host",
            LOOPBACK,
            "--port",
            str(port),
            "--no-access-log",
            "--lifespan",
            "off",
        ],
        cwd=BASE_DIR,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    server = DaphneServer(port, process, Path(log_file.name), log_file)
    return server_ready(server, ready_timeout, "uvicorn")


def start_server(kind: str, env: dict[str, str], *, app: str) -> DaphneServer:
    if kind == "daphne":
        return start_daphne(env, app=app)
    if kind == "uvicorn":
        return start_uvicorn(env, app=app)
    raise ValueError(f"unknown server {kind!r}: one of {', '.join(SERVER_KINDS)}")
