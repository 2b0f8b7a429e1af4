"""The riscv64 VM for real: its image built from the Debian mirror (or reused from the cache), booted under
full-system QEMU and driven over SSH the way the SSH board drives it."""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from harness.boards import qemu
from harness.boards.transport import SshTransport
from harness.boards.url import OWN_VM, QemuOptions
from harness.errors import BoardUnreachable
from harness.run import Run
from harness.run.processes import recorded
from harness.vm import Vm, ssh_banner
from harness.vm_image import VmImage, VmImageSpec, ensure_vm_image
from harness.wait import Deadline, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def image() -> VmImage:
    """The cached image (the first build takes several minutes)."""
    return ensure_vm_image(VmImageSpec())


def test_the_vm_boots_to_ssh_runs_containerd_and_leaves_the_image_untouched(image: VmImage, tmp_path: Path) -> None:
    disk_mtime = image.disk.stat().st_mtime_ns
    with Vm.start(image, tmp_path, name="qemu-test") as vm:
        assert vm.wait_for_ssh().startswith("SSH-2.0-OpenSSH")
        assert vm.overlay.is_file()
        transport = SshTransport(board="qemu-test", user="root", host="127.0.0.1", port=vm.ssh_port,
                                 key=str(image.key_path), host_keys=OWN_VM,
                                 host_key=str(image.host_key_path)).open()
        try:
            assert transport.check(["uname", "-m"]).strip() == "riscv64"
            assert transport.check(["hostname"]).strip() == "rvconform-vm"
            wait_until(lambda: _active(transport, "containerd"), what="containerd in the VM",
                       deadline=Deadline(120), retry_on=(AssertionError,), interval=1.0)
            version = transport.check(["ctr", "version"])
            assert "Client:" in version and "Server:" in version
            assert transport.run(["systemctl", "is-enabled", "apt-daily.timer"]).stdout.strip() == "masked"
            sshd = transport.check(["sshd", "-T"]).lower().splitlines()  # OpenSSH 10 prints mixed case
            assert {"permitrootlogin prohibit-password", "permitrootlogin without-password"} & set(sshd)
            assert "allowtcpforwarding yes" in sshd
            # The SSH board reaches containers through local forwards: they must work.
            assert ssh_banner(transport.forward_local("127.0.0.1", 22)).startswith("SSH-2.0")
        finally:
            transport.close()
    assert vm.process.poll() is not None, "QEMU is stopped"
    assert not vm.overlay.exists(), "the boot's writes are discarded"
    assert image.disk.stat().st_mtime_ns == disk_mtime, "the cached disk was never written"


def _active(transport: SshTransport, unit: str) -> None:
    state = transport.run(["systemctl", "is-active", unit]).stdout.strip()
    assert state == "active", f"{unit} is {state}"


def test_a_vm_that_cannot_boot_fails_at_once_naming_why(image: VmImage, tmp_path: Path) -> None:
    broken = replace(image, kernel=tmp_path / "no-such-vmlinux")
    started = time.monotonic()
    with Vm.start(broken, tmp_path / "vm", name="broken-vm") as vm, pytest.raises(BoardUnreachable) as caught:
        vm.wait_for_ssh(deadline_seconds=300)
    assert time.monotonic() - started < 30, "QEMU's exit ends the wait, not the deadline"
    message = str(caught.value)
    assert "VM broken-vm" in message and "qemu exited with code" in message
    assert "no-such-vmlinux" in message, "QEMU's own complaint is in the error"
    assert str(vm.console_path) in message


def test_a_hung_boot_is_powered_off_and_booted_again_with_its_console_kept(image: VmImage,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(qemu, "STALL_SECONDS", 5.0)
    run = Run.start()
    frozen: list[int] = []

    def freeze_the_first_boot_mid_way() -> None:
        """SIGSTOP the first QEMU once its guest has printed something: a boot that hangs prints no more."""
        def first_qemu() -> int:
            entry = next(entry for entry in recorded(run.dir) if entry.what.startswith("qemu VM"))
            assert (run.dir / "vm" / "console.log").stat().st_size > 0, "the guest has printed nothing yet"
            return entry.pid
        pid = wait_until(first_qemu, what="the first boot", deadline=Deadline(120),
                         retry_on=(StopIteration, AssertionError, OSError), interval=0.2)
        os.kill(pid, signal.SIGSTOP)
        frozen.append(pid)

    freezer = threading.Thread(target=freeze_the_first_boot_mid_way)
    freezer.start()
    try:
        record = qemu._boot(run, QemuOptions())
        freezer.join()
        assert not record.error, record.error
        hung = run.dir / "vm" / "console-hung-1.log"
        assert hung.is_file() and hung.stat().st_size > 0, "the hung boot's console is kept"
        assert not Path(f"/proc/{frozen[0]}").exists() or "zombie" in Path(f"/proc/{frozen[0]}/status").read_text(
        ).lower(), "the hung QEMU is gone"
        transport = SshTransport(board="qemu", user="root", host="127.0.0.1", port=record.ssh_port, key=record.key,
                                 host_keys=OWN_VM, host_key=record.host_key).open()
        try:
            assert transport.check(["uname", "-m"]).strip() == "riscv64", "the second boot came up"
        finally:
            transport.close()
    finally:
        freezer.join()
        run.close()
