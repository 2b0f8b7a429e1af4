"""The local container engine: one way to connect, with an error that says how to get one."""

from __future__ import annotations

import os
import sys
from functools import cache
from types import ModuleType
from typing import TYPE_CHECKING

from harness.errors import EngineError

if TYPE_CHECKING:  # the SDK loads when a run first talks to the engine: it costs a third of a second
    import docker

ENGINE_FIX = "run scripts/setup-host (installs and starts dockerd), or set DOCKER_HOST to a running engine"
#: The docker SDK's transport for ssh:// engines; importing it loads paramiko and invoke (a quarter of a second).
SDK_SSH_TRANSPORT = "docker.transport.sshconn"


def skip_unused_ssh_transport() -> None:
    """Keep the docker SDK from loading its ssh:// transport when DOCKER_HOST is not an ssh:// URL.

    The SDK imports it (and paramiko) unconditionally but tolerates its absence; rvconform talks to engines
    through DOCKER_HOST only, and its SSH boards use paramiko directly. Must run before the SDK is imported:
    ``harness.boards`` (every module that imports the SDK at its top lives there) calls it on import.
    """
    if not os.environ.get("DOCKER_HOST", "").startswith("ssh://"):
        sys.modules.setdefault(SDK_SSH_TRANSPORT, None)  # type: ignore[arg-type]  # None: "not importable"


@cache
def engine() -> docker.DockerClient:
    """A client for the engine named by DOCKER_HOST (default: /var/run/docker.sock), checked to answer."""
    skip_unused_ssh_transport()
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
    skip_unused_ssh_transport()
    import docker.errors

    return docker.errors
