"""What "redis does its job" means: it answers, demands AUTH, and stores what it is given."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from harness.probes.endpoint import Endpoint

TIMEOUT = 5.0
#: What a server that is still starting answers: no connection yet, a timeout, "LOADING" (a ConnectionError).
NOT_READY = (OSError, redis.ConnectionError, redis.TimeoutError)


class CliResult(Protocol):
    """What running redis-cli on a board returned (a board's CommandResult)."""

    exit_status: int
    stdout: str

    @property
    def output(self) -> str: ...


def client(endpoint: Endpoint, password: str | None = None, timeout: float = TIMEOUT) -> redis.Redis:
    """A redis-py client with short timeouts that tries each command exactly once; RESP2, so a refusal is the
    plain NOAUTH a user sees.

    redis-py 8 retries a failed command ten times with backoff by default, and an AUTH refusal is a
    ConnectionError to it: every expected refusal would take seconds, and a flaky server would pass.
    Only the harness's readiness wait retries, against its own deadline.
    """
    return redis.Redis(host=endpoint.host, port=endpoint.port, password=password, protocol=2,
                       socket_timeout=timeout, socket_connect_timeout=timeout,
                       retry=Retry(NoBackoff(), 0))


def answers(endpoint: Endpoint, timeout: float = TIMEOUT) -> None:
    """Return when the server speaks the redis protocol (PONG, or a refusal for want of AUTH)."""
    with client(endpoint, timeout=timeout) as connection:
        try:
            connection.ping()
        except redis.AuthenticationError:
            return


def assert_auth_set_get(endpoint: Endpoint, password: str) -> None:
    """AUTH with the configured password, SET foo bar, and GET foo returns bar."""
    __tracebackhide__ = True
    with client(endpoint, password) as connection:
        try:
            connection.set("foo", "bar")
        except redis.AuthenticationError as error:
            raise AssertionError(
                f"{endpoint.target}: AUTH with the password configured in image.toml was refused: {error}"
            ) from None
        value = connection.get("foo")
    assert value == b"bar", f"{endpoint.target}: expected GET foo to return b'bar', got {value!r}"


def store(endpoint: Endpoint, password: str, key: str, value: str) -> None:
    """AUTH and SET ``key`` to ``value``."""
    with client(endpoint, password) as connection:
        connection.set(key, value)


def assert_stored(endpoint: Endpoint, password: str, key: str, value: str, since: str) -> None:
    """GET ``key`` returns ``value``, which was stored ``since`` (e.g. "before the restart")."""
    __tracebackhide__ = True
    with client(endpoint, password) as connection:
        found = connection.get(key)
    assert found == value.encode(), (
        f"{endpoint.target}: expected GET {key} to return {value!r}, stored {since}; got {found!r} "
        "(is persistence configured: save rules and a writable dir in the server's config?)"
    )


def assert_refuses_without_auth(endpoint: Endpoint) -> None:
    """A command sent without AUTH is refused with NOAUTH."""
    __tracebackhide__ = True
    with client(endpoint) as connection:
        try:
            connection.set("rvconform:noauth", "accepted")
        except redis.AuthenticationError as error:
            assert "NOAUTH" in str(error) or "Authentication required" in str(error), (
                f"{endpoint.target}: expected a NOAUTH refusal, got {error}"
            )
            return
    raise AssertionError(
        f"{endpoint.target}: expected SET without AUTH to be refused with NOAUTH, but the server accepted it "
        "(is requirepass set in its redis.conf?)"
    )


def assert_refuses_wrong_password(endpoint: Endpoint, password: str) -> None:
    """AUTH with a wrong password is refused."""
    __tracebackhide__ = True
    wrong = password + "-wrong"
    with client(endpoint, wrong) as connection:
        try:
            connection.ping()
        except redis.AuthenticationError:
            return
    raise AssertionError(
        f"{endpoint.target}: expected AUTH with a wrong password to be refused; it was accepted"
    )


def server_info(endpoint: Endpoint, password: str | None) -> dict[str, object]:
    """The ``INFO server`` section."""
    with client(endpoint, password) as connection:
        return connection.info("server")


def assert_runs_on(endpoint: Endpoint, password: str | None, kernel_release: str,
                   architecture: str = "riscv64") -> None:
    """``INFO server`` says the server runs on ``architecture`` with 64-bit pointers, on the board's own
    kernel (``kernel_release``: a VM's or a real board's, not the build machine's)."""
    __tracebackhide__ = True
    info = server_info(endpoint, password)
    os_line = str(info.get("os", ""))
    assert architecture in os_line, (
        f"{endpoint.target}: expected INFO server 'os' to name {architecture}, got {os_line!r}"
    )
    assert kernel_release in os_line, (
        f"{endpoint.target}: expected INFO server 'os' to name the board's kernel {kernel_release}, got {os_line!r}"
    )
    assert str(info.get("arch_bits")) == "64", (
        f"{endpoint.target}: expected INFO server arch_bits 64, got {info.get('arch_bits')!r}"
    )


def assert_cli_round_trip(run_cli: Callable[..., CliResult], server: Endpoint, password: str,
                          target: str) -> None:
    """redis-cli (``target``), run with ``run_cli(*args)``, AUTHs (via REDISCLI_AUTH), SETs and GETs on
    ``server``: the redis server as the harness reaches it, to confirm the write landed there."""
    __tracebackhide__ = True
    token = f"rvconform-{time.monotonic_ns()}"
    for args, expected in ((("SET", "rvconform:cli", token), "OK"), (("GET", "rvconform:cli"), token)):
        result = run_cli(*args)
        assert result.exit_status == 0 and result.stdout.strip() == expected, (
            f"{target}: expected `redis-cli {' '.join(args[:2])}` against {server.target} to print {expected!r}, "
            f"got exit {result.exit_status} and {result.output.strip()[:300]!r}"
        )
    with client(server, password) as connection:
        stored = connection.get("rvconform:cli")
    assert stored == token.encode(), f"{target}: its SET did not reach {server.target} ({stored!r})"
