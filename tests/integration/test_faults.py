"""Faults and bad input, done to real parts (engine, registry, QEMU, signals): every verdict says what happened,
every exit status is honest, nothing is left behind and no run disturbs another."""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness.cache import MIN_PARTIAL_AGE, PARTIAL_PREFIX, cache_root
from harness.run import runs_root
from harness.wait import Deadline, wait_until

ROOT = Path(__file__).parents[2]
HERE = Path(__file__).parent
#: Cache folders an isolated cache shares with the real one (warm: base images, the VM, tools).
SHARED_CACHE = ("bases", "blobs", "tools", "vm", "ssh")


def rvconform(*args: str, cwd: Path = ROOT, env: dict[str, str] | None = None,
              timeout: float = 900) -> tuple[subprocess.CompletedProcess[str], float]:
    """``rvconform run`` with its output captured, and how long it took."""
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "harness.cli", "run", "-p", "no:cacheprovider", *args],
                            cwd=cwd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL,
                            env={**os.environ, **(env or {})})
    return result, time.monotonic() - started


def junit_cases(path: Path) -> dict[str, ET.Element]:
    return {case.get("name"): case for case in ET.parse(path).getroot().iter("testcase")}


def verdict(case: ET.Element) -> tuple[str, str]:
    """(outcome, message) of a JUnit test case."""
    for tag, outcome in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
        element = case.find(tag)
        if element is not None:
            return outcome, f"{element.get('message') or ''}\n{element.text or ''}"
    return "passed", ""


def isolated_cache(tmp_path: Path) -> dict[str, str]:
    """An environment whose rvconform cache has its own registry storage, build records and sources, and
    shares the warm rest (base images) with the real cache."""
    root = tmp_path / "cache"
    root.mkdir()
    for kind in SHARED_CACHE:
        (cache_root() / kind).mkdir(parents=True, exist_ok=True)
        (root / kind).symlink_to(cache_root() / kind)
    return {"RVCONFORM_CACHE": str(root)}


def tiny_version(recipes: Path, name: str, version: str) -> Path:
    """A copy of the tiny recipe whose image differs by one file (/version)."""
    target = recipes / name / "tiny"
    shutil.copytree(HERE / "images" / "tiny", target)
    dockerfile = target / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace(
        'ENV PATH=/bin', f'RUN ["/bin/busybox", "sh", "-c", "echo {version} > /version"]\nENV PATH=/bin'))
    return target.parent


# --- item 2: verdicts that cannot lie ---------------------------------------------------------------------

@pytest.mark.parametrize(("args", "said"), [
    (["--ready-timeout", "-5"], "--ready-timeout -5: a deadline must be a positive number"),
    (["--mirror", "deb.debian.org"], "--mirror 'deb.debian.org' is not an http:// or https:// URL"),
    (["--registry", "ftp://lab"], "--registry 'ftp://lab' is not an http:// or https:// URL"),
    (["--registry-address", "board-sees-it"], "--registry-address 'board-sees-it' is not HOST:PORT"),
    (["--baseline-branch", ""], "--baseline-branch '' is not a branch name"),
    (["--recipe", ""], "--recipe was given an empty name"),
    (["--summary", "/nonexistent/folder/summary.md"], "--summary /nonexistent/folder/summary.md: cannot be written"),
    (["--recipes", "README.md"], "recipes directory README.md is a file, not a directory"),
], ids=["negative-timeout", "mirror", "registry", "registry-address", "branch", "recipe", "summary", "recipes"])
def test_an_invalid_option_is_a_usage_error_that_leaves_earlier_reports_alone(
    tmp_path: Path, recipes_dir, args: list[str], said: str
) -> None:
    reports = tmp_path / "reports"
    reports.mkdir()
    earlier = {name: f"an earlier run's {name}" for name in ("junit.xml", "report.html", "results.json")}
    for name, text in earlier.items():
        (reports / name).write_text(text)
    result, seconds = rvconform("--recipes", str(recipes_dir("tiny")), "--reports", str(reports), *args, timeout=60)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr
    assert said in result.stdout + result.stderr
    assert "fix:" in result.stdout + result.stderr and "Traceback" not in result.stdout + result.stderr
    assert seconds < 20
    assert {name: (reports / name).read_text() for name in earlier} == earlier, "a usage error writes no report"
    assert sorted(p.name for p in reports.iterdir()) == sorted(earlier)


