"""A riscv64 Debian system that boots under full-system QEMU: a raw ext4 disk, its kernel and initrd, an
SSH key that root accepts, and the public half of the guest's one SSH host key (made with the image: the
harness pins it, see harness.boards.host_keys). Made with mmdebstrap from the Debian mirror and kept in the cache.

The system is built so that it never reaches out by itself: no apt timers, no time sync, no resolver,
no IPv6, DHCP only from QEMU's user network. It talks to 10.0.2.2 (the host's loopback, where our
registry listens) only when a test tells it to.

Cache key: every input (suite, mirror, packages, disk size, the customize hooks, mmdebstrap's version
and FORMAT). ``<images dir>/<key>/`` (default ``cache_dir("vm")``) appears only once complete: it is built beside,
then renamed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from harness import progress
from harness.cache import cache_dir
from harness.defaults import DEBIAN_MIRROR
from harness.errors import BootstrapError
from harness.mmdebstrap import APT_OPTIONS, mmdebstrap_version, run_mmdebstrap

FORMAT = 1
ARCHITECTURE = "riscv64"
HOSTNAME = "rvconform-vm"
# docker.io and docker-cli: the VM can serve as a native builder (--builder qemu); docker stays off at boot.
PACKAGES = ("linux-image-riscv64", "systemd-sysv", "udev", "openssh-server", "containerd", "iproute2",
            "ca-certificates", "kmod", "docker.io", "docker-cli")
TOOLS = {"mmdebstrap": "mmdebstrap", "mkfs.ext4": "e2fsprogs", "ssh-keygen": "openssh-client"}
_KEY_PLACEHOLDER = "ssh-ed25519 PUBLIC-KEY"

HOSTS = f"127.0.0.1\tlocalhost\n127.0.1.1\t{HOSTNAME}\n::1\tlocalhost ip6-localhost ip6-loopback\n"
FSTAB = "LABEL=root / ext4 rw,errors=remount-ro 0 1\n"
# IPv4 from QEMU's DHCP (10.0.2.2) and nothing else: no DNS or NTP servers taken from it, no IPv6.
NETWORK = """[Match]
Name=e*

[Network]
DHCP=ipv4
LinkLocalAddressing=no
IPv6AcceptRA=no

