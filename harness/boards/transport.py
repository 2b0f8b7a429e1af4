"""SSH to a board: a paramiko connection (the way the user's ssh goes: through its ProxyCommand or jump hosts,
every host key checked), with command timeouts and port forwards in both directions (the harness reaches a
container; the board reaches our registry).

No paramiko channel is ever given to select(): ``Channel.fileno()`` makes a pipe that ``close()`` closes while
the transport thread may still write to it (data arriving for the channel), which kills the whole connection
with "Bad file descriptor" or "Broken pipe" (or writes into whatever reused the descriptor). Commands wait on the
channel's exit-status event instead, and forwards poll the channel (``_pump``).
"""

from __future__ import annotations

import contextlib
import select
import shlex
import socket
import threading
from collections.abc import Sequence

import paramiko

from harness.boards.base import CommandResult
from harness.boards.host_keys import (
    PinnedKey,
    RejectUnknown,
    accepts_new,
    changed_key_error,
    load_known_hosts,
    pin,
    pinned_key_error,
    read_pinned_key,
)
from harness.boards.proxy_command import ProxyProcess
from harness.boards.ssh_route import SshHop, SshRoute, config_path, load_config, resolve_route
from harness.boards.url import OWN_VM, VERIFY
from harness.errors import BoardError, BoardUnreachable, ReadinessTimeout
from harness.wait import Deadline, wait_until

CONNECT_TIMEOUT = 15
#: How often a running command's output is collected (paramiko buffers it meanwhile, up to its window).
POLL = 0.05
#: How often a forward looks for data from the board (its latency, one way, at most).
FORWARD_POLL = 0.01
#: How long a ProxyCommand under a failed connection gets to end, for its exit status and stderr to be told.
PROXY_EXIT_WAIT = 1.0
#: How long a board may take to answer an SSH keepalive before it counts as stopped (asked after a command
#: outlived its deadline: a stopped or frozen board fails its other tests at once, not one deadline each).
ANSWER_TIMEOUT = 5.0


class CommandTimeout(BoardError):
    """A command on the board did not finish within its deadline; ``output`` is what it printed so far."""

    def __init__(self, message: str, *, output: str, fix: str | None = None) -> None:
        self.output = output
        super().__init__(message, fix=fix)


