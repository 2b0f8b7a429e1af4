"""A kind of record the processes of a run share: its file name, and the one way it is written and read."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Slot(Generic[T]):
    """Records of one type, stored as ``<name>[-<key>].json`` in a run directory."""

    name: str
    dump: Callable[[T], Any]
    load: Callable[[Any], T]

    def file_name(self, key: str = "") -> str:
        """The record's name for ``key`` (e.g. ``image-redis``), also the name of its lock."""
        return f"{self.name}-{key}" if key else self.name

    def read(self, directory: Path, key: str = "") -> T | None:
        """The record in ``directory``, or None when there is none (or it cannot be read)."""
        path = directory / f"{self.file_name(key)}.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return self.load(data)

    def write(self, directory: Path, value: T, key: str = "") -> None:
        """Store ``value`` in ``directory``, atomically: readers see the old record or the new one."""
        name = self.file_name(key)
        partial = directory / f".{name}.json.partial"
        partial.write_text(json.dumps(self.dump(value)))
        partial.replace(directory / f"{name}.json")
