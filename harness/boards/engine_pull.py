"""One image pull through the engine API, with a deadline that holds: the SDK's pull has none (it posts with
``timeout=None`` and blocks for as long as the registry stays silent), so the pull's progress stream is read
here, each read bounded by the time left. Dropping the connection at the deadline makes the engine cancel
the pull."""

from __future__ import annotations

import contextlib
import json
import socket
from typing import Any

import requests
from docker import APIClient, auth

from harness.errors import BoardError
from harness.wait import Deadline

#: Seconds to wait for the engine to take the request (it answers at once: progress follows).
CONNECT_TIMEOUT = 10.0


class PullTimeout(BoardError):
    """The pull did not finish within its deadline; ``last_status`` is the engine's last progress line."""

    def __init__(self, message: str, *, last_status: str, fix: str | None = None) -> None:
        self.last_status = last_status
        super().__init__(message, fix=fix)


def engine_pull(api: APIClient, pinned: str, platform: str, auth_config: dict[str, str] | None,
                deadline: Deadline) -> None:
    """Pull ``pinned`` (REPOSITORY@DIGEST or REPOSITORY:TAG) for ``platform``; raises PullTimeout at the
    deadline and BoardError with the engine's message when the pull fails."""
    repository, tag = _split(pinned)
    headers = {"X-Registry-Auth": auth.encode_header(auth_config)} if auth_config else {}
    url = f"{api.base_url}/v{api.api_version}/images/create"
    last = "(no progress reported)"
    try:
        response = api.post(url, params={"fromImage": repository, "tag": tag, "platform": platform},
                            headers=headers, stream=True, timeout=(CONNECT_TIMEOUT, max(deadline.remaining(), 0.1)))
    except requests.exceptions.Timeout:
        raise PullTimeout(f"the engine did not take the pull of {pinned}", last_status=last) from None
    with contextlib.closing(response):
        if response.status_code >= 400:
            raise BoardError(f"{response.status_code} {_engine_message(response)}")
        try:
            for line in _lines(response, deadline):
                event = json.loads(line)
                if event.get("error"):
                    raise BoardError(str(event["error"]))
                last = " ".join(str(event[k]) for k in ("id", "status", "progress") if event.get(k)) or last
        except TimeoutError:
            raise PullTimeout(f"the pull of {pinned} did not finish", last_status=last) from None
        except requests.exceptions.ConnectionError as error:
            raise BoardError(f"the engine dropped the pull's connection: {error}") from None


def _lines(response: requests.Response, deadline: Deadline) -> Any:
    """The stream's JSON lines; TimeoutError when the deadline passes first. Each read of the socket waits at
    most the time left, so a stream that trickles or stops cannot outlast the deadline."""
    sock = _socket(response)
    buffer = b""
    chunks = response.iter_content(chunk_size=None)
    while True:
        if deadline.expired():
            raise TimeoutError
        if sock is not None:
            sock.settimeout(max(deadline.remaining(), 0.01))
        try:
            chunk = next(chunks)
        except StopIteration:
            break
        except requests.exceptions.ConnectionError as error:  # urllib3 wraps a read timeout in this
            if "timed out" in str(error).lower():
                raise TimeoutError from None
            raise
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        yield from (line for line in complete if line.strip())
    if buffer.strip():
        yield buffer


def _socket(response: requests.Response) -> socket.socket | None:
    connection = getattr(response.raw, "connection", None) or getattr(response.raw, "_connection", None)
    sock = getattr(connection, "sock", None)
    return sock if isinstance(sock, socket.socket) else None


def _split(pinned: str) -> tuple[str, str]:
    """(repository, tag-or-digest) as the engine's /images/create takes them."""
    if "@" in pinned:
        repository, digest = pinned.split("@", 1)
        return repository, digest
    repository, sep, tag = pinned.rpartition(":")
    if sep and "/" not in tag:
        return repository, tag
    return pinned, "latest"


def _engine_message(response: requests.Response) -> str:
    try:
        return str(response.json().get("message", response.text))
    except ValueError:
        return response.text[:300]
