"""Container runtimes on a remote board, driven over SSH: a docker-compatible CLI (docker, podman) or
containerd's ctr (plain, or k3s's embedded one). One interface, so the SSH board does not care which."""

from __future__ import annotations

import json
import shlex
from abc import ABC, abstractmethod

from harness.boards.base import CommandResult, RunSpec
from harness.boards.runtime_output import (
    CTR_LIVE_STATES,
    Pulled,
    ctr_exit_code,
    ctr_image,
    ctr_task_status,
    docker_exit,
    docker_image,
    docker_port,
)
from harness.boards.transport import SshTransport
from harness.boards.url import RUNTIMES
from harness.errors import BoardError
from harness.labels import BOARD

NAMESPACE = "rvconform"
LOG_DIR = "/var/log/rvconform"


class Runtime(ABC):
    """Operations the SSH board needs from a runtime. ``labels`` mark everything it creates."""

    def __init__(self, transport: SshTransport, labels: dict[str, str]) -> None:
        self.transport = transport
        self.labels = labels

    @abstractmethod
    def pull(self, ref: str, platform: str, plain_http: bool) -> Pulled: ...

    @abstractmethod
    def remove_image(self, ref: str) -> None: ...

    @abstractmethod
    def start(self, ref: str, name: str, spec: RunSpec) -> None: ...

    @abstractmethod
    def run_once(self, ref: str, name: str, spec: RunSpec, timeout: float) -> CommandResult: ...

    @abstractmethod
    def service_port(self, name: str, port: int) -> int:
        """The board-side port on 127.0.0.1 where the container's ``port`` is reachable."""

    @abstractmethod
    def peer_address(self, name: str, port: int) -> tuple[str, int]: ...

    @abstractmethod
    def exited(self, name: str) -> str | None: ...

    @abstractmethod
    def logs(self, name: str) -> str: ...

    @abstractmethod
    def remove(self, name: str) -> None: ...

    @abstractmethod
    def cleanup(self) -> None:
        """Remove every container and network carrying this runtime's labels."""


