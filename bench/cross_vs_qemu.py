"""Cold build of the same redis 7.0.15: compiled under QEMU (recipe redis) against cross-compiled
(recipe redis-static), and the QEMU recipe as it is against an earlier version of it (--before REV),
each from the same cold state, side by side in one run.

    python bench/cross_vs_qemu.py [--recipes fixtures/images] [--before 103eb2f | --before none]

Before each build BuildKit's cache is emptied (`docker builder prune -af`); the base images and the
source tarball stay cached, since both recipes take them as inputs and neither is what is compared.
This empties the build cache of the machine: the next run rebuilds everything once.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from harness.build import Builder
from harness.buildkit import find_buildkit_cli
from harness.recipes import load_recipe
from harness.registry import spawn_registry

ROOT = Path(__file__).parents[1]


def prune_build_cache() -> None:
    cli = find_buildkit_cli()
    subprocess.run([cli.path if cli else "docker", "builder", "prune", "-af"], check=True, capture_output=True)


def cold_build(builder: Builder, recipe_dir: Path) -> float:
    prune_build_cache()
    started = time.monotonic()
    builder.build(load_recipe(recipe_dir))
    return time.monotonic() - started


def recipe_at(revision: str, recipe: Path, workdir: Path) -> Path:
    """A copy of the recipe directory whose Dockerfile is the one committed at ``revision``."""
    copy = workdir / "before" / recipe.name
    shutil.copytree(recipe, copy)
    relative = (recipe / "Dockerfile").resolve().relative_to(ROOT)
    dockerfile = subprocess.run(["git", "-C", str(ROOT), "show", f"{revision}:{relative}"], check=True,
                                capture_output=True, text=True).stdout
    (copy / "Dockerfile").write_text(dockerfile)
    return copy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", type=Path, default=ROOT / "fixtures" / "images")
    parser.add_argument("--before", default="103eb2f",
                        help="git revision of the earlier QEMU redis recipe to compare with, or 'none'")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rvconform-bench-") as tmp:
        registry, process = spawn_registry(Path(tmp) / "registry")
        try:
            builder = Builder(registry.url, Path(tmp) / "logs", log=lambda _: None)
            before = None
            if args.before != "none":
                before = cold_build(builder, recipe_at(args.before, args.recipes / "redis", Path(tmp)))
            qemu = cold_build(builder, args.recipes / "redis")
            cross = cold_build(builder, args.recipes / "redis-static")
        finally:
            process.terminate()
            process.wait()
    print(f"redis 7.0.15, cold build cache, {Path('/proc/cpuinfo').read_text().count('processor')} cores")
    if before is not None:
        print(f"  under QEMU, recipe redis at {args.before}: {before:7.1f} s")
    print(f"  under QEMU (recipe redis):            {qemu:7.1f} s")
    print(f"  cross-compiled (recipe redis-static): {cross:7.1f} s")
    if before is not None:
        print(f"  ratio QEMU now / QEMU at {args.before}: {qemu / before:.2f}")
    print(f"  ratio QEMU / cross: {qemu / cross:.1f}x")


if __name__ == "__main__":
    main()
