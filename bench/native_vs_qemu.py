"""The three ways to build for riscv64, side by side, each from a cold build cache: a recipe compiled under QEMU
user emulation here, the same sources cross-compiled here, and the QEMU recipe built natively by the docker
engine of the qemu board (a riscv64 VM under full-system TCG emulation: its figure stands for the path, not for
real hardware).

    python bench/native_vs_qemu.py [--recipes fixtures/images] [--qemu redis] [--cross redis-static]
                                   [--native redis]

Before the local builds BuildKit's cache here is emptied (`docker builder prune -af`); the VM boots from its
pristine image, so its engine's cache is empty. Bases and sources stay cached; the native build's bases are
loaded into the board's engine from this machine's (`docker save` through the SSH tunnel), which its time
includes. The VM's boot and docker's start in it are timed apart. This empties the build cache of the machine:
the next run rebuilds everything once.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

from harness.build import Builder
from harness.buildkit import find_buildkit_cli
from harness.native_build import NativeBuilder
from harness.recipes import load_recipe
from harness.registry import spawn_registry
from harness.run import Run

ROOT = Path(__file__).parents[1]


def prune_build_cache() -> None:
    cli = find_buildkit_cli()
    subprocess.run([cli.path if cli else "docker", "builder", "prune", "-af"], check=True, capture_output=True)


def cold_build(builder: Builder, recipe_dir: Path) -> float:
    prune_build_cache()
    started = time.monotonic()
    builder.build(load_recipe(recipe_dir))
    return time.monotonic() - started


def native_build(registry_url: str, recipe_dir: Path, logs: Path) -> tuple[float, float]:
    """(seconds to boot the VM and start its docker, seconds of the build itself)."""
    run = Run.start()
    builder = NativeBuilder("qemu", registry_url, logs, run=run, labels=run.labels, log=lambda _: None)
    try:
        started = time.monotonic()
        builder.engine()
        ready = time.monotonic() - started
        started = time.monotonic()
        builder.build(load_recipe(recipe_dir))
        return ready, time.monotonic() - started
    finally:
        builder.close()
        run.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", type=Path, default=ROOT / "fixtures" / "images")
    parser.add_argument("--qemu", default="redis", help="recipe compiled under QEMU user emulation")
    parser.add_argument("--cross", default="redis-static", help="recipe cross-compiled on the build machine")
    parser.add_argument("--native", default="redis", help="recipe built natively on the qemu board")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rvconform-bench-") as tmp:
        registry, process = spawn_registry(Path(tmp) / "registry")
        try:
            builder = Builder(registry.url, Path(tmp) / "logs", log=lambda _: None)
            qemu = cold_build(builder, args.recipes / args.qemu)
            cross = cold_build(builder, args.recipes / args.cross)
            ready, native = native_build(registry.url, args.recipes / args.native, Path(tmp) / "native-logs")
        finally:
            process.terminate()
            process.wait()
    cores = Path("/proc/cpuinfo").read_text().count("processor")
    print(f"cold build cache, {cores} cores; the qemu board is a 2-vCPU riscv64 VM under full-system TCG")
    print(f"  under QEMU user emulation (recipe {args.qemu}):     {qemu:7.1f} s")
    print(f"  cross-compiled (recipe {args.cross}):        {cross:7.1f} s")
    print(f"  natively on the qemu board (recipe {args.native}):  {native:7.1f} s"
          f"  (+ {ready:.1f} s VM boot and docker start)")
    print(f"  ratio native-on-TCG / QEMU user: {native / qemu:.2f}")
    print(f"  ratio QEMU user / cross: {qemu / cross:.1f}x; native-on-TCG / cross: {native / cross:.1f}x")


if __name__ == "__main__":
    main()
