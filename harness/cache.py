"""Where rvconform keeps what pays to keep between runs, and where one run keeps its state.

The cache (``$RVCONFORM_CACHE``, default ``$XDG_CACHE_HOME/rvconform`` or ``~/.cache/rvconform``):
  sources/<sha256>        recipe sources, keyed by their checksum
  bases/<key>.tar         bootstrapped base images, keyed by a hash of their inputs
  blobs/sha256-<hex>      registry blobs read by the size and ELF checks, keyed by digest
  registry/storage        the spawned registry's storage, kept so unchanged images are not pushed again
  builds/<key>.json       where the image built from one set of build inputs went (harness/build_record.py)
"""

from __future__ import annotations

import os
from pathlib import Path


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
