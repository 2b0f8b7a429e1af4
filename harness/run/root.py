"""Where run directories live, and the owner lock that tells a live run from one whose owner died."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

OWNER = "owner.lock"


def runs_root() -> Path:
    """Where run directories live (one per live or crashed run)."""
    return Path(tempfile.gettempdir()) / f"rvconform-{os.getuid()}" / "runs"


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
