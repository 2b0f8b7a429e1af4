"""The reverse forward (how a board reaches our registry) under churn: connections that our side drops while
the board still sends must not break the board's connection. With select() on the channels, paramiko's
channel pipe was closed under the transport thread, which then died of "Broken pipe" or "Bad file descriptor"
(the flake of test_an_ssh_board_names_a_wrong_registry_password)."""

from __future__ import annotations

import logging
import socket
import threading

import pytest

from harness.boards.transport import SshTransport
from harness.boards.url import OWN_VM

ROUNDS, CLIENTS = 150, 4


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def paramiko_errors():
    handler, logger = _Errors(), logging.getLogger("paramiko")
    logger.addHandler(handler)
    yield handler.lines
    logger.removeHandler(handler)


def _closing_server() -> socket.socket:
    """A server that reads a little of each connection and hangs up while the peer still sends."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            with client:
                client.recv(16)

    threading.Thread(target=serve, daemon=True).start()
    return server


def _sender(port: int) -> None:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            for _ in range(100):
                sock.sendall(b"x" * 4096)
    except OSError:
        pass  # the far side hung up: expected


def test_a_reverse_forward_survives_peers_that_hang_up_while_data_flows(sshd, paramiko_errors) -> None:
    server = _closing_server()
    transport = SshTransport("sshd", "root", "127.0.0.1", sshd.port, str(sshd.key), OWN_VM,
                             str(sshd.home / "host_key.pub")).open()
    try:
        port = server.getsockname()[1]
        board_port = transport.forward_remote(port, "127.0.0.1", port)  # the board here is this machine
        for _ in range(ROUNDS):
            senders = [threading.Thread(target=_sender, args=(board_port,)) for _ in range(CLIENTS)]
            for sender in senders:
                sender.start()
            for sender in senders:
                sender.join(timeout=30)
        assert transport.run(["echo", "still here"]).stdout == "still here\n"
        assert not [line for line in paramiko_errors if "Bad file descriptor" in line], paramiko_errors[:5]
    finally:
        transport.close()
        server.close()
