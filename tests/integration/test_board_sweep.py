"""What a SIGKILLed run left on an SSH board (docker and podman over the loopback sshd: a container, its
network, the pulled image, the private client directory with an auth file, docker's certs.d CA file) is
removed when the next run opens the board; a live run's things and another origin's stay."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from harness.boards import open_board
from harness.boards.base import RunSpec
from harness.boards.board_names import Mark
from harness.labels import ORIGIN, RUN
from harness.run import Run, root

ROOT = Path(__file__).parents[2]
SLEEP = RunSpec(name="sweepme", command=("sleep", "600"))

#: A run that opens the board, leaves one of everything on it, says its run id and waits to be killed.
CHILD = """
import json, sys, time
from pathlib import Path
from harness.boards import open_board
from harness.boards.base import RunSpec
from harness.image_ref import ImageRef
from harness.run import Run

url, registry, ref, ca = sys.argv[1:5]
run = Run.start()
board = open_board(url, run.labels, run)
board.attach_registry(registry)
board.pull(ImageRef(**json.loads(ref)), "linux/riscv64")
board.run(ImageRef(**json.loads(ref)), RunSpec(name="sweepme", command=("sleep", "600")))
board.cli_trust.add_ca("127.0.0.1:9", Path(ca))
board.cli_trust.write_auths("127.0.0.1:9", "user", "not-a-real-password")
print(json.dumps({"run": run.id, "ref": board.sees(ImageRef(**json.loads(ref))).pinned,
                  "network": board.runtime.network, "private": board.cli_trust.directory,
                  "written": board.cli_trust.written}), flush=True)
time.sleep(600)
"""


def _running_child(url: str, registry: str, ref: object, ca: Path) -> tuple[subprocess.Popen[str], dict]:
    """CHILD started and done leaving things on the board: the process, and what it said it left."""
    child = subprocess.Popen([sys.executable, "-c", CHILD, url, registry, json.dumps(asdict(ref)), str(ca)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                             start_new_session=True)
    line = child.stdout.readline()  # type: ignore[union-attr]
    if not line:
        _kill(child)
        pytest.fail(f"the child run failed: {child.stderr.read()}")  # type: ignore[union-attr]
    return child, json.loads(line)


def _kill(child: subprocess.Popen[str]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signal.SIGKILL)
    child.wait(timeout=10)


def _sh(board, *argv: str) -> str:
    return board.transport.run(list(argv)).stdout


def _containers(board, program: str, run_id: str) -> list[str]:
    return _sh(board, program, "ps", "-aq", "--filter", f"label={RUN}={run_id}").split()


def _has_image(board, program: str, ref: str) -> bool:
    return board.transport.run([program, "image", "inspect", ref]).exit_status == 0


@pytest.mark.parametrize("program", ["docker", "podman"])
def test_the_next_run_sweeps_what_a_killed_run_left_and_nothing_else(
    sshd, registry_process, tiny_image, tmp_path: Path, program: str
) -> None:
    url = sshd.url(program)
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\nnot used for any pull\n-----END CERTIFICATE-----\n")
    child, left = _running_child(url, registry_process.url, tiny_image.ref, ca)
    live_run = Run.start()
    try:  # opened while the child runs: its sweep leaves a live run's things alone
        live = open_board(url, live_run.labels, live_run)
    finally:
        _kill(child)
    assert live.swept.runs == set() and Path(left["private"]).is_dir(), live.swept
    assert root.run_is_dead(left["run"]), "its owner died: the run directory is abandoned"
    other = Mark("f" * 12, left["run"])  # another harness host's run of the same id: not ours to judge
    sweeper = None
    others_file = f"/tmp/{other.name('Zz12Yy34')}"
    try:
        live.attach_registry(registry_process.url)
        live_ref = live.sees(tiny_image.ref).pinned
        live.pull(tiny_image.ref, "linux/riscv64")
        live.run(tiny_image.ref, SLEEP)
        live.cli_trust.write_auths("127.0.0.1:9", "user", "not-a-real-password")
        live.transport.check(["touch", others_file])
        _sh(live, program, "run", "-d", "--label", f"{ORIGIN}={other.origin}", "--label", f"{RUN}={other.run}",
            "--name", other.name("c1"), live_ref, "sleep", "600")

        assert _containers(live, program, left["run"]), "the killed run left its container"
        assert Path(left["private"]).is_dir() and _has_image(live, program, left["ref"])
        # podman finds NAME@DIGEST under any name of that digest: a name's removal shows on docker only.
        names_apart = program == "docker"
        assert left["network"] in _sh(live, program, "network", "ls", "--format", "{{.Name}}").split()

        sweeper_run = Run.start()
        try:
            sweeper = open_board(url, sweeper_run.labels, sweeper_run)
        finally:
            sweeper_run.close()

        assert sweeper.swept.runs == {left["run"]}, sweeper.swept
        ours = [cid for cid in _containers(live, program, left["run"])
                if _sh(live, program, "inspect", "--format", f'{{{{index .Config.Labels "{ORIGIN}"}}}}',
                       cid).strip() == root.origin()]
        assert ours == [], "the killed run's container is gone"
        assert left["network"] not in _sh(live, program, "network", "ls", "--format", "{{.Name}}").split()
        assert not (names_apart and _has_image(live, program, left["ref"])), "the image name it pulled is gone"
        assert left["ref"] in sweeper.swept.images
        assert not Path(left["private"]).exists(), "its private client directory (with an auth file) is gone"
        assert not [path for path in left["written"] if Path(path).exists()], "its CA file is gone"
        assert not list(Path("/var/tmp").glob(f"rvconform-{root.origin()}-{left['run']}-*.pulled")), "its ledger too"

        assert _containers(live, program, live_run.id), "the live run's container stays"
        assert _has_image(live, program, live_ref) and Path(live.cli_trust.directory or "").is_dir()
        assert Path(others_file).exists(), "another origin's file stays"
        assert _sh(live, program, "ps", "-aq", "--filter", f"name={other.name('c1')}").split(), \
            "another origin's container stays"
    finally:
        _sh(live, program, "rm", "-f", other.name("c1"))
        live.transport.run(["rm", "-f", others_file])
        live.close()
        live_run.close()
        if sweeper is not None:
            sweeper.close()
        shutil.rmtree(root.runs_root() / left["run"], ignore_errors=True)  # the killed run's own directory
