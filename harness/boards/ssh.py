"""Board ``ssh://[user@]host[:port]?key=PATH&runtime=docker|podman|ctr|k3s``: a real board over SSH.

The board pulls from the registry at the address *it* sees (``registry_aliases``); when the registry
is one we spawned on 127.0.0.1, a reverse forward gives the board the same address on its own
loopback, which every runtime trusts for plain HTTP. The harness reaches services through local
forwards, so nothing but SSH has to be open on the board.

Everything the board makes there carries this harness host's origin and the run id (labels, and names from
``board_names``); opening a board first sweeps what dead runs of the same origin left (``board_sweep``).
"""

from __future__ import annotations

import contextlib
import os.path
import re
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from harness.boards.base import Board, CommandResult, Container, PullResult, RunSpec, pull_timeout_error
from harness.boards.board_names import Mark
from harness.boards.board_sweep import STATE_DIR, BoardPaths, BoardSweep, Swept
from harness.boards.registry_trust import CliTrust, ContainerdTrust
from harness.boards.runtime_output import Pulled
from harness.boards.runtimes import Containerd, DockerCli, Runtime, detect_runtime, make_runtime
from harness.boards.transport import CommandTimeout, SshTransport
from harness.boards.url import BoardSpec, SshTarget
from harness.defaults import PULL_TIMEOUT
from harness.errors import BoardError, BoardUnreachable
from harness.image_ref import ImageRef
from harness.labels import BOARD, ORIGIN
from harness.registry_access import Credentials
from harness.registry_client import RegistryClient
from harness.registry_mirror import endpoints
from harness.run.root import origin
from harness.runtime_config.access import RegistryAccess as RuntimeAccess

if TYPE_CHECKING:
    from harness.run import Run

LOOPBACK = ("127.0.0.1", "localhost", "::1")


