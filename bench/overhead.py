"""What the harness costs on top of the work it checks: the lab path (`rvconform run --image`) on one
pushed image against a plain script that does the same pull/run/probe/remove, alternated, plus start-up.

    python bench/overhead.py [--runs 5] [--recipe redis-static]

The image is built once (BuildKit's cache makes that quick after any run) and pushed to a registry the
bench spawns on 127.0.0.1. Then, alternately, each side checks it from scratch:
  harness: rvconform run --image NAME=REF --recipe NAME -k "(test_pull and not mirror) or test_starts or test_redis"
           (and not the persistence check, which the script does not do either)
  script:  remove the local copy, pull for linux/riscv64, run, wait for the port, SET without AUTH
           refused, wrong password refused, AUTH + SET + GET, INFO server says riscv64, remove.
Prints both medians and their ratio, and the start-up of `rvconform --help` and `--collect-only`.

The harness runs as on a user's machine, with Python's bytecode cache: PYTHONDONTWRITEBYTECODE (set in
some sandboxes and CI images) makes every start compile rvconform, pytest and their plugins from source,
about half a second more per run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

ROOT = Path(__file__).parents[1]
USER_ENV = {name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"}
PASSWORD = "password"
DOCKER = "/usr/bin/docker"


def plain_check(ref: str) -> None:
    """The check a person would script by hand: docker CLI and redis-py, nothing else."""
    subprocess.run([DOCKER, "rmi", "-f", ref], capture_output=True)
    subprocess.run([DOCKER, "pull", "-q", "--platform", "linux/riscv64", ref], check=True, capture_output=True)
    container = subprocess.run([DOCKER, "run", "-d", "--platform", "linux/riscv64", "-p", "127.0.0.1::6379", ref],
                               check=True, capture_output=True, text=True).stdout.strip()
    try:
        port = int(subprocess.run([DOCKER, "port", container, "6379/tcp"], check=True, capture_output=True,
                                  text=True).stdout.split(":")[-1])
        _wait_for_port(port)
        _probe(port)
    finally:
        subprocess.run([DOCKER, "rm", "-f", container], capture_output=True)
        subprocess.run([DOCKER, "rmi", "-f", ref], capture_output=True)


def _client(port: int, password: str | None = None) -> redis.Redis:
    return redis.Redis(port=port, password=password, protocol=2, socket_timeout=5,
                       retry=Retry(NoBackoff(), 0))


def _wait_for_port(port: int, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            _client(port).ping()
            return
        except redis.AuthenticationError:
            return
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _probe(port: int) -> None:
    for password in (None, PASSWORD + "-wrong"):
        try:
            _client(port, password).set("k", "v")
            raise SystemExit("plain script: redis accepted a command it should refuse")
        except redis.AuthenticationError:
            pass
    with _client(port, PASSWORD) as client:
        client.set("foo", "bar")
        assert client.get("foo") == b"bar"
        assert "riscv64" in str(client.info("server")["os"])


def harness_check(name: str, ref: str, recipes: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="rvconform-bench-") as reports:
        result = subprocess.run(
            [sys.executable, "-m", "harness.cli", "run", "--recipes", str(recipes), "--recipe", name,
             "--image", f"{name}={ref}", "--reports", reports, "-p", "no:cacheprovider", "-q",
             "-k", "((test_pull and not mirror) or test_starts or test_redis) and not survives"],
            cwd=ROOT, capture_output=True, text=True, env=USER_ENV)
    if result.returncode != 0:
        raise SystemExit(f"the harness run failed (exit {result.returncode}):\n{result.stdout[-3000:]}")


def timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def start_up(*args: str) -> float:
    """Median wall time of a short rvconform command (three runs)."""
    command = [sys.executable, "-m", "harness.cli", *args]
    return statistics.median(timed(lambda: subprocess.run(command, cwd=ROOT, capture_output=True, check=True,
                                                          env=USER_ENV))
                             for _ in range(3))


def push_image(name: str, recipes: Path, workdir: Path) -> tuple[str, subprocess.Popen]:
    from harness.build import Builder
    from harness.recipes import load_recipe
    from harness.registry import spawn_registry

    registry, process = spawn_registry(workdir / "registry")
    image = Builder(registry.url, workdir / "logs", log=lambda _: None).build(load_recipe(recipes / name))
    return str(image.ref.pinned), process


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of each side (default: 5)")
    parser.add_argument("--recipe", default="redis-static", help="a recipe with [checks.redis]")
    parser.add_argument("--recipes", type=Path, default=ROOT / "fixtures" / "images")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="rvconform-bench-") as tmp:
        ref, registry = push_image(args.recipe, args.recipes, Path(tmp))
        try:
            harness, plain = [], []
            for _ in range(args.runs):
                harness.append(timed(lambda: harness_check(args.recipe, ref, args.recipes)))
                plain.append(timed(lambda: plain_check(ref)))
        finally:
            registry.terminate()
            registry.wait(timeout=10)
    help_seconds, collect_seconds = start_up("--help"), start_up("run", "--collect-only", "-q")
    print(f"lab-path check of {args.recipe} on board local, {args.runs} runs each, alternated")
    print(f"  rvconform run --image ...   median {statistics.median(harness):6.2f} s  "
          f"(min {min(harness):.2f}, max {max(harness):.2f})")
    print(f"  plain script, same checks   median {statistics.median(plain):6.2f} s  "
          f"(min {min(plain):.2f}, max {max(plain):.2f})")
    print(f"  ratio harness / plain: {statistics.median(harness) / statistics.median(plain):.2f}x")
    print(f"  start-up: rvconform --help {help_seconds:.2f} s, rvconform run --collect-only {collect_seconds:.2f} s")


if __name__ == "__main__":
    main()
