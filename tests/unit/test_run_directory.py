"""A run stops what it recorded when it ends, and a later run sweeps what a dead owner left."""

import subprocess
import sys
from pathlib import Path

import pytest

from harness.registry import Registry
from harness.run import Run, root, sweep_stale_runs
from harness.run.records import REGISTRY


@pytest.fixture(autouse=True)
def private_runs_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(root, "runs_root", lambda: tmp_path / "runs")


def sleeper() -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)


def test_close_stops_recorded_processes_and_removes_the_directory() -> None:
    run = Run.start()
    process = sleeper()
    run.record_process(process.pid, "sleeper")
    run.write(REGISTRY, Registry(url="http://127.0.0.1:1"))
    assert Run.join(run.id, run.dir).read(REGISTRY) == Registry(url="http://127.0.0.1:1")
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


def test_a_record_is_made_once_and_read_back_typed_by_every_process() -> None:
    from harness.build import BuiltImage
    from harness.image_ref import ImageRef
    from harness.run.records import IMAGE, SIZE, BuildOutcome
    from harness.sizes.measure import ImageSize, LayerSize

    run = Run.start()
    made = []
    image = BuiltImage("redis", ImageRef("127.0.0.1:5000", "riscv64/redis", "7", "sha256:" + "a" * 64), "/log", 1.5)
    first = run.once(IMAGE, lambda: made.append(1) or BuildOutcome(image), "redis")
    again = Run.join(run.id, run.dir).once(IMAGE, lambda: made.append(1) or BuildOutcome(), "redis")
    assert first == again == BuildOutcome(image) and made == [1]
    size = ImageSize(10, 20, (LayerSize("sha256:1", 10, 20, "RUN make"),))
    run.write(SIZE, size, "redis")
    assert Run.join(run.id, run.dir).read(SIZE, "redis") == size
    run.close()
