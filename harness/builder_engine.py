"""The docker engine of a board that builds (``--builder BOARD_URL``), ready to build: the board open, its
engine answering (started first on the run's own VM, where docker is off at boot), a tunnel to it from here,
its platform, and the run's registry as the board reaches it.

A loopback registry reaches the board through a reverse forward on the board's own 127.0.0.1, even on the
VM (whose pulls go to 10.0.2.2): docker speaks plain HTTP to loopback registries only.

A TLS registry's CA goes beside any of the user's under the board engine's ``certs.d`` (named by the run, so a
later run sweeps it when this one dies) and is removed at close, for the push; credentials go with the push
request only, never to the board's disk or a command line.
"""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from harness.boards import make_board
from harness.boards.docker_tunnel import DockerTunnel
from harness.boards.qemu import QemuBoard
from harness.boards.registry_trust import CliTrust
from harness.boards.ssh import LOOPBACK, SshBoard
from harness.errors import BoardError, BuildError, RvconformError
from harness.registry_access import RegistryAccess

if TYPE_CHECKING:
    import docker

    from harness.run import Run

#: Under TCG, dockerd (and the containerd it attaches to) take a minute or two to start.
DOCKER_START_TIMEOUT = 300.0
#: QEMU's user network answers DNS here: build steps (apt-get in a RUN) resolve the mirror through it; the VM
#: itself keeps no resolver.
QEMU_DNS = "10.0.2.3"
DAEMON_JSON = "/etc/docker/daemon.json"
NO_DOCKER_FIX = ("install docker on the board (Debian: apt-get install docker.io docker-cli) and start it "
                 "(systemctl start docker), or build here without --builder")


