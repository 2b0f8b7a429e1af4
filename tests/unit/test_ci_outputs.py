"""Pure logic behind what a CI job reads: remote URLs without credentials, results.json, exit statuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.cli import RUN_EXIT_CODES
from harness.gitinfo import public_url
from harness.results import ResultCollector


@pytest.mark.parametrize(("url", "public"), [
    ("https://ci-token:SECRET@host/group/repo.git", "https://host/group/repo.git"),
    ("https://SECRET@host:8443/repo.git", "https://host:8443/repo.git"),
    ("http://user:p%40ss@host/repo", "http://host/repo"),
    ("https://host/repo.git", "https://host/repo.git"),
    ("git@host:group/repo.git", "git@host:group/repo.git"),
    ("ssh://git@host/repo.git", "ssh://host/repo.git"),
    ("/srv/git/repo", "/srv/git/repo"),
])
def test_public_url_drops_credentials(url: str, public: str) -> None:
    assert public_url(url) == public


def _report(when: str, outcome: str, duration: float = 1.0, longrepr: object = None) -> pytest.TestReport:
    properties = [("recipe", "redis"), ("board", "local"), ("digest", "sha256:abc"), ("build", "reused")]
    return pytest.TestReport("suites/test_pull.py::test_pull[redis-local]", ("x", 0, "x"), {}, outcome, longrepr,
                             when, duration=duration, user_properties=properties)


def test_a_test_is_as_bad_as_its_worst_phase(tmp_path: Path) -> None:
    collector = ResultCollector()
    collector.add(_report("setup", "passed"))
    collector.add(_report("call", "failed", longrepr="E   AssertionError: pulled the wrong digest\nmore"))
    collector.add(_report("teardown", "passed", duration=0.5))
    path = tmp_path / "results.json"
    collector.write(path, exit_status=1, interrupted=False, environment={"engine": "20.10"})
    document = json.loads(path.read_text())
    (test,) = document["tests"]
    assert test["outcome"] == "failed" and test["seconds"] == 2.5
    assert test["recipe"] == "redis" and test["digest"] == "sha256:abc" and test["board"] == "local"
    assert test["message"] == "AssertionError: pulled the wrong digest"
    assert document["counts"] == {"passed": 0, "skipped": 0, "failed": 1, "error": 0}


def test_a_failed_setup_is_an_error() -> None:
    collector = ResultCollector()
    collector.add(_report("setup", "failed", longrepr="build of redis failed, see test_build[redis]"))
    collector.add(_report("teardown", "passed"))
    assert collector.counts()["error"] == 1
    assert next(iter(collector.results.values())).message == "build of redis failed, see test_build[redis]"


def test_run_exit_statuses_are_the_documented_ones() -> None:
    assert RUN_EXIT_CODES[pytest.ExitCode.OK] == 0
    assert RUN_EXIT_CODES[pytest.ExitCode.TESTS_FAILED] == 1
    assert RUN_EXIT_CODES[pytest.ExitCode.USAGE_ERROR] == 2
    assert RUN_EXIT_CODES[pytest.ExitCode.NO_TESTS_COLLECTED] == 2
    assert RUN_EXIT_CODES[pytest.ExitCode.INTERRUPTED] == 130
