"""Recipe sources: downloaded once into the cache, keyed and verified by sha256."""

from __future__ import annotations

from pathlib import Path

import requests

from harness.cache import cache_dir, cached_file, save_verified
from harness.errors import SourceError
from harness.recipes import Source

TIMEOUT = (10, 60)  # connect, read (seconds between bytes)


def fetch(source: Source) -> Path:
    """Return the cached file for ``source``, downloading and verifying it on first use."""
    return cached_file(cache_dir("sources") / source.sha256, lambda path: _download(source, path))


def _download(source: Source, path: Path) -> None:
    try:
        with requests.get(source.url, stream=True, timeout=TIMEOUT) as response:
            response.raise_for_status()
            found = save_verified(response.iter_content(1 << 20), path, "sha256", source.sha256)
    except requests.RequestException as error:
        raise SourceError(
            f"cannot download {source.url}: {error}",
            fix="check the URL and that the machine reaches it, or place the file in the cache as "
            f"{path} (named by its sha256)",
        ) from None
    if found != source.sha256:
        raise SourceError(
            f"{source.url}: sha256 is {found}, image.toml expects {source.sha256}",
            fix="check the URL; if the new file is trusted, put its sha256 in image.toml",
        )