[DHCPv4]
UseDNS=no
UseNTP=no
UseDomains=no
"""
# No nameserver: mmdebstrap copies the host's resolv.conf, whose server the VM must not query.
RESOLV_CONF = "# rvconform VM: no resolver; it talks only to 10.0.2.2 by address\n"
#: The guest's one host key, made by a customize hook inside the root filesystem (its private half never
#: exists anywhere else); its public half is copied beside the image for the harness to pin.
HOST_KEY = "/etc/ssh/ssh_host_ed25519_key"
# Debian's defaults, stated so that a changed default cannot break key login or our forwards. HostKey: sshd
# offers the pinned key and no other, whatever else appears in /etc/ssh.
SSHD_CONFIG = ("PermitRootLogin prohibit-password\nPubkeyAuthentication yes\nAllowTcpForwarding yes\nUseDNS no\n"
               f"HostKey {HOST_KEY}\n")
ENABLED_UNITS = {"systemd-networkd.service": "multi-user.target.wants"}
OPTIONAL_UNITS = {"systemd-networkd.socket": "sockets.target.wants"}
# Units that would reach out to the internet (or to a time server) on their own; and sshd-keygen.service
# (`ssh-keygen -A` at a first boot), which must not make host keys beside the pinned one.
MASKED_UNITS = ("apt-daily.timer", "apt-daily-upgrade.timer", "apt-daily.service", "apt-daily-upgrade.service",
                "systemd-timesyncd.service", "sshd-keygen.service")
# Enabled by their packages' scripts, but started only when the VM serves as a builder (`systemctl start
# docker`): a dockerd starting at every boot would slow every boot under TCG.
DISABLED_UNITS = ("docker.service", "docker.socket")


@dataclass(frozen=True)
class VmImageSpec:
    """What goes into a VM image; ``key`` changes whenever any of it does."""

    suite: str = "sid"
    mirror: str = DEBIAN_MIRROR
    packages: tuple[str, ...] = PACKAGES
    disk_size: str = "3G"

    @property
    def key(self) -> str:
        """12 hex characters of the sha256 of every input."""
        inputs = {
            "format": FORMAT, "architecture": ARCHITECTURE, "suite": self.suite, "mirror": self.mirror,
            "packages": list(self.packages), "disk_size": self.disk_size, "apt_options": list(APT_OPTIONS),
            "customize": "\n".join(customize_hooks(_KEY_PLACEHOLDER)), "mmdebstrap": mmdebstrap_version(),
        }
        return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class VmImage:
    """A built image: the pristine disk (never written: VMs boot from an overlay), kernel, initrd, the
    private key whose ``.pub`` is root's authorized key, and the public host key the guest's sshd presents."""

    dir: Path
    disk: Path
    kernel: Path
    initrd: Path
    key_path: Path
    host_key_path: Path

    @classmethod
    def at(cls, directory: Path) -> VmImage:
        """The image laid out in ``directory`` (which may not exist yet)."""
        return cls(directory, directory / "disk.img", directory / "vmlinux", directory / "initrd.img",
                   directory / "id_ed25519", directory / "ssh_host_ed25519_key.pub")

    def complete(self) -> bool:
        """Whether every file is there. Without the host key nothing could vouch for the VM: such an image
        (one built before host keys were pinned) is incomplete, so it is built again."""
        files = (self.disk, self.kernel, self.initrd, self.key_path, self.host_key_path)
        return all(path.is_file() for path in files)


def customize_hooks(public_key: str) -> list[str]:
    """mmdebstrap ``--customize-hook`` shell snippets (run on the host, ``$1`` = the root filesystem)."""
    return [
        _write("/etc/hostname", f"{HOSTNAME}\n"),
        _write("/etc/hosts", HOSTS),
        _write("/etc/resolv.conf", RESOLV_CONF),
        _write("/etc/fstab", FSTAB),
        _write("/etc/systemd/network/10-wired.network", NETWORK),
        _write("/etc/ssh/sshd_config.d/rvconform.conf", SSHD_CONFIG),
        _write("/root/.ssh/authorized_keys", f"{public_key}\n", mode="0600", dir_mode="0700"),
        _host_key(),
        *(_enable(unit, wants, required=True) for unit, wants in ENABLED_UNITS.items()),
        *(_enable(unit, wants, required=False) for unit, wants in OPTIONAL_UNITS.items()),
        *(_mask(unit) for unit in MASKED_UNITS),
        *(_disable(unit) for unit in DISABLED_UNITS),
    ]


def _write(path: str, text: str, mode: str = "0644", dir_mode: str = "0755") -> str:
    directory, target = '"$1"' + shlex.quote(os.path.dirname(path)), '"$1"' + shlex.quote(path)
    return (f"mkdir -p {directory} && chmod {dir_mode} {directory} && rm -f {target} && "
            f"printf %s {shlex.quote(text)} > {target} && chmod {mode} {target}")


def _host_key() -> str:
    """Replace the host keys openssh-server's postinst made with one ed25519 key (ssh-keygen on this machine,
    writing straight into the root filesystem)."""
    key = '"$1"' + shlex.quote(HOST_KEY)
    return (f'rm -f "$1"/etc/ssh/ssh_host_* && mkdir -p "$1"/etc/ssh && '
            f"ssh-keygen -q -t ed25519 -N '' -C root@{HOSTNAME} -f {key}")


def _enable(unit: str, wants: str, required: bool) -> str:
    source = f"/usr/lib/systemd/system/{unit}"
    link = '"$1"' + shlex.quote(f"/etc/systemd/system/{wants}/{unit}")
    enable = f'mkdir -p "$(dirname {link})" && ln -sf {shlex.quote(source)} {link}'
    exists = f'test -e "$1"{shlex.quote(source)}'
    return f"{exists} && {enable}" if required else f"if {exists}; then {enable}; fi"


def _disable(unit: str) -> str:
    return f'rm -f "$1"/etc/systemd/system/*.wants/{shlex.quote(unit)}'


def _mask(unit: str) -> str:
    return f'mkdir -p "$1"/etc/systemd/system && ln -sf /dev/null "$1"{shlex.quote(f"/etc/systemd/system/{unit}")}'


def ensure_vm_image(spec: VmImageSpec | None = None, log: Callable[[str], object] = print,
                    refresh: bool = False, images_dir: Path | None = None) -> VmImage:
    """The cached image for ``spec`` (default: ``VmImageSpec()``) in ``images_dir`` (default: the
    cache's ``vm/``), built first when missing or when ``refresh``. Concurrent callers wait for one build."""
    spec = spec or VmImageSpec()
    root = images_dir or cache_dir("vm")
    root.mkdir(parents=True, exist_ok=True)
    image = VmImage.at(root / spec.key)
    with FileLock(str(image.dir) + ".lock"):
        if not refresh and image.complete():
            return image
        _check_tools()
        for leftover in root.glob(f".{spec.key}-building-*"):  # a crashed build; we hold its lock
            _remove_tree(leftover)
        log(f"vm: building the {spec.suite} riscv64 VM image {spec.key} from {spec.mirror} with mmdebstrap "
            "(5-10 minutes)")
        started = time.monotonic()
        building = Path(tempfile.mkdtemp(prefix=f".{spec.key}-building-", dir=root))
        try:
            with progress.step(progress.VM, spec.key, building / "mmdebstrap.log"):
                _build(spec, VmImage.at(building))
            if image.dir.exists():
                _remove_tree(image.dir)
            building.rename(image.dir)
        finally:
            _remove_tree(building)
        log(f"vm: built {image.dir} in {time.monotonic() - started:.0f} s")
    return image


def _check_tools() -> None:
    missing = [f"{tool} (package {package})" for tool, package in TOOLS.items() if not shutil.which(tool)]
    if missing:
        raise BootstrapError(f"cannot build the VM image: missing {', '.join(missing)}",
                             fix="run scripts/setup-host, or apt-get install -y mmdebstrap e2fsprogs openssh-client")


def _build(spec: VmImageSpec, image: VmImage) -> None:
    _run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"rvconform-vm-{spec.key}",
          "-f", str(image.key_path)], what="ssh-keygen")
    rootfs = image.dir / "rootfs"
    public_key = image.key_path.with_name(image.key_path.name + ".pub").read_text().strip()
    _run_mmdebstrap(spec, rootfs, public_key, image.dir / "mmdebstrap.log")
    _copy_boot_files(rootfs, image)
    _copy_host_key(rootfs, image)
    _run(["mkfs.ext4", "-q", "-d", str(rootfs), "-L", "root", str(image.disk), spec.disk_size], what="mkfs.ext4")
    _remove_tree(rootfs)


