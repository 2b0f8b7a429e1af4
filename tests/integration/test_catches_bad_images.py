"""The harness fails where it must: each bad recipe fails exactly its own check, with the cause named."""

from __future__ import annotations

import re
import shutil
import time

import pytest


def test_a_failing_build_fails_only_its_own_tests_with_the_log(run_suites, recipes_dir) -> None:
    run = run_suites(recipes=recipes_dir("broken-build", "tiny"))
    assert run.outcome("test_build[broken-build]") == "failed"
    message = run.message("test_build[broken-build]")
    assert "build of recipe 'broken-build' failed" in message
    assert "rvconform-test: compiling the impossible" in message, "the log tail is attached"
    assert run.outcome("test_pull[broken-build-local]") == "error"
    assert "see test_build[broken-build]" in run.message("test_pull[broken-build-local]")
    log = run.reports / "logs" / "build-broken-build.log"
    assert "compiling the impossible" in log.read_text()
    assert "build log of broken-build" in (run.reports / "report.html").read_text()
    tiny = {name: outcome for name, outcome in run.outcomes().items() if "[tiny" in name}
    assert tiny["test_build[tiny]"] == tiny["test_pull[tiny-local]"] == "passed"
    assert set(tiny.values()) <= {"passed", "skipped"}, tiny
    assert run.returncode == 1


def test_a_container_that_exits_at_start_fails_fast_with_its_logs(run_suites, recipes_dir) -> None:
    run = run_suites("--ready-timeout", "120", recipes=recipes_dir("exits-at-start"))
    assert run.outcome("test_starts[exits-at-start-local]") == "failed"
    message = run.message("test_starts[exits-at-start-local]")
    assert "exited with code 3" in message
    assert "rvconform-test: fatal: /etc/redis.conf not found" in message, "the container's logs are attached"
    assert re.search(r"exited with code 3 while waiting", message)
    assert "see test_starts[exits-at-start-local]" in run.message("test_auth_set_get[exits-at-start-local]")
    kept = run.reports / "logs" / "container-exits-at-start-local.log"
    assert "/etc/redis.conf not found" in kept.read_text(), "reports/logs keeps the container's own log"
    html = (run.reports / "report.html").read_text()
    assert "container log of exits-at-start on local" in html
    assert "build log of exits-at-start" not in html, "a start failure shows the container's log, not the build's"


def test_an_image_over_budget_fails_its_size_test_naming_both_numbers(run_suites, recipes_dir) -> None:
    run = run_suites(recipes=recipes_dir("over-budget"))
    assert run.outcome("test_within_budget[over-budget]") == "failed"
    message = run.message("test_within_budget[over-budget]")
    assert "unpacked size" in message and "over the budget of 12.00 MB (12000000 bytes)" in message
    assert "compressed size" in message and "6.00 MB (6000000 bytes)" in message
    assert run.outcome("test_pull[over-budget-local]") == "passed"


def test_a_redis_without_requirepass_fails_the_noauth_check(run_suites, recipes_dir) -> None:
    recipes = recipes_dir("redis")
    noauth = recipes / "redis-noauth"
    (recipes / "redis").rename(noauth)
    conf = noauth / "redis.conf"
    conf.write_text("".join(line for line in conf.read_text().splitlines(keepends=True)
                            if not line.startswith("requirepass")))
    run = run_suites("-k", "auth", recipes=recipes)
    assert run.outcome("test_refuses_commands_without_auth[redis-noauth-local]") == "failed"
    assert "accepted it" in run.message("test_refuses_commands_without_auth[redis-noauth-local]")


@pytest.mark.parametrize(
    ("breakage", "args", "expected"),
    [
        ("no-dockerfile", [], ["its Dockerfile", "is missing", "fix: add Dockerfile"]),
        ("bad-toml", [], ["image.toml: 'port' must be an integer", "fix: edit image.toml"]),
        (None, ["--board", "serial://board1"], ["unknown board URL 'serial://board1'", "fix: use one of"]),
        (None, ["--recipe", "postgres"], ["no recipe named postgres", "choose from: tiny"]),
        (None, ["--image", "tiny=redis:latest"], ["not an image reference with a registry", "fix:"]),
        (None, ["--ready-timeout", "-5"], ["--ready-timeout -5: a deadline must be a positive number", "fix:"]),
        ("empty-recipes", [], ["no recipe in", "none of its sub-directories has an image.toml", "fix:"]),
        (None, ["--structure-test", "missing.yaml"], ["--structure-test missing.yaml: no such file", "fix:"]),
        (None, ["--structure-test", "nope=/etc/passwd"], ["there is no recipe 'nope' in", "fix:"]),
        ("bad-cst", [], ["structure-test.yaml: schemaVersion is missing", 'fix: add schemaVersion: "2.0.0"']),
        ("recipes-is-a-file", [], ["is a file, not a directory", "fix: point --recipes at a directory"]),
    ],
)
def test_bad_input_gets_a_clear_error_within_seconds(
    run_suites, recipes_dir, breakage: str | None, args: list[str], expected: list[str]
) -> None:
    recipes = recipes_dir("tiny")
    if breakage == "no-dockerfile":
        (recipes / "tiny" / "Dockerfile").unlink()
    if breakage == "bad-toml":
        (recipes / "tiny" / "image.toml").write_text('port = "six"\n')
    if breakage == "bad-cst":
        (recipes / "tiny" / "structure-test.yaml").write_text("commandTests: []\n")
    if breakage == "empty-recipes":
        shutil.rmtree(recipes / "tiny")
    if breakage == "recipes-is-a-file":
        recipes = recipes / "tiny" / "Dockerfile"
    started = time.monotonic()
    run = run_suites(*args, recipes=recipes, timeout=60)
    assert time.monotonic() - started < 20
    assert run.returncode == 4, run.output
    for text in expected:
        assert text in run.output
    assert "Traceback" not in run.output


def test_an_unreachable_registry_is_named_within_seconds(run_suites, recipes_dir) -> None:
    started = time.monotonic()
    run = run_suites("--registry", "http://127.0.0.1:9", recipes=recipes_dir("tiny"), timeout=120)
    assert time.monotonic() - started < 30
    assert run.outcome("test_build[tiny]") == "error"
    assert "registry http://127.0.0.1:9 does not answer" in run.message("test_build[tiny]")


def test_a_service_that_never_answers_fails_at_its_deadline(run_suites, recipes_dir) -> None:
    run = run_suites("--ready-timeout", "8", recipes=recipes_dir("never-ready"))
    verdict = run.verdicts["test_starts[never-ready-local]"]
    assert verdict.outcome == "failed"
    waited = re.search(r"never-ready on local .*, port 6379: not ready after ([0-9.]+) s", verdict.message)
    assert waited and 8 <= float(waited.group(1)) < 12, verdict.message
    assert "last attempt:" in verdict.message