class SshBoard(Board):
    """Containers on a board reached over SSH, through one of its runtimes."""

    def __init__(self, spec: BoardSpec, labels: dict[str, str], run: Run | None = None) -> None:
        self._suffix = uuid.uuid4().hex[:6]
        super().__init__(spec, {**labels, BOARD: self._suffix}, run)
        self.target = spec.target if isinstance(spec.target, SshTarget) else None
        self._transport: SshTransport | None = None
        self._runtime: Runtime | None = None
        self._pulled: set[str] = set()
        self._forwards: dict[tuple[str, int], int] = {}
        self._trust: ContainerdTrust | None = None
        self._cli_trust: CliTrust | None = None
        self._mark: Mark | None = None
        self.paths = BoardPaths()
        #: What the sweep at ``open`` removed (dead runs of this origin).
        self.swept = Swept()

    def open(self) -> None:
        """Connect, find the board's runtime when the URL does not name it, and sweep what dead runs of this
        origin left on the board."""
        target = self._target()
        self.labels = {**self.labels, ORIGIN: origin()}
        self._mark = Mark.of(self.labels)
        self._transport = SshTransport(self.name, target.user, target.host, target.port, _expand(target.key),
                                       target.host_keys, target.host_key).open()
        name = target.runtime or detect_runtime(self._transport)
        self._runtime = make_runtime(name, self._transport, self.labels, self.mark.name(self._suffix))
        self.swept = BoardSweep(self._transport, self._runtime, self.mark.origin, self.paths).run()

    @property
    def mark(self) -> Mark:
        """The origin and run id in the name of everything this board makes; the board must be open."""
        if self._mark is None:
            raise BoardError(f"{self.name}: the board is not open", fix="call open() (or use open_board) first")
        return self._mark

    def _target(self) -> SshTarget:
        """Where the board is (a VM's board knows only once it booted)."""
        if self.target is None:
            raise BoardError(f"{self.name}: no SSH target")
        return self.target

    @property
    def transport(self) -> SshTransport:
        """The SSH connection; the board must be open."""
        if self._transport is None:
            raise BoardError(f"{self.name}: the board is not open", fix="call open() (or use open_board) first")
        return self._transport

    @property
    def runtime(self) -> Runtime:
        """The board's container runtime; the board must be open."""
        if self._runtime is None:
            raise BoardError(f"{self.name}: the board is not open", fix="call open() (or use open_board) first")
        return self._runtime

    def reach_registry(self, host: str, port: int) -> str:
        """A registry on the harness's loopback reaches the board through a reverse forward, opened here, at
        the same address on the board's own loopback; any other address is used as it is."""
        if host not in LOOPBACK:
            return f"{host}:{port}"
        return f"127.0.0.1:{self.transport.forward_remote(port, host, port)}"

    def trust_registry(self, host: str, ca_file: Path) -> None:
        """containerd boards: the CA goes to a 0700 hosts directory of the run on the board (see pull);
        docker: to the daemon's certs.d; podman: to a 0700 directory given as --cert-dir."""
        if isinstance(self.runtime, Containerd):
            self.trust.add_ca(host, ca_file)
        else:
            self.cli_trust.add_ca(host, ca_file)

    @property
    def trust(self) -> ContainerdTrust:
        """This board's hosts directory for secured registries (nothing is written until needed)."""
        if self._trust is None:
            self._trust = ContainerdTrust(self.transport, f"{STATE_DIR}/{self.mark.name(self._suffix)}")
        return self._trust

    @property
    def cli_trust(self) -> CliTrust:
        """docker/podman: this board's private client files for secured registries (written when needed)."""
        if self._cli_trust is None:
            self._cli_trust = CliTrust(self.transport, getattr(self.runtime, "program", "docker"), self.mark,
                                       self.paths.certs_d)
        return self._cli_trust

    def runtime_access(self, host: str) -> RuntimeAccess | None:
        access = super().runtime_access(host)
        if access and self._trust and host in self._trust.cas:
            return replace(access, ca_file=self._trust.cas[host])  # the CA's path on the board
        return access

    def kernel_release(self) -> str:
        return self.transport.check(["uname", "-r"]).strip()

    def pull(self, ref: ImageRef, platform: str, timeout: float = PULL_TIMEOUT) -> PullResult:
        seen = self.sees(ref)
        try:
            # Never forced: podman's `rmi -f` also removes the containers of any other run that uses the image.
            self.runtime.remove_image(seen.pinned, force=False)
            self._note_pull(seen.pinned)
            started = time.monotonic()
            if self._secured(seen.registry) and isinstance(self.runtime, Containerd):
                hosts_dir = self.trust.hosts_dir_for(seen.registry, self._authorization(seen))
                pulled = self.runtime.pull_with_hosts(seen.pinned, hosts_dir, platform, timeout)
            elif self._secured(seen.registry):
                pulled = self._pull_with_client_files(seen, platform, timeout)
            else:
                pulled = self.runtime.pull(seen.pinned, platform, seen.registry in self.plain_http, timeout)
        except CommandTimeout as error:
            raise pull_timeout_error(self.name, seen, platform, timeout, error.output) from None
        except BoardUnreachable as error:
            raise BoardUnreachable(f"{self.name}: pull of {seen.pinned} for {platform}: {error.message}",
                                   fix=error.fix) from None
        except BoardError as error:
            raise _pull_failure(self.name, seen, platform, error.message,
                                self.registry_credentials.get(seen.registry)) from None
        return PullResult(seen.pinned, pulled.digest, pulled.platform, time.monotonic() - started,
                          config_digest=pulled.config_digest)

    def _note_pull(self, ref: str) -> None:
        """Remember ``ref`` for close, and in the run's ledger on the board for the sweep, should the harness
        die before close (noted before the pull: a pull cut short may leave the image)."""
        self._pulled.add(ref)
        self.transport.check(["sh", "-c", 'printf "%s\\n" "$1" >> "$2"', "sh", ref, self._ledger])

    @property
    def _ledger(self) -> str:
        return self.paths.ledger(self.mark.name(self._suffix))

    def _secured(self, host: str) -> bool:
        """Whether pulls from ``host`` need a CA or credentials (containerd: a hosts.toml; docker/podman:
        client files)."""
        return host in self.registry_cas or host in self.registry_credentials

    def _pull_with_client_files(self, seen: ImageRef, platform: str, timeout: float) -> Pulled:
        """docker/podman: the credentials in a 0600 client config on the board for this pull only."""
        runtime = self.runtime
        if not isinstance(runtime, DockerCli):
            raise BoardError(f"{self.name}: this board's runtime cannot pull from a TLS or password registry")
        credentials = self.registry_credentials.get(seen.registry)
        auths = (self.cli_trust.write_auths(seen.registry, credentials.username, credentials.password)
                 if credentials else None)
        before, after = self.cli_trust.pull_args(seen.registry, auths)
        try:
            pulled = runtime.pull(seen.pinned, platform, seen.registry in self.plain_http, timeout,
                                  client_args=before, pull_args=after)
        except BoardError:
            if auths:  # the pull's error is the one to tell; close removes the directory in any case
                with contextlib.suppress(BoardError):
                    self.cli_trust.remove_auths(auths)
            raise
        if auths:
            self.cli_trust.remove_auths(auths)
        return pulled

    def _authorization(self, seen: ImageRef) -> str | None:
        """The Authorization value for pulling ``seen`` (Basic, or a Bearer token of its repository), fetched
        by the harness with its own credentials; None when the registry has none for the board."""
        access = self.harness_access.get(seen.registry)
        if access is None or access.credentials is None:
            return None
        return RegistryClient(access.url, access).pull_authorization(seen.repository)

    def pull_through_mirrors(self, name: str, hosts_files: dict[str, str], platform: str,
                             timeout: float = PULL_TIMEOUT) -> PullResult:
        if not isinstance(self.runtime, Containerd):
            return super().pull_through_mirrors(name, hosts_files, platform, timeout)
        hosts_dir = f"{STATE_DIR}/{self.mark.name(uuid.uuid4().hex[:8])}"
        self._note_pull(name)
        try:
            for path, content in hosts_files.items():  # 0600: a file may carry an Authorization header
                self.trust.write_private(f"{hosts_dir}/{path}", content)
            started = time.monotonic()
            pulled = self.runtime.pull_with_hosts(name, hosts_dir, platform, timeout)
        except BoardError as error:
            tried = ", ".join(endpoints(hosts_files)) or "none"
            raise BoardError(f"{self.name}: pull of {name} through the mirror configuration failed; endpoints "
                             f"tried: {tried}; containerd said: {error.message[-600:]}",
                             fix="check the mirror endpoints in the registry configuration") from None
        finally:
            self.transport.run(["rm", "-rf", hosts_dir])
        return PullResult(name, pulled.digest, pulled.platform, time.monotonic() - started)

    def run(self, ref: ImageRef, spec: RunSpec) -> Container:
        name = f"rvconform-{spec.name}-{uuid.uuid4().hex[:8]}"
        self.runtime.start(self.sees(ref).pinned, name, spec)
        return Container(handle=name, name=name, image=self.sees(ref).pinned)

    def run_once(self, ref: ImageRef, spec: RunSpec, timeout: float = 60.0) -> CommandResult:
        name = f"rvconform-{spec.name}-{uuid.uuid4().hex[:8]}"
        return self.runtime.run_once(self.sees(ref).pinned, name, spec, timeout)

    def exec(self, container: Container, command: tuple[str, ...], env: dict[str, str] | None = None,
             user: str | None = None, timeout: float = 60.0) -> CommandResult:
        return self.runtime.exec(container.handle, command, env or {}, user, timeout)

    def restart(self, container: Container, timeout: float = 30.0) -> None:
        self.runtime.restart(container.handle, timeout)

    def endpoint(self, container: Container, port: int) -> tuple[str, int]:
        board_port = self.runtime.service_port(container.handle, port)
        key = ("127.0.0.1", board_port)
        if key not in self._forwards:
            self._forwards[key] = self.transport.forward_local(*key)
        return "127.0.0.1", self._forwards[key]

    def peer_address(self, container: Container, port: int) -> tuple[str, int]:
        return self.runtime.peer_address(container.handle, port)

    def exited(self, container: Container) -> str | None:
        return self.runtime.exited(container.handle)

    def logs(self, container: Container) -> str:
        return self.runtime.logs(container.handle)

    def remove(self, container: Container) -> None:
        self.runtime.remove(container.handle)

    def close(self) -> None:
        if self._transport is None:
            return
        try:
            if self._trust:
                self._trust.undo()
            if self._cli_trust:
                self._cli_trust.undo()
            self.runtime.cleanup()
            for ref in self._pulled:
                self.runtime.remove_image(ref, force=False)  # our containers are gone; another run's keep it
            if self._pulled:
                self.transport.run(["rm", "-f", self._ledger])
        except BoardError:
            pass  # a board that went away keeps what it had; the sweep of a later run of this origin takes it
        finally:
            self.transport.close()


#: How docker and podman say a registry refused the credentials (or wanted some).
_REFUSED = re.compile(r"unauthorized|authentication required|invalid username/password", re.IGNORECASE)


def _pull_failure(board: str, seen: ImageRef, platform: str, said: str, credentials: Credentials | None
                  ) -> BoardError:
    """The error for a failed pull; a refusal of the credentials is named as such."""
    if credentials and _REFUSED.search(said):
        return BoardError(f"{board}: the registry {seen.registry} refused the credentials of user "
                          f"'{credentials.username}' ({credentials.source or 'given'}) for pulling {seen.pinned}: "
                          f"{said}", fix="check the registry username and password (RVCONFORM_REGISTRY_USERNAME/"
                          "RVCONFORM_REGISTRY_PASSWORD, or the docker config's auths entry)")
    return BoardError(f"{board}: pull of {seen.pinned} for {platform} failed: {said}",
                      fix="check that the board reaches the registry at that address")


def _expand(key: str | None) -> str | None:
    return os.path.expanduser(key) if key else None
