"""Names on a board carry the origin and the run id; the sweep at a board's open takes only what dead runs of
its own origin left (files here stand in for the board's, through the same shell commands)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from harness.boards.base import CommandResult
from harness.boards.board_names import NO_RUN, Mark, parse_name
from harness.boards.board_sweep import BoardPaths, BoardSweep
from harness.labels import ORIGIN, RUN
from harness.run import Run, root

OURS, THEIRS = "0123456789ab", "ba9876543210"
DEAD, LIVE = "20261129-101010-abcdef", "20261129-111111-123456"


def test_a_name_carries_origin_and_run_and_parses_back() -> None:
    mark = Mark.of({ORIGIN: OURS, RUN: DEAD})
    for tail in ("a1b2c3", "XyZ09aBc"):
        assert parse_name(mark.name(tail)) == mark
        assert parse_name(f"/etc/docker/certs.d/127.0.0.1:5000/{mark.name(tail)}.crt") == mark
        assert parse_name(f"/var/tmp/{mark.name(tail)}.pulled") == mark
        assert parse_name(f"/tmp/{mark.name(tail)}/") == mark


def test_names_that_are_not_ours_do_not_parse() -> None:
    for name in ("ca.crt", "rvconform-a1b2c3", "rvconform-XYZ", f"rvconform-{OURS}-", f"rvconform-{OURS[:6]}-run-tail",
                 f"rvconform-{OURS}-run-tail.key", "bridge", "podman"):
        assert parse_name(name) is None, name


def test_a_board_outside_a_run_or_with_an_odd_run_id_still_gets_a_parseable_name() -> None:
    assert Mark.of({ORIGIN: OURS}) == Mark(OURS, NO_RUN)
    odd = Mark.of({ORIGIN: OURS, RUN: "a/b c"})
    assert odd.run == "a_b_c" and parse_name(odd.name("t1")) == odd


def test_only_new_run_ids_of_dead_runs_are_dead(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(root, "runs_root", lambda: tmp_path / "runs")
    live = Run.start()
    try:
        assert root.RUN_ID.fullmatch(live.id)
        assert not root.run_is_dead(live.id), "its owner holds the lock"
        assert root.run_is_dead(DEAD), "no directory: it ended, or its directory was swept"
        orphan = tmp_path / "runs" / LIVE
        orphan.mkdir()
        (orphan / "owner.lock").write_text("12345")
        assert root.run_is_dead(LIVE), "nobody holds its lock"
        assert not root.run_is_dead("sshtrust-1234") and not root.run_is_dead(NO_RUN), "not a run's id: unknown"
    finally:
        live.close()


def test_the_origin_is_stable_and_depends_on_the_runs_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = root.origin()
    assert first == root.origin() and len(first) == 12 and int(first, 16) >= 0
    monkeypatch.setattr(root, "runs_root", lambda: tmp_path / "runs")
    assert root.origin() != first, "another runs root (another user, another TMPDIR) is another origin"


class _ShellHere:
    """The part of SshTransport the sweep uses, running the same commands on this machine."""

    board = "here"

    def run(self, argv: list[str], timeout: float = 120.0, stdin: bytes | None = None) -> CommandResult:
        done = subprocess.run(argv, input=stdin or b"", capture_output=True, timeout=timeout)
        return CommandResult(done.returncode, done.stdout.decode(), done.stderr.decode())


class _Runtime:
    """The runtime's listing and removals, as a record (the real ones are in the integration tests)."""

    def __init__(self, containers: dict[str, str], networks: list[str]) -> None:
        self.containers, self.network_names = containers, networks
        self.removed: list[str] = []

    def containers_of(self, origin: str) -> dict[str, str]:
        return {handle: run for handle, run in self.containers.items() if handle.startswith(origin)}

    def networks(self) -> list[str]:
        return self.network_names

    def remove(self, handle: str) -> None:
        self.removed.append(f"container {handle}")

    def remove_network(self, name: str) -> None:
        self.removed.append(f"network {name}")

    def remove_image(self, ref: str, force: bool = True) -> None:
        self.removed.append(f"image {ref}{' (forced)' if force else ''}")


def _touch(path: Path, content: str = "x\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    return path


def test_the_sweep_takes_only_what_dead_runs_of_its_origin_left(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    paths = BoardPaths(certs_d=str(tmp_path / "certs.d"), state=str(tmp_path / "state"),
                       ledgers=str(tmp_path / "ledgers"))
    dead, live, other = Mark(OURS, DEAD), Mark(OURS, LIVE), Mark(THEIRS, DEAD)
    made = {mark: [_touch(tmp_path / "tmp" / mark.name("Ab12Cd34") / "client" / "config.json"),
                   _touch(tmp_path / "certs.d" / f"127.0.0.1:{port}" / f"{mark.name('0a1b2c3d')}.crt"),
                   _touch(tmp_path / "state" / mark.name("a1b2c3") / "127.0.0.1:5000" / "hosts.toml")]
            for mark, port in ((dead, 5000), (live, 5001), (other, 5002))}
    _touch(tmp_path / "certs.d" / "127.0.0.1:5003" / "ca.crt", "the user's\n")
    _touch(tmp_path / "certs.d" / "127.0.0.1:5003" / f"{dead.name('0a1b2c3e')}.crt")
    ledgers = {mark: _touch(Path(paths.ledger(mark.name("a1b2c3"))), text) for mark, text in (
        (dead, "127.0.0.1:5000/only-dead@sha256:1\n127.0.0.1:5000/shared@sha256:2\n"),
        (live, "127.0.0.1:5000/shared@sha256:2\n"),
        (other, "127.0.0.1:5000/theirs@sha256:3\n"))}
    runtime = _Runtime({f"{OURS}-dead": DEAD, f"{OURS}-live": LIVE, f"{OURS}-outside": "sshtrust-1"},
                       [dead.name("a1b2c3"), live.name("a1b2c3"), other.name("a1b2c3"), "bridge"])

    swept = BoardSweep(_ShellHere(), runtime, OURS, paths,  # type: ignore[arg-type]
                       is_dead=lambda run: run == DEAD).run()

    assert swept.runs == {DEAD}
    assert runtime.removed == [f"container {OURS}-dead", f"network {dead.name('a1b2c3')}",
                               "image 127.0.0.1:5000/only-dead@sha256:1"], "a ref another ledger lists stays"
    assert not any(path.exists() for path in made[dead]) and not ledgers[dead].exists()
    assert not (tmp_path / "tmp" / dead.name("Ab12Cd34")).exists(), "the private directory goes whole"
    assert not (tmp_path / "certs.d" / "127.0.0.1:5000").exists(), "a certs.d directory it emptied goes too"
    assert sorted(p.name for p in (tmp_path / "certs.d" / "127.0.0.1:5003").iterdir()) == ["ca.crt"]
    assert all(path.exists() for path in [*made[live], *made[other], ledgers[live], ledgers[other]])


def test_a_board_with_nothing_of_ours_is_swept_without_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path / "empty"))
    paths = BoardPaths(certs_d=str(tmp_path / "no-certs.d"), state=str(tmp_path / "no-state"),
                       ledgers=str(tmp_path / "no-ledgers"))
    runtime = _Runtime({}, ["bridge", "host"])
    swept = BoardSweep(_ShellHere(), runtime, OURS, paths, is_dead=lambda run: True).run()  # type: ignore[arg-type]
    assert runtime.removed == [] and swept.paths == [] and swept.runs == set()
    assert os.listdir(tmp_path) == []
