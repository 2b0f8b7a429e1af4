"""`rvconform doctor`: check that this machine can build and run riscv64 images, and say how to fix it.

Only the required checks (engine, BuildKit, binfmt, registry binary, mmdebstrap and its foreign-architecture
test) ever FAIL; the others warn.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import docker
import docker.errors
import requests

from harness import environment
from harness.bootstrap import IMAGE_REPOSITORY
from harness.buildkit import find_buildkit_cli, run_quietly
from harness.engine import engine
from harness.errors import EngineError
from harness.labels import MANAGED_LABELS

OK, FAIL, WARN = "ok", "FAIL", "warn"
BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")
BINFMT_NAME = "qemu-riscv64"
# Written literally to <binfmt_misc>/register: the kernel decodes the \x escapes itself.
# scripts/setup-host holds the same string (a unit test keeps the two equal).
QEMU_RISCV64_REGISTER = (
    r":qemu-riscv64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xf3\x00"
    r":\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"
    r":/usr/bin/qemu-riscv64-static:POCF"
)
SETUP_HOST = "run scripts/setup-host as root"
BOOTSTRAP = "run rvconform bootstrap"
PACKAGES = {  # binary -> the Debian packages that provide it (and what it needs)
    "docker-registry": "docker-registry",
    "mmdebstrap": "mmdebstrap",
    "qemu-system-riscv64": "qemu-system-misc opensbi u-boot-qemu",
}
EMULATION_TIMEOUT = 60  # seconds for `uname -m` in a riscv64 container
ARCH_TEST_TIMEOUT = 30  # seconds for `arch-test riscv64` (one tiny static program under QEMU)
DOCKER_ERRORS = (docker.errors.DockerException, requests.RequestException)


@dataclass(frozen=True)
class Check:
    """One row of the doctor's table: ``status`` is ok, FAIL or warn; ``fix`` says what to do otherwise."""

    name: str
    status: str
    detail: str
    fix: str | None = None


def parse_binfmt(text: str) -> dict[str, str | bool]:
    """Parse a binfmt_misc entry ("enabled", "interpreter X", "flags: OCF", ...) into a dict that always
    has ``enabled`` (bool), ``interpreter`` and ``flags`` (possibly empty)."""
    entry: dict[str, str | bool] = {"enabled": False, "interpreter": "", "flags": ""}
    for line in text.splitlines():
        key, _, value = line.strip().partition(" ")
        if key in ("enabled", "disabled"):
            entry["enabled"] = key == "enabled"
        elif key:
            entry[key.removesuffix(":")] = value.strip()
    return entry


def format_table(checks: Iterable[Check]) -> str:
    """The doctor's table: one row per check, and the fix under every row that is not ok."""
    checks = list(checks)
    name_width = max([len("check"), *(len(check.name) for check in checks)])
    status_width = max([len("status"), *(len(check.status) for check in checks)])
    pad = " " * (name_width + status_width + 4)
    lines = [f"{'check':<{name_width}}  {'status':<{status_width}}  detail"]
    for check in checks:
        first, *more = check.detail.splitlines() or [""]
        lines.append(f"{check.name:<{name_width}}  {check.status:<{status_width}}  {first}")
        lines.extend(pad + line for line in more)
        if check.fix and check.status != OK:
            first, *more = check.fix.splitlines()
            lines.append(f"{pad}fix: {first}")
            lines.extend(f"{pad}     {line}" for line in more)
    return "\n".join(lines)


def exit_code(checks: Iterable[Check]) -> int:
    """1 when any check failed, else 0 (warnings do not count)."""
    return 1 if any(check.status == FAIL for check in checks) else 0


def summary(checks: Iterable[Check]) -> str:
    """One closing line: which checks failed, or that everything required passed."""
    names: dict[str, list[str]] = {FAIL: [], WARN: [], OK: []}
    for check in checks:
        names[check.status].append(check.name)
    if names[FAIL]:
        return f"failed: {', '.join(names[FAIL])}; apply the fixes above, then run rvconform doctor again"
    return "all required checks passed" + (f"; warnings: {', '.join(names[WARN])}" if names[WARN] else "")


def binfmt_fix(root: Path, *, mounted: bool, registered: bool) -> str:
    """The commands that register qemu-riscv64 with the F flag from the given state."""
    steps = [] if mounted else [f"mount -t binfmt_misc binfmt_misc {root}"]
    if registered:
        steps.append(f"echo -1 > {root / BINFMT_NAME}")
    steps.append(f"echo '{QEMU_RISCV64_REGISTER}' > {root / 'register'}")
    return f"{SETUP_HOST}, or as root:\n" + "\n".join(steps)


