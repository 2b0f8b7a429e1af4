"""A run stops what it recorded when it ends, and a later run sweeps what a dead owner left."""

import subprocess
import sys
from pathlib import Path

import pytest

from harness import runstate
from harness.runstate import Run, sweep_stale_runs


@pytest.fixture(autouse=True)
def private_runs_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runstate, "runs_root", lambda: tmp_path / "runs")


def sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)


def test_close_stops_recorded_processes_and_removes_the_directory() -> None:
    run = Run.start()
    process = sleeper()
    run.record_process(process.pid, "sleeper")
    run.write("registry", {"url": "http://127.0.0.1:1"})
    assert Run.join(run.id, run.dir).read("registry") == {"url": "http://127.0.0.1:1"}
    run.close()
    assert process.wait(timeout=5) is not None
    assert not run.dir.exists()


def test_a_live_run_is_not_swept_but_a_dead_owners_run_is() -> None:
    live = Run.start()
    orphan = live.dir.parent / "orphan"
    orphan.mkdir()
    (orphan / "owner.lock").write_text("12345")
    process = sleeper()
    Run.join("orphan", orphan).record_process(process.pid, "left behind")
    swept = sweep_stale_runs()
    assert "orphan" in swept and live.id not in swept
    assert process.wait(timeout=5) is not None
    assert live.dir.exists()
    live.close()