class SshTransport:
    """One SSH connection to a board; ``open()`` connects (raising BoardUnreachable with the cause).

    It goes as the user's ssh would (their ssh_config: Host aliases, IdentityFile, ProxyCommand, ProxyJump
    with any number of hops) and checks each host's key against their known_hosts (``host_keys``: VERIFY,
    ACCEPT_NEW, STRICT or, for a VM this run booted, OWN_VM, which reads neither the ssh config nor known_hosts and
    accepts only the key in the file ``host_key``)."""

    def __init__(self, board: str, user: str | None, host: str, port: int | None, key: str | None,
                 host_keys: str = VERIFY, host_key: str | None = None) -> None:
        self.board = board
        self.user, self.host, self.port, self.key = user, host, port, key
        self.host_keys = host_keys
        self.host_key = host_key
        self._pinned: PinnedKey | None = None
        self._forwards: list[_LocalForward] = []
        self._gone: str | None = None
        self._client: paramiko.SSHClient | None = None
        self._jumps: list[paramiko.SSHClient] = []
        self._proxy: ProxyProcess | None = None

    @property
    def client(self) -> paramiko.SSHClient:
        """The connection; the transport must be open."""
        if self._client is None:
            raise BoardError(f"{self.board}: not connected", fix="call open() first")
        return self._client

    def open(self) -> SshTransport:
        """Connect (through the ProxyCommand and the jump hosts the ssh config names, if any); returns this
        transport."""
        own_vm = self.host_keys == OWN_VM
        if own_vm:
            self._pinned = read_pinned_key(self.board, self.host_key)
        config = load_config(None if own_vm else config_path())
        route = resolve_route(self.host, self.user, self.port, self.key, config)
        try:
            sock = self._start_proxy(route) if route.proxy_command else None
            for jump, onward in zip(route.jumps, route.hops[1:], strict=True):
                self._jumps.append(self._connect(jump, sock, "the jump host ", route))
                sock = self._channel_through(self._jumps[-1], jump, onward)
            self._client = self._connect(route.board, sock, "", route)
            self._client.get_transport().set_keepalive(15)
            return self
        except BaseException:
            self.close()
            raise

    def _start_proxy(self, route: SshRoute) -> ProxyProcess:
        """Start the ProxyCommand that carries the connection to the route's first hop."""
        command, first = route.proxy_command or "", route.hops[0]
        try:
            self._proxy = ProxyProcess(command)
        except OSError as error:  # no shell to run it
            raise BoardUnreachable(f"{self.board}: cannot start the ProxyCommand `{command}` for {first.name}: "
                                   f"{error}", fix=f"set SHELL to a shell, or fix ProxyCommand in {route.config}"
                                   ) from None
        return self._proxy

    def _connect(self, hop: SshHop, sock: paramiko.Channel | ProxyProcess | None, role: str,
                 route: SshRoute) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        if self._pinned is not None:
            pin(client, self.board, hop, self._pinned)
        else:
            load_known_hosts(client, hop)
            client.set_missing_host_key_policy(RejectUnknown(self.board, hop, accepts_new(hop, self.host_keys)))
        try:
            client.connect(hop.hostname, hop.port, hop.user, key_filename=list(hop.key_files) or None, sock=sock,
                           timeout=CONNECT_TIMEOUT, banner_timeout=CONNECT_TIMEOUT, auth_timeout=CONNECT_TIMEOUT)
            return client
        except paramiko.BadHostKeyException as error:
            failure = (pinned_key_error(self.board, hop, self._pinned, error.key) if self._pinned is not None
                       else changed_key_error(self.board, hop, error))
        except BoardUnreachable as error:  # an unknown host key
            failure = error
        except paramiko.AuthenticationException as error:
            failure = self._unreachable(hop, role, f"authentication failed ({error}); is the key right and "
                                        "authorized for this user?")
        except (OSError, EOFError, paramiko.SSHException) as error:
            # Told before the client closes: closing it ends the ProxyCommand, whose own end is the news.
            failure = (self._proxy_failure(sock, hop, role, route, error) if isinstance(sock, ProxyProcess)
                       else self._unreachable(hop, role, _connect_cause(error)))
        client.close()
        raise failure

    def _unreachable(self, hop: SshHop, role: str, cause: str) -> BoardUnreachable:
        return BoardUnreachable(f"{self.board}: cannot connect to {role}{hop.name} ({hop.address}): {cause}",
                                fix="check the board's address, port and key (ssh://USER@HOST:PORT?key=PATH) "
                                "and its entry in your ssh config")

    def _proxy_failure(self, proxy: ProxyProcess, hop: SshHop, role: str, route: SshRoute,
                       error: BaseException) -> BoardUnreachable:
        """The error for a connection through a ProxyCommand that failed: how the command ended and what it
        said, or, when it still runs, what the connection lacked."""
        where = f"{self.board}: cannot connect to {role}{hop.name} ({hop.address}) through its ProxyCommand " \
                f"`{proxy.command}`"
        status = proxy.exit_status(within=PROXY_EXIT_WAIT)
        if status is not None:
            return BoardUnreachable(f"{where}: the command {proxy.how_it_ended(status)}",
                                    fix=f"run that command by hand to see it fail, then fix it (the ProxyCommand "
                                    f"of Host {hop.name} in {route.config}), or set `ProxyCommand none` there")
        if _no_banner(error):
            cause = (f"the command runs, but no SSH banner came through it within {CONNECT_TIMEOUT} s (it does "
                     "not reach an SSH server, or waits for input)")
        else:
            cause = _connect_cause(error)
        return BoardUnreachable(f"{where}: {cause}", fix=f"check that the command reaches {hop.name}'s SSH port "
                                f"(the ProxyCommand of Host {hop.name} in {route.config})")

    def _channel_through(self, client: paramiko.SSHClient, jump: SshHop, board: SshHop) -> paramiko.Channel:
        """A direct-tcpip channel from the jump host to the next hop (``board``): its SSH runs over it."""
        try:
            return client.get_transport().open_channel("direct-tcpip", (board.hostname, board.port),
                                                       ("127.0.0.1", 0), timeout=CONNECT_TIMEOUT)
        except (OSError, paramiko.SSHException) as error:
            raise BoardUnreachable(f"{self.board}: the jump host {jump.name} ({jump.address}) cannot reach "
                                   f"{board.hostname}:{board.port}: {_connect_cause(error)}",
                                   fix="check the board's HostName and Port as the jump host sees them, and that "
                                   "the jump host's sshd allows TCP forwarding") from None

    def run(self, argv: Sequence[str], timeout: float = 120.0, stdin: bytes | None = None) -> CommandResult:
        """Run a command (an argument list, quoted for the remote shell) and wait at most ``timeout``;
        ``stdin`` is sent to it, then closed."""
        what = shlex.join(argv[:2])  # never the whole command: its arguments may carry secrets
        if self._gone:
            raise BoardUnreachable(f"{self.board}: `{what} ...` not run: {self._gone}")
        output = _Output()
        try:
            channel = self.client.get_transport().open_session(timeout=CONNECT_TIMEOUT)
        except (OSError, paramiko.SSHException, EOFError, AttributeError) as error:
            raise self._lost(what, error) from None
        try:
            channel.settimeout(timeout)
            channel.exec_command(shlex.join(argv))
            if stdin is not None:
                channel.sendall(stdin)
            channel.shutdown_write()
            _drain(channel, Deadline(timeout), output)
            status = channel.recv_exit_status()
        except ReadinessTimeout:
            raise self._timeout(what, timeout, output) from None
        except (OSError, paramiko.SSHException, EOFError, AttributeError) as error:
            raise self._lost(what, error) from None
        finally:
            channel.close()
        return CommandResult(status, output.stdout.decode(errors="replace"), output.stderr.decode(errors="replace"))

    def _timeout(self, what: str, timeout: float, output: _Output) -> BoardError:
        """The error for a command past its deadline: a board that no longer answers SSH at all is named
        unreachable (and later commands fail at once); else the command was just slow."""
        printed = (output.stdout + output.stderr).decode(errors="replace")
        if not self._answers():
            self._gone = (f"the board stopped answering (no reply to an SSH keepalive within {ANSWER_TIMEOUT:g} s "
                          f"after `{what} ...` outlived its {timeout:g} s deadline)")
            return BoardUnreachable(f"{self.board}: `{what} ...` did not finish within {timeout:g} s: {self._gone}",
                                    fix="the board (or VM) is stopped, frozen or cut off; see its console")
        return CommandTimeout(f"{self.board}: `{what} ...` did not finish within {timeout:g} s", output=printed)

    def _answers(self) -> bool:
        """Whether the board's sshd replies to a keepalive within ANSWER_TIMEOUT (paramiko's request waits
        without a deadline, so it waits in a thread of its own, which ends when the connection closes)."""
        transport = self.client.get_transport()
        if transport is None or not transport.is_active():
            return False
        asker = threading.Thread(target=transport.global_request, args=("keepalive@openssh.com",), daemon=True)
        asker.start()
        asker.join(ANSWER_TIMEOUT)
        return not asker.is_alive()

    def _lost(self, what: str, error: BaseException) -> BoardUnreachable:
        """The connection failed under a command: every later command is refused with the same cause."""
        self._gone = (f"the board stopped answering (no SSH channel opened within {CONNECT_TIMEOUT} s)"
                      if "Timeout opening channel" in str(error) else
                      f"the connection is gone ({type(error).__name__}: {error})")
        return BoardUnreachable(f"{self.board}: `{what} ...` failed: {self._gone}",
                                fix="the board went down or rebooted; see its console")

    def check(self, argv: Sequence[str], timeout: float = 120.0, stdin: bytes | None = None) -> str:
        """Run a command that must succeed; its stdout, or BoardError with its output."""
        result = self.run(argv, timeout, stdin)
        if result.exit_status != 0:
            raise BoardError(f"{self.board}: `{shlex.join(argv[:3])} ...` exited {result.exit_status}: "
                             f"{result.output.strip()[-800:]}")
        return result.stdout

    def write_file(self, path: str, content: str) -> None:
        """Create (or replace) a file on the board, with its directory."""
        self.check(["sh", "-c", 'mkdir -p "$(dirname "$1")" && cat > "$1"', "sh", path], stdin=content.encode())

    def forward_local(self, remote_host: str, remote_port: int) -> int:
        """Listen on 127.0.0.1 (ephemeral port) and carry each connection to remote_host:remote_port as the
        board sees it; returns the local port."""
        forward = _LocalForward(self.client.get_transport(), remote_host, remote_port)
        self._forwards.append(forward)
        return forward.port

    def forward_remote(self, port: int, local_host: str, local_port: int) -> int:
        """Make the board's 127.0.0.1:``port`` (or, when that is taken, a free port) lead to
        local_host:local_port here, e.g. our registry; returns the board-side port."""
        transport = self.client.get_transport()

        def handler(channel: paramiko.Channel, origin: tuple, server: tuple) -> None:
            threading.Thread(target=_pipe_to, args=(channel, (local_host, local_port)), daemon=True).start()

        for wanted in (port, 0):
            try:
                return transport.request_port_forward("127.0.0.1", wanted, handler)
            except paramiko.SSHException as error:
                failure = error
        raise BoardError(f"{self.board}: cannot forward its 127.0.0.1:{port} to {local_host}:{local_port}: "
                         f"{failure}", fix="allow TCP forwarding in the board's sshd (AllowTcpForwarding)")

    def close(self) -> None:
        """Stop the forwards, drop the connections and end the ProxyCommand (nothing to do when it was never
        opened)."""
        for forward in self._forwards:
            forward.close()
        for client in (self._client, *reversed(self._jumps)):
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()
        if self._proxy is not None:  # closing the first hop's client ends it too, unless it never connected
            self._proxy.close()


