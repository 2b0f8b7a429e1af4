"""How long the ELF audit takes per 100 MB of unpacked image, next to just decompressing the same layers.

    python bench/elf_audit.py [LAYER_BLOB ...]

With blobs: one image, those layers in order. Without: every image in the blob cache, grouped by the
cached manifests that list their layers; a layer no cached manifest lists counts as an image of its own.
Each measurement is the best of --repeat runs, so the page cache and a busy machine weigh less.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import tarfile
import time
from collections.abc import Callable
from pathlib import Path

from harness.cache import cache_dir
from harness.conformance.elf_audit import audit_layers

GZIP_MAGIC = b"\x1f\x8b"
HUNDRED_MB = 100 * 1000**2
MEANINGFUL = 1000**2  # below a megabyte, fixed costs swamp the per-byte figure


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("blobs", nargs="*", type=Path, help="layer blobs of one image, lowest first")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement; the best counts")
    args = parser.parse_args()
    images = {"command line": args.blobs} if args.blobs else cached_images(cache_dir("blobs"))
    if not images:
        raise SystemExit(f"no layer blobs given and none in {cache_dir('blobs')}; run the suites first")
    totals = [0.0, 0.0, 0]
    for name, layers in images.items():
        audit_seconds, plain_seconds, unpacked = measure(name, layers, args.repeat)
        totals = [totals[0] + audit_seconds, totals[1] + plain_seconds, totals[2] + unpacked]
    if len(images) > 1:
        print(f"all {len(images)} images: {per_100_mb(totals[0], totals[2])} audit, "
              f"{per_100_mb(totals[1], totals[2])} plain read, ratio {totals[0] / totals[1]:.2f}")


def measure(name: str, layers: list[Path], repeat: int) -> tuple[float, float, int]:
    """Time the audit and the plain read of one image; print and return (audit s, plain s, unpacked bytes)."""
    plain_read(layers)  # warm the page cache, so neither side pays for the disk
    plain_seconds = best(lambda: plain_read(layers), repeat)
    result = audit_layers(layers)
    audit_seconds = min(result.seconds, best(lambda: audit_layers(layers), repeat - 1))
    unpacked = result.bytes_read
    print(f"{name} ({len(layers)} layer{'s' if len(layers) != 1 else ''}, {len(result.problems)} problems)")
    print(f"  ELF audit: {result.elf_count} ELF files in {unpacked / 1e6:.1f} MB unpacked in {audit_seconds:.2f} s"
          f" -> {per_100_mb(audit_seconds, unpacked)}")
    print(f"  plain read (decompress + tar stream): {plain_seconds:.2f} s -> {per_100_mb(plain_seconds, unpacked)}")
    print(f"  ratio audit / plain read: {audit_seconds / max(plain_seconds, 1e-9):.2f} "
          f"(ELF parsing and lookups add {audit_seconds - plain_seconds:.2f} s)")
    return audit_seconds, plain_seconds, unpacked


def plain_read(layers: list[Path]) -> int:
    """Decompress and walk the layers as the audit does, without looking into any file."""
    unpacked = 0
    for path in layers:
        with tarfile.open(path, mode="r|*") as layer:
            unpacked += sum(member.size for member in layer if member.isreg())
    return unpacked


def best(run: Callable[[], object], repeat: int) -> float:
    """The shortest of ``repeat`` timed runs (infinity for none)."""
    times = [float("inf")]
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def per_100_mb(seconds: float, unpacked: int) -> str:
    if unpacked < MEANINGFUL:
        return "too small for a per-100 MB figure"
    return f"{seconds * HUNDRED_MB / unpacked:.2f} s per 100 MB"


def cached_images(blob_dir: Path) -> dict[str, list[Path]]:
    """Images in the blob cache, layers in order, each under the name of the manifest or config that lists them.

    A manifest lists layer blobs by digest; a config lists them by diff_id, the digest of the unpacked tar,
    so the layers are hashed once to match. A layer that nothing lists counts as an image of its own.
    """
    layers = {path.name: path for path in sorted(blob_dir.glob("sha256-*")) if _starts_with(path, GZIP_MAGIC)}
    documents = {path.name: _json(path) for path in sorted(blob_dir.glob("sha256-*")) if path.name not in layers}
    by_diff_id = {}
    if any(document.get("rootfs") for document in documents.values()):
        by_diff_id = {diff_id(path): path.name for path in layers.values()}
    images: dict[str, list[Path]] = {}
    for name, document in documents.items():
        names = [layer["digest"].replace(":", "-") for layer in document.get("layers", [])]
        names = names or [by_diff_id.get(digest.replace(":", "-"), "") for digest in _diff_ids(document)]
        if names and all(name in layers for name in names):
            images[f"{_title(document)} ({name[:19]})"] = [layers[name] for name in names]
    listed = {path for image in images.values() for path in image}
    images.update((f"layer {name[:19]}", [path]) for name, path in layers.items() if path not in listed)
    return images


def diff_id(path: Path) -> str:
    """``sha256-<hex>`` of the unpacked layer, as an image config's rootfs.diff_ids name it."""
    digest = hashlib.sha256()
    with gzip.open(path) as layer:
        while chunk := layer.read(1 << 20):
            digest.update(chunk)
    return f"sha256-{digest.hexdigest()}"


def _diff_ids(document: dict) -> list[str]:
    rootfs = document.get("rootfs")
    return rootfs.get("diff_ids", []) if isinstance(rootfs, dict) else []


def _title(document: dict) -> str:
    """What the image is, from its config: the command it runs, else the step that made its last layer."""
    config = document.get("config") if isinstance(document.get("config"), dict) else {}
    command = (config.get("Entrypoint") or []) + (config.get("Cmd") or [])
    if command:
        return "image running " + " ".join(command)[:40]
    return "image " if "rootfs" in document else "manifest"


def _starts_with(path: Path, magic: bytes) -> bool:
    if path.suffix == ".lock" or not path.is_file():
        return False
    with path.open("rb") as blob:
        return blob.read(len(magic)) == magic


def _json(path: Path) -> dict:
    if not _starts_with(path, b"{") or path.stat().st_size > 1 << 20:
        return {}
    try:
        return json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        return {}


if __name__ == "__main__":
    main()
