"""Waiting: the one deadline loop every wait in the harness goes through, and the one process stopper.

Steps of one wait share a single ``Deadline``, so a chain (port open, then protocol answers) never
gets more than the overall time. Each poll first asks whether the thing waited on is still alive,
so a container that exits at start fails at once, with its logs, instead of at the deadline.

Only the errors a caller names as "not ready yet" are retried: any other error is a bug or a real
failure and propagates at once, instead of turning into a timeout minutes later.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from harness.errors import ReadinessTimeout

T = TypeVar("T")
LOG_TAIL_LINES = 40
#: The first pause of a wait, in seconds (then doubling up to the wait's interval).
FIRST_PAUSE = 0.01
Retryable = tuple[type[BaseException], ...]


@dataclass
class Deadline:
    """A point in time shared by several waits."""

    seconds: float
    _end: float = field(init=False)

    def __post_init__(self) -> None:
        self._end = time.monotonic() + self.seconds

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self._end - time.monotonic())

    def expired(self) -> bool:
        """Whether no time is left."""
        return self.remaining() <= 0


def wait_until(
    attempt: Callable[[], T],
    *,
    what: str,
    deadline: Deadline,
    retry_on: Retryable,
    alive: Callable[[], str | None] | None = None,
    logs: Callable[[], str] | None = None,
    interval: float = 0.1,
) -> T:
    """Call ``attempt`` until it returns without raising one of ``retry_on``, and return its result.

    ``retry_on`` are the errors that mean "not ready yet"; any other error propagates at once.
    ``alive`` returns None while the subject lives, or why it is gone (then we stop at once).
    ``logs`` supplies the subject's output for the error. Raises ReadinessTimeout naming ``what``,
    how long was waited, the last error seen and the log tail.

    The pause between attempts starts at FIRST_PAUSE and doubles up to ``interval``: a service that is ready
    a moment after it starts (most are) is seen then, not up to a whole ``interval`` later.
    """
    started = time.monotonic()
    last_error: BaseException | None = None
    pause = min(FIRST_PAUSE, interval)
    while True:
        gone = alive() if alive else None
        if gone:
            raise _failure(f"{what}: {gone} while waiting to become ready", last_error, logs)
        try:
            return attempt()
        except retry_on as error:
            last_error = error
        if deadline.expired():
            waited = time.monotonic() - started
            raise _failure(f"{what}: not ready after {waited:.1f} s", last_error, logs)
        time.sleep(min(pause, deadline.remaining()))
        pause = min(pause * 2, interval)


class _NotYet(Exception):
    """A condition polled by ``poll_until`` does not hold yet."""


def poll_until(condition: Callable[[], bool], deadline: Deadline, interval: float = 0.05) -> bool:
    """True as soon as ``condition()`` holds, False when the deadline passes first."""

    def holds() -> None:
        if not condition():
            raise _NotYet

    try:
        wait_until(holds, what="condition", deadline=deadline, retry_on=(_NotYet,), interval=interval)
    except ReadinessTimeout:
        return False
    return True


def stop_process(pid: int, *, alive: Callable[[], bool], group: bool = False, grace: float = 5.0,
                 kill_grace: float = 5.0) -> None:
    """Stop a process (its process group when ``group``): SIGTERM, then SIGKILL when it outlives ``grace``.

    ``alive`` tells whether it still runs (for a child, ``process.poll() is None``, which also reaps it).
    Returns when it is gone, or ``kill_grace`` after the SIGKILL.
    """
    for sig, seconds in ((signal.SIGTERM, grace), (signal.SIGKILL, kill_grace)):
        if not alive():
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            (os.killpg if group else os.kill)(pid, sig)
            # A stopped process (SIGSTOP, a frozen VM) keeps SIGTERM pending until it runs again.
            (os.killpg if group else os.kill)(pid, signal.SIGCONT)
        if poll_until(lambda: not alive(), Deadline(seconds)):
            return


def _failure(message: str, last_error: BaseException | None, logs: Callable[[], str] | None) -> ReadinessTimeout:
    if last_error is not None:
        message += f"\n  last attempt: {type(last_error).__name__}: {last_error}"
    if logs is not None:
        message += "\n" + log_tail(_safe(logs))
    return ReadinessTimeout(message, fix="read the log tail above; the container's full log is in the report")


def log_tail(text: str, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log, framed so they stand out in a failure message."""
    body = "\n".join(text.rstrip().splitlines()[-lines:]) or "(empty)"
    return f"--- last {lines} log lines ---\n{body}\n--- end of log ---"


def _safe(logs: Callable[[], str]) -> str:
    try:
        return logs()
    except Exception as error:  # the logs are a courtesy; their failure must not hide the real one
        return f"(logs unavailable: {error})"