class DockerCli(Runtime):
    """docker or podman: containers on a network of their own, ports published on the board's 127.0.0.1."""

    def __init__(self, transport: SshTransport, labels: dict[str, str], program: str, network: str) -> None:
        super().__init__(transport, labels)
        self.program, self.network = program, network
        self._network_made = False

    def _labels(self) -> list[str]:
        return [arg for key, value in self.labels.items() for arg in ("--label", f"{key}={value}")]

    def pull(self, ref: str, platform: str, plain_http: bool) -> Pulled:
        # docker trusts a plain-HTTP registry on loopback by itself; podman must be told.
        insecure = ["--tls-verify=false"] if plain_http and self.program == "podman" else []
        self.transport.check([self.program, "pull", *insecure, "--platform", platform, ref], timeout=600)
        # The whole JSON rather than a template: podman's image has no Variant field and its template fails.
        return docker_image(json.loads(self.transport.check([self.program, "image", "inspect", ref]))[0])

    def remove_image(self, ref: str) -> None:
        self.transport.run([self.program, "rmi", "-f", ref])

    def _ensure_network(self) -> None:
        if not self._network_made:
            self.transport.check([self.program, "network", "create", *self._labels(), self.network])
            self._network_made = True

    def _create_args(self, name: str, spec: RunSpec) -> list[str]:
        self._ensure_network()
        args = ["--name", name, "--network", self.network, *self._labels()]
        for key, value in spec.env.items():
            args += ["-e", f"{key}={value}"]
        return args

    def start(self, ref: str, name: str, spec: RunSpec) -> None:
        ports = [arg for port in spec.ports for arg in ("-p", f"127.0.0.1::{port}")]
        command = list(spec.command or ())
        self.transport.check([self.program, "run", "-d", *self._create_args(name, spec), *ports, ref, *command])

    def run_once(self, ref: str, name: str, spec: RunSpec, timeout: float) -> CommandResult:
        command = list(spec.command or ())
        return self.transport.run([self.program, "run", "--rm", *self._create_args(name, spec), ref, *command],
                                  timeout)

    def service_port(self, name: str, port: int) -> int:
        mapped = docker_port(self.transport.check([self.program, "port", name, f"{port}/tcp"]))
        if mapped is None:
            raise BoardError(f"port {port} of {name} is not published")
        return mapped

    def peer_address(self, name: str, port: int) -> tuple[str, int]:
        return name, port

    def exited(self, name: str) -> str | None:
        result = self.transport.run([self.program, "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name])
        if result.exit_status != 0:
            return "was removed"
        return docker_exit(result.stdout)

    def logs(self, name: str) -> str:
        return self.transport.run([self.program, "logs", name]).output

    def remove(self, name: str) -> None:
        self.transport.run([self.program, "rm", "-f", name])

    def cleanup(self) -> None:
        key, value = BOARD, self.labels[BOARD]
        ids = self.transport.run([self.program, "ps", "-aq", "--filter", f"label={key}={value}"]).stdout.split()
        if ids:
            self.transport.run([self.program, "rm", "-f", *ids])
        if self._network_made:
            self.transport.run([self.program, "network", "rm", self.network])


class Containerd(Runtime):
    """containerd's ctr (or ``k3s ctr``): host networking, logs to a file on the board."""

    def __init__(self, transport: SshTransport, labels: dict[str, str], prefix: tuple[str, ...]) -> None:
        super().__init__(transport, labels)
        self.ctr = [*prefix, "-n", NAMESPACE]
        self._exits: dict[str, str] = {}

    def pull(self, ref: str, platform: str, plain_http: bool) -> Pulled:
        http = ["--plain-http"] if plain_http else []
        self.transport.check([*self.ctr, "images", "pull", "--platform", platform, *http, ref], timeout=600)
        return self._describe(ref)

    def pull_with_hosts(self, name: str, hosts_dir: str, platform: str) -> Pulled:
        """Pull ``name`` (e.g. docker.io/riscv64/redis:7.0.15) as containerd resolves it through the
        hosts.toml files under ``hosts_dir`` (mirrors, endpoints, TLS), the way a node configured so would."""
        self.transport.run([*self.ctr, "images", "rm", name])
        self.transport.check([*self.ctr, "images", "pull", "--hosts-dir", hosts_dir, "--platform", platform, name],
                             timeout=600)
        return self._describe(name)

    def _describe(self, ref: str) -> Pulled:
        pulled = ctr_image(self.transport.check([*self.ctr, "images", "ls"]), ref)
        if pulled is None:
            raise BoardError(f"{ref} is not listed by ctr after its pull")
        return pulled

    def remove_image(self, ref: str) -> None:
        self.transport.run([*self.ctr, "images", "rm", ref])

    def _run_args(self, name: str, spec: RunSpec) -> list[str]:
        args = ["--net-host", *(arg for k, v in self.labels.items() for arg in ("--label", f"{k}={v}"))]
        for key, value in spec.env.items():
            args += ["--env", f"{key}={value}"]
        return args

    def start(self, ref: str, name: str, spec: RunSpec) -> None:
        self.transport.check(["mkdir", "-p", LOG_DIR])
        log = f"--log-uri=file://{LOG_DIR}/{name}.log"
        self.transport.check([*self.ctr, "run", "-d", log, *self._run_args(name, spec), ref, name,
                              *(spec.process or ())])

    def run_once(self, ref: str, name: str, spec: RunSpec, timeout: float) -> CommandResult:
        return self.transport.run([*self.ctr, "run", "--rm", *self._run_args(name, spec), ref, name,
                                   *(spec.process or ())], timeout)

    def service_port(self, name: str, port: int) -> int:
        return port

    def peer_address(self, name: str, port: int) -> tuple[str, int]:
        return "127.0.0.1", port

    def exited(self, name: str) -> str | None:
        if name in self._exits:
            return self._exits[name]
        status = ctr_task_status(self.transport.check([*self.ctr, "tasks", "ls"]), name)
        if status in CTR_LIVE_STATES:
            return None
        if status is None:
            return "was removed"
        # ctr has no `tasks wait`; deleting a stopped task is where it tells the exit code (when not 0).
        deleted = self.transport.run([*self.ctr, "tasks", "delete", name])
        self._exits[name] = f"exited with code {ctr_exit_code(deleted.output)}"
        return self._exits[name]

    def logs(self, name: str) -> str:
        return self.transport.run(["cat", f"{LOG_DIR}/{name}.log"]).output

    def remove(self, name: str) -> None:
        self.transport.run([*self.ctr, "tasks", "kill", "-s", "SIGKILL", name])
        self.transport.run([*self.ctr, "tasks", "rm", "-f", name])
        self.transport.run([*self.ctr, "containers", "rm", name])
        self.transport.run(["rm", "-f", f"{LOG_DIR}/{name}.log"])

    def cleanup(self) -> None:
        key, value = BOARD, self.labels[BOARD]
        listing = self.transport.run([*self.ctr, "containers", "ls", "-q", f'labels."{key}"=={value}'])
        for name in listing.stdout.split():
            self.remove(name)


def make_runtime(name: str, transport: SshTransport, labels: dict[str, str], network: str) -> Runtime:
    """The runtime called ``name`` on the board behind ``transport``."""
    if name in ("docker", "podman"):
        return DockerCli(transport, labels, name, network)
    if name == "ctr":
        return Containerd(transport, labels, ("ctr",))
    if name == "k3s":
        return Containerd(transport, labels, ("k3s", "ctr"))
    raise BoardError(f"unknown runtime {name!r}", fix=f"use one of: {', '.join(RUNTIMES)}")


def detect_runtime(transport: SshTransport) -> str:
    """The first runtime found on the board, in the order docker, podman, k3s, ctr."""
    probe = " ".join(f"command -v {shlex.quote(name)} >/dev/null && echo {name};" for name in
                     ("docker", "podman", "k3s", "ctr"))
    found = transport.run(["sh", "-c", probe]).stdout.split()
    if not found:
        raise BoardError(f"{transport.board}: no container runtime found (looked for docker, podman, k3s, ctr)",
                         fix="install one, or name it: ?runtime=docker|podman|ctr|k3s")
    return found[0]
