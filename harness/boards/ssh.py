"""Board ``ssh://user@host[:port]?key=PATH&runtime=docker|podman|ctr|k3s``: a real board over SSH.

The board pulls from the registry at the address *it* sees (``registry_aliases``); when the registry
is one we spawned on 127.0.0.1, a reverse forward gives the board the same address on its own
loopback, which every runtime trusts for plain HTTP. The harness reaches services through local
forwards, so nothing but SSH has to be open on the board.
"""

from __future__ import annotations

import os.path
import time
import uuid
from dataclasses import dataclass, replace
from urllib.parse import parse_qs, urlsplit

from harness.boards.base import Board, CommandResult, Container, PullResult, RunSpec
from harness.boards.runtimes import RUNTIMES, Containerd, detect_runtime, make_runtime
from harness.boards.transport import SshTransport
from harness.conformance.platform import resolve
from harness.errors import BoardError
from harness.images import client_for
from harness.mirror import endpoints
from harness.reference import ImageRef

LOOPBACK = ("127.0.0.1", "localhost", "::1")
PLATFORM = "linux/riscv64"


@dataclass(frozen=True)
class SshTarget:
    """What an ssh:// board URL says."""

    user: str
    host: str
    port: int
    key: str | None
    runtime: str | None

    @classmethod
    def parse(cls, url: str) -> SshTarget:
        parts = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = sorted(set(query) - {"key", "runtime"})
        try:
            port = parts.port or 22
        except ValueError:
            port = -1
        if parts.scheme != "ssh" or not parts.hostname or port <= 0 or unknown or parts.path not in ("", "/"):
            raise BoardError(f"board URL {url!r} is not ssh://USER@HOST[:PORT][?key=PATH&runtime=NAME]",
                             fix="e.g. ssh://riscv@board1:22?key=~/.ssh/id_ed25519&runtime=ctr")
        runtime = query.get("runtime")
        if runtime is not None and runtime not in RUNTIMES:
            raise BoardError(f"board URL {url!r}: unknown runtime {runtime!r}", fix=f"use one of {', '.join(RUNTIMES)}")
        return cls(parts.username or "root", parts.hostname, port, query.get("key"), runtime)


class SshBoard(Board):
    """Containers on a board reached over SSH, through one of its runtimes."""

    def __init__(self, name: str, target: SshTarget, labels: dict[str, str]) -> None:
        super().__init__(name)
        self.target = target
        suffix = uuid.uuid4().hex[:6]
        self.transport = SshTransport(name, target.user, target.host, target.port, _expand(target.key))
        self.runtime_name = target.runtime or detect_runtime(self.transport)
        self.runtime = make_runtime(self.runtime_name, self.transport, {**labels, labels.BOARD: suffix},
                                    f"rvconform-{suffix}")
        self._pulled: set[str] = set()
        self._forwards: dict[tuple[str, int], int] = {}

    def registry_address(self, host: str, port: int) -> str:
        """A registry on the harness's loopback reaches the board through a reverse forward, at the same
        address on the board's own loopback; any other address is used as it is."""
        if host not in LOOPBACK:
            return f"{host}:{port}"
        return f"127.0.0.1:{self.transport.forward_remote(port, host, port)}"

    def kernel_release(self) -> str:
        return self.transport.check(["uname", "-r"]).strip()

    def pull(self, ref: ImageRef, platform: str) -> PullResult:
        seen = self.sees(ref)
        self.runtime.remove_image(seen.pinned)
        started = time.monotonic()
        try:
            pulled = self.runtime.pull(seen.pinned, platform, seen.registry in self.plain_http)
        except BoardError as error:
            raise BoardError(f"{self.name}: pull of {seen.pinned} for {platform} failed: {error.message}",
                             fix="check that the board reaches the registry at that address") from None
        self._pulled.add(seen.pinned)
        return PullResult(seen.pinned, pulled.digest, pulled.platform, time.monotonic() - started)

    def pull_through_mirrors(self, name: str, hosts_files: dict[str, str], platform: str) -> PullResult:
        if not isinstance(self.runtime, Containerd):
            return super().pull_through_mirrors(name, hosts_files, platform)
        hosts_dir = f"/run/rvconform/hosts-{uuid.uuid4().hex[:8]}"
        try:
            for path, content in hosts_files.items():
                self.transport.write_file(f"{hosts_dir}/{path}", content)
            started = time.monotonic()
            pulled = self.runtime.pull_with_hosts(name, hosts_dir, platform)
        except BoardError as error:
            tried = ", ".join(endpoints(hosts_files)) or "none"
            raise BoardError(f"{self.name}: pull of {name} through the mirror configuration failed; endpoints "
                             f"tried: {tried}; containerd said: {error.message[-600:]}",
                             fix="check the mirror endpoints in the registry configuration") from None
        finally:
            self.transport.run(["rm", "-rf", hosts_dir])
        self._pulled.add(name)
        return PullResult(name, pulled.digest, pulled.platform, time.monotonic() - started)

    def run(self, ref: ImageRef, spec: RunSpec) -> Container:
        name = f"rvconform-{spec.name}-{uuid.uuid4().hex[:8]}"
        self.runtime.start(self.sees(ref).pinned, name, self._with_entrypoint(ref, spec))
        return Container(handle=name, name=name, image=self.sees(ref).pinned)

    def run_once(self, ref: ImageRef, spec: RunSpec, timeout: float = 60.0) -> CommandResult:
        name = f"rvconform-{spec.name}-{uuid.uuid4().hex[:8]}"
        return self.runtime.run_once(self.sees(ref).pinned, name, self._with_entrypoint(ref, spec), timeout)

    def _with_entrypoint(self, ref: ImageRef, spec: RunSpec) -> RunSpec:
        """A command is arguments to the image's entrypoint (docker's meaning); ctr replaces the whole
        process instead, so for ctr the entrypoint, read from the registry, goes in front."""
        if not spec.command or not isinstance(self.runtime, Containerd):
            return spec
        config = resolve(client_for(ref), ref.repository, ref.digest or ref.tag or "latest", PLATFORM).config
        entrypoint = tuple((config.get("config") or {}).get("Entrypoint") or ())
        return replace(spec, command=(*entrypoint, *spec.command))

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
        try:
            self.runtime.cleanup()
            for ref in self._pulled:
                self.runtime.remove_image(ref)
        except BoardError:
            pass  # a board that went away keeps what it had; its next run's cleanup finds it by label
        finally:
            self.transport.close()


def _expand(key: str | None) -> str | None:
    return os.path.expanduser(key) if key else None
