"""Board groups under pytest-xdist: all the tests of one board run in one worker.

A remote board has one connection and its forwarded ports, and two workers' boards on the local engine would
pull an image from under each other's containers (a pull first removes the local copy; closing a board removes
what it pulled). pytest-xdist's own ``loadgroup`` cannot keep them together under pytest 9.2: it renames
``item._nodeid``, which pytest no longer reads, so its ``xdist_group`` markers never reach the scheduler. Instead
each worker writes the board group of each of its tests into the run directory when it has collected them (before
it tells the controller), and the controller's scheduler reads them: a board's tests are one scope, sent whole to
one worker in collection order; every other test (builds, image checks) is a scope of its own and spreads.

Imported only in xdist processes: the scheduler module costs a third of a second to import.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling

_PATTERN = "board-groups-{worker}.json"


def write_board_groups(run_dir: Path, worker: str, groups: Mapping[str, str]) -> None:
    """Record ``groups`` (test node id -> board group) as collected by ``worker`` (its xdist id, e.g. gw0)."""
    path = run_dir / _PATTERN.format(worker=worker)
    partial = path.with_suffix(".partial")
    partial.write_text(json.dumps(dict(groups), sort_keys=True))
    partial.replace(path)  # the controller never reads half a file


def read_board_groups(run_dir: Path) -> dict[str, str]:
    """Every worker's recorded groups, merged (they collected the same tests)."""
    groups: dict[str, str] = {}
    for path in sorted(run_dir.glob(_PATTERN.format(worker="*"))):
        groups.update(json.loads(path.read_text()))
    return groups


def scope_of(node_id: str, groups: Mapping[str, str]) -> str:
    """The unit of scheduling of a test: its board group, or the test alone."""
    return groups.get(node_id, node_id)


class BoardGroupScheduling(LoadScopeScheduling):
    """xdist's scope scheduling with the board groups that the run's workers recorded as scopes."""

    def __init__(self, config: pytest.Config, log: object, run_dir: Path) -> None:
        super().__init__(config, log)  # type: ignore[arg-type]
        self._run_dir = run_dir
        self._groups: dict[str, str] = {}

    def schedule(self) -> None:
        """Read the groups (every worker has collected, and wrote them before saying so), then distribute."""
        self._groups = read_board_groups(self._run_dir)
        super().schedule()

    def _split_scope(self, nodeid: str) -> str:
        return scope_of(nodeid, self._groups)
