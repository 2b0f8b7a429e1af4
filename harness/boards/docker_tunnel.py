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
import time

import paramiko

from harness.boards.transport import CONNECT_TIMEOUT, SshTransport
from harness.errors import BoardError

DIAL_STDIO = "docker system dial-stdio"
_CHUNK = 65536
#: How long a direction with nothing to carry waits before looking again.
POLL = 0.01


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
                ssh = self.transport.client.get_transport()
                if ssh is None:  # the SSH connection closed while this connection came in
                    raise BoardError(f"{self.transport.board}: the SSH connection is closed")
                channel = ssh.open_session(timeout=CONNECT_TIMEOUT)
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
    when both directions are. The channel is polled, never select()ed: select makes paramiko create a pipe
    that closing the channel closes under paramiko's own thread, which can break the whole SSH connection."""
    sock_open = channel_open = True
    with contextlib.suppress(OSError, EOFError), sock, channel:
        while sock_open or channel_open:
            if sock_open:
                readable, _, _ = select.select([sock], [], [], 0 if channel.recv_ready() else POLL)
                if readable:
                    sock_open = _to_channel(sock, channel)
            elif not channel.recv_ready():
                time.sleep(POLL)
            while channel.recv_stderr_ready():  # dial-stdio's complaints: not part of the stream
                channel.recv_stderr(_CHUNK)
            if channel_open:
                channel_open = _to_socket(channel, sock)
            if channel.exit_status_ready() and not channel.recv_ready():
                return


def _to_channel(sock: socket.socket, channel: paramiko.Channel) -> bool:
    """Move what the socket has to the channel; False (and the channel's write side shut) at its end."""
    data = sock.recv(_CHUNK)
    if data:
        channel.sendall(data)
        return True
    channel.shutdown_write()
    return False


def _to_socket(channel: paramiko.Channel, sock: socket.socket) -> bool:
    """Move what the channel has to the socket; False (and the socket's write side shut) at its end."""
    if channel.recv_ready():
        data = channel.recv(_CHUNK)
        if data:
            sock.sendall(data)
            return True
    if channel.eof_received or channel.closed:
        sock.shutdown(socket.SHUT_WR)
        return False
    return True
