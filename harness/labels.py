"""Every label key rvconform puts on what it creates (containers, networks, images), in one place.

A run's things carry ``rvconform.managed`` and ``rvconform.run=<run id>``, which is how the end of a run
(or the next run, after a crash) finds and removes them; a board adds ``rvconform.board`` for its own, and an
SSH board ``rvconform.origin`` (which harness host and user made it), so that a later run of the same origin
sweeps what a dead one left on a shared board and leaves everyone else's alone.
"""

from __future__ import annotations

MANAGED = "rvconform.managed"
RUN = "rvconform.run"
BOARD = "rvconform.board"
ORIGIN = "rvconform.origin"
RECIPE = "rvconform.recipe"

#: What everything rvconform creates carries, also outside a run (e.g. `rvconform doctor`'s container).
MANAGED_LABELS = {MANAGED: "true"}


def run_labels(run_id: str) -> dict[str, str]:
    """The labels of everything one run creates."""
    return {**MANAGED_LABELS, RUN: run_id}


def run_filter(run_id: str) -> str:
    """An engine label filter matching one run's things."""
    return f"{RUN}={run_id}"
