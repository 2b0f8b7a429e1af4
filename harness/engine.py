"""The local container engine: one way to connect, with an error that says how to get one."""

from __future__ import annotations

import os
from functools import cache

import docker
import docker.errors
import requests

from harness.errors import EngineError

ENGINE_FIX = "run scripts/setup-host (installs and starts dockerd), or set DOCKER_HOST to a running engine"


@cache
def engine() -> docker.DockerClient:
    """A client for the engine named by DOCKER_HOST (default: /var/run/docker.sock), checked to answer."""
    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        client = docker.from_env(timeout=300)
        client.ping()
    except (docker.errors.DockerException, requests.RequestException) as error:
        raise EngineError(f"no container engine answers at {where}: {error}", fix=ENGINE_FIX) from None
    return client
