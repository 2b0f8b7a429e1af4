"""mmdebstrap, the one way rvconform makes a Debian root filesystem from a mirror (base images, the VM image):
its version (part of every cache key) and one runner with a deadline, in a process group of its own."""

from __future__ import annotations

import functools
import shlex
import shutil
import subprocess
import time
from pathlib import Path

from harness.errors import BootstrapError
from harness.wait import log_tail, stop_process

# The mirror here is a frozen snapshot whose Release files are past Valid-Until; mmdebstrap also
# writes this option into the image, so apt-get inside builds works the same way.
APT_OPTIONS = ('Acquire::Check-Valid-Until "false"',)
TIMEOUT = 3600.0
TAIL_LINES = 25
MISSING_FIX = "run scripts/setup-host, or apt-get install -y mmdebstrap"


@functools.cache  # asked for every cache key, a perl start-up each time
def mmdebstrap_version() -> str:
    """``mmdebstrap --version``, or "absent"."""
    if not shutil.which("mmdebstrap"):
        return "absent"
    return subprocess.run(["mmdebstrap", "--version"], capture_output=True, text=True).stdout.strip()


def run_mmdebstrap(arguments: list[str], log_path: Path, *, what: str, fix: str, timeout: float = TIMEOUT) -> None:
    """Run ``mmdebstrap ARGUMENTS``, its output in ``log_path``; BootstrapError (naming ``what``, with the log's
    tail and ``fix``) when it fails or outlives ``timeout``.

    It runs in a process group of its own, stopped as a whole (the package scripts it runs too) on a timeout
    or an interrupt; SIGTERM first, so that it unmounts what it mounted inside the root filesystem.
    """
    if not shutil.which("mmdebstrap"):
        raise BootstrapError(f"mmdebstrap is not installed; it is needed for {what}", fix=MISSING_FIX)
    command = ["mmdebstrap", *arguments]
    started = time.monotonic()
    with log_path.open("w") as log:
        log.write(f"$ {shlex.join(command)}\n")
        log.flush()
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True)
        try:
            returncode: int | None = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            returncode = None
        finally:
            if process.poll() is None:
                stop_process(process.pid, alive=lambda: process.poll() is None, group=True, grace=30, kill_grace=10)
    if returncode != 0:
        how = f"exit {returncode}" if returncode is not None else f"did not finish within {timeout:.0f} s"
        raise BootstrapError(
            f"mmdebstrap failed ({how}) for {what} after {time.monotonic() - started:.0f} s; whole log: {log_path}\n"
            f"{log_tail(log_path.read_text(errors='replace'), TAIL_LINES)}",
            fix=fix,
        )