def check_engine() -> Check:
    """The container engine answers; its server version."""
    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        version = engine().version().get("Version", "(version unknown)")
    except EngineError as error:
        return Check("engine", FAIL, error.message, error.fix)
    except DOCKER_ERRORS as error:
        return Check("engine", FAIL, f"the engine at {where} did not report its version: {error}", SETUP_HOST)
    return Check("engine", OK, f"engine {version} answers at {where}")


def check_buildkit() -> Check:
    """A docker client that can run BuildKit builds is installed."""
    cli = find_buildkit_cli()
    if cli is None:
        fix = f"{SETUP_HOST} (Debian's docker.io has a 20.10 client with BuildKit), or install buildx"
        return Check("buildkit", FAIL, "no docker client with buildx, nor one older than 23.0", fix)
    how = "with the buildx plugin" if cli.buildx else "has BuildKit built in (DOCKER_BUILDKIT=1)"
    return Check("buildkit", OK, f"{cli.path} {cli.version} {how}")


def check_binfmt(root: Path = BINFMT_DIR) -> Check:
    """qemu-riscv64 is registered with binfmt_misc, enabled, with the F flag that containers need."""
    name = f"binfmt {BINFMT_NAME}"
    if not (root / "status").exists():
        fix = binfmt_fix(root, mounted=False, registered=False)
        return Check(name, FAIL, f"binfmt_misc is not mounted on {root}", fix)
    path = root / BINFMT_NAME
    try:
        entry = parse_binfmt(path.read_text())
    except FileNotFoundError:
        fix = binfmt_fix(root, mounted=True, registered=False)
        return Check(name, FAIL, "not registered: riscv64 programs cannot run on this machine", fix)
    flags = str(entry["flags"])
    if "F" not in flags:
        detail = f"registered with flags '{flags}', without F: containers cannot find the interpreter"
        return Check(name, FAIL, detail, binfmt_fix(root, mounted=True, registered=True))
    if "P" not in flags:
        detail = (f"registered with flags '{flags}', without P: programs lose their argv[0], so multi-call "
                  "binaries (busybox, all of Alpine) run the wrong applet")
        return Check(name, FAIL, detail, binfmt_fix(root, mounted=True, registered=True))
    if not entry["enabled"]:
        return Check(name, FAIL, "registered but disabled", f"{SETUP_HOST}, or as root: echo 1 > {path}")
    return Check(name, OK, f"enabled, flags {flags}, interpreter {entry['interpreter']}")


def check_emulation(client: docker.DockerClient | None) -> Check:
    """A riscv64 container prints riscv64 for `uname -m` (needs a riscv64 image in the engine)."""
    name = "riscv64 container"
    if client is None:
        return Check(name, WARN, "skipped: no engine to run a container in")
    try:
        image = find_riscv64_image(client)
    except DOCKER_ERRORS as error:
        return Check(name, WARN, f"could not list the engine's images: {error}")
    if image is None:
        return Check(name, WARN, "no riscv64 image in the engine to run `uname -m` in", BOOTSTRAP)
    started = time.monotonic()
    try:
        status, output = run_uname(client, image)
    except DOCKER_ERRORS as error:
        return Check(name, WARN, f"`uname -m` in {image} did not run: {error}", SETUP_HOST)
    if status == 0 and output == "riscv64":
        return Check(name, OK, f"`uname -m` in {image} prints riscv64 ({time.monotonic() - started:.1f} s)")
    detail = f"`uname -m` in {image} exited {status} and printed {output!r}, not riscv64"
    return Check(name, WARN, detail, f"{SETUP_HOST} (registers qemu-riscv64 with the F flag)")


def check_registry() -> Check:
    """The distribution registry binary (docker-registry) is installed."""
    return _tool_check("registry", "docker-registry", "it serves built images to the boards", FAIL)


def check_mmdebstrap() -> Check:
    """mmdebstrap, which makes the Debian base images, is installed."""
    return _tool_check("mmdebstrap", "mmdebstrap", "it makes the Debian base images (--bases bootstrap, the default)",
                       FAIL)


