"""The processes a run started (registry, VM), recorded so that the run's end, or the sweep after a crash,
stops them; a recorded pid is stopped only while it is still the same process (its start time matches)."""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.wait import stop_process

_FILE = "processes.jsonl"


@dataclass(frozen=True)
class ProcessEntry:
    """One recorded process: its pid, its start time (which tells a reused pid apart) and what it is."""

    pid: int
    start: str | None
    what: str


def record(run_dir: Path, pid: int, what: str) -> None:
    """Remember a process to stop when the run ends."""
    with (run_dir / _FILE).open("a") as handle:
        handle.write(json.dumps(asdict(ProcessEntry(pid, _start_time(pid), what))) + "\n")


def recorded(run_dir: Path) -> list[ProcessEntry]:
    """Every process recorded in ``run_dir``, in the order they were recorded."""
    path = run_dir / _FILE
    if not path.is_file():
        return []
    return [ProcessEntry(**json.loads(line)) for line in path.read_text().splitlines() if line.strip()]


def stop_recorded(run_dir: Path) -> None:
    """Stop every recorded process that still runs (SIGTERM, then SIGKILL)."""
    for entry in recorded(run_dir):
        if entry.start is not None:
            stop_process(entry.pid, alive=lambda entry=entry: _same_process(entry))


def _same_process(entry: ProcessEntry) -> bool:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(entry.pid, os.WNOHANG)  # a process this one started is a zombie until reaped
    return _start_time(entry.pid) == entry.start


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]
