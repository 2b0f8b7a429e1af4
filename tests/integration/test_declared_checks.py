"""Declared checks (image.toml and a container-structure-test file of schema 2.0.0) on real riscv64 images, on
the local board and the qemu board: every check of a good image passes; on a bad image exactly the wrong
checks fail, each naming the image, the board, the check, what was expected and what was seen."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.integration.conftest import BAD_IMAGES, SuiteRun, run_suites_in

BOARDS = ("local", "qemu")
pytestmark = pytest.mark.slow

#: check test -> the words its failure message must have (per board for board kinds), on checks-wrong.
WRONG_ON_EACH_BOARD = {
    "test_command[checks-wrong-{board}-wrong uname]": ["expected stdout to match /^x86_64$/", "stdout was 'riscv64"],
    "test_command[checks-wrong-{board}-wrong exit code]": ["expected exit code 0, got 3"],
    "test_command[checks-wrong-{board}-wrong user]": ["expected stdout to match /^0$/", "stdout was '65534"],
    "test_exec[checks-wrong-{board}-wrong page content]": ["expected stdout to match /nginx/", "rvconform checks"],
    "test_exec[checks-wrong-{board}-wrong excluded stderr]": ["expected stderr not to match /fail/"],
    "test_http[checks-wrong-{board}-wrong status]": ["expected GET /nothing-here to answer 200, got 404"],
    "test_http[checks-wrong-{board}-wrong header]": ["expected header Server matching /nginx/"],
    "test_tcp[checks-wrong-{board}-wrong banner]": ["to match /^SSH-2\\.0/", "HTTP/1."],
    "test_restart[checks-wrong-{board}-a stored page survives a restart]": [
        "after the restart: expected GET /kept.txt to answer 200, got 404"],
    "test_command[checks-wrong-{board}-cst wrong output]": ["expected stdout to match /goodbye/", "'hello\\n'"],
    "test_command[checks-wrong-{board}-cst wrong exit]": ["expected exit code 0, got 1"],
    "test_command[checks-wrong-{board}-cst failing setup]": ["a setup command failed, so the test did not run: false"],
}
WRONG_ONCE = {
    "test_file[checks-wrong-wrong mode]": ["expected /bin/busybox to have mode 0700, got 0755 (-rwxr-xr-x)"],
    "test_file[checks-wrong-wrong absent]": ["expected /bin/busybox to be absent, but it is a file"],
    "test_file[checks-wrong-wrong content]": ["expected the content of /www/index.html to match /Welcome to nginx/"],
    "test_file[checks-wrong-wrong owner]": ["expected /www/index.html to be owned by uid 0, got 1000"],
    "test_file[checks-wrong-cst wrong permissions]": ["to have mode -rw-------, got -rwxr-xr-x"],
    "test_file[checks-wrong-cst wrong executable]": ["to be executable by owner, but its mode is -rw-r--r--"],
    "test_file[checks-wrong-cst wrong passwd]": ["expected the content of /etc/passwd not to match /web/"],
    "test_metadata[checks-wrong-metadataTest]": ["expected environment variable GREETING='goodbye', got 'hello'",
                                                 "expected port 9090", "expected user 'root', got '1000:1000'"],
}
RIGHT_IN_THE_WRONG = ["test_command[checks-wrong-{board}-right uname]",
                      "test_http[checks-wrong-{board}-right front page]",
                      "test_command[checks-wrong-{board}-cst right uname]", "test_file[checks-wrong-cst right busybox]"]


@pytest.fixture(scope="module")
def checks_run(tmp_path_factory: pytest.TempPathFactory) -> SuiteRun:
    """One run of both recipes on both boards (one VM boot)."""
    directory = tmp_path_factory.mktemp("declared")
    for name in ("checks-good", "checks-wrong"):
        shutil.copytree(BAD_IMAGES / name, directory / "recipes" / name)
    boards = [arg for board in BOARDS for arg in ("--board", board)]
    return run_suites_in(directory, *boards, "-k", "test_build or test_pull or test_starts or checks.py",
                         recipes=directory / "recipes")


def _cases(names: dict[str, list[str]] | list[str]) -> list[str]:
    return [name.format(board=board) for name in names for board in BOARDS if "{board}" in name] + [
        name for name in names if "{board}" not in name]


def test_every_check_of_the_good_image_passes_on_both_boards(checks_run: SuiteRun) -> None:
    good = {name: outcome for name, outcome in checks_run.outcomes().items() if "[checks-good" in name}
    kinds = {name.split("[")[0] for name in good}
    assert kinds >= {"test_command", "test_exec", "test_http", "test_tcp", "test_restart", "test_file",
                     "test_metadata"}, checks_run.output
    assert {outcome for outcome in good.values()} == {"passed"}, {
        name: checks_run.message(name) for name, outcome in good.items() if outcome != "passed"}
    for board in BOARDS:
        for cst in ("cst uname", "cst setup then read", "cst env and error"):
            assert good[f"test_command[checks-good-{board}-{cst}]"] == "passed"
    assert good["test_metadata[checks-good-metadataTest]"] == "passed"


def test_each_wrong_check_fails_naming_what_it_expected_and_saw(checks_run: SuiteRun) -> None:
    expected = {name.format(board=board): words for name, words in WRONG_ON_EACH_BOARD.items() for board in BOARDS}
    expected |= WRONG_ONCE
    for name, words in expected.items():
        assert checks_run.outcome(name) == "failed", f"{name}: {checks_run.message(name)}"
        message = checks_run.message(name)
        assert "checks-wrong" in message and "check '" in message, message
        for word in words:
            assert word in message, f"{name}: {word!r} not in\n{message}"
    for board in BOARDS:
        assert f"on {board} (" in checks_run.message(f"test_exec[checks-wrong-{board}-wrong page content]")


def test_exactly_the_wrong_checks_fail(checks_run: SuiteRun) -> None:
    wrong = set(_cases(WRONG_ON_EACH_BOARD)) | set(WRONG_ONCE)
    failed = {name for name, outcome in checks_run.outcomes().items() if outcome != "passed"}
    assert failed == wrong, f"unexpected: {sorted(failed - wrong)}; missing: {sorted(wrong - failed)}"
    for name in _cases(RIGHT_IN_THE_WRONG):
        assert checks_run.outcome(name) == "passed", checks_run.message(name)


def test_a_log_readiness_that_never_matches_fails_at_its_deadline(run_suites, tmp_path: Path) -> None:
    recipe = tmp_path / "recipes" / "silent"
    recipe.mkdir(parents=True)
    (recipe / "image.toml").write_text('tag = "1"\ndockerfile = "%s"\nready = "log:^never printed$"\n'
                                       '[bases]\nBASE = "debian:sid"\n' % (BAD_IMAGES / "checks-good" / "Dockerfile"))
    result = run_suites("--ready-timeout", "5", "-k", "test_starts", recipes=tmp_path / "recipes")
    message = result.message("test_starts[silent-local]")
    assert result.outcome("test_starts[silent-local]") == "failed"
    assert "its log to match /^never printed$/" in message and "web server started" in message, message


def test_own_python_checks_run_with_the_suites(run_suites, recipes_dir) -> None:
    """docs/own-checks.md: a directory of the user's tests given to `rvconform run` uses the fixtures, is
    parametrized over recipes and boards, and fails on a bad image (tiny runs as root)."""
    example = Path(__file__).parents[2] / "docs" / "examples" / "own-checks"
    result = run_suites(str(example), "-k", "house_rules or test_build", recipes=recipes_dir("checks-good", "tiny"),
                        cli=True)
    assert result.outcome("test_does_not_run_as_root[checks-good]") == "passed"
    assert result.outcome("test_log_has_no_error_line[checks-good-local]") == "passed"
    assert result.outcome("test_does_not_run_as_root[tiny]") == "failed"
    assert "tiny: the image runs as root (config User '')" in result.message("test_does_not_run_as_root[tiny]")
    assert "test_log_has_no_error_line[tiny-local]" not in result.verdicts
    assert result.returncode == 1
