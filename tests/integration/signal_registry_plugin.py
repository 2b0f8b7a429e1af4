"""Loaded into an inner conformance run by tests/integration/test_faults.py (``-p signal_registry_plugin``):
as soon as the session fixture named in $RVCONFORM_TEST_SIGNAL_AFTER is made (``image``: the recipe is built
and pushed, nothing pulled yet), send the run's spawned registry the signal named in $RVCONFORM_TEST_SIGNAL
(STOP: it keeps its port and never answers; KILL: it is gone), as a frozen or crashed lab registry would.
Its pid, the run's id and the time of the signal go to $RVCONFORM_TEST_SIGNAL_PIDFILE, so the outer test
can check both are gone and how long the run took after the signal."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.plugin_state import RUN
from harness.run.records import REGISTRY


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef, request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    pidfile = Path(os.environ["RVCONFORM_TEST_SIGNAL_PIDFILE"])
    if fixturedef.argname != os.environ.get("RVCONFORM_TEST_SIGNAL_AFTER") or pidfile.exists():
        return
    run = request.config.stash[RUN]
    registry = run.read(REGISTRY)
    assert registry is not None and registry.pid, "the run has spawned no registry yet"
    pidfile.write_text(f"{registry.pid} {run.id} {time.time()}")
    os.kill(registry.pid, getattr(signal, f"SIG{os.environ['RVCONFORM_TEST_SIGNAL']}"))
