"""A riscv64 board on this machine: the cached VM image (harness.vm_image) booted under full-system QEMU.

The VM boots from a qcow2 overlay in its work directory, so the cached disk is never written and each
boot starts pristine. Its SSH port is forwarded to 127.0.0.1 only; inside, 10.0.2.2 is the host's
loopback (where our registry listens). Drive it with the SSH board (harness.boards.ssh) as root with
``image.key_path``, pinning ``image.host_key_path``: the only host key its sshd presents.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from harness.errors import BoardUnreachable, ReadinessTimeout
from harness.ports import free_loopback_port
from harness.run import Run
from harness.vm_image import VmImage, VmImageSpec, ensure_vm_image
from harness.wait import Deadline, poll_until, stop_process, wait_until

__all__ = ["Vm", "VmImage", "VmImageSpec", "VmStalled", "ensure_vm_image", "qemu_command", "ssh_banner"]

QEMU = "qemu-system-riscv64"
# No colour codes or terminal queries (a getty's) in the console log: its tail goes into error messages.
KERNEL_ARGS = "root=LABEL=root rw console=ttyS0 panic=5 systemd.log_color=0 systemd.getty_auto=0"
STOP_GRACE = 10.0
_PORT_ATTEMPTS = 3
# CSI sequences, OSC/DCS strings, two-character escapes, carriage returns.
_TERMINAL_CODES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[\]P][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[ -~]|\r")
_NETWORK_UP = 5.0


def qemu_command(image: VmImage, overlay: Path, ssh_port: int, console: Path, cpus: int = 2,
                 memory_mb: int = 2048) -> list[str]:
    """The QEMU command line that boots ``image`` from ``overlay`` with SSH on 127.0.0.1:``ssh_port``."""
    return [
        QEMU, "-machine", "virt", "-cpu", "rv64", "-smp", str(cpus), "-m", str(memory_mb),
        # No -nographic: its stdio console and monitor would tie QEMU to our terminal.
        "-display", "none", "-serial", f"file:{console}", "-monitor", "none",
        # fw_jump hangs: the kernel is larger than its gap before the device tree. With panic=5 in the
        # kernel arguments, -no-reboot turns a kernel panic into QEMU exiting instead of a hang.
        "-bios", "default", "-no-reboot",
        "-kernel", str(image.kernel), "-initrd", str(image.initrd), "-append", KERNEL_ARGS,
        "-drive", f"file={overlay},format=qcow2,if=virtio",
        "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{ssh_port}-:22", "-device", "virtio-net-device,netdev=n0",
    ]


def ssh_banner(port: int, timeout: float = 5.0) -> str:
    """The SSH server's banner on 127.0.0.1:``port``; raises when there is none. QEMU's user network
    accepts a connection before the guest listens, so only the banner proves that sshd is up."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        banner = sock.recv(256).decode(errors="replace").strip()
    if not banner.startswith("SSH-2.0"):
        raise ConnectionError(f"no SSH banner on 127.0.0.1:{port} (got {banner!r})")
    return banner


