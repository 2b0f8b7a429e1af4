"""Integration tests: real engine, real registry binary, real QEMU user emulation.

Most tests run the conformance suites as a user would (a separate pytest process on a recipes
directory) and read the verdicts from the JUnit XML it writes.
"""

from __future__ import annotations

import os
import resource
import shutil
import socket
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
SUITES = ROOT / "suites"
BAD_IMAGES = Path(__file__).parent / "images"
GOOD_IMAGES = ROOT / "fixtures" / "images"


@dataclass(frozen=True)
class Verdict:
    """One test case of an inner run: outcome and message."""

    name: str
    outcome: str
    message: str
    properties: dict[str, str]
    seconds: float


@dataclass(frozen=True)
class SuiteRun:
    """An inner conformance run: its exit code, output and per-test verdicts."""

    returncode: int
    output: str
    verdicts: dict[str, Verdict]
    reports: Path

    def outcome(self, name: str) -> str:
        assert name in self.verdicts, f"{name} not in the run; it has {sorted(self.verdicts)}\n{self.output}"
        return self.verdicts[name].outcome

    def message(self, name: str) -> str:
        self.outcome(name)
        return self.verdicts[name].message

    def outcomes(self) -> dict[str, str]:
        return {name: verdict.outcome for name, verdict in self.verdicts.items()}


def parse_junit(path: Path) -> dict[str, Verdict]:
    """Test name (e.g. ``test_pull[redis-local]``) to its verdict."""
    verdicts = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            element = case.find(tag)
            if element is not None:
                outcome = {"failure": "failed"}.get(tag, tag)
                message = (element.get("message") or "") + "\n" + (element.text or "")
        properties = {p.get("name"): p.get("value") for p in case.iter("property")}
        seconds = float(case.get("time") or 0)
        verdicts[case.get("name")] = Verdict(case.get("name"), outcome, message, properties, seconds)
    return verdicts


def run_suites_in(directory: Path, *args: str, recipes: Path | None = None, timeout: float = 3600,
                  cli: bool = False, env: dict[str, str] | None = None) -> SuiteRun:
    """Run the conformance suites in a separate pytest process, reports under ``directory``; its verdicts.
    ``cli=True`` runs ``rvconform run`` (from the checkout) instead of ``pytest suites``."""
    reports = directory / "reports"
    program = [sys.executable, "-m", "harness.cli", "run"] if cli else [sys.executable, "-m", "pytest", str(SUITES)]
    command = [*program, "-p", "no:cacheprovider", "--reports", str(reports),
               *(["--recipes", str(recipes)] if recipes else []), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT if cli else directory,
                            stdin=subprocess.DEVNULL, env={**os.environ, **(env or {})})
    junit = reports / "junit.xml"
    verdicts = parse_junit(junit) if junit.is_file() else {}
    return SuiteRun(result.returncode, result.stdout + result.stderr, verdicts, reports)


@pytest.fixture
def run_suites(tmp_path: Path):
    """Run the conformance suites in a separate pytest process and return its verdicts."""

    def run(*args: str, **options: object) -> SuiteRun:
        return run_suites_in(tmp_path, *args, **options)  # type: ignore[arg-type]

    return run


@pytest.fixture
def recipes_dir(tmp_path: Path):
    """Copy chosen recipes (good ones from fixtures/images, bad ones from tests/integration/images)."""

    def copy(*names: str) -> Path:
        target = tmp_path / "recipes"
        for name in names:
            source = BAD_IMAGES / name if (BAD_IMAGES / name).is_dir() else GOOD_IMAGES / name
            shutil.copytree(source, target / name)
        return target

    return copy


@pytest.fixture(scope="session")
def registry_process(tmp_path_factory: pytest.TempPathFactory):
    """A real distribution registry on 127.0.0.1, for tests that drive the library directly."""
    from harness.registry import spawn_registry

    registry, process = spawn_registry(tmp_path_factory.mktemp("registry"))
    yield registry
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture(scope="session")
def qemu_run():
    """A run whose QEMU board is shared by every module that asks: one VM boot, stopped at the end."""
    from harness.run import Run

    run = Run.start()
    yield run
    run.close()


@pytest.fixture(scope="session")
def tiny_image(registry_process, tmp_path_factory: pytest.TempPathFactory):
    """The tiny test recipe, built for riscv64 and pushed to ``registry_process``."""
    from harness.build import Builder
    from harness.recipes import load_recipe

    builder = Builder(registry_process.url, tmp_path_factory.mktemp("logs"))
    return builder.build(load_recipe(BAD_IMAGES / "tiny"))


