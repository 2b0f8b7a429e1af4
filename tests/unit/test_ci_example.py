"""The CI example a user copies (docs/ci/github-actions.yml) runs the README's command with options that exist."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).parents[2]
WORKFLOW = ROOT / "docs" / "ci" / "github-actions.yml"


def _steps() -> list[dict]:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def _known_options() -> set[str]:
    """Every option `rvconform run --help` lists."""
    result = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--help"], capture_output=True, text=True,
                            cwd=ROOT, timeout=60, stdin=subprocess.DEVNULL)
    return set(re.findall(r"(--[a-z][a-z-]+)", result.stdout))


def test_the_workflow_runs_the_readme_command_with_known_options() -> None:
    commands = " ".join(step.get("run", "") for step in _steps())
    assert "make run" in commands and "make run" in (ROOT / "README.md").read_text()
    used = set(re.findall(r"(--[a-z][a-z-]+)", commands.split("make run", 1)[1]))
    assert used, commands
    assert used <= _known_options(), f"unknown options in the workflow: {used - _known_options()}"


def test_the_workflow_keeps_caches_reports_and_junit() -> None:
    uses = " ".join(step.get("uses", "") for step in _steps())
    for action in ("actions/cache", "actions/upload-artifact", "publish-unit-test-result-action"):
        assert action in uses
    paths = " ".join(str(step.get("with", {}).get("path", "")) + str(step.get("with", {}).get("files", ""))
                     for step in _steps())
    assert "reports/" in paths and "reports/junit.xml" in paths and ".rvconform-cache" in paths
