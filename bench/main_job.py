"""The main job (`rvconform run`) from a cold build cache, then warm with nothing changed, then warm
with pytest-xdist (-n auto): wall-clock times and ratios, measured side by side in one run.

    python bench/main_job.py [--skip-cold] [--cold-parallel] [--recipe NAME ...]

Cold means BuildKit's cache and the kept registry storage are emptied first (base images, sources
and blobs stay cached). --cold-parallel adds a second cold run with -n auto (another full build).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from harness.buildkit import find_buildkit_cli
from harness.cache import cache_dir

ROOT = Path(__file__).parents[1]


def make_cold() -> None:
    cli = find_buildkit_cli()
    subprocess.run([cli.path if cli else "docker", "builder", "prune", "-af"], check=True, capture_output=True)
    shutil.rmtree(cache_dir("registry") / "storage", ignore_errors=True)


def timed_run(label: str, *args: str, recipes: tuple[str, ...] = ()) -> float:
    reports = Path(tempfile.mkdtemp(prefix="rvconform-bench-"))
    started = time.monotonic()
    result = subprocess.run([sys.executable, "-m", "harness.cli", "run", "--reports", str(reports),
                             "-p", "no:cacheprovider", "-q", *args,
                             *(arg for name in recipes for arg in ("--recipe", name))],
                            cwd=ROOT, capture_output=True, text=True)
    seconds = time.monotonic() - started
    builds = [p.get("value") for p in ET.parse(reports / "junit.xml").iter("property") if p.get("name") == "build"]
    verdicts = {key: sum(1 for _ in ET.parse(reports / "junit.xml").iter(key)) for key in ("failure", "error")}
    print(f"  {label:<34} {seconds:7.1f} s  exit {result.returncode}  "
          f"images built/reused: {builds.count('built')}/{builds.count('reused')} (test cases)  {json.dumps(verdicts)}")
    if result.returncode != 0:  # a figure of a failed run is no figure: say why, keep the reports
        failed = [line for line in result.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
        print("    the run failed; reports kept in", reports, *(f"\n    {line[:200]}" for line in failed[:10]))
    else:
        shutil.rmtree(reports, ignore_errors=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-cold", action="store_true", help="only the warm runs")
    parser.add_argument("--cold-parallel", action="store_true", help="also a cold run with -n auto")
    parser.add_argument("--recipe", action="append", default=[], metavar="NAME",
                        help="only these recipes (repeat it; default: all)")
    args = parser.parse_args()
    recipes = tuple(args.recipe)
    print(f"main job (rvconform run, {', '.join(recipes) or 'all recipes'}, board local)")
    if args.cold_parallel:
        make_cold()
        cold_parallel = timed_run("cold, -n auto", "-n", "auto", recipes=recipes)
    cold = None
    if not args.skip_cold:
        make_cold()
        cold = timed_run("cold, -n 0", recipes=recipes)
    warm = timed_run("warm (nothing changed), -n 0", recipes=recipes)
    warm_parallel = timed_run("warm (nothing changed), -n auto", "-n", "auto", recipes=recipes)
    if cold:
        print(f"  ratio cold / warm: {cold / warm:.1f}x")
    if args.cold_parallel and cold:
        print(f"  ratio cold -n 0 / cold -n auto: {cold / cold_parallel:.2f}x")
    print(f"  ratio warm -n 0 / warm -n auto: {warm / warm_parallel:.2f}x")


if __name__ == "__main__":
    main()
