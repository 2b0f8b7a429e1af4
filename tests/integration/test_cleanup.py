"""Everything a run creates is removed: after Ctrl-C, and (by the next run) after a crash."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from harness.engine import engine
from harness.probes.wait import Deadline, wait_until
from harness.runstate import LABEL_RUN, runs_root

SUITES = Path(__file__).parents[2] / "suites"


def start_run(recipes: Path, reports: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", str(SUITES), "-p", "no:cacheprovider", "--recipes", str(recipes),
         "--reports", str(reports), "--ready-timeout", "300"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, cwd=reports.parent,
    )


def wait_for_its_container(process: subprocess.Popen[bytes]) -> str:
    """The run id of the first run container that appears while ``process`` runs."""

    def find() -> str:
        assert process.poll() is None, "the run ended before it started a container"
        containers = engine().containers.list(filters={"label": LABEL_RUN})
        assert containers, "no container yet"
        return containers[0].labels[LABEL_RUN]

    return wait_until(find, what="the run's first container", deadline=Deadline(300), interval=0.5)


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


def test_ctrl_c_mid_run_removes_containers_networks_and_the_registry(recipes_dir, tmp_path: Path) -> None:
    process = start_run(recipes_dir("never-ready"), tmp_path / "reports")
    run_id = wait_for_its_container(process)
    registry = registry_host(run_id)
    assert leftovers(run_id, registry)["registries"], "the run's registry should be running"
    assert leftovers(run_id, registry)["images"], "the board pulled the image"
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=60) != 0
    assert nothing_left(run_id, registry) == {}


def test_the_next_run_sweeps_what_a_killed_run_left(recipes_dir, run_suites, tmp_path: Path) -> None:
    process = start_run(recipes_dir("never-ready"), tmp_path / "reports-killed")
    run_id = wait_for_its_container(process)
    registry = registry_host(run_id)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    time.sleep(0.5)
    left = leftovers(run_id, registry)
    assert left["containers"] and left["registries"], "a killed run leaves its container and registry behind"
    run = run_suites("-k", "test_build", recipes=recipes_dir("tiny"))
    assert run.outcome("test_build[tiny]") == "passed"
    assert nothing_left(run_id, registry) == {}
