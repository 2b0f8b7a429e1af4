"""A run directory: its id (the value of every container's run label), typed records shared by the run's
processes, locks, and, for the owner, the teardown at the end."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

from filelock import FileLock

from harness.labels import run_labels
from harness.run import processes, root, sweep
from harness.run.slot import Slot

T = TypeVar("T")


@dataclass
class Run:
    """A run directory, its id and, for the owner, its lock."""

    id: str
    dir: Path
    _owner_handle: IO[str] | None = None

    @classmethod
    def start(cls) -> Run:
        """Create a run owned by this process."""
        run_id = root.new_run_id()
        run_dir = root.runs_root() / run_id
        run_dir.mkdir(parents=True)
        return cls(run_id, run_dir, root.claim(run_dir))

    @classmethod
    def join(cls, run_id: str, run_dir: str | Path) -> Run:
        """Attach to a run owned by another process (an xdist controller)."""
        return cls(run_id, Path(run_dir))

    @property
    def labels(self) -> dict[str, str]:
        """Labels for every container and image this run creates."""
        return run_labels(self.id)

    def lock(self, name: str) -> FileLock:
        """A lock shared by every process of this run, e.g. around building one recipe."""
        return FileLock(str(self.dir / f"{name}.lock"))

    def read(self, slot: Slot[T], key: str = "") -> T | None:
        """The record one process of the run wrote for the others, or None."""
        return slot.read(self.dir, key)

    def write(self, slot: Slot[T], value: T, key: str = "") -> None:
        """Share a record with the other processes of the run."""
        slot.write(self.dir, value, key)

    def once(self, slot: Slot[T], make: Callable[[], T], key: str = "") -> T:
        """The record, made by ``make`` in the first process that asks (under the run's lock) and read by the
        others."""
        with self.lock(slot.file_name(key)):
            value = self.read(slot, key)
            if value is None:
                value = make()
                self.write(slot, value, key)
        return value

    def record_process(self, pid: int, what: str) -> None:
        """Remember a process to stop when the run ends."""
        processes.record(self.dir, pid, what)

    def note_engine_used(self) -> None:
        """Mark that containers may exist, so the end of the run asks the engine to remove them."""
        sweep.mark_engine_used(self.dir)

    def close(self) -> None:
        """Stop what the run recorded, remove its labelled containers and its directory."""
        sweep.teardown(self.id, self.dir)
        if self._owner_handle:
            self._owner_handle.close()
            self._owner_handle = None
