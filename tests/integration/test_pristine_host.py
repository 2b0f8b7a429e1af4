"""The first run passes on a pristine machine (issue 9): in a Debian 12 container that starts with nothing but
a minbase root filesystem, `scripts/setup-host` installs and starts everything, `rvconform doctor` passes and
a riscv64 base is bootstrapped with mmdebstrap. A package missing from setup-host fails one of these steps.

The machine: a bookworm amd64 minbase made by the project's own bootstrap code (cached by its key). It runs
with what ``--privileged`` gives, one piece at a time, because ``--privileged`` asks for every capability and
this host has no CAP_SYS_RESOURCE to give (runc: "unable to apply caps"): all other capabilities, no seccomp
or AppArmor profile, no masked /proc paths, every device, and /sys and the cgroup mounts remounted writable.
/var/lib/docker is an anonymous volume, as overlay2 cannot stack on the container's own overlay root.

The engine runs inside: setup-host finds none, installs docker.io and starts dockerd (its start_engine), and
bootstrap loads the riscv64 base into it; nothing of the host's engine is shared.

The repository: the files git tracks or would track (``git ls-files --cached --others --exclude-standard``),
as they are in the working tree: what a fresh clone holds, in CI exactly that, and locally the tree under
edit (a test of HEAD alone would pass while an uncommitted setup-host is broken, or the reverse).

Where the machine differs from a real one, and why:
- binfmt_misc is kernel-global. A new container does not have it mounted, so the package scripts of
  setup-host's apt step register nothing (``container=docker`` also tells qemu-user-static's postinst not
  to: it would register some 30 handlers for the whole host); setup-host then mounts it and finds the
  host's qemu-riscv64 entry with F and P, so its re-registration path is not exercised here (the doctor's
  side is unit-tested). The test fails if the host's entries changed.
- TLS: HTTPS egress here goes through a proxy with its own CA. The host's local CAs
  (/usr/local/share/ca-certificates) are copied in, as on the host itself, and index settings of the host's
  pip that name a URL are passed on; those that name local directories (/opt/wheels) are not.
- git is not in the machine (the files are copied in; none of these steps uses it); podman and its dnsname
  plugin are installed but not exercised.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from harness.bootstrap import BaseImage, ensure_base
from harness.engine import engine
from harness.run import Run

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[2]
GUEST_REPO = "/root/rvconform"
LOCAL_CAS = Path("/usr/local/share/ca-certificates")
BINFMT = Path("/proc/sys/fs/binfmt_misc")
PIP_INDEX_KEYS = {"index-url": "PIP_INDEX_URL", "extra-index-url": "PIP_EXTRA_INDEX_URL",
                  "trusted-host": "PIP_TRUSTED_HOST"}
PROXIES = ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
# What --privileged would mount writable: inner dockerd and runc make cgroups for their containers.
AS_PRIVILEGED = ('mount -o remount,rw /sys && '
                 'for d in /sys/fs/cgroup/*; do mount -o remount,bind,rw "$d" || exit 1; done')
LOGS = "/var/log/rvconform-apt.log /var/log/rvconform-dockerd.log"


@dataclass(frozen=True)
class Step:
    """One command run in the machine: what ran, how it ended, its output and time."""

    command: str
    returncode: int
    output: str
    seconds: float

    def report(self, lines: int = 60) -> str:
        """The command, its exit status and time, and the tail of its output."""
        tail = "\n".join(self.output.splitlines()[-lines:])
        return f"$ {self.command}\nexit {self.returncode} after {self.seconds:.0f} s; output (tail):\n{tail}"


@dataclass(frozen=True)
class Machine:
    """A running pristine container, driven with `docker exec`."""

    name: str

    def run(self, command: str, timeout: float) -> Step:
        """Run ``command`` with bash in the repository, killed after ``timeout`` seconds (exit 124)."""
        docker = shutil.which("docker") or "docker"
        started = time.monotonic()
        result = subprocess.run(
            [docker, "exec", "-w", GUEST_REPO, self.name, "timeout", "-k", "10", str(timeout), "bash", "-c", command],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL,
            timeout=timeout + 60,
        )
        return Step(command, result.returncode, result.stdout, time.monotonic() - started)


def repository_files(root: Path = ROOT) -> list[str]:
    """What a clone would hold: tracked files still in the tree, and untracked ones git does not ignore."""
    listed = subprocess.run(["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            capture_output=True, text=True, check=True).stdout
    return [name for name in listed.split("\0") if name and (root / name).exists()]


def guest_archive(root: Path, files: list[str]) -> bytes:
    """A tar for `put_archive` at /: the repository at GUEST_REPO and the host's local CA certificates."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name in files:
            archive.add(root / name, arcname=f"{GUEST_REPO.lstrip('/')}/{name}", recursive=False)
        if LOCAL_CAS.is_dir():
            archive.add(LOCAL_CAS, arcname=str(LOCAL_CAS).lstrip("/"))
    return buffer.getvalue()


