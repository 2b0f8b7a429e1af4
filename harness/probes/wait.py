"""Readiness: the one polling helper every wait in the harness goes through.

Steps of one wait share a single ``Deadline``, so a chain (port open, then protocol answers) never
gets more than the overall time. Each poll first asks whether the thing waited on is still alive,
so a container that exits at start fails at once, with its logs, instead of at the deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from harness.errors import ReadinessTimeout

T = TypeVar("T")
LOG_TAIL_LINES = 40


@dataclass
class Deadline:
    """A point in time shared by several waits."""

    seconds: float
    _end: float = field(init=False)

    def __post_init__(self) -> None:
        self._end = time.monotonic() + self.seconds

    def remaining(self) -> float:
        return max(0.0, self._end - time.monotonic())

    def expired(self) -> bool:
        return self.remaining() <= 0


def wait_until(
    attempt: Callable[[], T],
    *,
    what: str,
    deadline: Deadline,
    alive: Callable[[], str | None] | None = None,
    logs: Callable[[], str] | None = None,
    interval: float = 0.1,
) -> T:
    """Call ``attempt`` until it returns without raising, and return its result.

    ``alive`` returns None while the subject lives, or why it is gone (then we stop at once).
    ``logs`` supplies the subject's output for the error. Raises ReadinessTimeout naming ``what``,
    how long was waited, the last error seen and the log tail.
    """
    started = time.monotonic()
    last_error: Exception | None = None
    while True:
        gone = alive() if alive else None
        if gone:
            raise _failure(f"{what}: {gone} while waiting to become ready", last_error, logs)
        try:
            return attempt()
        except Exception as error:  # any failure of an attempt means "not yet"
            last_error = error
        if deadline.expired():
            waited = time.monotonic() - started
            raise _failure(f"{what}: not ready after {waited:.1f} s", last_error, logs)
        time.sleep(min(interval, deadline.remaining()))


def _failure(message: str, last_error: Exception | None, logs: Callable[[], str] | None) -> ReadinessTimeout:
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
