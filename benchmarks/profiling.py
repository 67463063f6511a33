"""py-spy on one server process of a benchmark: ``record`` for a phase, then the functions
that held the CPU longest by their own time (the leaf frame of each sampled stack), from
py-spy's ``--format raw`` output (collapsed stacks: ``frame;frame;... count`` per line, each
frame ``function (file:line)``). Only the thread holding the GIL is sampled (``--gil``): the
Python code that used the CPU, not the threads waiting (a thread pool's idle workers, the event
loop in ``select``), which py-spy does not always recognise as idle."""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

FRAME_RE = re.compile(r"^(?P<function>.*) \((?P<file>.*?)(?::\d+)?\)$")
BASE_DIR = Path(__file__).resolve().parent.parent


def py_spy() -> str:
    found = Path(sys.executable).with_name("py-spy")
    if found.is_file():
        return str(found)
    on_path = shutil.which("py-spy")
    if on_path is None:
        raise SystemExit("--profile needs py-spy (requirements-dev.txt)")
    return on_path


class Recording:
    """``py-spy record --pid`` from ``start()`` until ``stop()`` (SIGINT makes it write)."""

    def __init__(self, pid: int, *, rate: int = 100):
        self.pid = pid
        self.rate = rate
        self.output = Path(tempfile.mkstemp(prefix=f"py-spy-{pid}-", suffix=".txt")[1])
        self.process: subprocess.Popen | None = None
        self.log = ""
        self.started = self.seconds = 0.0

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                py_spy(),
                "record",
                "--pid",
                str(self.pid),
                "--rate",
                str(self.rate),
                "--gil",
                "--format",
                "raw",
                "--output",
                str(self.output),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        self.started = time.monotonic()

    def stop(self) -> None:
        if self.process is None:
            return
        self.seconds = time.monotonic() - self.started
        with contextlib.suppress(ProcessLookupError):
            self.process.send_signal(signal.SIGINT)
        try:
            self.log, _ = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.log, _ = self.process.communicate(timeout=5)
        self.process = None

    def stacks(self) -> list[tuple[list[str], int]]:
        parsed = []
        with contextlib.suppress(OSError):
            for line in self.output.read_text(errors="replace").splitlines():
                stack, _, count = line.rpartition(" ")
                if stack and count.isdigit():
                    parsed.append((stack.split(";"), int(count)))
        return parsed

    def discard(self, keep: str | None = None) -> None:
        """Remove the stacks file, or move it to ``keep``."""
        self.stop()
        if keep:
            shutil.move(self.output, keep)
        else:
            self.output.unlink(missing_ok=True)


def short_file(path: str) -> str:
    marker = "site-packages/"
    if marker in path:
        return path.split(marker, 1)[1]
    with contextlib.suppress(ValueError):
        return str(Path(path).relative_to(BASE_DIR))
    return path


def frame_name(frame: str) -> str:
    match = FRAME_RE.match(frame.strip())
    if match is None:
        return frame.strip()
    return f"{match['function']} ({short_file(match['file'])})"


def top_own(stacks: list[tuple[list[str], int]], limit: int = 10) -> list[tuple[str, int]]:
    own: Counter[str] = Counter()
    for frames, count in stacks:
        if frames:
            own[frame_name(frames[-1])] += count
    return own.most_common(limit)


def top_total(
    stacks: list[tuple[list[str], int]], limit: int = 10, *, within: str = ""
) -> list[tuple[str, int]]:
    """Inclusive time: samples whose stack holds the function at least once; ``within`` keeps
    the functions of files whose short name starts with it (e.g. the project's apps)."""
    total: Counter[str] = Counter()
    for frames, count in stacks:
        for name in {frame_name(f) for f in frames}:
            total[name] += count
    rows = [(name, n) for name, n in total.most_common() if within_file(name, within)]
    return rows[:limit]


def callers(
    stacks: list[tuple[list[str], int]], leaf: str, *, within: str
) -> list[tuple[str, int]]:
    """Where the samples whose leaf is ``leaf`` came from: the nearest frame of ``within``'s
    files (the project's code) in each such stack, most common first."""
    found: Counter[str] = Counter()
    for frames, count in stacks:
        if not frames or frame_name(frames[-1]) != leaf:
            continue
        names = [frame_name(f) for f in frames[:-1]]
        caller = next((n for n in reversed(names) if within_file(n, within)), "(no project frame)")
        found[caller] += count
    return found.most_common()


def within_file(name: str, prefixes: str) -> bool:
    if not prefixes:
        return True
    file = name.rsplit("(", 1)[-1]
    return file.startswith(tuple(prefixes.split(",")))


def report(recording: Recording, *, what: str, limit: int = 10) -> None:
    stacks = recording.stacks()
    samples = sum(count for _, count in stacks)
    held = samples / (recording.seconds * recording.rate) if recording.seconds else 0.0
    print(
        f"\nprofile: {what}; py-spy --gil, {recording.rate} Hz over {recording.seconds:.1f} s: "
        f"{samples} samples with the GIL held ({held:.0%} of the time)"
    )
    if not samples:
        print(f"  (nothing recorded: {recording.log.strip()[-500:]})")
        return
    apps = ",".join(
        sorted(f"{d.name}/" for d in BASE_DIR.iterdir() if (d / "__init__.py").is_file())
    )
    print(f"  top {limit} functions by own time (and the project's code they ran under):")
    for name, count in top_own(stacks, limit):
        under = callers(stacks, name, within=apps)[:2]
        where = ", ".join(f"{c} {100 * n / count:.0f}%" for c, n in under)
        print(f"  {100 * count / samples:5.1f}%  {name}  ← {where}")
    print(f"  the project's functions by total time (own + callees), top {limit}:")
    for name, count in top_total(stacks, limit, within=apps):
        print(f"  {100 * count / samples:5.1f}%  {name}")
