"""The Node peer of benchmarks/realtime_latency.py: the seeds' stack (Express + Socket.IO + pg +
the Redis adapter, ``../shared/peers/node-socketio``) doing our send path, run in the same
benchmark with the same client counts, senders, seconds, probes and staff members.

The peer's folder is read-only in CI, so it is copied to a scratch directory for each run; its
``node_modules`` comes from ``npm ci`` into ``var/node-peer/<hash of package.json and
package-lock.json>/`` (installed once, reused while the lock file stays the same). Two changes
are made to the copy, never to the original:

- ``run.sh`` takes its two server ports from ``PEER_PORTS`` (this project's ``TEST_PORTS``
  range) instead of asking the kernel for any;
- ``driver.js`` also reports ``send_s``, the time the senders took (start of the saturation
  phase → the last POST answered), so that POSTs/s is ``sent / send_s`` on both sides.

Either change is skipped with a note when the peer's text no longer matches (the ports are then
the kernel's, and POSTs/s falls back to ``sent / window_s``, a slight underestimate).
``run.sh`` runs in a process group of its own, bounded by a timeout; the group is killed and the
peer's scratch database dropped whatever happens.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
PEER_RELATIVE = Path("shared") / "peers" / "node-socketio"
CACHE_DIR = BASE_DIR / "var" / "node-peer"

PORT_LINE_MARK = "port=$(python3 -c"
PORT_OVERRIDE = (
    '  if [ -n "${PEER_PORTS:-}" ]; then port=$(echo "$PEER_PORTS" | cut -d, -f"$i"); fi'
)
SEND_S_MARK = "  await waitDelivered(deliveredBefore + sent * clients, 20);"
WINDOW_MARK = "window_s: windowS,"


def find_peer_dir(explicit: str | None = None) -> Path:
    """``explicit``, ``$NODE_PEER_DIR`` or the first ``shared/peers/node-socketio`` beside the
    checkout or one of its parents (``/work/main/../shared``, CI's copy beside its clone)."""
    given = explicit or os.environ.get("NODE_PEER_DIR")
    if given:
        path = Path(given).resolve()
        if not (path / "server.js").is_file():
            raise SystemExit(f"no Node peer in {path} (server.js missing)")
        return path
    for parent in [BASE_DIR, *BASE_DIR.parents]:
        candidate = parent / PEER_RELATIVE
        if (candidate / "server.js").is_file():
            return candidate
    raise SystemExit(
        f"the Node peer ({PEER_RELATIVE}) is not beside {BASE_DIR} or a parent of it: "
        "pass --peer-dir or set NODE_PEER_DIR, or --sides without node"
    )


def lock_hash(peer_dir: Path) -> str:
    digest = hashlib.sha256()
    for name in ("package.json", "package-lock.json"):
        digest.update((peer_dir / name).read_bytes())
    return digest.hexdigest()[:16]


def installed_modules(peer_dir: Path, *, timeout: float = 600) -> Path:
    """``node_modules`` for the peer's lock file: ``npm ci`` once into the cache, then reused."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise SystemExit("the Node peer needs node and npm on PATH (or --sides without node)")
    target = CACHE_DIR / lock_hash(peer_dir)
    done = target / ".installed"
    if done.is_file() and (target / "node_modules").is_dir():
        return target / "node_modules"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for name in ("package.json", "package-lock.json"):
        shutil.copy2(peer_dir / name, target / name)
    print(f"npm ci for the Node peer into {target} ...", flush=True)
    try:
        subprocess.run(
            ["npm", "ci", "--silent", "--no-audit", "--no-fund"],
            cwd=target,
            check=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        shutil.rmtree(target, ignore_errors=True)
        raise SystemExit(f"npm ci for the Node peer failed: {error}") from error
    done.write_text(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    return target / "node_modules"


def prepared_copy(peer_dir: Path, modules: Path) -> tuple[Path, list[str]]:
    """A scratch copy of the peer with the two changes; returns it and notes on what was not
    changed."""
    scratch = Path(tempfile.mkdtemp(prefix="bench-node-peer-"))
    for item in peer_dir.iterdir():
        if item.name == "node_modules" or not item.is_file():
            continue
        shutil.copy(item, scratch / item.name)  # the contents, not the read-only mode
        (scratch / item.name).chmod(0o755 if item.suffix == ".sh" else 0o644)
    (scratch / "node_modules").symlink_to(modules, target_is_directory=True)
    notes = []

    run_sh = (scratch / "run.sh").read_text()
    lines = run_sh.splitlines(keepends=True)
    marks = [i for i, line in enumerate(lines) if PORT_LINE_MARK in line]
    if len(marks) == 1:
        lines.insert(marks[0] + 1, PORT_OVERRIDE + "\n")
        (scratch / "run.sh").write_text("".join(lines))
    else:
        notes.append("run.sh's port line changed: the peer's ports are the kernel's")

    driver = (scratch / "driver.js").read_text()
    if driver.count(SEND_S_MARK) == 1 and driver.count(WINDOW_MARK) == 1:
        driver = driver.replace(SEND_S_MARK, "  const sendS = now() - start;\n" + SEND_S_MARK)
        driver = driver.replace(WINDOW_MARK, WINDOW_MARK + " send_s: sendS,")
        (scratch / "driver.js").write_text(driver)
    else:
        notes.append("driver.js changed: the peer's POSTs/s is sent / window_s")
    return scratch, notes


def drop_database(name: str) -> None:
    subprocess.run(
        [
            "psql",
            "-q",
            "-h",
            "127.0.0.1",
            "-U",
            "root",
            "-d",
            "postgres",
            "-c",
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
        ],
        check=False,
        timeout=60,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )


def run_peer(
    peer_dir: Path,
    *,
    counts: list[int],
    senders: int,
    seconds: float,
    probes: int,
    staff: int,
    redis_url: str,
    ports: list[int],
    database: str,
    timeout: float,
    mode: str = "full",
    log_dir: Path | None = None,
) -> tuple[list[dict], list[str]]:
    """One run of the peer's ``run.sh`` (two servers, the driver, every count). Returns the
    driver's results (one dict per count, see driver.js) and notes."""
    modules = installed_modules(peer_dir)
    scratch, notes = prepared_copy(peer_dir, modules)
    json_out = scratch / "results.json"
    output = scratch / "run.log"
    env = {
        **os.environ,
        "DB": database,
        "MODE": mode,
        "CLIENTS": ",".join(str(n) for n in counts),
        "SENDERS": str(senders),
        "SECONDS": str(seconds),
        "PROBES": str(probes),
        "STAFF": str(staff),
        "REDIS_URL": redis_url,
        "PEER_PORTS": ",".join(str(p) for p in ports),
        "LOG_DIR": str(log_dir or scratch),
        "JSON_OUT": str(json_out),
        "MAX_SECONDS": str(int(timeout)),
    }
    started = time.monotonic()
    with output.open("w") as log:
        process = subprocess.Popen(
            ["bash", str(scratch / "run.sh")],
            cwd=scratch,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: servers, driver, psql
        )
        try:
            process.wait(timeout=timeout + 60)
        except subprocess.TimeoutExpired:
            notes.append(f"the peer's run.sh was stopped after {timeout + 60:.0f} s")
        finally:
            stop_group(process)
            drop_database(database)
    text = output.read_text(errors="replace")
    try:
        results = json.loads(json_out.read_text()) if json_out.is_file() else []
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if not results:
        raise RuntimeError(
            f"the Node peer printed no results (exit {process.returncode}, "
            f"{time.monotonic() - started:.0f} s):\n{text[-3000:]}"
        )
    return results, notes


def stop_group(process: subprocess.Popen) -> None:
    """SIGTERM to the run's process group (run.sh's trap stops its servers and drops its
    database), SIGKILL to what is left after 10 s."""
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        end = time.monotonic() + wait
        while time.monotonic() < end:
            try:
                os.killpg(process.pid, 0)
            except ProcessLookupError:
                break
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=0.1)
            time.sleep(0.1)
        else:
            continue
        break
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