def test_a_run_where_every_selected_test_is_skipped_checked_nothing_and_says_so(tmp_path: Path, recipes_dir) -> None:
    result, seconds = rvconform("--recipes", str(recipes_dir("tiny")), "--reports", str(tmp_path / "r"),
                                "-k", "test_auth_set_get", timeout=120)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr
    assert "every selected test was skipped" in result.stdout
    assert "so nothing was checked" in result.stderr
    assert seconds < 60


def test_a_typo_in_a_check_profile_is_a_recipe_error_naming_file_key_and_known_keys(tmp_path: Path,
                                                                                   recipes_dir) -> None:
    recipes = recipes_dir("never-ready")
    toml = recipes / "never-ready" / "image.toml"
    toml.write_text(toml.read_text().replace("password =", "pasword ="))
    result, seconds = rvconform("--recipes", str(recipes), "--reports", str(tmp_path / "r"), timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-2000:]
    assert f"{toml}: 'checks.redis.pasword' must be one of the keys of [checks.redis]: password" in output
    assert "KeyError" not in output and seconds < 20


@contextmanager
def interruptible_run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    """``rvconform run`` in its own process group, as a terminal runs it (so Ctrl-C reaches it)."""
    process = subprocess.Popen([sys.executable, "-m", "harness.cli", "run", "-p", "no:cacheprovider", *args],
                               cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               stdin=subprocess.DEVNULL, start_new_session=True, env={**os.environ, **(env or {})})
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def test_an_interrupted_run_says_so_in_every_report_exits_130_and_records_no_size(tmp_path: Path,
                                                                                  recipes_dir) -> None:
    reports = tmp_path / "reports"
    recipes = recipes_dir("tiny", "never-ready")
    with interruptible_run("--recipes", str(recipes), "--reports", str(reports), "--ready-timeout", "300",
                           cwd=ROOT) as process:
        # test_starts of never-ready waits up to 300 s: the run is surely mid-way once junit's cases began.
        wait_until(lambda: _container_of(recipes), what="the run's never-ready container", deadline=Deadline(600),
                   retry_on=(AssertionError,), interval=0.5,
                   alive=lambda: None if process.poll() is None else "the run ended")
        os.killpg(process.pid, signal.SIGINT)
        interrupted = time.monotonic()
        output, _ = process.communicate(timeout=60)
        seconds = time.monotonic() - interrupted
    assert process.returncode == 130, output[-3000:]
    assert seconds < 30
    cases = junit_cases(reports / "junit.xml")
    outcome, message = verdict(cases["run_interrupted"])
    assert outcome == "error"
    assert "the run was interrupted (Ctrl-C or SIGTERM) while suites/" in message and "did not run" in message
    suite = ET.parse(reports / "junit.xml").getroot().find("testsuite")
    assert int(suite.get("errors")) >= 1, "a CI that reads only the counts sees the run is not green"
    assert "the run was interrupted" in (reports / "report.html").read_text()
    results = json.loads((reports / "results.json").read_text())
    assert results["interrupted"] is True and results["counts"]["error"] >= 1
    assert not (reports / "size-history.jsonl").exists(), "an interrupted run appends no size record"


def _container_of(recipes: Path) -> None:
    found = subprocess.run(["docker", "ps", "-q", "--filter", "label=rvconform.recipe=never-ready"],
                           capture_output=True, text=True, check=True).stdout.split()
    assert found, "no never-ready container yet"


def test_a_recipe_whose_checks_failed_appends_no_size_record_and_the_others_do(tmp_path: Path,
                                                                             recipes_dir) -> None:
    reports = tmp_path / "reports"
    result, _ = rvconform("--recipes", str(recipes_dir("tiny", "over-budget")), "--reports", str(reports),
                          "-k", "size or build", timeout=1800)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr
    assert verdict(junit_cases(reports / "junit.xml")["test_within_budget[over-budget]"])[0] == "failed"
    recorded = [json.loads(line)["recipe"] for line in (reports / "size-history.jsonl").read_text().splitlines()]
    assert recorded == ["tiny"], "the failed recipe's size would become the next baseline"
    assert "no size record for over-budget: a test of it failed" in result.stdout
    measured = {record["recipe"] for record in json.loads((reports / "sizes.json").read_text())}
    assert measured == {"tiny", "over-budget"}, "its measured sizes are still reported"


