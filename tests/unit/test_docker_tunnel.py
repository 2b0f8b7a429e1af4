"""The docker tunnel's listener when the SSH connection under it has closed."""

from __future__ import annotations

import socket
from types import SimpleNamespace
from typing import cast

import pytest

from harness.boards.docker_tunnel import DockerTunnel
from harness.boards.transport import SshTransport


def test_a_connection_after_the_ssh_connection_closed_is_closed_and_the_listener_goes_on(
        recwarn: pytest.WarningsRecorder) -> None:
    closed = SimpleNamespace(board="board-under-test", client=SimpleNamespace(get_transport=lambda: None))
    tunnel = DockerTunnel(cast(SshTransport, closed)).open()
    port = int(tunnel.url.rsplit(":", 1)[1])
    try:
        for _ in range(2):  # the second proves the listener survived the first
            with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
                connection.settimeout(5)
                assert connection.recv(16) == b"", "the engine's client sees the connection end at once"
    finally:
        tunnel.close()
    assert not [warning for warning in recwarn if "Thread" in str(warning.message)]
