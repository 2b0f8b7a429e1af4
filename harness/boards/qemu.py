"""Board ``qemu[://?cpus=N&memory=MB&images=DIR]``: a full-system riscv64 VM with its own kernel,
systemd and containerd, booted from an image made from a Debian mirror, driven as an SSH board.

It is the CI stand-in for a real board: the same SSH code path, a real riscv64 kernel, containerd
pulling over the VM's own network. One VM per run, shared by xdist workers; the run stops it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from harness.boards.ssh import LOOPBACK, SshBoard, SshTarget
from harness.errors import BoardError, BoardUnreachable, RvconformError
from harness.run import Run
from harness.run.records import VM, VmRecord
from harness.vm import Vm, VmImageSpec, ensure_vm_image

#: The host's loopback as a guest on QEMU's user network sees it.
HOST_FROM_GUEST = "10.0.2.2"
BOOT_TIMEOUT = 600.0


@dataclass(frozen=True)
class QemuOptions:
    """What a qemu board URL says."""

    cpus: int = 2
    memory_mb: int = 2048
    images: Path | None = None

    @classmethod
    def parse(cls, url: str) -> QemuOptions:
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = sorted(set(query) - {"cpus", "memory", "images"})
        try:
            options = cls(int(query.get("cpus", 2)), int(query.get("memory", 2048)),
                          Path(query["images"]) if "images" in query else None)
        except ValueError:
            options = None
        if url != "qemu" and (parts.scheme != "qemu" or parts.netloc or parts.path not in ("", "/")):
            options = None
        if options is None or unknown or options.cpus < 1 or options.memory_mb < 256:
            raise BoardError(f"board URL {url!r} is not qemu[://?cpus=N&memory=MB&images=DIR]",
                             fix="e.g. --board qemu or --board 'qemu://?cpus=2&memory=2048'")
        return options


class QemuBoard(SshBoard):
    """An SSH board whose machine is a VM this run boots (or joins, under xdist)."""

    def __init__(self, url: str, options: QemuOptions, labels: dict[str, str], run: Run) -> None:
        port, key = shared_vm(run, options)
        super().__init__(url, SshTarget("root", "127.0.0.1", port, key, "ctr"), labels)

    def registry_address(self, host: str, port: int) -> str:
        """The guest reaches the host's loopback at 10.0.2.2 (QEMU's user network)."""
        return f"{HOST_FROM_GUEST}:{port}" if host in LOOPBACK else f"{host}:{port}"


def shared_vm(run: Run, options: QemuOptions) -> tuple[int, str]:
    """The run's VM (booted on first use, recorded for the run's teardown): its SSH port and key."""
    record = run.once(VM, lambda: _boot(run, options))
    if record.error:
        raise BoardUnreachable(record.error, fix=record.fix)
    return record.ssh_port, record.key


def _boot(run: Run, options: QemuOptions) -> VmRecord:
    try:
        image = ensure_vm_image(VmImageSpec(), images_dir=options.images)
    except RvconformError as error:
        return VmRecord(error=f"qemu: the VM image could not be made: {error.message}", fix=error.fix or "")
    vm = Vm.start(image, run.dir / "vm", cpus=options.cpus, memory_mb=options.memory_mb, name="qemu", run=run)
    try:
        vm.wait_for_ssh(BOOT_TIMEOUT)
    except BoardUnreachable as error:
        vm.stop()
        return VmRecord(error=f"qemu: the VM did not boot: {error.message}\n{vm.console_tail()}",
                        fix="read the console log above; a stale image can be rebuilt by deleting it from the cache")
    return VmRecord(vm.ssh_port, str(image.key_path), str(vm.console_path))
