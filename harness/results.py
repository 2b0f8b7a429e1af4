"""The machine-readable result of a run: ``results.json`` beside junit.xml, one record per test.

A CI step reads it without parsing JUnit: per test the recipe, board, image digest, outcome and
duration; for the run the counts, the exit status and whether it was interrupted.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pytest

#: A phase's outcome -> the test's outcome, when that phase decided it.
_FAILED_IN = {"setup": "error", "call": "failed", "teardown": "error"}
_SEVERITY = ("passed", "skipped", "failed", "error")


@dataclass
class TestResult:
    """One test's verdict over its setup, call and teardown."""

    __test__ = False  # not a pytest test class, whatever its name

    test: str
    recipe: str = ""
    board: str = ""
    image: str = ""
    digest: str = ""
    build: str = ""
    #: For a multi-platform recipe: its platform, the index digest, and which entry a board's pull by tag got.
    platform: str = ""
    index: str = ""
    entry: str = ""
    outcome: str = "passed"
    seconds: float = 0.0
    message: str = ""


@dataclass
class ResultCollector:
    """Collects test reports (in the controlling process, so also from xdist workers)."""

    results: dict[str, TestResult] = field(default_factory=dict)

    def add(self, report: pytest.TestReport) -> None:
        """Fold one phase's report into its test's record."""
        result = self.results.setdefault(report.nodeid, TestResult(report.nodeid))
        result.seconds += report.duration
        properties = dict(report.user_properties)
        for key in ("recipe", "board", "image", "digest", "build", "platform", "index", "entry"):
            if properties.get(key) and not getattr(result, key):
                setattr(result, key, str(properties[key]))
        outcome = _FAILED_IN[report.when] if report.failed else report.outcome
        if _SEVERITY.index(outcome) > _SEVERITY.index(result.outcome):
            result.outcome = outcome
            result.message = _first_line(report)

    def counts(self) -> dict[str, int]:
        """How many tests ended in each outcome."""
        counts = dict.fromkeys(_SEVERITY, 0)
        for result in self.results.values():
            counts[result.outcome] += 1
        return counts

    def write(self, path: Path, *, exit_status: int, interrupted: bool, environment: dict[str, str]) -> None:
        """Write results.json (replacing the previous run's)."""
        document = {
            "exit_status": exit_status, "interrupted": interrupted, "counts": self.counts(),
            "environment": environment,
            "tests": [{**asdict(result), "seconds": round(result.seconds, 3)} for result in self.results.values()],
        }
        path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def _first_line(report: pytest.TestReport) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2])
    lines = report.longreprtext.splitlines()
    errors = [line[1:].strip() for line in lines if line.startswith("E ")]
    return (errors or lines or [""])[0][:500]
