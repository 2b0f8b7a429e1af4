"""Board ``local``: the engine on this machine, running riscv64 images under QEMU user emulation."""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import docker.errors
import requests
from docker import DockerClient
from docker.models.containers import Container as EngineContainer

from harness.boards.base import Board, CommandResult, Container, PullResult, RunSpec, pull_timeout_error
from harness.boards.engine_exec import engine_exec
from harness.boards.engine_pull import PullTimeout, engine_pull
from harness.boards.registry_trust import EngineTrust
from harness.boards.runtime_output import DOCKER_LIVE_STATES, Pulled, ctr_image, docker_image, start_failure_status
from harness.boards.url import BoardSpec
from harness.defaults import DOCKER_CERTS_D, PULL_TIMEOUT
from harness.engine import engine
from harness.errors import BoardError, BoardUnreachable, EngineError
from harness.image_ref import ImageRef
from harness.labels import BOARD
from harness.registry_mirror import endpoints
from harness.registry_security import write_private
from harness.wait import Deadline

if TYPE_CHECKING:
    from harness.run import Run

#: A system containerd, or the one dockerd starts for itself.
CONTAINERD_SOCKETS = ("/run/containerd/containerd.sock", "/run/docker/containerd/containerd.sock")


class LocalBoard(Board):
    """Containers on the local engine, ports published on 127.0.0.1; containers that talk to each other share a
    network of the board's own (made when a peer address is first asked for: creating and removing a network
    costs the engine a few tenths of a second, for nothing in a run without peers)."""

    def __init__(self, spec: BoardSpec, labels: dict[str, str], run: Run | None = None) -> None:
        self._suffix = uuid.uuid4().hex[:6]
        super().__init__(spec, {**labels, BOARD: self._suffix}, run)
        self._engine: DockerClient | None = None
        self._network: str | None = None
        self._on_network: set[str] = set()
        self._pulled: set[str] = set()
        self._trust = EngineTrust(run.id if run else None)

    def open(self) -> None:
        """Connect to the engine (BoardUnreachable when none answers)."""
        try:
            self._engine = engine()
        except EngineError as error:
            raise BoardUnreachable(f"local: {error.message}", fix=error.fix) from None

    @property
    def engine(self) -> DockerClient:
        """The engine client; the board must be open."""
        if self._engine is None:
            raise BoardError("local: the board is not open", fix="call open() (or use open_board) first")
        return self._engine

    def kernel_release(self) -> str:
        return os.uname().release

    def trust_registry(self, host: str, ca_file: Path) -> None:
        self._trust.trust(host, ca_file)

    def pull(self, ref: ImageRef, platform: str, timeout: float = PULL_TIMEOUT) -> PullResult:
        seen = self.sees(ref)
        pinned = seen.pinned
        credentials = self.registry_credentials.get(seen.registry)
        # Not forced: a forced removal of a tag deletes the image it names, also when it is another platform's
        # entry pinned by digest for other tests, or another run's container's; unforced, a tag is only untagged
        # and an image in use stays (its layers are already here either way).
        with contextlib.suppress(docker.errors.ImageNotFound, docker.errors.APIError):
            self.engine.images.remove(pinned)
        started = time.monotonic()
        try:  # credentials go with the request (X-Registry-Auth); nothing is written to a docker config
            engine_pull(self.engine.api, pinned, platform, credentials.auth_config() if credentials else None,
                        Deadline(timeout))
            image = self.engine.images.get(pinned)
        except PullTimeout as error:
            raise pull_timeout_error("local", seen, platform, timeout, error.last_status) from None
        except (BoardError, docker.errors.APIError) as error:
            said = error.message if isinstance(error, BoardError) else error.explanation or error
            raise _pull_failure(seen, platform, str(said)) from None
        seconds = time.monotonic() - started
        self._pulled.add(pinned)
        pulled = docker_image(image.attrs, pinned)
        return PullResult(ref=pinned, digest=pulled.digest, platform=pulled.platform, seconds=seconds,
                          config_digest=image.id)

    def pull_through_mirrors(self, name: str, hosts_files: dict[str, str], platform: str,
                             timeout: float = PULL_TIMEOUT) -> PullResult:
        """Through the engine's own containerd (its ctr), as a k3s node on this machine would pull."""
        socket = next((s for s in CONTAINERD_SOCKETS if Path(s).is_socket()), None)
        if socket is None or not shutil.which("ctr"):
            return super().pull_through_mirrors(name, hosts_files, platform, timeout)
        ctr = ["ctr", "--address", socket, "-n", "rvconform"]
        with tempfile.TemporaryDirectory(prefix="rvconform-hosts-") as hosts_dir:
            for path, content in hosts_files.items():  # 0600: a file may hold registry credentials
                (Path(hosts_dir) / path).parent.mkdir(parents=True, exist_ok=True)
                write_private(Path(hosts_dir) / path, content.encode())
            subprocess.run([*ctr, "images", "rm", name], capture_output=True)
            started = time.monotonic()
            try:
                result = subprocess.run([*ctr, "images", "pull", "--hosts-dir", hosts_dir, "--platform", platform,
                                         name], capture_output=True, text=True, timeout=timeout,
                                        stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired as expired:
                subprocess.run([*ctr, "images", "rm", name], capture_output=True)
                raise BoardError(f"local: `ctr images pull {name}` through the mirror configuration did not finish "
                                 f"within {timeout:g} s (endpoints: {', '.join(endpoints(hosts_files))}); its last "
                                 f"output: {_tail(expired.stdout)}",
                                 fix="check that the mirror endpoints answer; a slow registry needs a longer "
                                 "--pull-timeout") from None
        seconds = time.monotonic() - started
        listing = subprocess.run([*ctr, "images", "ls"], capture_output=True, text=True).stdout
        subprocess.run([*ctr, "images", "rm", name], capture_output=True)
        if result.returncode != 0:
            raise BoardError(f"local: pull of {name} through the mirror configuration failed; endpoints tried: "
                             f"{', '.join(endpoints(hosts_files))}; containerd said: {result.stderr.strip()[-600:]}",
                             fix="check the mirror endpoints in the registry configuration")
        pulled = ctr_image(listing, name) or Pulled(None, "")
        return PullResult(name, pulled.digest, pulled.platform, seconds)

    def run(self, ref: ImageRef, spec: RunSpec) -> Container:
        created = self._create(ref, spec)
        try:
            created.start()
        except docker.errors.APIError as error:
            self.remove(Container(created.id, created.name, ref.pinned))
            raise BoardError(f"local: cannot start {ref.pinned}: {error.explanation or error}") from None
        return Container(handle=created.id, name=created.name, image=ref.pinned)

    def _create(self, ref: ImageRef, spec: RunSpec) -> EngineContainer:
        # [""] is the engine's "no entrypoint" (an empty list would keep the image's).
        entrypoint = (list(spec.entrypoint) or [""]) if spec.replace_entrypoint else None
        try:
            created = self.engine.containers.create(
                self.sees(ref).pinned, command=list(spec.command) if spec.command else None,
                entrypoint=entrypoint, user=spec.user or "", environment=spec.env, labels=self.labels,
                name=self._container_name(spec), network=self._network,
                ports={f"{p}/tcp": ("127.0.0.1", None) for p in spec.ports},
            )
        except docker.errors.APIError as error:
            raise BoardError(f"local: cannot create a container of {ref.pinned}: {error.explanation or error}",
                             fix="check the image's entrypoint, command and user") from None
        if self._network:
            self._on_network.add(created.id)
        return created

    def run_once(self, ref: ImageRef, spec: RunSpec, timeout: float = 60.0) -> CommandResult:
        created = self._create(ref, spec)
        container = Container(handle=created.id, name=created.name, image=ref.pinned)
        try:
            try:
                created.start()
            except docker.errors.APIError as error:
                message = str(error.explanation or error)
                status = start_failure_status(message)
                if status is None:
                    raise BoardError(f"local: cannot start {ref.pinned}: {message}") from None
                return CommandResult(exit_status=status, stdout="", stderr=message)
            try:
                status = created.wait(timeout=timeout)["StatusCode"]
            except Exception:  # the engine client raises a requests timeout here
                raise BoardError(f"local: {spec.name} did not finish within {timeout:.0f} s:\n"
                                 f"{self.logs(container)}") from None
            stdout = created.logs(stdout=True, stderr=False).decode(errors="replace")
            stderr = created.logs(stdout=False, stderr=True).decode(errors="replace")
            return CommandResult(exit_status=status, stdout=stdout, stderr=stderr)
        finally:
            self.remove(container)

    def exec(self, container: Container, command: tuple[str, ...], env: dict[str, str] | None = None,
             user: str | None = None, timeout: float = 60.0) -> CommandResult:
        what = f"local: exec of `{command[0] if command else ''}` in {container.name}"
        try:
            return engine_exec(self.engine.api, container.handle, command, env, user, Deadline(timeout))
        except docker.errors.NotFound:
            raise BoardError(f"{what}: the container is not there (removed?)",
                             fix="exec into a container the board started and has not removed") from None
        except docker.errors.APIError as error:  # e.g. 409: the container is not running
            raise BoardError(f"{what}: {error.explanation or error}",
                             fix="exec into a running container; see its logs for why it stopped") from None
        except TimeoutError:
            raise BoardError(f"{what} did not finish within {timeout:.0f} s (its process was killed)") from None

    def restart(self, container: Container, timeout: float = 30.0) -> None:
        try:
            # The engine sends SIGTERM, SIGKILL after `timeout`, then starts the same container again.
            self._get(container).restart(timeout=max(1, math.ceil(timeout)))
        except docker.errors.NotFound:
            raise BoardError(f"local: cannot restart {container.name}: the container is not there (removed?)",
                             fix="restart a container the board started and has not removed") from None
        except docker.errors.APIError as error:
            raise BoardError(f"local: restart of {container.name} failed: {error.explanation or error}",
                             fix="see the container's logs") from None
        except requests.RequestException as error:
            raise BoardError(f"local: restart of {container.name} did not finish: {error}",
                             fix="the engine did not stop the container; see `docker inspect` on it") from None

    def endpoint(self, container: Container, port: int) -> tuple[str, int]:
        engine_container = self._get(container)
        bindings = (engine_container.attrs["NetworkSettings"]["Ports"] or {}).get(f"{port}/tcp")
        if not bindings:
            raise BoardError(f"local: port {port} of {container.name} is not published",
                             fix="declare the port in the recipe's image.toml")
        return bindings[0]["HostIp"], int(bindings[0]["HostPort"])

    def peer_address(self, container: Container, port: int) -> tuple[str, int]:
        """The container's name on the board's network, which it joins now (and every later container at start)."""
        network = self._ensure_network()
        if container.handle not in self._on_network:
            try:
                self.engine.networks.get(network).connect(container.handle)
            except docker.errors.APIError as error:
                raise BoardError(f"local: cannot put {container.name} on network {network}: "
                                 f"{error.explanation or error}", fix="check that the container still exists") from None
            self._on_network.add(container.handle)
        return container.name, port

    def exited(self, container: Container) -> str | None:
        try:
            state = self._get(container).attrs["State"]
        except docker.errors.NotFound:
            return "was removed"
        if state.get("Running") or state.get("Status") in DOCKER_LIVE_STATES:
            return None
        return f"exited with code {state.get('ExitCode')}"

    def logs(self, container: Container) -> str:
        try:
            return self._get(container).logs().decode(errors="replace")
        except docker.errors.NotFound:
            return "(container is gone)"

    def remove(self, container: Container) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            self.engine.containers.get(container.handle).remove(force=True)

    def close(self) -> None:
        self._trust.undo()
        if self._engine is None:
            return
        for container in self.engine.containers.list(all=True, filters={"label": self._label_filter()}):
            with contextlib.suppress(docker.errors.NotFound):
                container.remove(force=True)
        if self._network:
            with contextlib.suppress(docker.errors.NotFound):
                self.engine.networks.get(self._network).remove()
        for ref in self._pulled:
            with contextlib.suppress(docker.errors.ImageNotFound, docker.errors.APIError):
                self.engine.images.remove(ref, force=True)

    def _get(self, container: Container) -> EngineContainer:
        return self.engine.containers.get(container.handle)

    def _label_filter(self) -> str:
        return f"{BOARD}={self._suffix}"

    def _container_name(self, spec: RunSpec) -> str:
        return f"rvconform-{spec.name}-{uuid.uuid4().hex[:8]}"

    def _ensure_network(self) -> str:
        """A network of this board's own, so containers reach each other by name."""
        if self._network is None:
            name = f"rvconform-{self._suffix}"
            self.engine.networks.create(name, driver="bridge", labels=self.labels)
            self._network = name
        return self._network


def _pull_failure(seen: ImageRef, platform: str, said: str) -> BoardError:
    """The error for a failed pull; a certificate the engine refused is named, with where its CA goes."""
    if "x509:" in said:
        return BoardError(f"local: the engine refused the TLS certificate of registry {seen.registry} when pulling "
                          f"{seen.pinned} for {platform}: {said}",
                          fix=f"give the CA that signed it with --registry-ca {seen.registry}=FILE (the local board "
                          f"puts it under {DOCKER_CERTS_D}/{seen.registry}/ for the run), or install it there")
    return BoardError(f"local: pull of {seen.pinned} for {platform} failed: {said}",
                      fix=f"check that the registry at {seen.registry} runs and answers, and has the image for this "
                      "platform")


def _tail(output: str | bytes | None) -> str:
    text = output.decode(errors="replace") if isinstance(output, bytes) else output or ""
    return text.strip()[-300:] or "(none)"