# --- item 3: diagnoses from the evidence ------------------------------------------------------------------

def test_a_container_killed_mid_run_is_reported_as_exited_in_every_test_that_needed_it(
    tmp_path: Path, recipes_dir
) -> None:
    reports = tmp_path / "reports"
    result, _ = rvconform(
        "--recipes", str(recipes_dir("redis-static")), "--reports", str(reports), "-k", "test_redis.py",
        "-p", "kill_container_plugin", env={"PYTHONPATH": str(HERE), "RVCONFORM_TEST_KILL_BEFORE":
                                            "test_refuses_commands_without_auth[redis-static-local]"},
        timeout=1800)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr
    cases = junit_cases(reports / "junit.xml")
    needed = ["test_refuses_commands_without_auth", "test_refuses_a_wrong_password", "test_auth_set_get",
              "test_info_server_says_riscv64"]
    for name in needed:
        case = cases[f"{name}[redis-static-local]"]
        outcome, message = verdict(case)
        assert outcome in ("failed", "error"), name
        assert "the container of redis-static on local" in message and "exited with code 137" in message, message
        assert "--- last 40 log lines ---" in message and "Ready to accept connections" in message, message
        assert "is not published" not in message and "declare the port" not in message, message
        assert _text(case).count("exited with code 137") == 1, "said once"
        assert float(case.get("time")) < 15


def test_a_failed_start_says_each_line_once(tmp_path: Path, recipes_dir) -> None:
    reports = tmp_path / "reports"
    result, _ = rvconform("--recipes", str(recipes_dir("exits-at-start")), "--reports", str(reports),
                          "-k", "test_starts", timeout=600)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr
    text = _text(junit_cases(reports / "junit.xml")["test_starts[exits-at-start-local]"])
    assert text.count("exited with code 3") == 1 and text.count("/etc/redis.conf not found") == 1, text
    assert "is None" not in text and "where" not in text, "no assertion explanation repeating the error's repr"


def test_a_fix_hint_names_only_options_the_user_gave(tmp_path: Path, recipes_dir) -> None:
    from harness.errors import RegistryError
    from harness.registry_client import RegistryClient

    with pytest.raises(RegistryError) as caught:
        RegistryClient("http://127.0.0.1:9").ping()
    assert "--registry" not in str(caught.value), "the run's own registry was not given with --registry"
    reports = tmp_path / "reports"
    result, seconds = rvconform("--recipes", str(recipes_dir("tiny")), "--reports", str(reports),
                                "--registry", "http://127.0.0.1:9", "-k", "test_build", timeout=120)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr
    text = _text(junit_cases(reports / "junit.xml")["test_build[tiny]"])
    assert "--registry http://127.0.0.1:9: registry http://127.0.0.1:9 does not answer" in text, text
    assert "fix: check that the registry runs and that --registry http://127.0.0.1:9 is its base URL" in text
    assert seconds < 60


# --- item 4: runs that share the cache do not disturb each other -----------------------------------------

def test_two_versions_of_a_recipe_each_check_their_own_image_and_keep_their_cached_push(tmp_path: Path) -> None:
    env = isolated_cache(tmp_path)
    one, two = tiny_version(tmp_path, "clone-one", "one"), tiny_version(tmp_path, "clone-two", "two")
    selected = ("-k", "test_build or test_pull or test_manifest_platform")

    def run(recipes: Path, reports: str) -> dict[str, ET.Element]:
        result, _ = rvconform("--recipes", str(recipes), "--reports", str(tmp_path / reports), *selected, env=env,
                              timeout=1800)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr
        return junit_cases(tmp_path / reports / "junit.xml")

    first, other, again = run(one, "first"), run(two, "other"), run(one, "again")
    digest = {name: _property(cases["test_pull[tiny-local]"], "digest")
              for name, cases in (("first", first), ("other", other), ("again", again))}
    assert digest["first"] != digest["other"], "two versions, two images"
    assert digest["again"] == digest["first"], "the other version did not replace this one's image"
    assert _property(again["test_build[tiny]"], "build") == "reused", "nothing built or pushed again"
    assert ":1-" in _property(first["test_build[tiny]"], "image"), "pushed under <tag>-<build key>"