class _Running(Exception):
    """The command has not exited yet."""


def _connect_cause(error: BaseException) -> str:
    if isinstance(error, paramiko.ssh_exception.NoValidConnectionsError):
        error = next(iter(error.errors.values()), error)
    if isinstance(error, ConnectionRefusedError) or "refused" in str(error).lower():
        return "connection refused (nothing listens on that port)"
    if isinstance(error, TimeoutError | socket.timeout):
        return f"no answer within {CONNECT_TIMEOUT} s"
    if _no_banner(error):
        return (f"the port accepts connections, but no SSH banner within {CONNECT_TIMEOUT} s (not an SSH server, "
                "or a frozen one)")
    return f"{type(error).__name__}: {error}"


def _no_banner(error: BaseException) -> bool:
    """Whether paramiko's ``error`` says that no SSH banner came: it reports a silent peer as a banner error, or
    (racing its own thread) as a lost session at auth."""
    return "protocol banner" in str(error) or "No existing session" in str(error)


class _Output:
    """What a command printed so far, kept when it outlives its deadline."""

    def __init__(self) -> None:
        self.stdout, self.stderr = bytearray(), bytearray()


def _drain(channel: paramiko.Channel, deadline: Deadline, output: _Output) -> None:
    """Read the command's stdout and stderr into ``output`` until it has exited; ReadinessTimeout at the
    deadline."""

    def read_until_exit() -> None:
        ended = channel.eof_received or channel.closed  # sshd may send the exit status before the last output
        if ended and channel.exit_status_ready() and not channel.recv_ready() and not channel.recv_stderr_ready():
            return
        if not (channel.recv_ready() or channel.recv_stderr_ready()):
            # The pause between polls (wait_until's interval is 0), cut short when the command exits.
            channel.status_event.wait(POLL)
        while channel.recv_ready():
            output.stdout.extend(channel.recv(65536))
        while channel.recv_stderr_ready():
            output.stderr.extend(channel.recv_stderr(65536))
        raise _Running

    wait_until(read_until_exit, what="the command", deadline=deadline, retry_on=(_Running,), interval=0)


