"""Loaded into an inner conformance run by tests/integration/test_faults.py (``-p kill_container_plugin``):
right before the test named in $RVCONFORM_TEST_KILL_BEFORE runs, ``docker kill`` the container it is given
(its ``deployment``), as a lab's out-of-memory killer or a colleague would, and wait until it is gone."""

from __future__ import annotations

import os
import subprocess

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    if item.name != os.environ.get("RVCONFORM_TEST_KILL_BEFORE"):
        return
    container = item.funcargs["deployment"].container
    subprocess.run(["docker", "kill", container.handle], check=True, capture_output=True, timeout=30)
    subprocess.run(["docker", "wait", container.handle], check=True, capture_output=True, timeout=30)
