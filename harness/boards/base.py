"""What every board offers, whatever it is: the local engine, a QEMU VM, a real board over SSH."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from harness.boards.url import BoardSpec
from harness.defaults import PULL_TIMEOUT
from harness.errors import BoardError
from harness.image_ref import ImageRef
from harness.registry_access import Credentials, RegistryAccess
from harness.runtime_config.access import RegistryAccess as RuntimeAccess

if TYPE_CHECKING:
    from harness.run import Run


@dataclass(frozen=True)
class RunSpec:
    """How to start a container: a short name, an optional command, environment and ports to publish.

    ``command`` means what it means to docker: the arguments of the image's entrypoint (its cmd).
    With ``replace_entrypoint`` False, ``entrypoint`` is the image's own entrypoint, from the image config
    the caller resolved, for runtimes that replace the whole process instead (containerd's ctr); docker
    ignores it. With ``replace_entrypoint`` True, ``entrypoint`` replaces the image's on every runtime
    (``()`` clears it) and the image's cmd is dropped, as ``docker run --entrypoint`` does.
    ``user`` is ``USER[:GROUP]`` (names or ids), as ``docker run -u`` takes it; None keeps the image's.
    """

    name: str
    command: tuple[str, ...] | None = None
    env: dict[str, str] = field(default_factory=dict)
    ports: tuple[int, ...] = ()
    entrypoint: tuple[str, ...] = ()
    user: str | None = None
    replace_entrypoint: bool = False

    def __post_init__(self) -> None:
        if self.replace_entrypoint and not self.entrypoint and not self.command:
            raise ValueError(f"RunSpec {self.name!r}: the entrypoint is cleared and there is no command, "
                             "so there is nothing to run; give a command or an entrypoint")

    @property
    def process(self) -> tuple[str, ...] | None:
        """The whole process to run (entrypoint and command), or None for the image's own."""
        if self.replace_entrypoint:
            return (*self.entrypoint, *(self.command or ()))
        return (*self.entrypoint, *self.command) if self.command else None


@dataclass(frozen=True)
class PullResult:
    """What a pull produced on the board."""

    ref: str
    digest: str | None
    platform: str
    seconds: float
    #: The image's config digest (the engine's image ID) where the runtime tells it: which index entry was pulled.
    config_digest: str | None = None


@dataclass(frozen=True)
class Container:
    """A container a board started; ``handle`` is the board's own id for it."""

    handle: str
    name: str
    image: str


@dataclass(frozen=True)
class CommandResult:
    """The outcome of a command that ran to completion (one type for every board)."""

    exit_status: int
    stdout: str
    stderr: str = ""

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class MirrorsUnsupported(Exception):
    """The board's runtime cannot take a containerd mirror configuration."""


class Board(ABC):
    """A place where images are pulled and run. Every kind passes the same compliance tests.

    Made from its parsed URL (``harness.boards.make_board``) without connecting; ``open()`` connects.
    """

    #: The board's name in reports, e.g. "local" or "ssh://riscv@board1".
    name: str

    def __init__(self, spec: BoardSpec, labels: dict[str, str], run: Run | None = None) -> None:
        self.name = spec.url
        self.spec = spec
        self.labels = labels
        self.owning_run = run
        self.registry_aliases: dict[str, str] = {}
        self.plain_http: set[str] = set()
        self.registry_credentials: dict[str, Credentials] = {}
        self.registry_cas: dict[str, Path] = {}
        self.harness_access: dict[str, RegistryAccess] = {}

    @abstractmethod
    def open(self) -> None:
        """Connect to the board (boot it, for a VM); BoardUnreachable with the cause when that fails."""

    def attach_registry(self, url: str, address: str | None = None, access: RegistryAccess | None = None) -> str:
        """Arrange for the board to reach the registry at ``url`` (as the harness sees it).

        ``address`` is how the board sees it, when the user knows better (--registry-address). ``access``
        brings the CA the board must trust and the credentials it pulls with. Returns the address the board uses.
        """
        parts = urlsplit(url)
        seen = address or self.reach_registry(parts.hostname or "", parts.port or 80)
        if seen != parts.netloc:
            self.registry_aliases[parts.netloc] = seen
        if parts.scheme == "http":
            self.plain_http.add(seen)
        if access:
            self.harness_access[seen] = access
        if access and access.credentials:
            self.registry_credentials[seen] = access.credentials
        if access and access.ca_file and parts.scheme == "https":
            self.trust_registry(seen, access.ca_file)
            self.registry_cas[seen] = access.ca_file
        return seen

    def runtime_access(self, host: str) -> RuntimeAccess | None:
        """How a runtime config on this board reaches the registry it sees at ``host`` (scheme, CA file,
        credentials), or None for a plain HTTP registry without credentials."""
        credentials = self.registry_credentials.get(host)
        if host in self.plain_http and credentials is None:
            return None
        scheme = "http" if host in self.plain_http else "https"
        ca_file = self.registry_cas.get(host)
        return RuntimeAccess(url=f"{scheme}://{host}", ca_file=str(ca_file) if ca_file else None,
                             username=credentials.username if credentials else None,
                             password=credentials.password if credentials else None)

    def trust_registry(self, host: str, ca_file: Path) -> None:
        """Make the board's runtime trust ``ca_file`` for the registry it reaches at ``host``; undone by
        ``close``. Boards that cannot yet raise BoardError naming what to configure by hand."""
        raise BoardError(f"{self.name}: trusting a private CA for registry {host} is not done on this board yet",
                         fix=f"install {ca_file} as the CA for {host} in the board's runtime, or use a registry "
                         "whose certificate the board already trusts")

    def reach_registry(self, host: str, port: int) -> str:
        """Make a registry that the harness reaches at host:port reachable from the board (e.g. through a
        forward); returns the address the board uses (default: the same)."""
        return f"{host}:{port}"

    def sees(self, ref: ImageRef) -> ImageRef:
        """``ref`` as this board addresses it (a VM reaches the host's 127.0.0.1 at 10.0.2.2)."""
        alias = self.registry_aliases.get(ref.registry)
        return ref.at(alias) if alias else ref

    def pull_through_mirrors(self, name: str, hosts_files: dict[str, str], platform: str,
                             timeout: float = PULL_TIMEOUT) -> PullResult:
        """Pull ``name`` through containerd mirror configuration (``hosts_files``: certs.d-relative path ->
        hosts.toml content) within ``timeout`` seconds. Boards whose runtime is not containerd cannot; they
        raise MirrorsUnsupported."""
        raise MirrorsUnsupported(f"{self.name}: mirror configuration is tested through containerd; "
                                 "this board's runtime is not containerd")

    @abstractmethod
    def kernel_release(self) -> str:
        """The release of the kernel the board's containers run on (``uname -r`` there)."""

    @abstractmethod
    def pull(self, ref: ImageRef, platform: str, timeout: float = PULL_TIMEOUT) -> PullResult:
        """Remove any local copy of ``ref`` and pull it for ``platform`` from its registry; BoardError
        naming the board, the image, the registry and the deadline when it takes longer than ``timeout``."""

    @abstractmethod
    def run(self, ref: ImageRef, spec: RunSpec) -> Container:
        """Start a container from a pulled image, its ports published where the harness reaches them."""

    @abstractmethod
    def run_once(self, ref: ImageRef, spec: RunSpec, timeout: float = 60.0) -> CommandResult:
        """Run a container to completion and return its exit status, stdout and stderr (apart).

        A process the runtime cannot start is exit status 127 when its program is not found, 126 when it
        cannot be executed (the shell's convention, on every runtime), the runtime's message on stderr.
        BoardError when it does not finish within ``timeout``; the container is removed either way.
        """

    @abstractmethod
    def exec(self, container: Container, command: tuple[str, ...], env: dict[str, str] | None = None,
             user: str | None = None, timeout: float = 60.0) -> CommandResult:
        """Run ``command`` inside the running ``container`` to completion (docker exec, ctr tasks exec):
        its exit status, stdout and stderr apart, with ``env`` added to the container's environment, as
        ``user`` (USER[:GROUP]) when given. 127/126 as for run_once. BoardError when the container is not
        there or not running, or the command does not finish within ``timeout``."""

    @abstractmethod
    def restart(self, container: Container, timeout: float = 30.0) -> None:
        """Stop ``container`` (SIGTERM, then SIGKILL after ``timeout``) and start it again: the same
        container, so its filesystem and volumes are kept; ports are published again (``endpoint``
        answers with the new ones). BoardError when it is not there or will not stop."""

    @abstractmethod
    def endpoint(self, container: Container, port: int) -> tuple[str, int]:
        """Where the harness reaches ``port`` of ``container``."""

    @abstractmethod
    def peer_address(self, container: Container, port: int) -> tuple[str, int]:
        """Where another container on the same board reaches ``port`` of ``container``."""

    @abstractmethod
    def exited(self, container: Container) -> str | None:
        """None while the container runs, else why it stopped (e.g. "exited with code 1")."""

    @abstractmethod
    def logs(self, container: Container) -> str:
        """The container's output so far."""

    @abstractmethod
    def remove(self, container: Container) -> None:
        """Stop and remove the container."""

    @abstractmethod
    def close(self) -> None:
        """Remove everything the board created: containers, networks, pulled images; also for a board
        that was never opened, or whose ``open()`` failed."""


def pull_timeout_error(board: str, seen: ImageRef, platform: str, timeout: float, last_output: str) -> BoardError:
    """The error for a pull that outlived its deadline: the registry it waited on is named."""
    return BoardError(f"{board}: pull of {seen.pinned} for {platform} did not finish within {timeout:g} s "
                      f"(--pull-timeout): the registry {seen.registry} stopped answering, or is too slow; "
                      f"last progress: {last_output.strip()[-300:] or '(none)'}",
                      fix=f"check that the registry at {seen.registry} runs and answers (is it stopped or "
                      "overloaded?); a slow link needs a longer --pull-timeout")
