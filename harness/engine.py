"""The local container engine: one way to connect, with an error that says how to get one."""

from __future__ import annotations

import os
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING

from harness.errors import EngineError

if TYPE_CHECKING:  # the SDK loads when a run first talks to the engine: it costs a third of a second
    import docker

ENGINE_FIX = "run scripts/setup-host (installs and starts dockerd), or set DOCKER_HOST to a running engine"


@cache
def engine() -> docker.DockerClient:
    """A client for the engine named by DOCKER_HOST (default: /var/run/docker.sock), checked to answer."""
    import docker
    import requests

    where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        client = docker.from_env(timeout=300)
        client.ping()
    except (docker.errors.DockerException, requests.RequestException) as error:
        raise EngineError(f"no container engine answers at {where}: {error}", fix=ENGINE_FIX) from None
    return client


def engine_errors() -> ModuleType:
    """``docker.errors``, loaded with the SDK on first use."""
    import docker.errors

    return docker.errors
