"""Cold build of the same redis 7.0.15: compiled under QEMU (recipe redis) against cross-compiled
(recipe redis-static), each from the same cold state, side by side in one run.

    python bench/cross_vs_qemu.py [--recipes fixtures/images]

Before each build BuildKit's cache is emptied (`docker builder prune -af`); the base images and the
source tarball stay cached, since both recipes take them as inputs and neither is what is compared.
This empties the build cache of the machine: the next run rebuilds everything once.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

from harness.build import Builder
from harness.buildkit import find_buildkit_cli
from harness.recipes import load_recipe
from harness.registry import spawn_registry


def prune_build_cache() -> None:
    cli = find_buildkit_cli()
    subprocess.run([cli.path if cli else "docker", "builder", "prune", "-af"], check=True, capture_output=True)


def cold_build(builder: Builder, recipe_dir: Path) -> float:
    prune_build_cache()
    started = time.monotonic()
    builder.build(load_recipe(recipe_dir))
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", type=Path, default=Path("fixtures/images"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rvconform-bench-") as tmp:
        registry, process = spawn_registry(Path(tmp) / "registry")
        try:
            builder = Builder(registry.url, Path(tmp) / "logs", log=lambda _: None)
            qemu = cold_build(builder, args.recipes / "redis")
            cross = cold_build(builder, args.recipes / "redis-static")
        finally:
            process.terminate()
            process.wait()
    print(f"redis 7.0.15, cold build cache, {Path('/proc/cpuinfo').read_text().count('processor')} cores")
    print(f"  under QEMU (recipe redis):            {qemu:7.1f} s")
    print(f"  cross-compiled (recipe redis-static): {cross:7.1f} s")
    print(f"  ratio QEMU / cross: {qemu / cross:.1f}x")


if __name__ == "__main__":
    main()