class BuilderEngine:
    """A board's docker engine for native builds; made without connecting, ``open()`` connects."""

    def __init__(self, url: str, labels: dict[str, str], registry_url: str, access: RegistryAccess | None = None,
                 run: Run | None = None) -> None:
        self.url = url
        self.labels = labels
        self.registry_url = registry_url
        self.access = access
        self.run = run
        self.platform = ""
        self.version = ""
        #: The run's registry as HOST:PORT the board's engine reaches.
        self.registry = ""
        self._board: SshBoard | None = None
        self._tunnel: DockerTunnel | None = None
        self._docker: docker.DockerClient | None = None
        self._trust: CliTrust | None = None

    @property
    def identity(self) -> str:
        """What the builder adds to a build's key: the board, its platform and its engine's version."""
        return f"{self.url} {self.platform} docker {self.version}"

    @property
    def docker_url(self) -> str:
        """The engine's address here, for ``DOCKER_HOST`` (the tunnel's loopback port)."""
        if self._tunnel is None:
            raise BuildError(f"builder {self.url} is not open")
        return self._tunnel.url

    @property
    def docker(self) -> docker.DockerClient:
        """An SDK client of the board's engine."""
        if self._docker is None:
            raise BuildError(f"builder {self.url} is not open")
        return self._docker

    def has_image(self, name: str) -> bool:
        """Whether the board's engine has an image of this name."""
        import docker

        try:
            self.docker.images.get(name)
        except docker.errors.ImageNotFound:
            return False
        return True

    def load_image(self, archive: Iterable[bytes]) -> None:
        """Load an image archive (``docker save``'s stream) into the board's engine; BuildError when it fails."""
        import docker

        try:
            for event in self.docker.api.load_image(archive):
                if "error" in event:
                    raise BuildError(f"builder {self.url}: loading a base image failed: {event['error']}")
        except docker.errors.APIError as error:
            raise BuildError(f"builder {self.url}: loading a base image failed: {error.explanation or error}",
                             fix="check the board's disk space and its docker engine") from None

    def open(self) -> BuilderEngine:
        """Connect, make sure the engine answers, find its platform, and make the run's registry reachable and
        trusted from it; BuildError naming the builder and the fix when the board is unreachable or has no
        docker."""
        board = make_board(self.url, self.labels, self.run)
        if not isinstance(board, SshBoard):
            raise BuildError(f"--builder {self.url}: builds on this machine are the default",
                             fix="give a board URL (qemu, or ssh://USER@HOST...), or leave --builder out")
        self._board = board
        try:
            board.open()
            self._check_docker(board)
            self.platform, self.version = self._server(board)
            self.registry = self._registry_on_board(board)
            self._trust_registry(board)
            self._tunnel = DockerTunnel(board.transport).open()
            self._docker = _sdk_client(self._tunnel.url)
        except BuildError:
            self.close()
            raise
        except RvconformError as error:
            self.close()
            raise BuildError(f"builder {self.url} is unreachable: {error.message}",
                             fix=error.fix or "check the board URL and that the board is up") from None
        return self

    def _trust_registry(self, board: SshBoard) -> None:
        """A TLS registry's CA under the board engine's certs.d, for the push."""
        access = self.access
        if access is not None and access.scheme == "https" and access.ca_file is not None:
            self._trust = CliTrust(board.transport, "docker", board.mark, board.paths.certs_d)
            self._trust.add_ca(self.registry, access.ca_file)

    def _check_docker(self, board: SshBoard) -> None:
        if board.transport.run(["sh", "-c", "command -v docker"]).exit_status != 0:
            raise BuildError(f"builder {self.url} has no docker (no `docker` command on the board)", fix=NO_DOCKER_FIX)
        if isinstance(board, QemuBoard):
            self._start_vm_docker(board)

    def _start_vm_docker(self, board: SshBoard) -> None:
        """The run's VM: docker is installed but off at boot; start it (idempotent), with QEMU's DNS for builds."""
        script = (f"test -e {DAEMON_JSON} || {{ mkdir -p /etc/docker && "
                  f"printf '%s\\n' '{{\"dns\": [\"{QEMU_DNS}\"]}}' > {DAEMON_JSON}; }}; systemctl start docker")
        result = board.transport.run(["sh", "-c", script], timeout=DOCKER_START_TIMEOUT)
        if result.exit_status != 0:
            status = board.transport.run(["sh", "-c", "journalctl -u docker --no-pager -n 30"]).output
            raise BuildError(f"builder {self.url}: docker did not start in the VM (exit {result.exit_status}): "
                             f"{result.output.strip()[-600:]}\n{status.strip()[-2000:]}",
                             fix="rebuild the VM image (it needs docker.io and docker-cli) or read the journal above")

    def _server(self, board: SshBoard) -> tuple[str, str]:
        command = ["docker", "version", "--format", "{{.Server.Os}}/{{.Server.Arch}} {{.Server.Version}}"]
        result = board.transport.run(command, timeout=60)
        words = result.stdout.split()
        if result.exit_status != 0 or len(words) != 2:
            raise BuildError(f"builder {self.url}: its docker engine does not answer "
                             f"(`{shlex.join(command[:2])}` exited {result.exit_status}): "
                             f"{result.output.strip()[-600:]}", fix=NO_DOCKER_FIX)
        return words[0], words[1]

    def _registry_on_board(self, board: SshBoard) -> str:
        parts = urlsplit(self.registry_url)
        host, port = parts.hostname or "", parts.port or 80
        if host not in LOOPBACK:
            return parts.netloc
        return f"127.0.0.1:{board.transport.forward_remote(port, host, port)}"

    def close(self) -> None:
        """Close the SDK client and the tunnel, remove the CA written for the run's registry, and disconnect
        (the board's engine keeps running)."""
        if self._docker is not None:
            self._docker.close()
            self._docker = None
        if self._tunnel is not None:
            self._tunnel.close()
            self._tunnel = None
        if self._trust is not None:
            with contextlib.suppress(BoardError):
                self._trust.undo()
            self._trust = None
        if self._board is not None:
            with contextlib.suppress(BoardError):  # a board that went away: its next run's cleanup finds ours
                self._board.close()
            self._board = None


def _sdk_client(url: str) -> docker.DockerClient:
    import docker

    return docker.DockerClient(base_url=url, version="auto", timeout=300)