def check_foreign_arch(
    which: Callable[[str], str | None] = shutil.which,
    run: Callable[..., subprocess.CompletedProcess[str] | None] = run_quietly,
) -> Check:
    """mmdebstrap can make riscv64 bases: arch-test is installed (without it mmdebstrap refuses every
    foreign architecture) and `arch-test riscv64`, the test mmdebstrap itself runs, passes."""
    name = "mmdebstrap foreign arch"
    path = which("arch-test")
    if path is None:
        detail = ("arch-test is not installed, so mmdebstrap refuses riscv64 (\"install arch-test for foreign "
                  "architecture support\") and no riscv64 base can be made")
        return Check(name, FAIL, detail, f"{SETUP_HOST}, or: apt-get install -y arch-test")
    result = run([path, "riscv64"], timeout=ARCH_TEST_TIMEOUT)
    if result is None:
        detail = f"`arch-test riscv64` did not finish within {ARCH_TEST_TIMEOUT} s"
        return Check(name, FAIL, detail, f"{SETUP_HOST} (registers qemu-riscv64 in binfmt_misc)")
    said = (result.stdout + result.stderr).strip()
    if result.returncode != 0 or said != "riscv64: ok":
        detail = (f"`arch-test riscv64` exited {result.returncode} and said {said!r}: mmdebstrap cannot run "
                  "riscv64 programs, so no riscv64 base can be made")
        return Check(name, FAIL, detail, f"{SETUP_HOST} (registers qemu-riscv64 in binfmt_misc)")
    return Check(name, OK, f"`{path} riscv64` says riscv64: ok")


def check_base_images(client: docker.DockerClient | None) -> Check:
    """Some rvconform/debian base image is loaded in the engine."""
    name = "base images"
    if client is None:
        return Check(name, WARN, "skipped: no engine to look in")
    try:
        tags = sorted(tag for image in client.images.list(name=IMAGE_REPOSITORY) for tag in image.tags)
    except DOCKER_ERRORS as error:
        return Check(name, WARN, f"could not list the engine's images: {error}")
    if not tags:
        return Check(name, WARN, f"no {IMAGE_REPOSITORY} image is loaded yet", BOOTSTRAP)
    shown = ", ".join(tags[:3]) + (f" and {len(tags) - 3} more" if len(tags) > 3 else "")
    return Check(name, OK, f"{len(tags)} loaded: {shown}")


def check_qemu_system() -> Check:
    """qemu-system-riscv64, which runs the full-system qemu board, is installed."""
    return _tool_check("qemu-system-riscv64", "qemu-system-riscv64", "it runs the qemu board (a riscv64 VM)")


def _tool_check(name: str, binary: str, purpose: str, missing: str = WARN) -> Check:
    path = shutil.which(binary) or f"/usr/bin/{binary}"
    if not os.access(path, os.X_OK):
        fix = f"{SETUP_HOST}, or: apt-get install -y {PACKAGES[binary]}"
        return Check(name, missing, f"{binary} is not installed; {purpose}", fix)
    return Check(name, OK, f"{path} {tool_version(path)}")


def tool_version(path: str) -> str:
    """The version a tool reports for ``--version``."""
    return environment.tool_version([path, "--version"])


def find_riscv64_image(client: docker.DockerClient) -> str | None:
    """A local image whose architecture is riscv64, rvconform/debian ones first; None when there is none."""
    prefix = IMAGE_REPOSITORY + ":"
    images = sorted(client.images.list(), key=lambda image: not any(t.startswith(prefix) for t in image.tags))
    for image in images:
        if client.api.inspect_image(image.id).get("Architecture") == "riscv64":
            preferred = [tag for tag in image.tags if tag.startswith(prefix)]
            return (preferred or image.tags or [image.id])[0]
    return None


def run_uname(client: docker.DockerClient, image: str) -> tuple[int, str]:
    """Run `uname -m` in ``image`` as linux/riscv64; its exit status and output. The container is removed."""
    container = client.containers.run(
        image, ["uname", "-m"], platform="linux/riscv64", detach=True, labels=MANAGED_LABELS
    )
    try:
        status = container.wait(timeout=EMULATION_TIMEOUT).get("StatusCode", -1)
        return status, container.logs().decode(errors="replace").strip()
    finally:
        container.remove(force=True)


def collect_checks() -> list[Check]:
    """Run every check, in the order the table shows them."""
    engine_check = check_engine()
    client = engine() if engine_check.status == OK else None
    return [
        engine_check, check_buildkit(), check_binfmt(), check_emulation(client), check_registry(),
        check_mmdebstrap(), check_foreign_arch(), check_base_images(client), check_qemu_system(),
    ]


def run_doctor(out: Callable[[str], object] = print) -> int:
    """Check this machine, print the table and a summary; 0 when every required check passed, else 1."""
    checks = collect_checks()
    out(format_table(checks))
    out(summary(checks))
    return exit_code(checks)
