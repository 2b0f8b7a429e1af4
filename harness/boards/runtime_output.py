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
    #: The image config's digest (which entry of an index was pulled), where the runtime tells it.
    config_digest: str | None = None


def docker_image(inspect: dict[str, Any], ref: str = "") -> Pulled:
    """An image as `docker image inspect` (or podman's, which has no Variant) describes it, pulled as ``ref``.

    An image pulled both by tag (an index) and by an entry's digest carries both digests in RepoDigests, in no
    set order: the digest ``ref`` pins is the one the pull resolved when it is there."""
    digests = [d.split("@", 1)[1] for d in inspect.get("RepoDigests") or [] if "@" in d]
    pinned = ref.rsplit("@", 1)[1] if "@" in ref else None
    digest = pinned if pinned in digests else next(iter(digests), None)
    parts = (inspect.get("Os"), inspect.get("Architecture"), inspect.get("Variant"))
    image_id = inspect.get("Id") or None
    config = image_id if not image_id or image_id.startswith("sha256:") else f"sha256:{image_id}"  # podman: bare hex
    return Pulled(digest, "/".join(p for p in parts if p), config)


def fetched_entry(index: dict[str, Any], present: set[str], platform: str = "") -> tuple[str, str] | None:
    """The entry of ``index`` (a manifest list) containerd has for ``platform``, as (digest, platform): the one
    whose manifest is in its content store (``present`` digests), and when several are there (fetched by earlier
    pulls), the one of those for ``platform``, which is what containerd unpacks and runs for it. None when that
    is not exactly one."""
    fetched = [entry for entry in index.get("manifests", []) if entry.get("digest") in present]
    if len(fetched) > 1 and platform:
        fetched = [entry for entry in fetched if entry_platform(entry) == platform]
    return (fetched[0]["digest"], entry_platform(fetched[0])) if len(fetched) == 1 else None


def entry_platform(entry: dict[str, Any]) -> str:
    """An index entry's platform as os/arch[/variant]."""
    found = entry.get("platform") or {}
    return "/".join(part for part in (found.get("os"), found.get("architecture"), found.get("variant")) if part)


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


#: What the runtimes say when a container's process could not be started because its program is missing.
_NOT_FOUND = re.compile(r"executable file (`[^`]*` )?not found|no such file or directory|command was not found",
                        re.IGNORECASE)


def start_failure_status(message: str) -> int | None:
    """The exit status a shell gives a process the runtime could not start, from the runtime's message:
    127 when its program is not found, 126 when it is found but cannot be run (e.g. permission denied);
    None when ``message`` is not such a failure. Runtimes disagree (docker exec says 126 for a missing
    program, docker run 127, ctr 1): the boards report the shell's numbers on every runtime."""
    if "OCI runtime" not in message:
        return None
    return 127 if _NOT_FOUND.search(message) else 126


def docker_frames(stream: bytes) -> tuple[bytes, bytes]:
    """stdout and stderr of docker's multiplexed attach/exec stream (8-byte headers: stream, 0, 0, 0, size)."""
    parts: dict[int, bytearray] = {1: bytearray(), 2: bytearray()}
    offset = 0
    while offset + 8 <= len(stream):
        kind, size = stream[offset], int.from_bytes(stream[offset + 4:offset + 8], "big")
        parts.get(kind, parts[1]).extend(stream[offset + 8:offset + 8 + size])
        offset += 8 + size
    return bytes(parts[1]), bytes(parts[2])
