"""The qemu board verifies its VM's host key for real: one boot of the cached image, then connections with the
key made with the image (they work, through SshTransport and through the qemu board) and with another key (a
tampered copy of the image's public host key file: refused within seconds, naming the VM and both fingerprints,
before anything is sent)."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.boards import open_board
from harness.boards.transport import SshTransport
from harness.boards.url import OWN_VM
from harness.errors import BoardUnreachable
from harness.run import Run
from harness.run.records import VM, VmRecord
from harness.vm import Vm
from harness.vm_image import VmImage, VmImageSpec, ensure_vm_image

pytestmark = pytest.mark.slow


def fingerprint_of(public_key_file: Path) -> str:
    """What ``ssh-keygen -l`` says of a public key file: SHA256:..."""
    blob = base64.b64decode(public_key_file.read_text().split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


@pytest.fixture(scope="module")
def image() -> VmImage:
    """The cached image (built first when missing: several minutes)."""
    return ensure_vm_image(VmImageSpec())


@pytest.fixture(scope="module")
def vm(image: VmImage, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Vm]:
    """One boot for the module."""
    with Vm.start(image, tmp_path_factory.mktemp("vm"), name="qemu-host-key") as booted:
        booted.wait_for_ssh()
        yield booted


@pytest.fixture
def impostor_key(image: VmImage, tmp_path: Path) -> Path:
    """A copy of the image's public host key file with another ed25519 key in it."""
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "other")], check=True)
    copy = tmp_path / "image" / image.host_key_path.name
    copy.parent.mkdir()
    copy.write_text((tmp_path / "other.pub").read_text())
    return copy


def connect(vm: Vm, image: VmImage, host_key: Path) -> SshTransport:
    return SshTransport("qemu-host-key", "root", "127.0.0.1", vm.ssh_port, str(image.key_path), OWN_VM,
                        str(host_key)).open()


def test_the_vm_presents_exactly_the_key_made_with_its_image(vm: Vm, image: VmImage) -> None:
    transport = connect(vm, image, image.host_key_path)
    try:
        assert transport.check(["hostname"]).strip() == "rvconform-vm"
        on_disk = transport.check(["cat", "/etc/ssh/ssh_host_ed25519_key.pub"]).split()[:2]
        assert on_disk == image.host_key_path.read_text().split()[:2]
        assert transport.check(["sh", "-c", "ls /etc/ssh/ssh_host_*"]).split() == [
            "/etc/ssh/ssh_host_ed25519_key", "/etc/ssh/ssh_host_ed25519_key.pub"], "none made at boot"
        offered = [line for line in transport.check(["sshd", "-T"]).lower().splitlines()
                   if line.startswith("hostkey ")]
        assert offered == ["hostkey /etc/ssh/ssh_host_ed25519_key"]
        assert transport.run(["systemctl", "is-enabled", "sshd-keygen.service"]).stdout.strip() == "masked"
    finally:
        transport.close()


def test_another_key_is_refused_within_seconds_naming_the_vm_and_both_fingerprints(
        vm: Vm, image: VmImage, impostor_key: Path) -> None:
    witness = connect(vm, image, image.host_key_path)
    try:
        logins_before = _logins(witness)
        started = time.monotonic()
        with pytest.raises(BoardUnreachable) as caught:
            connect(vm, image, impostor_key)
        assert time.monotonic() - started < 15
        assert _logins(witness) == logins_before, "refused before any credential was sent"
    finally:
        witness.close()
    message = str(caught.value)
    assert f"qemu-host-key: THE HOST KEY OF THE VM (SSH on 127.0.0.1:{vm.ssh_port}) HAS CHANGED" in message
    assert f"pinned ssh-ed25519 {fingerprint_of(impostor_key)} (made with its image: {impostor_key})" in message
    assert f"presented ssh-ed25519 {fingerprint_of(image.host_key_path)}" in message
    assert f"rebuild the VM image: `rm -rf {impostor_key.parent}`" in message


def _logins(transport: SshTransport) -> int:
    """How many logins the guest's sshd accepted so far; ``journalctl --sync`` first, so that every line logged
    before it is counted."""
    transport.check(["journalctl", "--sync"])
    return transport.check(["journalctl", "--no-pager", "-o", "cat"]).count("Accepted publickey")


def test_the_qemu_board_pins_the_host_key_of_its_run_s_vm(vm: Vm, image: VmImage, impostor_key: Path) -> None:
    for host_key, works in ((impostor_key, False), (image.host_key_path, True)):
        run = Run.start()
        try:
            run.write(VM, VmRecord(vm.ssh_port, key=str(image.key_path), host_key=str(host_key),
                                   console=str(vm.console_path)))  # the run's VM: this module's boot
            if not works:
                with pytest.raises(BoardUnreachable, match=r"qemu: THE HOST KEY OF THE VM .* HAS CHANGED"):
                    open_board("qemu", run.labels, run)
                continue
            board = open_board("qemu", run.labels, run)
            try:
                assert board.kernel_release()
            finally:
                board.close()
        finally:
            run.close()
