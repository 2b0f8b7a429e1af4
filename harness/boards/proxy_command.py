"""A ProxyCommand of the user's ssh_config, run as ssh runs it (``exec COMMAND`` by ``$SHELL -c``, else
``/bin/sh -c``) through paramiko's ``ProxyCommand``: the SSH connection to the first hop goes over the
command's stdin and stdout.

Three things differ from paramiko's class, so that a command that fails is told at once and plainly: a
command that ended reads as end of file (paramiko's ``recv`` waits for more bytes until its timeout, spinning
the CPU, and then reports a missing SSH banner); a write to an ended command is an OSError, which paramiko
takes as the connection's end (its ProxyCommandFailure is logged with a traceback by the transport thread);
and the command's stderr is kept, for the error (paramiko never reads it: a chatty command would block once
the pipe is full).
"""

from __future__ import annotations

import contextlib
import os
import select
import shlex
import threading

import paramiko

from harness.wait import Deadline, poll_until, stop_process

#: How much of the command's stderr is kept (its end).
STDERR_KEPT = 2000
#: How long a command gets to end after SIGTERM (then SIGKILL), and to print the rest of its stderr.
GRACE = 2.0


class ProxyProcess(paramiko.ProxyCommand):
    """A running ProxyCommand; ``close()`` ends it (also when the SSH connection over it never came up)."""

    def __init__(self, command: str) -> None:
        self.command = command
        shell = os.environ.get("SHELL") or "/bin/sh"
        super().__init__(shlex.join([shell, "-c", f"exec {command}"]))
        self._stderr = b""
        self._ended_by_us = False
        self._reader = threading.Thread(target=self._keep_stderr, daemon=True)
        self._reader.start()

    def send(self, content: bytes) -> int:
        """Write to the command's stdin; OSError (broken pipe) once it ended."""
        return self.process.stdin.write(content)

    def recv(self, size: int) -> bytes:
        """Up to ``size`` bytes from the command's stdout, b"" once it ended; TimeoutError after the timeout
        paramiko set."""
        ready, _, _ = select.select([self.process.stdout], [], [], self.timeout)
        if not ready:
            raise TimeoutError
        return os.read(self.process.stdout.fileno(), size)

    def close(self) -> None:
        """End the command (SIGTERM, then SIGKILL), as ssh does when its connection ends; again is harmless.
        paramiko's transport thread calls this too when the connection fails or ends.

        The pipes are left to close with this object: paramiko's transport thread may still be reading one,
        and a descriptor closed under it could be reused by another file meanwhile."""
        if self.process.poll() is None:
            self._ended_by_us = True
        stop_process(self.process.pid, alive=lambda: self.process.poll() is None, grace=GRACE, kill_grace=GRACE)

    def exit_status(self, within: float) -> int | None:
        """The command's exit status once it ended by itself, waiting at most ``within`` seconds; None while it
        runs, or when it ran until ``close`` ended it."""
        poll_until(lambda: self.process.poll() is not None, Deadline(within))
        status = self.process.returncode
        return None if status is None or (self._ended_by_us and status < 0) else status

    def how_it_ended(self, status: int) -> str:
        """``exited with status N`` or ``was killed by signal N``, and the end of what it printed on stderr."""
        ended = f"was killed by signal {-status}" if status < 0 else f"exited with status {status}"
        self._reader.join(GRACE)  # the rest of its stderr, unless a child of it keeps the pipe open
        said = self._stderr.decode(errors="replace").strip()
        return f"{ended}, saying: {said}" if said else f"{ended}, printing nothing on stderr"

    def _keep_stderr(self) -> None:
        """Read the command's stderr until it closes, keeping its end; this thread owns the pipe."""
        stream = self.process.stderr
        with contextlib.suppress(OSError, ValueError), stream:
            while chunk := os.read(stream.fileno(), 4096):
                self._stderr = (self._stderr + chunk)[-STDERR_KEPT:]