@dataclass(frozen=True)
class Sshd:
    """A real OpenSSH server on 127.0.0.1 for the SSH board's tests."""

    port: int
    key: Path
    other_key: Path
    pid: int
    home: Path
    process: subprocess.Popen = field(compare=False, repr=False)

    def url(self, runtime: str = "docker", key: Path | None = None) -> str:
        return f"ssh://root@127.0.0.1:{self.port}?key={key or self.key}&runtime={runtime}"

    @property
    def known_hosts_line(self) -> str:
        """Its host key as a known_hosts line."""
        key_type, key_data = (self.home / "host_key.pub").read_text().split()[:2]
        return f"[127.0.0.1]:{self.port} {key_type} {key_data}\n"


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory):
    """An sshd of our own on 127.0.0.1 (ephemeral port) that accepts one key made for the tests.

    Its board is this machine: the SSH board code path, end to end, against the local engine. Its host key is
    known through an ssh_config of the tests' own (RVCONFORM_SSH_CONFIG, for the session), never ~/.ssh.
    """
    home = tmp_path_factory.mktemp("sshd")
    for name in ("client_key", "other_key"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / name)], check=True)
    server = start_sshd(home, home)
    (home / "known_hosts").write_text(server.known_hosts_line)
    (home / "ssh_config").write_text(f"Host *\n    UserKnownHostsFile {home / 'known_hosts'}\n")
    before = os.environ.get("RVCONFORM_SSH_CONFIG")
    os.environ["RVCONFORM_SSH_CONFIG"] = str(home / "ssh_config")
    yield server
    if before is None:
        os.environ.pop("RVCONFORM_SSH_CONFIG", None)
    else:
        os.environ["RVCONFORM_SSH_CONFIG"] = before
    stop_sshd(server)


def start_sshd(home: Path, keys: Path, forwarding: bool = True, path: str | None = None) -> Sshd:
    """Start an sshd in ``home`` (its own host key) that lets root in with ``keys``/client_key; ``path`` is its
    sessions' PATH (default: sshd's own)."""
    from harness.ports import free_loopback_port
    from harness.wait import Deadline, wait_until

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(home / "host_key")], check=True)
    (home / "authorized_keys").write_text((keys / "client_key.pub").read_text())
    port = free_loopback_port()
    containers_conf = _podman_limits_within_ours(home)
    config = home / "sshd_config"
    config.write_text(f"Port {port}\nListenAddress 127.0.0.1\nHostKey {home / 'host_key'}\n"
                      f"AuthorizedKeysFile {home / 'authorized_keys'}\nPermitRootLogin prohibit-password\n"
                      "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n"
                      f"AllowTcpForwarding {'yes' if forwarding else 'no'}\nPidFile {home / 'sshd.pid'}\n"
                      f"SetEnv CONTAINERS_CONF={containers_conf}{f' PATH={path}' if path else ''}\n")
    Path("/run/sshd").mkdir(exist_ok=True)
    with (home / "log").open("wb") as log:
        process = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(config)], stderr=log)
    try:
        wait_until(lambda: socket.create_connection(("127.0.0.1", port), timeout=1).close(), what="test sshd",
                   deadline=Deadline(20), retry_on=(OSError,),
                   alive=lambda: None if process.poll() is None else "exited", logs=lambda: (home / "log").read_text())
    except BaseException:
        process.terminate()
        process.wait(timeout=10)
        raise
    return Sshd(port, keys / "client_key", keys / "other_key", process.pid, home, process)


def stop_sshd(server: Sshd) -> None:
    """Stop an sshd that start_sshd started."""
    server.process.terminate()
    server.process.wait(timeout=10)


def _podman_limits_within_ours(home: Path) -> Path:
    """A containers.conf for the podman board: its rlimits no higher than this process may set.

    podman asks runc for nofile=1048576 by default; a sandbox without CAP_SYS_RESOURCE cannot grant that
    (and refuses nproc at its hard limit), so every container would fail to start. A real board is unaffected.
    """
    def capped(limit: int, most: int) -> int:
        hard = resource.getrlimit(limit)[1]
        return most if hard == resource.RLIM_INFINITY else min(hard, most)

    nofile, nproc = capped(resource.RLIMIT_NOFILE, 1048576), capped(resource.RLIMIT_NPROC, 4096)
    conf = home / "containers.conf"
    conf.write_text(f'[containers]\ndefault_ulimits = ["nofile={nofile}:{nofile}", "nproc={nproc}:{nproc}"]\n')
    return conf
