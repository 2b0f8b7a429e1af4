"""Recipe sources: downloaded once into the cache, keyed and verified by sha256."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import requests
from filelock import FileLock

from harness.cache import cache_dir
from harness.errors import SourceError
from harness.recipes import Source

TIMEOUT = (10, 60)  # connect, read (seconds between bytes)


def fetch(source: Source) -> Path:
    """Return the cached file for ``source``, downloading and verifying it on first use."""
    path = cache_dir("sources") / source.sha256
    with FileLock(str(path) + ".lock"):
        if not path.is_file():
            _download(source, path)
    return path


def _download(source: Source, path: Path) -> None:
    digest = hashlib.sha256()
    fd, partial = tempfile.mkstemp(dir=path.parent, prefix=".partial-")
    try:
        with os.fdopen(fd, "wb") as out, requests.get(source.url, stream=True, timeout=TIMEOUT) as response:
            response.raise_for_status()
            for chunk in response.iter_content(1 << 20):
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != source.sha256:
            raise SourceError(
                f"{source.url}: sha256 is {digest.hexdigest()}, image.toml expects {source.sha256}",
                fix="check the URL; if the new file is trusted, put its sha256 in image.toml",
            )
        os.replace(partial, path)
    except requests.RequestException as error:
        raise SourceError(
            f"cannot download {source.url}: {error}",
            fix="check the URL and that the machine reaches it, or place the file in the cache as "
            f"{path} (named by its sha256)",
        ) from None
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
