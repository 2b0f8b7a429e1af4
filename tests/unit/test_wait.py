"""The one polling helper: returns when ready, stops at once when the subject dies, names what it tried."""

import time

import pytest

from harness.errors import ReadinessTimeout
from harness.probes.wait import Deadline, log_tail, wait_until


def test_returns_the_first_success() -> None:
    attempts = iter([ConnectionError("refused"), ConnectionError("refused"), "ready"])

    def attempt() -> str:
        value = next(attempts)
        if isinstance(value, Exception):
            raise value
        return value

    assert wait_until(attempt, what="svc", deadline=Deadline(5), interval=0.01) == "ready"


def test_deadline_error_names_what_how_long_and_the_last_error() -> None:
    def attempt() -> None:
        raise ConnectionRefusedError("port 6379 refused")

    started = time.monotonic()
    with pytest.raises(ReadinessTimeout) as caught:
        wait_until(attempt, what="redis on local", deadline=Deadline(0.3), interval=0.05,
                   logs=lambda: "booting")
    assert time.monotonic() - started < 1.5
    message = str(caught.value)
    assert "redis on local: not ready after 0." in message
    assert "ConnectionRefusedError: port 6379 refused" in message and "booting" in message


def test_a_dead_subject_fails_at_once_with_its_logs() -> None:
    started = time.monotonic()
    with pytest.raises(ReadinessTimeout, match=r"exited with code 3[\s\S]*fatal: no config"):
        wait_until(lambda: 1 / 0, what="svc", deadline=Deadline(30), alive=lambda: "exited with code 3",
                   logs=lambda: "fatal: no config")
    assert time.monotonic() - started < 1


def test_one_deadline_is_shared_by_consecutive_waits() -> None:
    deadline = Deadline(0.3)
    with pytest.raises(ReadinessTimeout):
        wait_until(lambda: 1 / 0, what="first", deadline=deadline, interval=0.05)
    started = time.monotonic()
    with pytest.raises(ReadinessTimeout):
        wait_until(lambda: 1 / 0, what="second", deadline=deadline, interval=0.05)
    assert time.monotonic() - started < 0.2


def test_log_tail_keeps_the_last_lines() -> None:
    tail = log_tail("\n".join(str(i) for i in range(100)), lines=3)
    assert "97\n98\n99" in tail and "\n96\n" not in tail


def test_a_readiness_attempt_never_outlasts_the_deadline_by_much() -> None:
    from harness.deploy import ATTEMPT_SECONDS, MIN_ATTEMPT_SECONDS, _attempt_seconds

    assert _attempt_seconds(Deadline(600)) == ATTEMPT_SECONDS
    assert 1.0 < _attempt_seconds(Deadline(2)) <= 2
    assert _attempt_seconds(Deadline(0)) == MIN_ATTEMPT_SECONDS
