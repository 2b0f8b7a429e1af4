"""The riscv64 VM: its image's cache key, the system the customize hooks make, the build's all-or-nothing
cache entry (with a fake mmdebstrap), the QEMU command line and the SSH wait, all without booting QEMU."""

from __future__ import annotations

import socket
import stat
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from harness import vm_image
from harness.errors import BoardUnreachable, BootstrapError
from harness.vm import Vm, VmStalled, qemu_command, ssh_banner
from harness.vm_image import VmImage, VmImageSpec, customize_hooks, ensure_vm_image, mmdebstrap_command

PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeKeyForTests test@rvconform"


def test_the_key_is_stable_and_changes_with_every_input(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = VmImageSpec()
    assert spec.key == VmImageSpec().key and len(spec.key) == 12 and int(spec.key, 16) >= 0
    changed = {replace(spec, suite="forky").key, replace(spec, mirror="http://mirror.example/debian").key,
               replace(spec, packages=(*spec.packages, "curl")).key, replace(spec, disk_size="4G").key}
    with monkeypatch.context() as patch:
        patch.setattr(vm_image, "FORMAT", vm_image.FORMAT + 1)
        changed.add(spec.key)
    with monkeypatch.context() as patch:
        patch.setattr(vm_image, "mmdebstrap_version", lambda: "mmdebstrap 99")
        changed.add(spec.key)
    with monkeypatch.context() as patch:
        patch.setattr(vm_image, "NETWORK", vm_image.NETWORK + "DNS=10.0.2.3\n")
        changed.add(spec.key)
    assert len(changed) == 7 and spec.key not in changed


def _fake_rootfs(root: Path) -> Path:
    (root / "usr/lib/systemd/system").mkdir(parents=True)
    (root / "usr/lib/systemd/system/systemd-networkd.service").write_text("[Unit]\n")
    (root / "etc").mkdir()
    (root / "etc/resolv.conf").write_text("nameserver 10.255.255.53\n")  # what mmdebstrap copies from the host
    (root / "root").mkdir(mode=0o700)
    return root


def _run_hooks(hooks: list[str], rootfs: Path) -> subprocess.CompletedProcess[str]:
    # How mmdebstrap runs a shell hook: sh -c HOOK exec ROOTFS.
    for hook in hooks:
        result = subprocess.run(["sh", "-c", hook, "exec", str(rootfs)], capture_output=True, text=True)
        if result.returncode != 0:
            return result
    return result


def test_the_customize_hooks_make_a_quiet_system_root_can_log_in_to(tmp_path: Path) -> None:
    root = _fake_rootfs(tmp_path / "root fs")  # a space in the path: the hooks quote "$1"
    assert _run_hooks(customize_hooks(PUBLIC_KEY), root).returncode == 0
    assert (root / "etc/hostname").read_text() == "rvconform-vm\n"
    assert "127.0.0.1\tlocalhost\n" in (root / "etc/hosts").read_text()
    assert "nameserver" not in (root / "etc/resolv.conf").read_text()
    assert (root / "etc/fstab").read_text() == "LABEL=root / ext4 rw,errors=remount-ro 0 1\n"
    network = (root / "etc/systemd/network/10-wired.network").read_text()
    assert "[Match]\nName=e*\n" in network and "DHCP=ipv4" in network and "UseDNS=no" in network
    wants = root / "etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
    assert wants.readlink() == Path("/usr/lib/systemd/system/systemd-networkd.service")
    assert not (root / "etc/systemd/system/sockets.target.wants").exists(), "no socket unit, so no link"
    for unit in ("apt-daily.timer", "apt-daily-upgrade.timer", "systemd-timesyncd.service"):
        assert (root / "etc/systemd/system" / unit).readlink() == Path("/dev/null"), unit
    keys = root / "root/.ssh/authorized_keys"
    assert keys.read_text() == PUBLIC_KEY + "\n"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600 and stat.S_IMODE(keys.parent.stat().st_mode) == 0o700
    sshd = (root / "etc/ssh/sshd_config.d/rvconform.conf").read_text()
    assert "PermitRootLogin prohibit-password" in sshd and "AllowTcpForwarding yes" in sshd


def test_the_hooks_replace_the_package_s_host_keys_with_one_that_sshd_alone_offers(tmp_path: Path) -> None:
    root = _fake_rootfs(tmp_path / "root fs")
    (root / "etc/ssh").mkdir()
    for made_by_postinst in ("ssh_host_rsa_key", "ssh_host_rsa_key.pub", "ssh_host_ed25519_key",
                             "ssh_host_ed25519_key.pub", "ssh_host_mldsa44_ed25519_key"):
        (root / "etc/ssh" / made_by_postinst).write_text("from the package's postinst\n")
    assert _run_hooks(customize_hooks(PUBLIC_KEY), root).returncode == 0
    keys = root / "etc/ssh"
    assert sorted(p.name for p in keys.glob("ssh_host_*")) == ["ssh_host_ed25519_key", "ssh_host_ed25519_key.pub"]
    assert (keys / "ssh_host_ed25519_key.pub").read_text().startswith("ssh-ed25519 AAAA")
    assert stat.S_IMODE((keys / "ssh_host_ed25519_key").stat().st_mode) == 0o600
    derived = subprocess.run(["ssh-keygen", "-y", "-f", str(keys / "ssh_host_ed25519_key")], capture_output=True,
                             text=True, check=True).stdout.split()[:2]
    assert derived == (keys / "ssh_host_ed25519_key.pub").read_text().split()[:2], "one pair"
    sshd = (keys / "sshd_config.d/rvconform.conf").read_text().splitlines()
    assert [line for line in sshd if line.startswith("HostKey")] == ["HostKey /etc/ssh/ssh_host_ed25519_key"]
    assert (root / "etc/systemd/system/sshd-keygen.service").readlink() == Path("/dev/null"), \
        "no ssh-keygen -A at a first boot"


def test_every_build_makes_its_own_host_key(tmp_path: Path) -> None:
    made = []
    for name in ("one", "two"):
        root = _fake_rootfs(tmp_path / name)
        assert _run_hooks(customize_hooks(PUBLIC_KEY), root).returncode == 0
        made.append((root / "etc/ssh/ssh_host_ed25519_key.pub").read_text())
    assert made[0] != made[1]


def test_docker_is_installed_but_off_at_boot(tmp_path: Path) -> None:
    """docker.io's scripts enable docker.service and docker.socket; the hooks take those links away (a builder
    starts docker itself), and leave the other units alone."""
    assert {"docker.io", "docker-cli"} <= set(vm_image.PACKAGES)
    root = _fake_rootfs(tmp_path / "root fs")
    links = {"multi-user.target.wants/docker.service": "docker.service", "sockets.target.wants/docker.socket":
             "docker.socket", "multi-user.target.wants/containerd.service": "containerd.service"}
    for link, unit in links.items():
        (root / "etc/systemd/system" / link).parent.mkdir(parents=True, exist_ok=True)
        (root / "etc/systemd/system" / link).symlink_to(f"/usr/lib/systemd/system/{unit}")
    assert _run_hooks(customize_hooks(PUBLIC_KEY), root).returncode == 0
    wants = root / "etc/systemd/system"
    assert not (wants / "multi-user.target.wants/docker.service").is_symlink()
    assert not (wants / "sockets.target.wants/docker.socket").is_symlink()
    assert (wants / "multi-user.target.wants/containerd.service").is_symlink()


def test_the_hooks_fail_when_the_system_has_no_networkd(tmp_path: Path) -> None:
    root = _fake_rootfs(tmp_path / "rootfs")
    (root / "usr/lib/systemd/system/systemd-networkd.service").unlink()
    assert _run_hooks(customize_hooks(PUBLIC_KEY), root).returncode != 0


def test_the_mmdebstrap_command_passes_every_input(tmp_path: Path) -> None:
    spec = VmImageSpec(suite="sid", packages=("linux-image-riscv64", "containerd"))
    command = mmdebstrap_command(spec, tmp_path / "rootfs", PUBLIC_KEY)
    assert command[:4] == ["mmdebstrap", "--arch=riscv64", "--variant=minbase",
                           "--include=linux-image-riscv64,containerd"]
    assert command[-3:] == ["sid", str(tmp_path / "rootfs"), "http://deb.debian.org/debian"]
    assert '--aptopt=Acquire::Check-Valid-Until "false"' in command
    assert [c for c in command if c.startswith("--customize-hook=")] == [
        f"--customize-hook={hook}" for hook in customize_hooks(PUBLIC_KEY)]


FAKE_MMDEBSTRAP = """\
    import os, subprocess, sys
    from pathlib import Path
    if sys.argv[1:] == ["--version"]:
        sys.exit(print("mmdebstrap 0.0-fake"))
    if os.environ.get("FAKE_MMDEBSTRAP_FAIL"):
        print("I: downloading packages...")
        sys.exit(print("E: cannot find package linux-image-riscv64", file=sys.stderr) or 25)
    rootfs = Path(sys.argv[-2])
    for name in ("boot", "etc", "root", "usr/lib/systemd/system"):
        (rootfs / name).mkdir(parents=True)
    (rootfs / "usr/lib/systemd/system/systemd-networkd.service").write_text("[Unit]\\n")
    (rootfs / "boot/vmlinux-6.12-riscv64").write_bytes(b"kernel")
    (rootfs / "boot/initrd.img-6.12-riscv64").write_bytes(b"initrd")
    for hook in (a.split("=", 1)[1] for a in sys.argv if a.startswith("--customize-hook=")):
        subprocess.run(["sh", "-c", hook, "exec", str(rootfs)], check=True)
"""


@pytest.fixture
def fake_mmdebstrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A mmdebstrap on PATH that makes a tiny root filesystem at once; the cache in tmp_path."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "mmdebstrap"
    script.write_text(f"#!{sys.executable}\n" + textwrap.dedent(FAKE_MMDEBSTRAP))
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{Path(sys.executable).parent}:/usr/sbin:/usr/bin:/sbin:/bin")
    monkeypatch.setenv("RVCONFORM_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "vm"


def test_a_build_makes_a_complete_image_and_is_reused(fake_mmdebstrap: Path) -> None:
    messages: list[str] = []
    spec = VmImageSpec(disk_size="16M")
    image = ensure_vm_image(spec, log=messages.append)
    assert image.dir == fake_mmdebstrap / spec.key and image.complete()
    assert sorted(p.name for p in image.dir.iterdir()) == [
        "disk.img", "id_ed25519", "id_ed25519.pub", "initrd.img", "mmdebstrap.log", "ssh_host_ed25519_key.pub",
        "vmlinux"]
    assert image.kernel.read_bytes() == b"kernel" and image.initrd.read_bytes() == b"initrd"
    public_key = image.key_path.with_suffix(".pub").read_text()
    assert _debugfs_cat(image.disk, "/root/.ssh/authorized_keys") == public_key, "root's authorized key"
    host_key = image.host_key_path.read_text()
    assert host_key.startswith("ssh-ed25519 ") and host_key != public_key
    assert _debugfs_cat(image.disk, "/etc/ssh/ssh_host_ed25519_key.pub") == host_key, "the disk's host key is pinned"
    assert "PRIVATE KEY" in _debugfs_cat(image.disk, "/etc/ssh/ssh_host_ed25519_key")
    assert [p.name for p in fake_mmdebstrap.iterdir() if p.name.startswith(".")] == []

    messages.clear()
    assert ensure_vm_image(spec, log=messages.append) == image and messages == []
    mtime = image.disk.stat().st_mtime_ns
    ensure_vm_image(spec, log=messages.append, refresh=True)
    assert image.disk.stat().st_mtime_ns != mtime and image.key_path.with_suffix(".pub").read_text() != public_key
    assert image.host_key_path.read_text() != host_key


def _debugfs_cat(disk: Path, path: str) -> str:
    return subprocess.run(["debugfs", "-R", f"cat {path}", str(disk)], capture_output=True, text=True).stdout


def test_an_image_without_its_host_key_is_incomplete_and_built_again(fake_mmdebstrap: Path) -> None:
    """An image built before host keys were pinned has no host key file: nothing could vouch for its VM."""
    spec = VmImageSpec(disk_size="16M")
    image = ensure_vm_image(spec, log=lambda _: None)
    disk_mtime = image.disk.stat().st_mtime_ns
    image.host_key_path.unlink()
    assert not image.complete()
    messages: list[str] = []
    assert ensure_vm_image(spec, log=messages.append) == image and image.complete()
    assert any("building" in message for message in messages) and image.disk.stat().st_mtime_ns != disk_mtime


def test_images_can_be_kept_elsewhere(fake_mmdebstrap: Path, tmp_path: Path) -> None:
    image = ensure_vm_image(VmImageSpec(disk_size="16M"), log=lambda _: None, images_dir=tmp_path / "images")
    assert image.dir.parent == tmp_path / "images" and image.complete()
    assert not fake_mmdebstrap.exists() or list(fake_mmdebstrap.iterdir()) == []


def test_a_failed_build_names_mmdebstrap_s_output_and_leaves_nothing(fake_mmdebstrap: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_MMDEBSTRAP_FAIL", "1")
    with pytest.raises(BootstrapError, match=r"exit 25[\s\S]*cannot find package linux-image-riscv64[\s\S]*fix:"):
        ensure_vm_image(VmImageSpec(), log=lambda _: None)
    assert [p.name for p in fake_mmdebstrap.iterdir() if not p.name.endswith(".lock")] == []


def test_a_missing_tool_is_named_with_its_package(fake_mmdebstrap: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(fake_mmdebstrap.parent.parent / "bin"))
    with pytest.raises(BootstrapError, match=r"missing mkfs.ext4 \(package e2fsprogs\)"):
        ensure_vm_image(VmImageSpec(), log=lambda _: None)


def test_the_qemu_command_boots_from_the_overlay_with_ssh_on_loopback_only(tmp_path: Path) -> None:
    image = VmImage.at(tmp_path / "image")
    command = qemu_command(image, tmp_path / "overlay.qcow2", 2345, tmp_path / "console.log", 4, 1024)
    options = {option: command[i + 1] for i, option in enumerate(command[:-1]) if option.startswith("-")}
    assert command[0] == "qemu-system-riscv64" and "-nographic" not in command
    assert options["-bios"] == "default" and options["-machine"] == "virt"
    assert (options["-smp"], options["-m"]) == ("4", "1024")
    assert options["-serial"] == f"file:{tmp_path / 'console.log'}"
    assert options["-monitor"] == "none" and options["-display"] == "none"
    assert options["-netdev"] == "user,id=n0,hostfwd=tcp:127.0.0.1:2345-:22"
    assert options["-drive"] == f"file={tmp_path / 'overlay.qcow2'},format=qcow2,if=virtio"
    assert str(image.disk) not in " ".join(command), "the cached disk is only the overlay's backing file"
    assert (options["-kernel"], options["-initrd"]) == (str(image.kernel), str(image.initrd))
    assert "root=LABEL=root" in options["-append"] and "console=ttyS0" in options["-append"]
    assert "-no-reboot" in command and "panic=" in options["-append"], "a panicking guest ends QEMU"


def _serve_once(reply: bytes) -> int:
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        with server:
            client, _ = server.accept()
            with client:
                client.sendall(reply)

    threading.Thread(target=serve, daemon=True).start()
    return server.getsockname()[1]


def test_only_an_ssh_banner_counts_as_ssh_being_up() -> None:
    assert ssh_banner(_serve_once(b"SSH-2.0-OpenSSH_9.9p1 Debian-1\r\n")).startswith("SSH-2.0-OpenSSH")
    with pytest.raises(ConnectionError, match="no SSH banner"):
        ssh_banner(_serve_once(b""))  # what QEMU's user network does before the guest listens


def test_waiting_on_a_vm_whose_qemu_exited_fails_at_once_with_console_and_stderr(tmp_path: Path) -> None:
    (tmp_path / "console.log").write_text("OpenSBI v1.5\nKernel panic - not syncing: VFS: Unable to mount root\n")
    (tmp_path / "qemu.log").write_text("qemu-system-riscv64: could not load kernel '/nowhere'\n")
    (tmp_path / "overlay.qcow2").write_bytes(b"")
    process = subprocess.Popen(["sh", "-c", "exit 1"], start_new_session=True)
    process.wait()
    vm = Vm("vm-test", VmImage.at(tmp_path / "image"), tmp_path, process, _serve_once(b""))
    started = time.monotonic()
    with pytest.raises(BoardUnreachable) as caught:
        vm.wait_for_ssh(deadline_seconds=60)
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert "VM vm-test" in message and "qemu exited with code 1" in message and "no SSH after" in message
    assert "Unable to mount root" in message and "could not load kernel '/nowhere'" in message
    vm.stop()
    vm.stop()
    assert not vm.overlay.exists() and (tmp_path / "console.log").exists()


def _booting_vm(tmp_path: Path) -> Vm:
    """A 'VM' whose QEMU runs (a sleep) and whose SSH port never shows a banner."""
    (tmp_path / "console.log").write_text("OpenSBI v1.5\n[   11.25] virtio_blk virtio0: 2/0/0 queues\n")
    process = subprocess.Popen(["sleep", "60"], start_new_session=True)
    return Vm("vm-test", VmImage.at(tmp_path / "image"), tmp_path, process, _serve_once(b""))


def test_a_boot_whose_console_falls_silent_is_called_hung_at_the_stall_deadline(tmp_path: Path) -> None:
    vm = _booting_vm(tmp_path)
    started = time.monotonic()
    try:
        with pytest.raises(VmStalled) as caught:
            vm.wait_for_ssh(deadline_seconds=60, stall_seconds=1.5)
    finally:
        vm.stop()
    assert 1.5 <= time.monotonic() - started < 6
    message = str(caught.value)
    assert "VM vm-test" in message and "its console printed nothing for" in message and "the boot hung" in message
    assert "virtio_blk" in message, "the console's last lines say where it hung"


def test_a_boot_that_keeps_printing_is_not_hung_and_waits_for_its_deadline(tmp_path: Path) -> None:
    vm = _booting_vm(tmp_path)
    printing = threading.Event()

    def print_every_half_second() -> None:
        while not printing.wait(0.5):
            with (tmp_path / "console.log").open("a") as console:
                console.write("[  OK  ] Started something.service\n")

    thread = threading.Thread(target=print_every_half_second)
    thread.start()
    try:
        with pytest.raises(BoardUnreachable) as caught:
            vm.wait_for_ssh(deadline_seconds=3, stall_seconds=1.5)
    finally:
        printing.set()
        thread.join()
        vm.stop()
    assert not isinstance(caught.value, VmStalled) and "not ready after" in str(caught.value)


def test_the_console_tail_drops_terminal_codes_and_blank_lines(tmp_path: Path) -> None:
    (tmp_path / "console.log").write_text(
        "OpenSBI v1.5\r\n\r\n[\x1b[0;32m  OK  \x1b[0m] Started ssh.service\r\n\x1b]3008;start=1;type=service\x1b\\"
        "\x1b7\x1b[32766;32766H\x1b[6n\x1b8\r\x1b[K[  OK  ] Reached target multi-user.target\r\n")
    vm = Vm("vm-test", VmImage.at(tmp_path / "image"), tmp_path, subprocess.Popen(["true"]), 1)
    vm.process.wait()
    assert vm.console_tail(2) == "[  OK  ] Started ssh.service\n[  OK  ] Reached target multi-user.target"
