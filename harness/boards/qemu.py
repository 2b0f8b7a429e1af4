"""Board ``qemu[://?cpus=N&memory=MB&images=DIR]``: a full-system riscv64 VM with its own kernel,
systemd and containerd, booted from an image made from a Debian mirror, driven as an SSH board.

It is the CI stand-in for a real board: the same SSH code path, a real riscv64 kernel, containerd
pulling over the VM's own network. One VM per run, shared by xdist workers; the run stops it. Its host key is
pinned: the VM must present the key made with its image, nothing else.
"""

from __future__ import annotations

from harness.boards.ssh import LOOPBACK, SshBoard
from harness.boards.url import OWN_VM, BoardSpec, QemuOptions, SshTarget
from harness.errors import BoardError, BoardUnreachable, RvconformError
from harness.run import Run
from harness.run.records import VM, VmRecord
from harness.vm import Vm, VmImageSpec, VmStalled, ensure_vm_image

#: The host's loopback as a guest on QEMU's user network sees it.
HOST_FROM_GUEST = "10.0.2.2"
#: How long one boot may take until its SSH server answers.
BOOT_TIMEOUT = 600.0
#: A console silent this long means the boot hung (the longest quiet stretch of a normal boot here is ~15 s).
STALL_SECONDS = 180.0
#: Boots tried when one hangs: at most BOOT_ATTEMPTS * BOOT_TIMEOUT in all.
BOOT_ATTEMPTS = 2


class QemuBoard(SshBoard):
    """An SSH board whose machine is a VM this run boots (or joins, under xdist) when the board opens."""

    def __init__(self, spec: BoardSpec, labels: dict[str, str], run: Run | None = None) -> None:
        super().__init__(spec, labels, run)
        self.options = spec.target if isinstance(spec.target, QemuOptions) else QemuOptions()

    def open(self) -> None:
        """Boot the run's VM (or join it), then connect to it as root."""
        if self.owning_run is None:
            raise BoardError("a qemu board needs a run to own its VM")
        vm = shared_vm(self.owning_run, self.options)
        self.target = SshTarget("root", "127.0.0.1", vm.ssh_port, vm.key, "ctr", OWN_VM, vm.host_key)
        super().open()

    def reach_registry(self, host: str, port: int) -> str:
        """The guest reaches the host's loopback at 10.0.2.2 (QEMU's user network)."""
        return f"{HOST_FROM_GUEST}:{port}" if host in LOOPBACK else f"{host}:{port}"


def shared_vm(run: Run, options: QemuOptions) -> VmRecord:
    """The run's VM (booted on first use, recorded for the run's teardown): its SSH port and keys."""
    record = run.once(VM, lambda: _boot(run, options))
    if record.error:
        raise BoardUnreachable(record.error, fix=record.fix)
    return record


def _boot(run: Run, options: QemuOptions) -> VmRecord:
    """Boot the run's VM; a boot that hangs (its console silent for STALL_SECONDS) is powered off and booted
    once more, as a lab would power-cycle a board that hung at boot; the hung boot's console is kept."""
    try:
        image = ensure_vm_image(VmImageSpec(), images_dir=options.images)
    except RvconformError as error:
        return VmRecord(error=f"qemu: the VM image could not be made: {error.message}", fix=error.fix or "")
    hung: list[str] = []
    while True:
        vm = Vm.start(image, run.dir / "vm", cpus=options.cpus, memory_mb=options.memory_mb, name="qemu", run=run)
        try:
            vm.wait_for_ssh(BOOT_TIMEOUT, stall_seconds=STALL_SECONDS)
        except VmStalled as error:
            vm.stop()
            kept = vm.console_path.rename(vm.workdir / f"console-hung-{len(hung) + 1}.log")
            hung.append(f"boot {len(hung) + 1} hung (its console is kept as vm-{kept.name} in the reports' logs/): "
                        f"{error.message}")
            if len(hung) < BOOT_ATTEMPTS:
                continue
            return VmRecord(error="qemu: the VM did not boot: " + "\n".join(hung), fix=error.fix)
        except BoardUnreachable as error:
            vm.stop()
            return VmRecord(error="qemu: the VM did not boot: " + "\n".join([*hung, error.message]),
                            fix="read the console log above; a stale image can be rebuilt by deleting it from the "
                            "cache")
        return VmRecord(vm.ssh_port, key=str(image.key_path), host_key=str(image.host_key_path),
                        console=str(vm.console_path))
