"""What a build was made from, hashed, and where its image went: an unchanged recipe is neither built nor
pushed again while the registry still serves that image under its tag.

Cache key (``$RVCONFORM_CACHE/builds/<key>.json``): the recipe's files (paths, modes, contents), its
Dockerfile and target, the platform, the build args (base images by their cache-keyed references), the
sources' checksums, the labels (git revision of the recipe), the native builder if any
(``--builder``: board, platform, engine version) and FORMAT. This is what BuildKit's own
cache would match on, so skipping is as safe as a fully cached build; and unlike BuildKit's cache, which
lives in the engine, it survives an ephemeral CI runner with the registry storage (both in the cache).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.cache import cache_dir
from harness.errors import RegistryError
from harness.recipes import Recipe
from harness.registry_client import RegistryClient

FORMAT = 1


@dataclass(frozen=True)
class BuildRecord:
    """The image one set of build inputs produced: repository, tag and manifest digest."""

    repository: str
    tag: str
    digest: str


def build_key(recipe: Recipe, build_args: dict[str, str], labels: dict[str, str], builder: str | None = None
              ) -> str:
    """The hash of every input of the recipe's build; ``builder`` names a native builder (its board, platform
    and engine version), None for this machine's engine."""
    digest = hashlib.sha256()
    inputs = {
        "format": FORMAT, "platform": recipe.platform, "target": recipe.target, "build_args": build_args,
        "labels": labels, "sources": sorted(source.sha256 for source in recipe.platform_sources),
        "dockerfile": hashlib.sha256(recipe.dockerfile.read_bytes()).hexdigest(),
        **({"builder": builder} if builder else {}),
    }
    digest.update(json.dumps(inputs, sort_keys=True).encode())
    for path in sorted(recipe.dir.rglob("*")):
        digest.update(_file_fingerprint(recipe.dir, path))
    return digest.hexdigest()[:24]


def _file_fingerprint(root: Path, path: Path) -> bytes:
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode):
        content = os.readlink(path).encode()
    elif stat.S_ISREG(mode):
        content = hashlib.sha256(path.read_bytes()).digest()
    else:
        content = b""
    return f"{path.relative_to(root)}\0{mode:o}\0".encode() + content + b"\0"


def _path(key: str) -> Path:
    return cache_dir("builds") / f"{key}.json"


def remember(key: str, record: BuildRecord) -> None:
    """Note where the image built from ``key`` went."""
    partial = _path(key).with_suffix(".partial")
    partial.write_text(json.dumps(asdict(record)))
    partial.replace(_path(key))


def still_served(key: str, repository: str, tag: str, client: RegistryClient) -> str | None:
    """The digest of the image built from ``key`` when the registry serves it under ``repository:tag`` now;
    None when nothing was built from ``key`` or the tag names another image (then the build runs)."""
    path = _path(key)
    if not path.is_file():
        return None
    try:
        record = BuildRecord(**json.loads(path.read_text()))
        served = client.manifest(repository, tag).digest
    except (ValueError, TypeError, RegistryError):
        return None
    if (record.repository, record.tag, record.digest) != (repository, tag, served):
        return None
    return served