def guest_environment() -> dict[str, str]:
    """The container's environment: container=docker (so package scripts leave the kernel's binfmt handlers
    alone), the host's pip index settings that name a URL, and its proxies."""
    environment = {"container": "docker"}
    listed = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    for scope_key, value in re.findall(r"^\S*?\.([\w-]+)='(.*)'$", listed, re.MULTILINE):
        urls = [url for url in value.split() if not url.startswith("file:")]
        if scope_key in PIP_INDEX_KEYS and urls:
            environment[PIP_INDEX_KEYS[scope_key]] = " ".join(urls)
    environment.update({name: os.environ[name] for name in PROXIES if os.environ.get(name)})
    return environment


def binfmt_entries() -> dict[str, str]:
    """The host's binfmt_misc entries, by name."""
    if not (BINFMT / "status").exists():
        return {}
    return {path.name: path.read_text() for path in BINFMT.iterdir() if path.name not in ("status", "register")}


@contextmanager
def pristine_machine(archive: bytes) -> Iterator[Machine]:
    """A running container of a bookworm minbase with ``archive`` unpacked at /; removed with its volume,
    also by the next run's sweep if this process dies."""
    image = ensure_base(BaseImage("bookworm", "amd64"))
    client = engine()
    with ExitStack() as cleanup:
        # A run of its own: if this test is killed, the next run's sweep removes the container and its
        # anonymous /var/lib/docker volume (and the inner dockerd with them).
        run = Run.start()
        cleanup.callback(run.close)
        run.note_engine_used()
        name = f"rvconform-pristine-{uuid.uuid4().hex[:8]}"
        host_config = client.api.create_host_config(
            init=True, cap_add=["ALL"], cap_drop=["SYS_RESOURCE"], device_cgroup_rules=["a *:* rwm"],
            security_opt=["seccomp=unconfined", "apparmor=unconfined"],
        )
        host_config.update(MaskedPaths=[], ReadonlyPaths=[])
        created = client.api.create_container(image, ["sleep", "infinity"], name=name, labels=run.labels,
                                              volumes=["/var/lib/docker"], environment=guest_environment(),
                                              host_config=host_config)
        cleanup.callback(client.api.remove_container, created["Id"], force=True, v=True)
        client.api.put_archive(created["Id"], "/", archive)
        client.api.start(created["Id"])
        machine = Machine(name)
        prepared = machine.run(AS_PRIVILEGED, timeout=30)
        assert prepared.returncode == 0, f"could not make the container privileged enough:\n{prepared.report()}"
        yield machine


def check_setup_host(machine: Machine, *, first: bool) -> Step:
    """Run setup-host; on failure the assertion carries its output and the apt and dockerd log tails."""
    step = machine.run("scripts/setup-host", timeout=600 if first else 120)
    print(step.report(lines=10))
    if step.returncode != 0:
        logs = machine.run(f"tail -n 30 {LOGS}", timeout=30).output
        pytest.fail(f"setup-host failed on a pristine Debian 12:\n{step.report()}\n\nlogs:\n{logs}", pytrace=False)
    return step


def check_first_run(machine: Machine) -> None:
    """The steps of a first run; each failure says which step and shows its output."""
    check_setup_host(machine, first=True)

    doctor = machine.run(".venv/bin/rvconform doctor", timeout=120)
    assert doctor.returncode == 0, f"rvconform doctor fails right after setup-host:\n{doctor.report()}"

    bootstrap = machine.run(".venv/bin/rvconform bootstrap --recipe redis", timeout=600)
    print(bootstrap.report(lines=10))
    assert bootstrap.returncode == 0, f"the riscv64 bootstrap fails after setup-host:\n{bootstrap.report()}"

    doctor = machine.run(".venv/bin/rvconform doctor", timeout=120)
    assert doctor.output.strip().endswith("all required checks passed"), (
        f"after setup-host and bootstrap every doctor check should be ok:\n{doctor.report()}")

    again = check_setup_host(machine, first=False)
    assert all(line.startswith(("ok:", "next:")) for line in again.output.splitlines()), (
        f"a second setup-host should find everything in place:\n{again.report()}")


def test_setup_host_doctor_and_bootstrap_pass_on_a_pristine_debian_12() -> None:
    binfmt_before = binfmt_entries()
    with pristine_machine(guest_archive(ROOT, repository_files())) as machine:
        check_first_run(machine)
    after = binfmt_entries()
    changed = sorted(name for name in {*binfmt_before, *after} if binfmt_before.get(name) != after.get(name))
    assert not changed, f"the host's binfmt_misc handlers changed while the container ran: {changed}"
