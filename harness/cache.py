"""Where rvconform keeps what pays to keep between runs, and where one run keeps its state.

The cache (``$RVCONFORM_CACHE``, default ``$XDG_CACHE_HOME/rvconform`` or ``~/.cache/rvconform``):
  sources/<sha256>        recipe sources, keyed by their checksum
  bases/<key>.tar         bootstrapped base images, keyed by a hash of their inputs
  blobs/sha256-<hex>      registry blobs read by the size and ELF checks, keyed by digest
  registry/storage        the spawned registry's storage, kept so unchanged images are not pushed again
  builds/<key>.json       where the image built from one set of build inputs went (harness/build_record.py)
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from filelock import FileLock


def cache_dir(kind: str) -> Path:
    """The cache directory for one kind of thing, created on first use."""
    root = os.environ.get("RVCONFORM_CACHE")
    if root:
        base = Path(root)
    else:
        xdg = os.environ.get("XDG_CACHE_HOME")
        base = (Path(xdg) if xdg else Path.home() / ".cache") / "rvconform"
    path = base / kind
    path.mkdir(parents=True, exist_ok=True)
    return path


def cached_file(path: Path, make: Callable[[Path], None]) -> Path:
    """``path``, made by ``make(path)`` when it is not there yet; concurrent callers (other processes of a run,
    other runs) wait for one maker."""
    with FileLock(str(path) + ".lock"):
        if not path.is_file():
            make(path)
    return path


def save_verified(chunks: Iterable[bytes], path: Path, algorithm: str, expected: str) -> str:
    """Write ``chunks`` to ``path`` if their ``algorithm`` digest is ``expected`` (hex); returns the digest found.

    The file appears whole or not at all: a partial download, or one whose digest differs, leaves nothing.
    """
    hasher = hashlib.new(algorithm)
    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
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