def test_two_runs_at_once_with_different_versions_of_one_recipe_each_pull_their_own(tmp_path: Path) -> None:
    env = isolated_cache(tmp_path)
    runs = {name: tiny_version(tmp_path, f"clone-{name}", name) for name in ("left", "right")}
    processes = {
        name: subprocess.Popen(
            [sys.executable, "-m", "harness.cli", "run", "-p", "no:cacheprovider", "--recipes", str(recipes),
             "--reports", str(tmp_path / f"reports-{name}"), "-k", "test_build or test_pull"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL,
            env={**os.environ, **env})
        for name, recipes in runs.items()
    }
    outputs = {name: process.communicate(timeout=1800)[0] for name, process in processes.items()}
    digests = {}
    for name, process in processes.items():
        assert process.returncode == 0, outputs[name][-3000:]
        cases = junit_cases(tmp_path / f"reports-{name}" / "junit.xml")
        assert verdict(cases["test_pull[tiny-local]"])[0] == "passed", "pulled exactly the digest it pushed"
        digests[name] = _property(cases["test_pull[tiny-local]"], "digest")
    assert digests["left"] != digests["right"]


def _text(case: ET.Element) -> str:
    """The body of a case's failure or error (its message attribute repeats it, as JUnit does)."""
    element = case.find("failure") if case.find("failure") is not None else case.find("error")
    return element.text or ""


def _property(case: ET.Element, name: str) -> str:
    return next(p.get("value") for p in case.iter("property") if p.get("name") == name)


# --- item 5: nothing left behind --------------------------------------------------------------------------

class _Trickle(http.server.BaseHTTPRequestHandler):
    """Sends the first bytes of a large file, then nothing: a download that is surely in progress."""

    stop = threading.Event()

    def do_GET(self) -> None:  # the name http.server calls
        self.send_response(200)
        self.send_header("Content-Length", str(8 << 20))
        self.end_headers()
        self.wfile.write(b"x" * (64 << 10))
        self.wfile.flush()
        self.stop.wait(120)

    def log_message(self, *args: object) -> None:
        pass


def test_a_run_killed_mid_download_leaves_nothing_after_the_next_runs_sweep(tmp_path: Path, recipes_dir) -> None:
    env = isolated_cache(tmp_path)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Trickle)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    recipes = recipes_dir("tiny")
    shutil.copytree(recipes / "tiny", recipes / "tiny-source")
    with (recipes / "tiny-source" / "image.toml").open("a") as toml:
        toml.write(f'\n[[sources]]\nurl = "http://127.0.0.1:{server.server_port}/big.tar"\nsha256 = "{"0" * 64}"\n')
    sources = Path(env["RVCONFORM_CACHE"]) / "sources"
    before = set(runs_root().iterdir()) if runs_root().is_dir() else set()
    try:
        with interruptible_run("--recipes", str(recipes), "--recipe", "tiny-source", "--reports",
                               str(tmp_path / "killed"), cwd=ROOT, env=env) as process:
            def downloading() -> Path:
                partial = list(sources.glob(f"{PARTIAL_PREFIX}*"))
                contexts = [p for run in set(runs_root().iterdir()) - before for p in run.glob("contexts/*")]
                assert partial and contexts, "not downloading yet"
                return contexts[0]

            context = wait_until(downloading, what="the download", deadline=Deadline(300),
                                 retry_on=(AssertionError,), interval=0.2,
                                 alive=lambda: None if process.poll() is None else "the run ended",
                                 logs=lambda: process.stdout.read() if process.poll() is not None else "")
            run_dir = context.parents[1]
            assert list(sources.glob("*.lock")), "the download holds its lock file"
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    finally:
        _Trickle.stop.set()
        server.shutdown()
    assert context.is_dir() and list(sources.glob(f"{PARTIAL_PREFIX}*")), "a killed run leaves these behind"
    time.sleep(MIN_PARTIAL_AGE)  # the sweep leaves a younger partial file alone: its writer may just have made it
    result, _ = rvconform("--recipes", str(recipes), "--recipe", "tiny", "--reports", str(tmp_path / "next"),
                          "-k", "test_build", env=env, timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert not run_dir.exists(), "the dead run's directory, with its build context, is swept"
    assert sorted(p.name for p in sources.iterdir()) == [], "no lock file, no partial download"


# --- items 1 and 7: every deadline holds when a part stops answering ---------------------------------------

PULL_TIMEOUT = 10


def _signal(pidfile: Path, part: str, name: str, after: str) -> dict[str, str]:
    """The environment for signal_part_plugin: signal ``part`` with SIG``name`` once fixture ``after`` is made."""
    return {"PYTHONPATH": str(HERE), "RVCONFORM_TEST_SIGNAL_AFTER": after, "RVCONFORM_TEST_SIGNAL_PART": part,
            "RVCONFORM_TEST_SIGNAL": name, "RVCONFORM_TEST_SIGNAL_PIDFILE": str(pidfile)}


def _left_by(run_id: str, pid: int) -> dict[str, list[str]]:
    """What the run ``run_id`` left: containers and networks with its label, its directory, its registry."""
    def listed(kind: str) -> list[str]:
        return subprocess.run(["docker", kind, "ls", "-q", *(["-a"] if kind == "container" else []), "--filter",
                               f"label=rvconform.run={run_id}"], capture_output=True, text=True).stdout.split()

    alive = Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    found = {"containers": listed("container"), "networks": listed("network"),
             "run directory": [str(runs_root() / run_id)] if (runs_root() / run_id).exists() else [],
             "registry": [str(pid)] if alive else []}
    return {kind: names for kind, names in found.items() if names}


@pytest.mark.parametrize("stop", ["STOP", "KILL"], ids=["registry-stopped", "registry-killed"])
def test_a_registry_that_stops_answering_after_the_push_fails_its_tests_within_the_deadline_naming_it(
    tmp_path: Path, recipes_dir, stop: str
) -> None:
    reports, pidfile = tmp_path / "reports", tmp_path / "registry.pid"
    try:
        result, _ = rvconform(
            "--recipes", str(recipes_dir("tiny")), "--reports", str(reports), "--pull-timeout", str(PULL_TIMEOUT),
            "-k", "(test_build or test_config_platform or test_pull) and not mirror", "-p", "signal_part_plugin",
            env=_signal(pidfile, "registry", stop, after="image"), timeout=1800)
        ended = time.time()
    finally:
        if pidfile.exists():  # a stopped registry the run failed to end would hang the next test's reads
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pidfile.read_text().split()[0]), signal.SIGCONT)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output[-3000:]
    assert "Traceback" not in output and "TimeoutExpired" not in output, output[-3000:]
    cases = junit_cases(reports / "junit.xml")
    assert verdict(cases["test_build[tiny]"])[0] == "passed"
    registry = _property(cases["test_build[tiny]"], "image").split("/")[0]
    outcome, message = verdict(cases["test_config_platform[tiny]"])
    assert outcome in ("failed", "error"), message
    assert f"registry http://{registry} does not answer" in message, message
    outcome, message = verdict(cases["test_pull[tiny-local]"])
    assert outcome == "failed", message
    assert f"local: pull of {registry}/" in message, message
    if stop == "STOP":
        assert f"did not finish within {PULL_TIMEOUT} s (--pull-timeout): the registry {registry} stopped" in message
        assert f"had no answer within {PULL_TIMEOUT} s" in verdict(cases["test_config_platform[tiny]"])[1]
    else:
        assert "connection refused" in message and f"the registry at {registry} runs" in message, message
    pid, run_id, signalled = pidfile.read_text().split()
    # Two waits on the registry (the pull, the manifest read), each within the deadline, then the teardown.
    after = ended - float(signalled)
    assert after < 2 * PULL_TIMEOUT + 30, f"the run took {after:.0f} s after the registry stopped answering"
    assert _left_by(run_id, int(pid)) == {}


