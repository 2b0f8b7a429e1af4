"""Everything a run creates is removed: after Ctrl-C, and (by the next run) after a crash."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness.engine import engine
from harness.labels import RUN as LABEL_RUN
from harness.run import runs_root
from harness.wait import Deadline, wait_until

SUITES = Path(__file__).parents[2] / "suites"


def _as_in_a_terminal() -> None:
    """A background job inherits SIGINT ignored; a user's terminal delivers it. Be the terminal."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextmanager
def started_run(recipes: Path, reports: Path) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "pytest", str(SUITES), "-p", "no:cacheprovider", "--recipes", str(recipes),
         "--reports", str(reports), "--ready-timeout", "300"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, cwd=reports.parent,
        preexec_fn=_as_in_a_terminal,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def wait_for_its_container(process: subprocess.Popen[bytes], before: set[str]) -> str:
    """The run id of the first container of a run that did not exist ``before``, while ``process`` runs."""

    def find() -> str:
        assert process.poll() is None, "the run ended before it started a container"
        runs = {c.labels[LABEL_RUN] for c in engine().containers.list(filters={"label": LABEL_RUN})} - before
        assert runs, "no container yet"
        return runs.pop()

    return wait_until(find, what="the run's first container", deadline=Deadline(300),
                      retry_on=(AssertionError,), interval=0.5)


def existing_runs() -> set[str]:
    return {c.labels[LABEL_RUN] for c in engine().containers.list(all=True, filters={"label": LABEL_RUN})}


def registry_host(run_id: str) -> str:
    """The host:port of a live run's spawned registry, from its config."""
    config = (runs_root() / run_id / "registry" / "config.yml").read_text()
    return re.search(r"addr: (\S+)", config).group(1)


def leftovers(run_id: str, registry: str) -> dict[str, list[str]]:
    containers = engine().containers.list(all=True, filters={"label": f"{LABEL_RUN}={run_id}"})
    networks = engine().networks.list(filters={"label": f"{LABEL_RUN}={run_id}"})
    registries = subprocess.run(["pgrep", "-af", f"runs/{run_id}/registry"], capture_output=True, text=True)
    images = [ref for image in engine().images.list() for ref in image.attrs.get("RepoDigests", [])
              if ref.startswith(f"{registry}/")]
    return {
        "containers": [c.name for c in containers],
        "networks": [n.name for n in networks],
        "registries": registries.stdout.splitlines(),
        "images": images,
    }


def nothing_left(run_id: str, registry: str) -> dict[str, list[str]]:
    return {kind: names for kind, names in leftovers(run_id, registry).items() if names}


@pytest.mark.parametrize("interrupt", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_run_removes_containers_networks_images_and_the_registry(
    recipes_dir, tmp_path: Path, interrupt: signal.Signals
) -> None:
    before = existing_runs()
    with started_run(recipes_dir("never-ready"), tmp_path / "reports") as process:
        run_id = wait_for_its_container(process, before)
        registry = registry_host(run_id)
        assert leftovers(run_id, registry)["registries"], "the run's registry should be running"
        assert leftovers(run_id, registry)["images"], "the board pulled the image"
        process.send_signal(interrupt)
        assert process.wait(timeout=60) != 0
    assert nothing_left(run_id, registry) == {}


def test_the_next_run_sweeps_what_a_killed_run_left(recipes_dir, run_suites, tmp_path: Path) -> None:
    before = existing_runs()
    with started_run(recipes_dir("never-ready"), tmp_path / "reports-killed") as process:
        run_id = wait_for_its_container(process, before)
        registry = registry_host(run_id)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    left = leftovers(run_id, registry)
    assert left["containers"] and left["registries"], "a killed run leaves its container and registry behind"
    run = run_suites("-k", "test_build", recipes=recipes_dir("tiny"))
    assert run.outcome("test_build[tiny]") == "passed"
    assert nothing_left(run_id, registry) == {}
