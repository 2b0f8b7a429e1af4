"""One conformance run's shared state, and the sweep of what crashed runs left behind.

A run is a directory owned by the controlling pytest process, which holds an flock on
``owner.lock`` for its whole life. Workers (pytest-xdist) join the same directory, so session
resources (the registry, each recipe's build, a VM) are made once, under a file lock, and shared.
Whoever starts a process records it here; the owner stops every recorded process and removes every
container labelled with the run id at the end, also after a failure or Ctrl-C. A later run finds
directories whose owner lock is free (the owner died) and sweeps them the same way.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlsplit

from filelock import FileLock

from harness.wait import stop_process

LABEL_RUN = "rvconform.run"
LABEL_MANAGED = "rvconform.managed"
_OWNER = "owner.lock"
_PROCESSES = "processes.jsonl"
_ENGINE_USED = "engine-used"


def runs_root() -> Path:
    """Where run directories live (one per live or crashed run)."""
    return Path(tempfile.gettempdir()) / f"rvconform-{os.getuid()}" / "runs"


@dataclass
class Run:
    """A run directory, its id (the container label value) and, for the owner, its lock."""

    id: str
    dir: Path
    _owner_handle: IO[str] | None = None

    @classmethod
    def start(cls) -> Run:
        """Create a run owned by this process."""
        run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        run_dir = runs_root() / run_id
        run_dir.mkdir(parents=True)
        handle = (run_dir / _OWNER).open("w")
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        handle.write(str(os.getpid()))
        handle.flush()
        return cls(run_id, run_dir, handle)

    @classmethod
    def join(cls, run_id: str, run_dir: str | Path) -> Run:
        """Attach to a run owned by another process (an xdist controller)."""
        return cls(run_id, Path(run_dir))

    @property
    def labels(self) -> dict[str, str]:
        """Labels for every container and image this run creates."""
        return {LABEL_MANAGED: "true", LABEL_RUN: self.id}

    def lock(self, name: str) -> FileLock:
        """A lock shared by every process of this run, e.g. around building one recipe."""
        return FileLock(str(self.dir / f"{name}.lock"))

    def read(self, name: str) -> Any | None:
        """A JSON record one process of the run wrote for the others, or None."""
        path = self.dir / f"{name}.json"
        return json.loads(path.read_text()) if path.is_file() else None

    def write(self, name: str, value: Any) -> None:
        """Share a JSON record with the other processes of the run."""
        partial = self.dir / f".{name}.json.partial"
        partial.write_text(json.dumps(value))
        partial.replace(self.dir / f"{name}.json")

    def record_process(self, pid: int, what: str) -> None:
        """Remember a process to stop when the run ends."""
        entry = {"pid": pid, "start": _start_time(pid), "what": what}
        with (self.dir / _PROCESSES).open("a") as handle:
            handle.write(json.dumps(entry) + "\n")

    def note_engine_used(self) -> None:
        """Mark that containers may exist, so the end of the run asks the engine to remove them."""
        (self.dir / _ENGINE_USED).touch()

    def close(self) -> None:
        """Stop what the run recorded, remove its labelled containers and its directory."""
        _teardown(self.id, self.dir)
        if self._owner_handle:
            self._owner_handle.close()
            self._owner_handle = None


def sweep_stale_runs() -> list[str]:
    """Tear down runs whose owner died without cleaning up; returns their ids."""
    swept = []
    root = runs_root()
    for run_dir in sorted(root.iterdir()) if root.is_dir() else []:
        with _owner_lock_if_free(run_dir) as free:
            if free:
                _teardown(run_dir.name, run_dir)
                swept.append(run_dir.name)
    return swept


@contextlib.contextmanager
def _owner_lock_if_free(run_dir: Path) -> Iterator[bool]:
    try:
        handle = (run_dir / _OWNER).open("a")
    except OSError:
        yield False
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True


def _teardown(run_id: str, run_dir: Path) -> None:
    for entry in _recorded_processes(run_dir):
        _stop_process(entry["pid"], entry["start"])
    if (run_dir / _ENGINE_USED).exists():
        remove_run_containers(run_id)
        remove_run_networks(run_id)
        registry = _read_json(run_dir / "registry.json")
        if registry and registry.get("pid"):  # a registry of our own: its images are ours too
            remove_images_from(urlsplit(registry["url"]).netloc)
    shutil.rmtree(run_dir, ignore_errors=True)


def remove_run_containers(run_id: str) -> int:
    """Remove every container labelled with ``run_id``; returns how many."""
    from harness.engine import engine  # the engine is needed only when containers may exist

    containers = engine().containers.list(all=True, filters={"label": f"{LABEL_RUN}={run_id}"})
    for container in containers:
        with contextlib.suppress(Exception):
            container.remove(force=True, v=True)  # with its anonymous volumes: nobody else can use them
    return len(containers)


def remove_run_networks(run_id: str) -> None:
    """Remove the networks boards made for ``run_id`` (after its containers are gone)."""
    from harness.engine import engine

    for network in engine().networks.list(filters={"label": f"{LABEL_RUN}={run_id}"}):
        with contextlib.suppress(Exception):
            network.remove()


def remove_images_from(registry_host: str) -> None:
    """Remove local images pulled from (or tagged for) a registry that lived only for one run."""
    from harness.engine import engine

    prefix = f"{registry_host}/"
    for image in engine().images.list():
        refs = [r for r in image.attrs.get("RepoTags", []) + image.attrs.get("RepoDigests", [])
                if r.startswith(prefix)]
        for ref in refs:
            with contextlib.suppress(Exception):
                engine().images.remove(ref, force=True)


def _read_json(path: Path) -> Any | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _recorded_processes(run_dir: Path) -> list[dict[str, Any]]:
    path = run_dir / _PROCESSES
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot, which tells a reused pid apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


def _stop_process(pid: int, start: str | None) -> None:
    if start is None:
        return

    def alive() -> bool:
        _reap(pid)  # a process this one started is a zombie until reaped
        return _start_time(pid) == start

    stop_process(pid, alive=alive)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)
