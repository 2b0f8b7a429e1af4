"""Loaded into an inner conformance run by tests/integration/test_faults.py (``-p signal_part_plugin``): as
soon as the session fixture named in $RVCONFORM_TEST_SIGNAL_AFTER is made (``image``: the recipe is built and
pushed, nothing pulled yet; ``board``: a board is connected), send the process the run recorded as
$RVCONFORM_TEST_SIGNAL_PART (``registry``, or ``qemu VM`` for the qemu board's VM) the signal named in
$RVCONFORM_TEST_SIGNAL (STOP: it keeps its ports and never answers; KILL: it is gone), as a frozen or crashed
part of a lab would be. Its pid, the run's id and the time of the signal go to $RVCONFORM_TEST_SIGNAL_PIDFILE,
so the outer test can check both are gone and how long the run took after the signal."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Generator
from pathlib import Path

import pluggy
import pytest

from harness.plugin_state import RUN
from harness.run.processes import recorded


@pytest.hookimpl(hookwrapper=True)
def pytest_fixture_setup(fixturedef: pytest.FixtureDef, request: pytest.FixtureRequest
                         ) -> Generator[None, pluggy.Result[object], None]:
    made = yield
    pidfile = Path(os.environ["RVCONFORM_TEST_SIGNAL_PIDFILE"])
    if fixturedef.argname != os.environ.get("RVCONFORM_TEST_SIGNAL_AFTER") or pidfile.exists() or made.excinfo:
        return  # not that fixture, signalled already, or the fixture failed (e.g. the VM did not boot)
    run = request.config.stash[RUN]
    part = os.environ["RVCONFORM_TEST_SIGNAL_PART"]
    pids = [entry.pid for entry in recorded(run.dir) if entry.what.startswith(part)]
    if not pids:
        return  # e.g. the local board connected before the VM booted: wait for the next one
    pidfile.write_text(f"{pids[-1]} {run.id} {time.time()}")
    os.kill(pids[-1], getattr(signal, f"SIG{os.environ['RVCONFORM_TEST_SIGNAL']}"))
