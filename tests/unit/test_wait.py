"""The one deadline loop: returns when ready, stops at once when the subject dies, names what it tried, and
retries only what the caller calls "not ready yet"; the one process stopper."""

import itertools
import subprocess
import sys
import time

import pytest

from harness.errors import ReadinessTimeout
from harness.wait import Deadline, log_tail, poll_until, stop_process, wait_until

#: Room for a loaded 2-core machine in the wall-clock checks below.
SLACK = 2.0


def test_returns_the_first_success() -> None:
    attempts = iter([ConnectionError("refused"), ConnectionError("refused"), "ready"])

    def attempt() -> str:
        value = next(attempts)
        if isinstance(value, Exception):
            raise value
        return value

    assert wait_until(attempt, what="svc", deadline=Deadline(5), retry_on=(OSError,), interval=0.01) == "ready"


def test_deadline_error_names_what_how_long_and_the_last_error() -> None:
    def attempt() -> None:
        raise ConnectionRefusedError("port 6379 refused")

    started = time.monotonic()
    with pytest.raises(ReadinessTimeout) as caught:
        wait_until(attempt, what="redis on local", deadline=Deadline(0.3), retry_on=(OSError,), interval=0.05,
                   logs=lambda: "booting")
    assert time.monotonic() - started < 0.3 + SLACK
    message = str(caught.value)
    assert "redis on local: not ready after 0." in message
    assert "ConnectionRefusedError: port 6379 refused" in message and "booting" in message


@pytest.mark.parametrize("bug", [AttributeError("no attribute 'ping'"), TypeError("takes 1 argument"),
                                 KeyError("port")])
def test_an_error_that_is_not_retryable_propagates_at_once(bug: Exception) -> None:
    calls = []

    def attempt() -> None:
        calls.append(1)
        raise bug

    started = time.monotonic()
    with pytest.raises(type(bug)):
        wait_until(attempt, what="svc", deadline=Deadline(120), retry_on=(OSError, ConnectionError))
    assert calls == [1]
    assert time.monotonic() - started < SLACK


def test_a_dead_subject_fails_at_once_with_its_logs() -> None:
    started = time.monotonic()
    with pytest.raises(ReadinessTimeout, match=r"exited with code 3[\s\S]*fatal: no config"):
        wait_until(lambda: 1 / 0, what="svc", deadline=Deadline(30), retry_on=(ZeroDivisionError,),
                   alive=lambda: "exited with code 3", logs=lambda: "fatal: no config")
    assert time.monotonic() - started < SLACK


def test_one_deadline_is_shared_by_consecutive_waits() -> None:
    deadline = Deadline(0.3)
    with pytest.raises(ReadinessTimeout):
        wait_until(lambda: 1 / 0, what="first", deadline=deadline, retry_on=(ZeroDivisionError,), interval=0.05)
    calls = []
    with pytest.raises(ReadinessTimeout):
        wait_until(lambda: calls.append(1) or 1 / 0, what="second", deadline=deadline,
                   retry_on=(ZeroDivisionError,), interval=0.05)
    assert calls == [1], "the second wait gets only what the first one left: one last attempt"


def test_poll_until_says_whether_the_condition_came_true() -> None:
    values = iter([False, False, True])
    assert poll_until(lambda: next(values), Deadline(5), interval=0.01)
    assert not poll_until(lambda: False, Deadline(0.1), interval=0.01)


def test_log_tail_keeps_the_last_lines() -> None:
    tail = log_tail("\n".join(str(i) for i in range(100)), lines=3)
    assert "97\n98\n99" in tail and "\n96\n" not in tail


def test_stop_process_terminates_and_kills_one_that_ignores_sigterm() -> None:
    stubborn = ("import signal, sys; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); "
                "signal.pause()")
    process = subprocess.Popen([sys.executable, "-c", stubborn], stdout=subprocess.PIPE, start_new_session=True)
    assert process.stdout is not None and process.stdout.readline() == b"ready\n"
    stop_process(process.pid, alive=lambda: process.poll() is None, group=True, grace=0.2, kill_grace=10)
    assert process.poll() == -9


def test_a_readiness_attempt_never_outlasts_the_deadline_by_much() -> None:
    from harness.deploy import ATTEMPT_SECONDS, MIN_ATTEMPT_SECONDS, _attempt_seconds

    assert _attempt_seconds(Deadline(600)) == ATTEMPT_SECONDS
    assert 1.0 < _attempt_seconds(Deadline(2)) <= 2
    assert _attempt_seconds(Deadline(0)) == MIN_ATTEMPT_SECONDS


def test_the_first_pauses_are_short_and_grow_to_the_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    """A service ready a moment after it starts is seen then, not a whole interval later; a slow one is not
    polled faster than the interval."""
    pauses: list[float] = []
    monkeypatch.setattr(time, "sleep", pauses.append)
    attempts = iter([*[ConnectionError("refused")] * 9, "ready"])

    def attempt() -> str:
        value = next(attempts)
        if isinstance(value, Exception):
            raise value
        return value

    assert wait_until(attempt, what="svc", deadline=Deadline(60), retry_on=(OSError,), interval=1.0) == "ready"
    assert pauses[0] == pytest.approx(0.01)
    assert pauses == sorted(pauses) and pauses[-1] == pytest.approx(1.0)
    assert all(later <= 2 * earlier + 1e-9 for earlier, later in itertools.pairwise(pauses))
