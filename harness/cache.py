"""Where rvconform keeps what pays to keep between runs, and where one run keeps its state.

The cache (``$RVCONFORM_CACHE``, default ``$XDG_CACHE_HOME/rvconform`` or ``~/.cache/rvconform``):
  sources/<sha256>        recipe sources, keyed by their checksum
  bases/<key>.tar         bootstrapped base images, keyed by a hash of their inputs
  blobs/sha256-<hex>      registry blobs read by the size and ELF checks, keyed by digest
  registry/storage        the spawned registry's storage, kept so unchanged images are not pushed again
  builds/<key>.json       where the image built from one set of build inputs went (harness/build_record.py)
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from filelock import FileLock

LOCK_SUFFIX = ".lock"
PARTIAL_PREFIX = ".partial-"
#: The cache folders whose files are made through cached_file and save_verified.
SWEPT_KINDS = ("sources", "blobs")
MIN_PARTIAL_AGE = 10.0


def cache_root() -> Path:
    """The cache: $RVCONFORM_CACHE, else $XDG_CACHE_HOME/rvconform, else ~/.cache/rvconform."""
    root = os.environ.get("RVCONFORM_CACHE")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "rvconform"


def cache_dir(kind: str) -> Path:
    """The cache directory for one kind of thing, created on first use."""
    path = cache_root() / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def cached_file(path: Path, make: Callable[[Path], None]) -> Path:
    """``path``, made by ``make(path)`` when it is not there yet; concurrent callers (other processes of a run,
    other runs) wait for one maker. The lock file goes when the maker is done (see ``_unlink_held``)."""
    lock = path.with_name(path.name + LOCK_SUFFIX)
    with FileLock(str(lock)):
        try:
            if not path.is_file():
                make(path)
        finally:
            _unlink_held(lock)
    return path


def _unlink_held(lock: Path) -> None:
    """Remove a lock file while holding it. A waiter already blocked on it then gets a lock on the removed file
    and re-checks the made file under it; a newcomer makes a new lock file. At worst (the make failed) two
    makers run at once, which ``save_verified``'s atomic, verified replace makes harmless."""
    lock.unlink(missing_ok=True)


def save_verified(chunks: Iterable[bytes], path: Path, algorithm: str, expected: str) -> str:
    """Write ``chunks`` to ``path`` if their ``algorithm`` digest is ``expected`` (hex); returns the digest found.

    The file appears whole or not at all: a partial download, or one whose digest differs, leaves nothing.
    """
    hasher = hashlib.new(algorithm)
    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=PARTIAL_PREFIX)
    fcntl.flock(fd, fcntl.LOCK_EX)  # held while it is written: an unlocked partial file's writer died
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                hasher.update(chunk)
                out.write(chunk)
        if hasher.hexdigest() == expected:
            os.replace(partial, path)
    finally:
        Path(partial).unlink(missing_ok=True)
    return hasher.hexdigest()


def sweep_leftovers(kinds: Iterable[str] = SWEPT_KINDS, min_age: float = MIN_PARTIAL_AGE) -> list[Path]:
    """Remove what makers that died (SIGKILL, a crash) left in the cache: lock files nobody holds and partial
    downloads no writer holds, older than ``min_age`` seconds (a writer takes its lock right after creating the
    file). Returns what was removed."""
    removed = []
    for kind in kinds:
        folder = cache_dir(kind)
        for path in [*folder.glob(f"*{LOCK_SUFFIX}"), *folder.glob(f"{PARTIAL_PREFIX}*")]:
            young = path.name.startswith(PARTIAL_PREFIX) and _age(path) < min_age
            if not young and _remove_if_unheld(path):
                removed.append(path)
    return removed


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _remove_if_unheld(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    else:
        path.unlink(missing_ok=True)  # while held, as in cached_file
        return True
    finally:
        os.close(fd)
