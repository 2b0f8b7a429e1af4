"""Which docker client can build with BuildKit here: one with the buildx plugin, else a 20.10-22.x client
that has BuildKit built in (Debian's /usr/bin/docker). The Python SDK drives only the classic builder."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache

CLI_CANDIDATES = ("/usr/bin/docker", "/usr/local/bin/docker")


@dataclass(frozen=True)
class BuildkitCli:
    """A docker client for BuildKit builds: ``buildx`` -> `docker buildx build`, else a 20.10-22.x client
    with BuildKit built in -> `DOCKER_BUILDKIT=1 docker build`."""

    path: str
    buildx: bool
    version: str = ""


def major_version(version: str) -> int | None:
    """The major number of a version string: "20.10.24+dfsg1" -> 20; None when there is none."""
    match = re.match(r"\s*v?(\d+)", version)
    return int(match.group(1)) if match else None


def run_quietly(command: list[str], timeout: float = 20) -> subprocess.CompletedProcess[str] | None:
    """Run a local tool, capturing its output; None when it is missing or hangs."""
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout, input="")
    except (OSError, subprocess.TimeoutExpired):
        return None


def client_version(path: str) -> str:
    """A docker client's own version (no engine needed); empty when it does not say."""
    result = run_quietly([path, "version", "--format", "{{.Client.Version}}"], timeout=10)
    version = result.stdout.strip() if result else ""
    if major_version(version) is None:  # an old client, or one that could not even print that
        result = run_quietly([path, "--version"], timeout=10)
        match = re.search(r"version v?(\d[^\s,]*)", result.stdout) if result else None
        version = match.group(1) if match else ""
    return version


def _candidate_clis() -> list[str]:
    unique: dict[str, str] = {}  # realpath -> the first name seen for it
    for path in (shutil.which("docker"), *CLI_CANDIDATES):
        if path and os.access(path, os.X_OK):
            unique.setdefault(os.path.realpath(path), path)
    return list(unique.values())


def _has_buildx(path: str) -> bool:
    result = run_quietly([path, "buildx", "version"], timeout=10)
    return result is not None and result.returncode == 0


@cache
def find_buildkit_cli() -> BuildkitCli | None:
    """The docker client to build with: one with buildx if any, else a 20.10-22.x client (BuildKit built
    in), else None. Looks at `docker` on PATH, /usr/bin/docker and /usr/local/bin/docker."""
    candidates = _candidate_clis()
    for path in candidates:
        if _has_buildx(path):
            return BuildkitCli(path, buildx=True, version=client_version(path))
    for path in candidates:
        version = client_version(path)
        if (major_version(version) or 99) < 23:
            return BuildkitCli(path, buildx=False, version=version)
    return None
