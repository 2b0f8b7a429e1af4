"""A board's docker engine reached from here over the board's SSH connection.

Each connection to a port on 127.0.0.1 runs ``docker system dial-stdio`` on the board (what the docker CLI's
own ``ssh://`` hosts do) and carries the bytes both ways, half-closes included. So the docker CLI here
(``docker -H tcp://127.0.0.1:PORT build``) and the SDK drive the board's engine through the board's own
transport: its host key check, its key and jump host, and nothing opened on the board but SSH.
"""

from __future__ import annotations

import contextlib
import select
import socket
import threading

import paramiko

from harness.boards.transport import CONNECT_TIMEOUT, SshTransport
from harness.errors import BoardError

DIAL_STDIO = "docker system dial-stdio"
_CHUNK = 65536


class DockerTunnel:
    """A loopback port leading to the board's docker engine; ``open()`` listens, ``close()`` stops."""

    def __init__(self, transport: SshTransport) -> None:
        self.transport = transport
        self._server: socket.socket | None = None

    @property
    def url(self) -> str:
        """The engine's address for ``docker -H`` and the SDK's ``base_url``; the tunnel must be open."""
        if self._server is None:
            raise BoardError(f"{self.transport.board}: the docker tunnel is not open", fix="call open() first")
        return f"tcp://127.0.0.1:{self._server.getsockname()[1]}"

    def open(self) -> DockerTunnel:
        """Listen on an ephemeral loopback port; returns this tunnel."""
        self._server = socket.create_server(("127.0.0.1", 0))
        threading.Thread(target=self._accept, args=(self._server,), daemon=True).start()
        return self

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                channel = self.transport.client.get_transport().open_session(timeout=CONNECT_TIMEOUT)
                channel.exec_command(DIAL_STDIO)
            except (paramiko.SSHException, OSError, BoardError):
                client.close()
                continue
            threading.Thread(target=_carry, args=(client, channel), daemon=True).start()

    def close(self) -> None:
        """Stop listening (connections in flight end with the SSH connection)."""
        if self._server is not None:
            with contextlib.suppress(OSError):
                self._server.close()
            self._server = None


def _carry(sock: socket.socket, channel: paramiko.Channel) -> None:
    """Copy bytes both ways; an end-of-stream on one side is passed on as a half-close, and the pair is done
    when both directions are."""
    sock_open = channel_open = True
    with contextlib.suppress(OSError, EOFError), sock, channel:
        while sock_open or channel_open:
            readable, _, _ = select.select([s for s, live in ((sock, sock_open), (channel, channel_open)) if live],
                                           [], [], 30)
            if sock in readable:
                data = sock.recv(_CHUNK)
                if data:
                    channel.sendall(data)
                else:
                    sock_open = False
                    channel.shutdown_write()
            if channel in readable:
                while channel.recv_stderr_ready():  # dial-stdio's complaints: not part of the stream
                    channel.recv_stderr(_CHUNK)
                data = channel.recv(_CHUNK)
                if data:
                    sock.sendall(data)
                else:
                    channel_open = False
                    sock.shutdown(socket.SHUT_WR)
            if channel.exit_status_ready() and not channel.recv_ready():
                return
