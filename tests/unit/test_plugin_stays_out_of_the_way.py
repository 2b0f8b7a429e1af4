"""Installed into a venv, the pytest11 plugin loads in every pytest run there; in a project's own, unrelated
tests it must do nothing: no run directory, no SIGTERM handler, no parametrizing."""

import os
import subprocess
import sys
from pathlib import Path

UNRELATED_TEST = '''
import signal


def test_nothing_of_rvconform_is_in_the_way(request, recipe="not parametrized"):
    assert request.config.pluginmanager.has_plugin("harness.plugin"), "the plugin must be loaded for this test"
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    assert recipe == "not parametrized"
'''


def test_an_unrelated_pytest_run_gets_no_run_directory_and_no_signal_handler(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "test_unrelated.py").write_text(UNRELATED_TEST)
    temp = tmp_path / "tmp"  # the runs root lives under the temporary directory
    temp.mkdir()
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_unrelated.py"],
                            cwd=project, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL,
                            env={**os.environ, "TMPDIR": str(temp)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
    assert list(temp.rglob("runs/*")) == [], "no run directory under the runs root"


def test_rvconform_run_help_shows_its_options_and_not_testinfra_s() -> None:
    result = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--help"], capture_output=True, text=True,
                            timeout=120, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert "--board=URL" in result.stdout and "--recipe=NAME" in result.stdout
    assert "--hosts" not in result.stdout and "--sudo" not in result.stdout