@pytest.mark.slow
def test_a_stopped_qemu_vm_fails_its_board_tests_within_the_deadline_naming_the_board_and_is_killed(
    tmp_path: Path, recipes_dir
) -> None:
    from harness.boards.transport import ANSWER_TIMEOUT

    reports, pidfile = tmp_path / "reports", tmp_path / "vm.pid"
    try:
        result, _ = rvconform("--recipes", str(recipes_dir("tiny")), "--reports", str(reports), "--board", "qemu",
                              "--pull-timeout", str(PULL_TIMEOUT), "-k", "test_pull and not mirror",
                              "-p", "signal_part_plugin", env=_signal(pidfile, "qemu VM", "STOP", after="board"),
                              timeout=1800)
        ended = time.time()
    finally:
        if pidfile.exists():  # a VM the run failed to end is not left stopped either
            with contextlib.suppress(ProcessLookupError):
                os.killpg(int(pidfile.read_text().split()[0]), signal.SIGKILL)
    output = result.stdout + result.stderr
    outcome, message = verdict(junit_cases(reports / "junit.xml")["test_pull[tiny-qemu]"])
    assert pidfile.exists(), f"the VM did not boot, so it was never stopped:\n{message}"
    assert result.returncode == 1, output[-3000:]
    assert "Traceback" not in output and "TimeoutExpired" not in output, output[-3000:]
    assert outcome == "failed", message
    assert "qemu: pull of 10.0.2.2:" in message and "the board stopped answering" in message, message
    pid, run_id, signalled = pidfile.read_text().split()
    after = ended - float(signalled)
    assert after < PULL_TIMEOUT + ANSWER_TIMEOUT + 40, f"the run took {after:.0f} s after the VM stopped"
    assert _left_by(run_id, int(pid)) == {}, "the VM is killed, not left stopped; the run's directory is gone"


