"""Long steps in progress (a recipe's build, a base bootstrap, the VM image build), shared by a run's processes.

A process that starts a long step registers it as a small JSON record in the run's directory (``enable``
names the run; the plugin calls it in every process of a run, pytest-xdist workers included) and
removes the record when the step ends, also on failure. The controlling process reads the records and
shows each step live on the terminal (harness/progress_display.py). Outside a run (``rvconform
bootstrap``, benchmarks) nothing is recorded.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

BUILD, BASE, VM = "build", "base", "vm"

_directory: Path | None = None
_numbers = itertools.count(1)


@dataclass(frozen=True)
class StepRecord:
    """One step in progress: what kind (build, base, vm), of what, where its full log is, since when, by whom."""

    kind: str
    subject: str
    log: str
    started: float
    pid: int

    def to_json(self) -> str:
        """The record as the JSON its file holds."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> StepRecord:
        """A record read back from its file; raises ValueError (or TypeError, KeyError) when malformed."""
        data = json.loads(text)
        return cls(str(data["kind"]), str(data["subject"]), str(data["log"]), float(data["started"]),
                   int(data["pid"]))


def steps_dir(run_dir: Path) -> Path:
    """Where the processes of the run in ``run_dir`` record their steps."""
    return run_dir / "progress"


def enable(run_dir: Path) -> None:
    """Record this process's steps in the directory of the run, which all its processes share."""
    global _directory
    _directory = steps_dir(run_dir)


@contextlib.contextmanager
def step(kind: str, subject: str, log: Path | str) -> Iterator[None]:
    """Register a step for the progress display while the block runs; a no-op outside a run."""
    path = _register(StepRecord(kind, subject, str(log), time.time(), os.getpid()))
    try:
        yield
    finally:
        if path is not None:
            with contextlib.suppress(OSError):
                path.unlink()


def _register(record: StepRecord) -> Path | None:
    if _directory is None:
        return None
    path = _directory / f"{record.pid}-{next(_numbers)}.json"
    try:  # a courtesy: a step runs the same when its record cannot be written
        _directory.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        partial.write_text(record.to_json())
        partial.replace(path)
    except OSError:
        return None
    return path


def steps_in_progress(directory: Path) -> dict[str, StepRecord]:
    """The steps recorded in ``directory`` by processes that are still alive, by record name."""
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError:
        return {}
    steps = {}
    for entry in entries:
        if entry.name.endswith(".json") and not entry.name.startswith("."):
            record = _read(Path(entry.path))
            if record is not None and _alive(record.pid):
                steps[entry.name] = record
    return steps


def _read(path: Path) -> StepRecord | None:
    try:
        return StepRecord.from_json(path.read_text())
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs: a worker killed mid-step leaves its record behind."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
