"""One ``docker exec`` through the engine API, with a deadline that holds: the SDK's exec_run has none
(it blocks until the process ends), so the exec's multiplexed stream is read here from its socket."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
from typing import Any

import docker.errors
from docker import APIClient

from harness.boards.base import CommandResult
from harness.boards.runtime_output import docker_frames, start_failure_status
from harness.errors import BoardError
from harness.wait import Deadline, poll_until

#: How long the engine may take to record an exec's exit status once its stream has ended.
EXIT_STATUS_WAIT = 10.0
#: The SDK's base URL for an engine on a unix socket.
UNIX_SOCKET_BASE = "http+docker://localhost"


def engine_exec(api: APIClient, container_id: str, command: tuple[str, ...], env: dict[str, str] | None,
                user: str | None, deadline: Deadline) -> CommandResult:
    """Run ``command`` in the container and return its exit status, stdout and stderr.

    TimeoutError at the deadline, after killing the exec's process (the engine does not stop an exec
    whose client has gone).
    """
    created = api.exec_create(container_id, list(command), environment=env or None, user=user or "")
    exec_id = created["Id"]
    stream = _read_stream(api.exec_start(exec_id, socket=True), deadline, lambda: _kill(api, exec_id))
    stdout, stderr = docker_frames(stream)
    status = _exit_status(api, exec_id)
    failed_start = start_failure_status(stdout.decode(errors="replace")) if status in (126, 127) else None
    if failed_start is not None:  # the engine sends the runtime's complaint on the stdout stream
        return CommandResult(failed_start, "", (stdout + stderr).decode(errors="replace").replace("\r\n", "\n"))
    return CommandResult(status, stdout.decode(errors="replace"), stderr.decode(errors="replace"))


def _read_stream(sock: Any, deadline: Deadline, on_timeout: Any) -> bytes:
    raw: socket.socket = getattr(sock, "_sock", sock)
    data = bytearray()
    try:
        while True:
            readable, _, _ = select.select([raw], [], [], deadline.remaining())
            if not readable:
                on_timeout()
                raise TimeoutError
            chunk = raw.recv(65536)
            if not chunk:
                return bytes(data)
            data.extend(chunk)
    finally:
        with contextlib.suppress(OSError):
            sock.close()


def _exit_status(api: APIClient, exec_id: str) -> int:
    state: dict[str, Any] = {}

    def ended() -> bool:
        state.update(api.exec_inspect(exec_id))
        return not state.get("Running")

    if not poll_until(ended, Deadline(EXIT_STATUS_WAIT), interval=0.1) or state.get("ExitCode") is None:
        raise BoardError(f"the engine recorded no exit status for exec {exec_id[:12]} within {EXIT_STATUS_WAIT:.0f} s")
    return int(state["ExitCode"])


def _kill(api: APIClient, exec_id: str) -> None:
    """SIGKILL the exec's process. The engine reports its pid as the engine's machine sees it: only an
    engine on this machine's unix socket shares our pids."""
    if api.base_url != UNIX_SOCKET_BASE:
        return
    with contextlib.suppress(docker.errors.APIError, ProcessLookupError, PermissionError):
        pid = int(api.exec_inspect(exec_id).get("Pid") or 0)
        if pid > 1:
            os.kill(pid, signal.SIGKILL)
