"""``[[checks.http]]`` and ``[[checks.tcp]]``: talk to the running service the way its clients would."""

from __future__ import annotations

import re
import socket

import requests

from harness.checks.spec import HttpCheck, TcpCheck
from harness.checks.text import missing, shown, text_problems
from harness.probes.endpoint import Endpoint
from harness.wait import Deadline

READ_CHUNK = 65536


def http_problems(check: HttpCheck, endpoint: Endpoint) -> list[str]:
    """Send the check's request (once, no redirects followed) and compare the answer with its expectations."""
    request = f"{check.method} {check.path}"
    try:
        response = requests.request(check.method, endpoint.url + check.path, headers=check.request_headers,
                                    data=check.request_body, timeout=check.timeout, allow_redirects=False)
    except requests.RequestException as error:
        return [f"{request} on {endpoint.address} got no answer within {check.timeout:g} s: {error}"]
    problems = []
    if response.status_code != check.status:
        problems.append(f"expected {request} to answer {check.status}, got {response.status_code}")
    for name, pattern in check.headers.items():
        value = response.headers.get(name)
        if value is None:
            problems.append(f"expected header {name} matching /{pattern}/; the answer has none "
                            f"(it has: {', '.join(response.headers) or 'none'})")
        elif re.search(pattern, value) is None:
            problems.append(f"expected header {name} to match /{pattern}/, got {value!r}")
    problems += text_problems(f"the body of {request}", response.text, check.body)
    if problems and not any("body" in p for p in problems):
        problems.append(f"the body was {shown(response.text)}")
    return problems


def tcp_problems(check: TcpCheck, endpoint: Endpoint) -> list[str]:
    """Connect, send, and read the answer until every expected pattern is found, the peer closes, or the
    check's timeout passes; then compare the answer with the expectations."""
    deadline = Deadline(check.timeout)
    try:
        with socket.create_connection((endpoint.host, endpoint.port), timeout=check.timeout) as connection:
            if check.send:
                connection.sendall(check.send.encode())
            answer = _read_answer(connection, check, deadline)
    except OSError as error:
        return [f"could not talk to {endpoint.address} within {check.timeout:g} s: {error}"]
    return text_problems(f"the answer from port {endpoint.port}", answer, check.expect)


def _read_answer(connection: socket.socket, check: TcpCheck, deadline: Deadline) -> str:
    received = b""
    while not _enough(received, check):
        remaining = deadline.remaining()
        if remaining <= 0:
            break
        connection.settimeout(remaining)
        try:
            chunk = connection.recv(READ_CHUNK)
        except TimeoutError:
            break
        if not chunk:
            break
        received += chunk
    return received.decode(errors="replace")


def _enough(received: bytes, check: TcpCheck) -> bool:
    """Whether reading can stop: every expected pattern is found; with only patterns that must be absent, the
    first answer is there; with no pattern at all, nothing needs to be read."""
    if check.expect.found:
        return not missing(received.decode(errors="replace"), check.expect)
    return bool(received) or not check.expect.absent