def _slow_build(recipes_dir) -> Path:
    """The slow-build recipe with a nonce of its own (BuildKit's cache cannot skip its step) and a 90 s step."""
    recipes = recipes_dir("slow-build")
    (recipes / "slow-build" / "nonce").write_text(uuid.uuid4().hex + "\n")
    dockerfile = recipes / "slow-build" / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("RUN sleep 12", "RUN sleep 90"))
    return recipes


def _build_clis(run_dir: Path) -> list[str]:
    """The build CLI processes working on a context in ``run_dir``."""
    return subprocess.run(["pgrep", "-af", f"{run_dir}/contexts"], capture_output=True, text=True).stdout.splitlines()


@pytest.mark.parametrize("sent", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=["ctrl-c", "sigterm", "sigkill"])
def test_a_run_signalled_mid_build_stops_its_build_and_leaves_nothing(tmp_path: Path, recipes_dir,
                                                                      sent: signal.Signals) -> None:
    recipes, reports = _slow_build(recipes_dir), tmp_path / "reports"
    log = reports / "logs" / "build-slow-build.log"
    with interruptible_run("--recipes", str(recipes), "--reports", str(reports), "-k", "test_build",
                           cwd=ROOT) as process:
        def building() -> Path:
            assert log.is_file() and "RUN sleep 90" in log.read_text(), "not in the slow step yet"
            nonce = (recipes / "slow-build" / "nonce").read_text()
            return next(path for path in runs_root().glob("*/contexts/*/context/nonce") if path.read_text() == nonce)

        context = wait_until(building, what="the slow build step", deadline=Deadline(900),
                             retry_on=(AssertionError, StopIteration, OSError), interval=0.5,
                             alive=lambda: None if process.poll() is None else "the run ended")
        run_dir = context.parents[3]
        assert _build_clis(run_dir), "the build CLI runs"
        if sent == signal.SIGINT:
            os.killpg(process.pid, sent)  # a terminal's Ctrl-C reaches the whole process group
        else:
            os.kill(process.pid, sent)  # `kill PID`, a CI runner's cancel, the out-of-memory killer
        signalled = time.monotonic()
        output, _ = process.communicate(timeout=120)
        seconds = time.monotonic() - signalled
    if sent != signal.SIGKILL:
        assert process.returncode == 130, output[-3000:]
        assert seconds < 30, f"the run took {seconds:.0f} s to end after the signal"
    else:
        assert run_dir.exists(), "a killed run cannot clean up: the next run sweeps"
        tiny = recipes_dir("tiny")
        result, _ = rvconform("--recipes", str(tiny), "--recipe", "tiny", "--reports", str(tmp_path / "next"),
                              "-k", "test_build", timeout=1800)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert not run_dir.exists(), "the run's directory, with its build context, is gone"
    assert _build_clis(run_dir) == [], "the build CLI is stopped (and the engine's build with it)"