class _LocalForward:
    """A listening socket whose connections are carried over SSH (direct-tcpip channels)."""

    def __init__(self, transport: paramiko.Transport, remote_host: str, remote_port: int) -> None:
        self.transport, self.remote = transport, (remote_host, remote_port)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, origin = self.server.accept()
            except OSError:
                return
            try:
                channel = self.transport.open_channel("direct-tcpip", self.remote, origin, timeout=CONNECT_TIMEOUT)
            except (paramiko.SSHException, OSError):
                client.close()
                continue
            threading.Thread(target=_pump, args=(client, channel), daemon=True).start()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.server.shutdown(socket.SHUT_RDWR)  # wakes the accept (close alone does not, on Linux)
        with contextlib.suppress(OSError):
            self.server.close()


def _pipe_to(channel: paramiko.Channel, target: tuple[str, int]) -> None:
    try:
        sock = socket.create_connection(target, timeout=CONNECT_TIMEOUT)
    except OSError:
        channel.close()
        return
    _pump(sock, channel)


def _pump(sock: socket.socket, channel: paramiko.Channel) -> None:
    """Copy bytes both ways until either side ends, in this one thread, which alone sends on and closes the
    channel (paramiko sends outside its channel lock: a close from another thread can overtake data, and sshd
    drops the whole connection for data on a channel it has freed). The channel is polled, never selected
    (see the module's docstring)."""
    sock.settimeout(None)
    with contextlib.suppress(OSError, EOFError, paramiko.SSHException), sock:
        try:
            while _pump_once(sock, channel):
                pass
        finally:
            channel.close()


def _pump_once(sock: socket.socket, channel: paramiko.Channel) -> bool:
    """Move what is ready in either direction (waiting at most FORWARD_POLL); False once either side ended."""
    readable, _, _ = select.select([sock], [], [], 0 if channel.recv_ready() else FORWARD_POLL)
    if readable:
        data = sock.recv(65536)
        if not data:
            return False
        channel.sendall(data)
    if channel.recv_ready():
        sock.sendall(channel.recv(65536))
    elif channel.eof_received or channel.closed:
        return False
    return True
