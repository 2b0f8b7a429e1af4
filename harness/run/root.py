"""Where run directories live, and the owner lock that tells a live run from one whose owner died."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import socket
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO

OWNER = "owner.lock"
#: What ``new_run_id`` makes: only such ids are ever judged dead by a sweep (a board opened outside a run
#: labels its things with whatever it was given, and no sweep touches them).
RUN_ID = re.compile(r"\d{8}-\d{6}-[0-9a-f]{6}")
_MACHINE_ID_FILES = ("/etc/machine-id", "/var/lib/dbus/machine-id")


def new_run_id() -> str:
    """A new run's id: when it started, and a random part."""
    return time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]


def runs_root() -> Path:
    """Where run directories live (one per live or crashed run)."""
    return Path(tempfile.gettempdir()) / f"rvconform-{os.getuid()}" / "runs"


def origin() -> str:
    """This harness host and runs root in 12 hex digits: what an SSH board's things carry, so the sweep of a
    shared board takes only what runs of this origin left (their run directories are here to judge)."""
    return hashlib.sha256(f"{_machine_id()}\n{runs_root()}".encode()).hexdigest()[:12]


def _machine_id() -> str:
    for path in _MACHINE_ID_FILES:
        with contextlib.suppress(OSError):
            if found := Path(path).read_text().strip():
                return found
    return socket.gethostname()


def run_is_dead(run_id: str) -> bool:
    """Whether ``run_id`` is a run of this runs root that ended without cleaning up: its directory is gone or its
    owner died. An id ``new_run_id`` did not make is never dead (nothing here can tell)."""
    if not RUN_ID.fullmatch(run_id):
        return False
    run_dir = runs_root() / run_id
    if not run_dir.is_dir():
        return True
    with abandoned(run_dir) as gone:
        return gone


def claim(run_dir: Path) -> IO[str]:
    """Take the owner lock of a new run directory; the run is live while the returned file stays open."""
    handle = (run_dir / OWNER).open("w")
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    handle.write(str(os.getpid()))
    handle.flush()
    return handle


@contextlib.contextmanager
def abandoned(run_dir: Path) -> Iterator[bool]:
    """Whether the run in ``run_dir`` lost its owner; while the block runs, its owner lock is held here."""
    try:
        handle = (run_dir / OWNER).open("a")
    except OSError:
        yield False
        return
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
