"""What a CI job on an ephemeral runner relies on: documented exit statuses, results.json, the report's
header, a --summary for the pull request, a size baseline that survives the runner, and no CI token in
anything the run makes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.registry_client import RegistryClient

ROOT = Path(__file__).parents[2]
TOKEN = "s3cr3t-token-4711"


def rvconform_run(cwd: Path, *args: str, env: dict[str, str] | None = None,
                  timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """``rvconform run`` as a CI step runs it, from ``cwd`` (a checkout), with its output captured."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("RVCONFORM_BRANCH", "RVCONFORM_REVISION",
                                                                     "GITHUB_", "CI_COMMIT"))}
    return subprocess.run([sys.executable, "-m", "harness.cli", "run", "-p", "no:cacheprovider", *args],
                          cwd=cwd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                          env={**clean, **(env or {})})


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True, text=True).stdout


def test_usage_errors_and_empty_selections_exit_2_with_the_reason(tmp_path: Path, recipes_dir) -> None:
    recipes = recipes_dir("tiny")
    earlier = tmp_path / "r" / "junit.xml"
    earlier.parent.mkdir()
    earlier.write_text("<testsuites>an earlier run's verdicts</testsuites>")
    bad = rvconform_run(ROOT, "--recipes", str(recipes), "--recipe", "postgres", "--reports", str(tmp_path / "r"),
                        timeout=60)
    assert bad.returncode == 2, bad.stdout + bad.stderr
    assert "no recipe named postgres" in bad.stdout + bad.stderr
    assert earlier.read_text() == "<testsuites>an earlier run's verdicts</testsuites>", "a usage error writes nothing"
    nothing = rvconform_run(ROOT, "--recipes", str(recipes), "-k", "no_such_test", "--reports",
                            str(tmp_path / "r"), timeout=60)
    assert nothing.returncode == 2, nothing.stdout + nothing.stderr
    assert "no test ran (none was selected, or every selected one was skipped), so nothing was checked" \
        in nothing.stderr


def test_results_file_summary_and_report_header(tmp_path: Path, recipes_dir) -> None:
    reports, summary = tmp_path / "reports", tmp_path / "step-summary.md"
    summary.write_text("earlier step's text\n")
    run = rvconform_run(ROOT, "--recipes", str(recipes_dir("tiny")), "--reports", str(reports),
                        "--summary", str(summary))
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr

    results = json.loads((reports / "results.json").read_text())
    assert results["exit_status"] == 0 and results["interrupted"] is False
    pull = next(t for t in results["tests"] if t["test"].endswith("test_pull[tiny-local]"))
    assert pull["recipe"] == "tiny" and pull["board"] == "local" and pull["outcome"] == "passed"
    assert pull["digest"].startswith("sha256:") and pull["seconds"] > 0
    assert results["counts"]["passed"] == sum(t["outcome"] == "passed" for t in results["tests"]) > 3

    header = results["environment"]
    for key in ("rvconform", "engine", "qemu-user", "qemu-system", "registry", "mmdebstrap"):
        assert header[key][0].isdigit(), f"{key}: {header[key]!r}"
    assert header["kernel of board local"] == os.uname().release
    html = (reports / "report.html").read_text()
    assert "kernel of board local" in html and "mmdebstrap" in html
    junit = {p.get("name") for p in ET.parse(reports / "junit.xml").getroot().iter("property")}
    assert {"engine", "qemu-user", "kernel of board local"} <= junit

    text = summary.read_text()
    assert text.startswith("earlier step's text\n"), "--summary appends; it never replaces"
    assert f"{results['counts']['passed']} passed" in text and "| tiny |" in text


def test_a_ci_token_in_the_remote_url_reaches_no_image_and_no_report(
    tmp_path: Path, recipes_dir, registry_process
) -> None:
    recipes = recipes_dir("tiny")
    # Its own repository in the shared test registry: other tests pin riscv64/tiny:1 there.
    (recipes / "tiny").rename(recipes / "tiny-token")
    (recipes / "tiny-token" / "token-test").write_text(f"{tmp_path}\n")  # a new image: the labels are written
    git(recipes, "init", "-q", "-b", "main")
    git(recipes, "-c", "user.name=t", "-c", "user.email=t@example.org", "add", ".")
    git(recipes, "-c", "user.name=t", "-c", "user.email=t@example.org", "commit", "-q", "-m", "recipes")
    git(recipes, "remote", "add", "origin", f"https://ci-token:{TOKEN}@example.org/group/recipes.git")
    reports = tmp_path / "reports"
    run = rvconform_run(ROOT, "--recipes", str(recipes), "--reports", str(reports), "--registry",
                        registry_process.url, "-k", "build or platform or metadata")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr
    assert TOKEN not in run.stdout + run.stderr

    client = RegistryClient(registry_process.url)
    manifest = client.manifest("riscv64/tiny-token", "1")
    config = client.blob_json("riscv64/tiny-token", manifest.body["config"]["digest"])
    labels = config["config"]["Labels"]
    assert labels["org.opencontainers.image.source"] == "https://example.org/group/recipes.git"
    assert TOKEN not in json.dumps(config)
    leaks = [str(p) for p in reports.rglob("*") if p.is_file() and TOKEN in p.read_text(errors="replace")]
    assert not leaks, f"the token is in {leaks}"


def test_a_fresh_clone_measures_growth_against_the_history_restored_from_a_ci_cache(
    tmp_path: Path, recipes_dir
) -> None:
    """The README's CI recipe: the history lives in a CI cache, restored to a path given to --size-history.
    A run on main records there; a pull request's run on a fresh clone measures against it."""
    recipes = recipes_dir("grows")
    cache = tmp_path / "ci-cache" / "size-history.jsonl"
    main = _fresh_clone(tmp_path / "main-runner")
    first = rvconform_run(main, "--recipes", str(recipes), "-k", "size", "--size-history", str(cache),
                          env={"GITHUB_REF_NAME": "main"})
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr
    assert [json.loads(line)["branch"] for line in cache.read_text().splitlines()] == ["main"]

    toml = recipes / "grows" / "image.toml"
    toml.write_text(toml.read_text().replace("PAD = 0", "PAD = 21000000"))
    pull_request = _fresh_clone(tmp_path / "pr-runner")
    summary = tmp_path / "summary.md"
    second = rvconform_run(pull_request, "--recipes", str(recipes), "-k", "size", "--size-history", str(cache),
                           "--summary", str(summary), env={"GITHUB_REF_NAME": "17/merge"})
    assert second.returncode == 1, second.stdout[-3000:] + second.stderr
    results = json.loads((pull_request / "reports" / "results.json").read_text())
    outcomes = {t["test"].split("::")[-1]: t["outcome"] for t in results["tests"]}
    assert outcomes["test_size_growth[grows]"] == "failed", outcomes
    growth = next(t for t in results["tests"] if t["test"].endswith("test_size_growth[grows]"))
    assert "over the allowed growth of 10%" in growth["message"]
    assert "1 failed" in summary.read_text() and "| grows |" in summary.read_text()


def _fresh_clone(target: Path) -> Path:
    """A clone of this repository's committed state, as a CI runner checks it out: no reports/, HEAD detached
    (the branch then comes from the CI's variables, as for a pull request's merge commit)."""
    if shutil.which("git") is None:
        pytest.fail("git is needed to make a fresh clone")
    subprocess.run(["git", "clone", "-q", str(ROOT), str(target)], check=True, timeout=120)
    subprocess.run(["git", "-C", str(target), "checkout", "-q", "--detach"], check=True, timeout=60)
    assert not (target / "reports" / "size-history.jsonl").exists()
    return target
