"""The names of what an SSH board makes on the board (files, directories, networks): each carries the origin
(which harness host and runs root made it) and the run id, so a later run's sweep finds what a dead run left
by its name alone, and never takes what another origin or a live run made."""

from __future__ import annotations

import os.path
import re
from collections.abc import Mapping
from dataclasses import dataclass

from harness.labels import ORIGIN, RUN

#: ``rvconform-<origin>-<run id>-<tail>[.crt|.pulled]``: the tail is a random part, without dashes.
_NAME = re.compile(r"rvconform-(?P<origin>[0-9a-f]{12})-(?P<run>[A-Za-z0-9_.-]+)-[A-Za-z0-9]+(?:\.crt|\.pulled)?")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
#: The run id of things made by a board opened outside a run (labels without one).
NO_RUN = "none"


@dataclass(frozen=True)
class Mark:
    """The origin and run id that name (and label) everything one board object makes."""

    origin: str
    run: str

    @classmethod
    def of(cls, labels: Mapping[str, str]) -> Mark:
        """The mark of a board labelled ``labels`` (which carry the origin and, in a run, the run id)."""
        return cls(labels[ORIGIN], _UNSAFE.sub("_", labels.get(RUN, NO_RUN)) or NO_RUN)

    def name(self, tail: str) -> str:
        """The name of one thing of this mark; ``tail`` (no dashes) tells it apart from the others."""
        return f"rvconform-{self.origin}-{self.run}-{tail}"


def parse_name(path: str) -> Mark | None:
    """The mark a path's (or a network's) name carries, or None when it is not a name ``Mark.name`` made."""
    found = _NAME.fullmatch(os.path.basename(path.rstrip("/")))
    return Mark(found["origin"], found["run"]) if found else None
