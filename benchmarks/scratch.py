"""What the in-process page and API benchmarks share: their command line, a scratch database
beside ``DATABASE_URL``'s (filled once, reused until ``--rebuild`` or until it is found short),
and Django set up on it."""

from __future__ import annotations

import argparse
import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def parse_args(doc: str, *, requests: int, rebuild_help: str = "drop and refill the database"):
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--rebuild", action="store_true", help=rebuild_help)
    parser.add_argument("--requests", type=int, default=requests, help="timed requests each")
    parser.add_argument(
        "--budget-scale",
        type=float,
        default=float(os.environ.get("BENCH_BUDGET_SCALE", "1")),
        help="multiply every budget (slower machines)",
    )
    return parser.parse_args()


def _recreate(admin_url: str, name: str, *, drop: bool) -> bool:
    """Create the database (dropping it first with ``drop``); False when it exists and stays."""
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and not drop:
            return False
        if exists:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return True


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings")
    os.environ["DEBUG"] = "0"
    os.environ.pop("REDIS_URL", None)  # reads only: the embedded cache is enough
    import django

    django.setup()


def prepare(
    suffix: str,
    *,
    rebuild: bool,
    filled: Callable[[], bool],
    fill: Callable[[], None],
    allow_sqlite: bool = False,
) -> None:
    """Point Django at ``<DATABASE_URL's db>_<suffix>`` and make sure it holds the data:
    ``filled()`` says whether an existing one is complete, ``fill()`` fills a new one. With
    ``allow_sqlite`` and no PostgreSQL URL, a temporary SQLite file is used instead."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        if not allow_sqlite:
            sys.exit("Set DATABASE_URL to a PostgreSQL URL (the benchmark makes its own database).")
        os.environ.pop("DATABASE_URL", None)
        directory = tempfile.mkdtemp(prefix=f"bench-{suffix}-")
        atexit.register(shutil.rmtree, directory, ignore_errors=True)
        os.environ["SQLITE_PATH"] = str(Path(directory) / "bench.sqlite3")
        setup_django()
        print("Filling a scratch SQLite database ...")
        fill()
        return
    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/') or 'crm'}_{suffix}"
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{name}"))
    fresh = _recreate(admin_url, name, drop=rebuild)
    setup_django()
    if not fresh:
        try:
            fresh = not filled()
        except Exception:  # tables missing: an earlier run stopped half-way
            fresh = True
        if fresh:
            from django.db import connection

            connection.close()
            _recreate(admin_url, name, drop=True)
    if fresh:
        print(f"Filling {name} ...")
        fill()
    else:
        from django.core.management import call_command

        print(f"Reusing {name} (--rebuild to refill).")
        call_command("migrate", verbosity=0)
