"""What container runtimes print, read into data: ``ctr images ls`` and ``ctr tasks ls`` tables, a docker or
podman image's inspect JSON, ``docker port`` and ``docker inspect`` state lines. Pure parsing: the local
board and the SSH board's runtimes share it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

#: ctr task states in which the container still runs (or is about to).
CTR_LIVE_STATES = ("RUNNING", "CREATED", "PAUSED", "PAUSING")
#: docker/podman container states in which the container still runs (or is about to).
DOCKER_LIVE_STATES = ("created", "running", "restarting")


@dataclass(frozen=True)
class Pulled:
    """What a runtime reports about an image it pulled."""

    digest: str | None
    platform: str


def docker_image(inspect: dict[str, Any]) -> Pulled:
    """An image as `docker image inspect` (or podman's, which has no Variant) describes it."""
    digest = next((d.split("@", 1)[1] for d in inspect.get("RepoDigests") or [] if "@" in d), None)
    parts = (inspect.get("Os"), inspect.get("Architecture"), inspect.get("Variant"))
    return Pulled(digest, "/".join(p for p in parts if p))


def ctr_image(listing: str, ref: str) -> Pulled | None:
    """``ref``'s row of `ctr images ls` (REF TYPE DIGEST SIZE UNIT PLATFORMS LABELS), or None when absent."""
    for line in listing.splitlines()[1:]:
        fields = line.split()
        if fields and fields[0] == ref:
            return Pulled(fields[2] if len(fields) > 2 else None, fields[5].split(",")[0] if len(fields) > 5 else "")
    return None


def ctr_task_status(listing: str, name: str) -> str | None:
    """The STATUS of task ``name`` in `ctr tasks ls` (TASK PID STATUS), or None when it has no task."""
    return next((fields[-1] for fields in map(str.split, listing.splitlines()[1:]) if fields and fields[0] == name),
                None)


def ctr_exit_code(delete_output: str) -> str:
    """The exit code `ctr tasks delete` reports for a stopped task (it says nothing for 0)."""
    code = re.search(r"exit code (\d+)", delete_output)
    return code.group(1) if code else "0"


def docker_exit(state_line: str) -> str | None:
    """None while a container runs, else how it ended, from `inspect -f '{{.State.Status}} {{.State.ExitCode}}'`."""
    status, code = state_line.split()
    return None if status in DOCKER_LIVE_STATES else f"exited with code {code}"


def docker_port(mapping: str) -> int | None:
    """The host port of `docker port NAME PORT/tcp` (first line, e.g. ``127.0.0.1:49153``); None when unpublished."""
    lines = mapping.split()
    return int(lines[0].rsplit(":", 1)[1]) if lines else None
