"""A declared readiness rule (image.toml ``ready``) as a probe: "tcp", "http:/path" or "log:REGEX"."""

from __future__ import annotations

import re
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

import requests

from harness.checks.spec import Readiness

if TYPE_CHECKING:
    from harness.deploy import Deployment

#: ``attempt(deployment, seconds)`` returns once the service is ready and raises ``NotReady`` (or a connection
#: error) while it is not.
Attempt = Callable[["Deployment", float], None]


KEPT_OPEN_SECONDS = 0.3


class NotReady(Exception):
    """The service has not shown that it is ready yet."""


NOT_READY: tuple[type[BaseException], ...] = (NotReady, OSError, requests.ConnectionError, requests.Timeout)


def declared_attempt(ready: Readiness, log_from: int = 0) -> Attempt:
    """The probe that ``ready`` declares; a log rule reads the log from character ``log_from`` on (after a
    restart, the log still has the first start's lines)."""
    if ready.kind == "log":
        return lambda deployment, seconds: _log_shows(deployment, ready.argument, log_from)
    if ready.kind == "http":
        return lambda deployment, seconds: _http_answers(deployment, ready.argument, seconds)
    return lambda deployment, seconds: tcp_accepts(deployment, seconds)


def describe(ready: Readiness) -> str:
    """How a wait on ``ready`` is named in messages."""
    return {"log": f"its log to match /{ready.argument}/", "http": f"an HTTP answer on {ready.argument}",
            "tcp": "a TCP connection"}[ready.kind]


def tcp_accepts(deployment: Deployment, seconds: float) -> None:
    """Return once the service port accepts a connection and keeps it: a port-forwarding proxy in front of the
    container (docker's) accepts at once and closes the connection when nothing listens behind it yet."""
    endpoint = deployment.endpoint()
    with socket.create_connection((endpoint.host, endpoint.port), timeout=seconds) as connection:
        connection.settimeout(min(seconds, KEPT_OPEN_SECONDS))
        try:
            closed = connection.recv(1, socket.MSG_PEEK) == b""
        except TimeoutError:  # silent and open: a server waiting for its client to speak
            return
        if closed:
            raise NotReady("the port accepted a connection and closed it at once")


def _http_answers(deployment: Deployment, path: str, seconds: float) -> None:
    requests.get(deployment.endpoint().url + path, timeout=seconds, allow_redirects=False).close()


def _log_shows(deployment: Deployment, pattern: str, log_from: int) -> None:
    if re.search(pattern, deployment.logs()[log_from:]) is None:
        raise NotReady(f"the log does not match /{pattern}/ yet")