class Vm:
    """One running QEMU process; use ``Vm.start`` and stop it with ``stop()`` or a ``with`` block."""

    def __init__(self, name: str, image: VmImage, workdir: Path, process: subprocess.Popen[bytes],
                 ssh_port: int) -> None:
        self.name = name
        self.image = image
        self.workdir = workdir
        self.process = process
        self.ssh_port = ssh_port
        self.started = time.monotonic()
        self._stopped = False

    @property
    def pid(self) -> int:
        """QEMU's process id."""
        return self.process.pid

    @property
    def console_path(self) -> Path:
        """The guest's serial console (firmware, kernel and systemd output)."""
        return self.workdir / "console.log"

    @property
    def stderr_path(self) -> Path:
        """QEMU's own output (e.g. why it could not start)."""
        return self.workdir / "qemu.log"

    @property
    def overlay(self) -> Path:
        """The copy-on-write disk this boot writes to; removed by ``stop()``."""
        return self.workdir / "overlay.qcow2"

    @classmethod
    def start(cls, image: VmImage, workdir: Path, cpus: int = 2, memory_mb: int = 2048, *,
              name: str = "vm", run: Run | None = None) -> Vm:
        """Boot ``image`` in the background and return at once (see ``wait_for_ssh``). ``run`` records
        the QEMU process, so that the end of the run (or the sweep after a crash) stops it."""
        workdir.mkdir(parents=True, exist_ok=True)
        vm = cls._spawn(name, image, workdir, cpus, memory_mb)
        if run is not None:
            run.record_process(vm.pid, f"qemu VM {name}")
        return vm

    @classmethod
    def _spawn(cls, name: str, image: VmImage, workdir: Path, cpus: int, memory_mb: int) -> Vm:
        _make_overlay(image, workdir / "overlay.qcow2")
        for attempt in range(_PORT_ATTEMPTS):
            port = free_loopback_port()
            vm = cls(name, image, workdir, _popen_qemu(image, workdir, port, cpus, memory_mb), port)
            # A port taken between choosing and binding it makes QEMU exit at once: try another.
            if attempt + 1 == _PORT_ATTEMPTS or not vm._lost_port_race():
                break
        return vm

    def _lost_port_race(self) -> bool:
        poll_until(lambda: self.process.poll() is not None or self.console_size() > 0, Deadline(_NETWORK_UP))
        return self.process.poll() is not None and "host forwarding" in self.stderr_text()

    def wait_for_ssh(self, deadline_seconds: float = 300, stall_seconds: float | None = None) -> str:
        """Wait until the guest's sshd answers; returns its banner. Raises BoardUnreachable (with the
        console tail) at the deadline, or at once when QEMU exits; VmStalled as soon as the console has
        printed nothing for ``stall_seconds`` (a boot that hung: it would not come up by the deadline either)."""
        what = f"VM {self.name} (qemu pid {self.pid}, SSH on 127.0.0.1:{self.ssh_port})"
        started = time.monotonic()
        watch = _BootWatch(self, stall_seconds)
        try:
            return wait_until(lambda: ssh_banner(self.ssh_port), what=what, deadline=Deadline(deadline_seconds),
                              retry_on=(OSError,), alive=watch, logs=self._logs, interval=1.0)
        except ReadinessTimeout as error:
            kind = VmStalled if watch.stalled else BoardUnreachable
            raise kind(
                f"{what}: no SSH after {time.monotonic() - started:.0f} s "
                f"({time.monotonic() - self.started:.0f} s since QEMU started)\n{error.message}",
                fix=f"read the console above (whole: {self.console_path}; QEMU's own output: {self.stderr_path}); "
                    "a VM that boots but is slow needs a longer deadline",
            ) from None

    def exit_code(self) -> int | None:
        """QEMU's exit code once it has ended, else None."""
        return self.process.poll()

    def console_size(self) -> int:
        """How many bytes the guest has written to its console so far."""
        try:
            return self.console_path.stat().st_size
        except OSError:
            return 0

    def _logs(self) -> str:
        console, stderr = self.console_tail(30).strip(), self.stderr_text().strip()
        return (f"--- console ({self.console_path}) ---\n{console or '(empty)'}\n"
                f"--- qemu stderr ({self.stderr_path}) ---\n{stderr or '(empty)'}")

    def console_tail(self, lines: int = 60) -> str:
        """The last ``lines`` lines of the serial console, without terminal control codes."""
        try:
            text = self.console_path.read_text(errors="replace")
        except OSError:
            return ""
        kept = [line for line in _TERMINAL_CODES.sub("", text).splitlines() if line.strip()]
        return "\n".join(kept[-lines:])

    def stderr_text(self) -> str:
        """QEMU's stderr so far."""
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """Stop QEMU (SIGTERM, then SIGKILL after a grace period) and drop the overlay. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        stop_process(self.pid, alive=lambda: self.process.poll() is None, group=True, grace=STOP_GRACE,
                     kill_grace=STOP_GRACE)
        self.overlay.unlink(missing_ok=True)

    def __enter__(self) -> Vm:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.stop()


class VmStalled(BoardUnreachable):
    """A VM's boot hung: its console stopped changing before its SSH server answered."""


class _BootWatch:
    """Why a booting VM will not come up (``wait_until``'s ``alive``): QEMU exited, or, with ``stall_seconds``,
    its console has not grown for that long (a booting guest prints every few seconds: systemd shows a job's
    progress each second while it waits)."""

    def __init__(self, vm: Vm, stall_seconds: float | None) -> None:
        self.vm = vm
        self.stall_seconds = stall_seconds
        self.stalled = False
        self._size = -1
        self._changed = time.monotonic()

    def __call__(self) -> str | None:
        code = self.vm.exit_code()
        if code is not None:
            return f"qemu exited with code {code}"
        size, now = self.vm.console_size(), time.monotonic()
        if size != self._size:
            self._size, self._changed = size, now
        elif self.stall_seconds is not None and now - self._changed >= self.stall_seconds:
            self.stalled = True
            return f"its console printed nothing for {now - self._changed:.0f} s (the boot hung)"
        return None


def _make_overlay(image: VmImage, overlay: Path) -> None:
    overlay.unlink(missing_ok=True)
    result = subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(image.disk),
                             str(overlay)], capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        raise BoardUnreachable(f"cannot make the VM's overlay disk on {image.disk}: {result.stderr.strip()}",
                               fix="rebuild the VM image (ensure_vm_image(refresh=True)); apt-get install qemu-utils")


def _popen_qemu(image: VmImage, workdir: Path, port: int, cpus: int, memory_mb: int) -> subprocess.Popen[bytes]:
    console = workdir / "console.log"
    console.unlink(missing_ok=True)
    command = qemu_command(image, workdir / "overlay.qcow2", port, console, cpus, memory_mb)
    with (workdir / "qemu.log").open("wb") as stderr:
        try:
            return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=stderr, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        except FileNotFoundError:
            raise BoardUnreachable(f"{QEMU} is not installed",
                                   fix="run scripts/setup-host, or apt-get install -y qemu-system-misc opensbi"
                                   ) from None