def mmdebstrap_command(spec: VmImageSpec, rootfs: Path, public_key: str) -> list[str]:
    """The mmdebstrap command line that makes the root filesystem in the directory ``rootfs``."""
    command = ["mmdebstrap", f"--arch={ARCHITECTURE}", "--variant=minbase", f"--include={','.join(spec.packages)}"]
    command += [f"--aptopt={option}" for option in APT_OPTIONS]
    command += [f"--customize-hook={hook}" for hook in customize_hooks(public_key)]
    return [*command, spec.suite, str(rootfs), spec.mirror]


def _run_mmdebstrap(spec: VmImageSpec, rootfs: Path, public_key: str, log_path: Path) -> None:
    run_mmdebstrap(mmdebstrap_command(spec, rootfs, public_key)[1:], log_path,
                   what=f"the riscv64 VM image from {spec.mirror} ({spec.suite})",
                   fix="check that the mirror is reachable and has these packages for riscv64 (the riscv64 package "
                   "scripts also need the qemu binfmt registration: rvconform doctor)")


def _copy_boot_files(rootfs: Path, image: VmImage) -> None:
    for pattern, target in (("vmlinux-*", image.kernel), ("initrd.img-*", image.initrd)):
        found = sorted((rootfs / "boot").glob(pattern))
        if not found:
            raise BootstrapError(f"the VM image has no /boot/{pattern} after mmdebstrap",
                                 fix="keep linux-image-riscv64 in the VM image's packages")
        shutil.copyfile(found[-1], target)


def _copy_host_key(rootfs: Path, image: VmImage) -> None:
    public = rootfs / (HOST_KEY.lstrip("/") + ".pub")
    if not public.is_file():
        raise BootstrapError(f"the VM image has no {HOST_KEY}.pub after mmdebstrap (its customize hook makes it)",
                             fix="keep the host key hook (_host_key) in harness/vm_image.py's customize hooks")
    shutil.copyfile(public, image.host_key_path)


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise BootstrapError(f"{what} failed (exit {result.returncode}) building the VM image: "
                             f"{(result.stderr or result.stdout).strip()[-1500:]}",
                             fix=f"run `{shlex.join(command)}` by hand to see why")


def _remove_tree(path: Path) -> None:
    """Remove a (partial) root filesystem, first detaching anything still mounted inside it, so that
    removing it never reaches into the host's /dev, /proc or /sys."""
    if not path.exists():
        return
    prefix = str(path.resolve()) + "/"
    for mount in sorted(_mount_points(), reverse=True):
        if mount.startswith(prefix):
            subprocess.run(["umount", "--lazy", mount], capture_output=True)
    shutil.rmtree(path, ignore_errors=True)


def _mount_points() -> list[str]:
    with open("/proc/self/mounts") as mounts:
        # Octal escapes (\040 for a space) as the kernel writes them.
        return [line.split()[1].encode().decode("unicode_escape") for line in mounts]
