"""The probes try each thing exactly once: an expected refusal arrives at once, on one connection.

redis-py 8 retries a failed command ten times with backoff, and takes an AUTH refusal for a connection
error; a probe built on its defaults waits seconds for every refusal and hides a flaky server. Here a real
redis (the redis-static recipe, riscv64 under QEMU) counts the connections each check opens.
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis as redis_py
import requests

from harness.labels import MANAGED
from harness.ports import free_loopback_port
from harness.probes import http
from harness.probes import redis as probe
from harness.probes.endpoint import Endpoint
from harness.wait import Deadline, wait_until

GOOD_IMAGES = Path(__file__).parents[2] / "fixtures" / "images"
PASSWORD = "password"  # the recipe's redis.conf
QUICK = 2.0  # seconds: "at once" (a retrying client takes 4.8 s), with room for a loaded 2-core machine


@pytest.fixture(scope="module")
def redis_endpoint(registry_process, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    from harness.build import Builder
    from harness.recipes import load_recipe

    image = Builder(registry_process.url, tmp_path_factory.mktemp("logs")).build(
        load_recipe(GOOD_IMAGES / "redis-static"))
    name = f"rvconform-test-retries-{uuid.uuid4().hex[:8]}"
    port = free_loopback_port()
    subprocess.run(["docker", "run", "-d", "--name", name, "--label", f"{MANAGED}=true",
                    "--platform", "linux/riscv64", "-p", f"127.0.0.1:{port}:6379", image.ref.pinned],
                   check=True, capture_output=True, timeout=120)
    endpoint = Endpoint("127.0.0.1", port, "redis-static (retry test)")
    try:
        wait_until(lambda: probe.answers(endpoint, 1.0), what="redis-static", deadline=Deadline(60),
                   retry_on=probe.NOT_READY)
        yield endpoint
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60)


def _connections(endpoint: Endpoint) -> int:
    with probe.client(endpoint, PASSWORD) as connection:
        return int(connection.info("stats")["total_connections_received"])


@pytest.mark.parametrize("check", ["without_auth", "wrong_password"])
def test_each_refusal_is_seen_at_once_on_one_connection(redis_endpoint: Endpoint, check: str) -> None:
    before = _connections(redis_endpoint)
    started = time.monotonic()
    if check == "without_auth":
        probe.assert_refuses_without_auth(redis_endpoint)
    else:
        probe.assert_refuses_wrong_password(redis_endpoint, PASSWORD)
    seconds = time.monotonic() - started
    opened = _connections(redis_endpoint) - before - 1  # the counting connection itself is one
    assert seconds < QUICK, f"the refusal took {seconds:.2f} s: the client retried"
    assert opened == 1, f"the check opened {opened} connections: the client retried"


def test_the_readiness_attempt_on_a_protected_server_is_one_quick_attempt(redis_endpoint: Endpoint) -> None:
    started = time.monotonic()
    probe.answers(redis_endpoint, 5.0)
    assert time.monotonic() - started < QUICK


def test_a_closed_port_fails_each_probe_at_once() -> None:
    closed = Endpoint("127.0.0.1", free_loopback_port(), "a closed port")
    for attempt, error in ((lambda: probe.answers(closed, 5.0), redis_py.ConnectionError),
                           (lambda: http.answers(closed, 5.0), requests.ConnectionError)):
        started = time.monotonic()
        with pytest.raises(error):
            attempt()
        assert time.monotonic() - started < QUICK
