"""Container runtimes on a remote board, driven over SSH: a docker-compatible CLI (docker, podman) or
containerd's ctr (plain, or k3s's embedded one). One interface, so the SSH board does not care which."""

from __future__ import annotations

import json
import math
import re
import shlex
import uuid
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, replace

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
    fetched_entry,
    start_failure_status,
)
from harness.boards.transport import SshTransport
from harness.boards.url import RUNTIMES
from harness.defaults import PULL_TIMEOUT
from harness.errors import BoardError, BoardUnreachable
from harness.labels import BOARD, ORIGIN, RUN
from harness.wait import Deadline, poll_until

NAMESPACE = "rvconform"
LOG_DIR = "/var/log/rvconform"
#: How long a task may take to go after SIGKILL.
KILL_WAIT = 30.0


class Runtime(ABC):
    """Operations the SSH board needs from a runtime. ``labels`` mark everything it creates."""

    def __init__(self, transport: SshTransport, labels: dict[str, str]) -> None:
        self.transport = transport
        self.labels = labels

    @abstractmethod
    def pull(self, ref: str, platform: str, plain_http: bool, timeout: float = PULL_TIMEOUT) -> Pulled:
        """Pull ``ref`` for ``platform``; CommandTimeout (what it printed so far) after ``timeout`` seconds."""

    @abstractmethod
    def remove_image(self, ref: str, force: bool = True) -> None:
        """Remove the name ``ref``; without ``force`` an image a container still uses keeps its last name
        (podman's ``rmi -f`` removes the containers of every run that use the image)."""

    @abstractmethod
    def start(self, ref: str, name: str, spec: RunSpec) -> None: ...

    @abstractmethod
    def run_once(self, ref: str, name: str, spec: RunSpec, timeout: float) -> CommandResult: ...

    @abstractmethod
    def exec(self, name: str, command: tuple[str, ...], env: dict[str, str], user: str | None,
             timeout: float) -> CommandResult:
        """``command`` inside the running container ``name``; BoardError when it is not there or not running."""

    @abstractmethod
    def restart(self, name: str, timeout: float) -> None:
        """Stop the container (SIGTERM, SIGKILL after ``timeout``) and start the same one again."""

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

    @abstractmethod
    def containers_of(self, origin: str) -> dict[str, str]:
        """Every container on the board labelled with ``origin`` (any run): its name or id -> its run label."""

    def networks(self) -> list[str]:
        """The names of the board's networks (a runtime without networks of its own has none)."""
        return []

    def remove_network(self, name: str) -> None:  # noqa: B027 - a runtime without networks has none to remove
        """Remove the network ``name`` (after its containers)."""


#: How the runtimes say a container is not there or not running (docker, podman, ctr).
_NO_CONTAINER = re.compile(r"no such container|is not running|container \"[^\"]*\" in namespace .*not found|"
                           r"no running task|no container with name or ID", re.IGNORECASE)
#: Time a restart may take beyond its grace period: the start, under emulation.
RESTART_SLACK = 60.0


def _env_args(flag: str, env: dict[str, str]) -> list[str]:
    return [arg for key, value in env.items() for arg in (flag, f"{key}={value}")]


@dataclass(frozen=True)
class EnvPassing:
    """How a runtime command gets a container's environment: ``args`` on its command line, ``stdin`` as its input."""

    args: list[str]
    stdin: bytes | None


def pass_env(flag: str, env: dict[str, str]) -> EnvPassing:
    """``env`` as an env file on the command's stdin (``--env-file /dev/stdin``: docker, podman and ctr run all
    read one KEY=VALUE a line), so the values stay off the board's process list, which every user of the board
    can read. A value with a line break cannot be one line of an env file: it goes on the command line (``flag``)."""
    in_file = {key: value for key, value in env.items() if "\n" not in value and "\r" not in value}
    on_line = {key: value for key, value in env.items() if key not in in_file}
    stdin = "".join(f"{key}={value}\n" for key, value in in_file.items()).encode() if in_file else None
    return EnvPassing([*(["--env-file", "/dev/stdin"] if in_file else []), *_env_args(flag, on_line)], stdin)


def _shell_status(result: CommandResult, failure_statuses: tuple[int, ...]) -> CommandResult:
    """``result`` with the shell's 127/126 when the runtime could not start the process, the runtime's
    message on stderr (the docker CLI prints it on stdout); runtimes give that case their own numbers
    (``failure_statuses``)."""
    status = start_failure_status(result.output) if result.exit_status in failure_statuses else None
    if status is None:
        return result
    return CommandResult(status, "", result.output.replace("\r\n", "\n"))


class DockerCli(Runtime):
    """docker or podman: containers on a network of their own, ports published on the board's 127.0.0.1."""

    def __init__(self, transport: SshTransport, labels: dict[str, str], program: str, network: str) -> None:
        super().__init__(transport, labels)
        self.program, self.network = program, network
        self._network_made = False
        self._platforms: dict[str, str] = {}

    def _labels(self) -> list[str]:
        return [arg for key, value in self.labels.items() for arg in ("--label", f"{key}={value}")]

    def pull(self, ref: str, platform: str, plain_http: bool, timeout: float = PULL_TIMEOUT,
             client_args: Sequence[str] = (), pull_args: Sequence[str] = ()) -> Pulled:
        """Pull ``ref``; ``client_args`` go before ``pull`` (docker's --config DIR), ``pull_args`` after it
        (podman's --cert-dir, --authfile): paths of files on the board, never a secret."""
        # docker trusts a plain-HTTP registry on loopback by itself; podman must be told.
        insecure = ["--tls-verify=false"] if plain_http and self.program == "podman" else []
        self.transport.check([self.program, *client_args, "pull", *insecure, *pull_args, "--platform", platform,
                              ref], timeout=timeout)
        self._platforms[ref] = platform
        # The whole JSON rather than a template: podman's image has no Variant field and its template fails.
        return docker_image(json.loads(self.transport.check([self.program, "image", "inspect", ref]))[0], ref)

    def remove_image(self, ref: str, force: bool = True) -> None:
        self.transport.run([self.program, "rmi", *(["-f"] if force else []), ref])

    def _ensure_network(self) -> None:
        if not self._network_made:
            self.transport.check([self.program, "network", "create", *self._labels(), self.network])
            self._network_made = True

    def _create_args(self, name: str, spec: RunSpec, environment: EnvPassing) -> list[str]:
        self._ensure_network()
        args = ["--name", name, "--network", self.network, *self._labels(), *environment.args]
        if spec.user:
            args += ["--user", spec.user]
        if spec.replace_entrypoint:
            # The CLI takes one word (`""` clears it); the rest of a longer entrypoint goes before the command.
            args += ["--entrypoint", spec.entrypoint[0] if spec.entrypoint else ""]
        return args

    def _image_and_command(self, ref: str, spec: RunSpec) -> list[str]:
        # The platform it was pulled for: else docker warns on the container's stderr that it is not the host's.
        platform = ["--platform", self._platforms[ref]] if ref in self._platforms else []
        words = [*spec.entrypoint[1:], *(spec.command or ())] if spec.replace_entrypoint else [*(spec.command or ())]
        return [*platform, ref, *words]

    def start(self, ref: str, name: str, spec: RunSpec) -> None:
        ports = [arg for port in spec.ports for arg in ("-p", f"127.0.0.1::{port}")]
        environment = pass_env("-e", spec.env)
        self.transport.check([self.program, "run", "-d", *self._create_args(name, spec, environment), *ports,
                              *self._image_and_command(ref, spec)], stdin=environment.stdin)

    def run_once(self, ref: str, name: str, spec: RunSpec, timeout: float) -> CommandResult:
        environment = pass_env("-e", spec.env)
        argv = [self.program, "run", "--rm", *self._create_args(name, spec, environment),
                *self._image_and_command(ref, spec)]
        try:
            result = self.transport.run(argv, timeout, environment.stdin)
        except BoardUnreachable:
            raise
        except BoardError:
            self.remove(name)
            raise
        return _shell_status(result, (125, 126, 127))

    def exec(self, name: str, command: tuple[str, ...], env: dict[str, str], user: str | None,
             timeout: float) -> CommandResult:
        environment = pass_env("-e", env)
        argv = [self.program, "exec", *environment.args, *(["--user", user] if user else []), name, *command]
        result = _shell_status(self.transport.run(argv, timeout, environment.stdin), (125, 126, 127))
        if result.exit_status not in (0, 126, 127) and _NO_CONTAINER.search(result.stderr):
            raise BoardError(f"{self.transport.board}: cannot exec in {name}: {result.stderr.strip()[-300:]}",
                             fix="exec into a running container the board started and has not removed")
        return result

    def restart(self, name: str, timeout: float) -> None:
        grace = max(1, math.ceil(timeout))
        result = self.transport.run([self.program, "restart", "-t", str(grace), name], grace + RESTART_SLACK)
        if result.exit_status != 0:
            raise BoardError(f"{self.transport.board}: restart of {name} failed: {result.output.strip()[-400:]}",
                             fix="restart a container the board started and has not removed; see its logs")

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
            self.remove_network(self.network)

    def containers_of(self, origin: str) -> dict[str, str]:
        ids = self.transport.run([self.program, "ps", "-aq", "--no-trunc", "--filter",
                                  f"label={ORIGIN}={origin}"]).stdout.split()
        if not ids:
            return {}
        described = self.transport.run([self.program, "inspect", "--format",
                                        f'{{{{.Id}}}} {{{{index .Config.Labels "{RUN}"}}}}', *ids])
        return dict(_pair(line) for line in described.stdout.splitlines() if line.strip())

    def networks(self) -> list[str]:
        return self.transport.run([self.program, "network", "ls", "--format", "{{.Name}}"]).stdout.split()

    def remove_network(self, name: str) -> None:
        self.transport.run([self.program, "network", "rm", name])


class Containerd(Runtime):
    """containerd's ctr (or ``k3s ctr``): host networking, logs to a file on the board."""

    def __init__(self, transport: SshTransport, labels: dict[str, str], prefix: tuple[str, ...]) -> None:
        super().__init__(transport, labels)
        self.ctr = [*prefix, "-n", NAMESPACE]
        self._exits: dict[str, str] = {}

    def pull(self, ref: str, platform: str, plain_http: bool, timeout: float = PULL_TIMEOUT) -> Pulled:
        http = ["--plain-http"] if plain_http else []
        self.transport.check([*self.ctr, "images", "pull", "--platform", platform, *http, ref], timeout=timeout)
        return self._describe(ref, platform)

    def pull_with_hosts(self, name: str, hosts_dir: str, platform: str, timeout: float = PULL_TIMEOUT) -> Pulled:
        """Pull ``name`` (e.g. docker.io/riscv64/redis:7.0.15) as containerd resolves it through the
        hosts.toml files under ``hosts_dir`` (mirrors, endpoints, TLS), the way a node configured so would."""
        self.transport.run([*self.ctr, "images", "rm", name])
        self.transport.check([*self.ctr, "images", "pull", "--hosts-dir", hosts_dir, "--platform", platform, name],
                             timeout=timeout)
        return self._describe(name, platform)

    def _describe(self, ref: str, platform: str) -> Pulled:
        pulled = ctr_image(self.transport.check([*self.ctr, "images", "ls"]), ref)
        if pulled is None:
            raise BoardError(f"{ref} is not listed by ctr after its pull")
        if not pulled.digest:
            return pulled
        try:  # a courtesy for telling index entries apart: a pull that worked is not failed for it
            return self._with_config(pulled, platform)
        except (BoardError, ValueError):
            return pulled

    def _with_config(self, pulled: Pulled, platform: str) -> Pulled:
        """``pulled`` with the config digest of what it brought: of that manifest, or of the entry of an index
        that containerd has for ``platform`` (read from its content store, not assumed); an index's row in
        `ctr images ls` lists every platform, so the entry's platform replaces it."""
        top = json.loads(self.transport.check([*self.ctr, "content", "get", pulled.digest or ""]))
        if "manifests" in top:
            found = fetched_entry(top, set(self.transport.check([*self.ctr, "content", "ls", "-q"]).split()), platform)
            if found is None:
                return replace(pulled, platform="")
            pulled = replace(pulled, platform=found[1])
            top = json.loads(self.transport.check([*self.ctr, "content", "get", found[0]]))
        return replace(pulled, config_digest=(top.get("config") or {}).get("digest"))

    def remove_image(self, ref: str, force: bool = True) -> None:
        self.transport.run([*self.ctr, "images", "rm", ref])  # a container keeps its snapshot either way

    def _run_args(self, spec: RunSpec, environment: EnvPassing) -> list[str]:
        args = ["--net-host", *(arg for k, v in self.labels.items() for arg in ("--label", f"{k}={v}"))]
        args += environment.args
        return [*args, "--user", spec.user] if spec.user else args

    def _log_uri(self, name: str) -> str:
        return f"--log-uri=file://{LOG_DIR}/{name}.log"

    def start(self, ref: str, name: str, spec: RunSpec) -> None:
        self.transport.check(["mkdir", "-p", LOG_DIR])
        environment = pass_env("--env", spec.env)
        self._check_ctr([*self.ctr, "run", "-d", self._log_uri(name), *self._run_args(spec, environment), ref, name,
                         *(spec.process or ())], stdin=environment.stdin)

    def run_once(self, ref: str, name: str, spec: RunSpec, timeout: float) -> CommandResult:
        # Without -d, ctr passes the container's stdout and stderr through as its own: apart.
        environment = pass_env("--env", spec.env)
        argv = [*self.ctr, "run", "--rm", *self._run_args(spec, environment), ref, name, *(spec.process or ())]
        try:
            result = self.transport.run(argv, timeout, environment.stdin)
        except BoardUnreachable:
            raise
        except BoardError:
            self.remove(name)  # --rm happens only when ctr sees the end
            raise
        self._refuse_unknown_flag(result)
        return _shell_status(result, (1,))

    def exec(self, name: str, command: tuple[str, ...], env: dict[str, str], user: str | None,
             timeout: float) -> CommandResult:
        """ctr tasks exec; it has no flag for the environment (ctr 1.6 to 2.1), so ``env`` is given
        through the image's ``env`` program (``env K=V COMMAND``), and an image without one says so."""
        exec_id = f"rvconform-{uuid.uuid4().hex[:12]}"
        wrapped = ("env", *(f"{key}={value}" for key, value in env.items()), *command) if env else command
        argv = [*self.ctr, "tasks", "exec", "--exec-id", exec_id, *(["--user", user] if user else []), name,
                *wrapped]
        try:
            result = self.transport.run(argv, timeout)
        except BoardUnreachable:
            raise
        except BoardError:
            self.transport.run([*self.ctr, "tasks", "kill", "--exec-id", exec_id, "-s", "SIGKILL", name])
            raise
        self._refuse_unknown_flag(result)
        if result.exit_status != 0 and result.stderr.startswith("ctr: ") and _NO_CONTAINER.search(result.stderr):
            raise BoardError(f"{self.transport.board}: cannot exec in {name}: {result.stderr.strip()[-300:]}",
                             fix="exec into a running container the board started and has not removed")
        if env and result.exit_status != 0 and re.search(r'exec: "env": .*not found', result.stderr):
            raise BoardError(f"{self.transport.board}: cannot set environment variables for an exec in {name}: "
                             "ctr tasks exec has no --env, and the image has no `env` program to carry them",
                             fix="drop `env` from the exec, or add an `env` program to the image")
        return _shell_status(result, (1,))

    def restart(self, name: str, timeout: float) -> None:
        """kill SIGTERM, wait ``timeout`` for the task to stop (then SIGKILL), delete the task and start a
        new one of the same container (same snapshot), its output appended to the same log file."""
        status = self._task_status(name)
        if status is None and name not in self.transport.run([*self.ctr, "containers", "ls", "-q"]).stdout.split():
            raise BoardError(f"{self.transport.board}: cannot restart {name}: the container is not there (removed?)",
                             fix="restart a container the board started and has not removed")
        if status is not None:
            self._stop(name, timeout)
            self.transport.run([*self.ctr, "tasks", "delete", name])
        self._exits.pop(name, None)
        self._check_ctr([*self.ctr, "tasks", "start", "-d", self._log_uri(name), name])

    def _stop(self, name: str, timeout: float) -> None:
        for signal_name, grace in (("SIGTERM", timeout), ("SIGKILL", KILL_WAIT)):
            if self._task_status(name) in CTR_LIVE_STATES:
                self.transport.run([*self.ctr, "tasks", "kill", "-s", signal_name, name])
            if poll_until(lambda: self._task_status(name) not in CTR_LIVE_STATES, Deadline(grace), interval=0.5):
                return
        raise BoardError(f"{self.transport.board}: {name} did not stop within {timeout:.0f} s of SIGTERM and "
                         f"{KILL_WAIT:.0f} s of SIGKILL (task {self._task_status(name)})",
                         fix="see the board's containerd log; the task may be stuck in the kernel")

    def _task_status(self, name: str) -> str | None:
        return ctr_task_status(self.transport.check([*self.ctr, "tasks", "ls"]), name)

    def _check_ctr(self, argv: list[str], stdin: bytes | None = None) -> None:
        result = self.transport.run(argv, stdin=stdin)
        self._refuse_unknown_flag(result)
        if result.exit_status != 0:
            # The subcommand only: the process's arguments may carry secrets.
            what = shlex.join(argv[len(self.ctr):len(self.ctr) + 2])
            raise BoardError(f"{self.transport.board}: `ctr {what} ...` exited {result.exit_status}: "
                             f"{result.output.strip()[-800:]}")

    def _refuse_unknown_flag(self, result: CommandResult) -> None:
        flag = re.search(r"flag provided but not defined: (\S+)", result.stderr)
        if result.exit_status != 0 and flag:
            raise BoardError(f"{self.transport.board}: this board's ctr has no {flag.group(1)} flag",
                             fix="use containerd 1.7 or later on the board (ctr run --user came with it)")

    def service_port(self, name: str, port: int) -> int:
        return port

    def peer_address(self, name: str, port: int) -> tuple[str, int]:
        return "127.0.0.1", port

    def exited(self, name: str) -> str | None:
        if name in self._exits:
            return self._exits[name]
        status = self._task_status(name)
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

    def containers_of(self, origin: str) -> dict[str, str]:
        listing = self.transport.run([*self.ctr, "containers", "ls", "-q", f'labels."{ORIGIN}"=={origin}'])
        found = {}
        for name in listing.stdout.split():
            info = self.transport.run([*self.ctr, "containers", "info", name])
            if info.exit_status == 0:  # else removed meanwhile
                found[name] = (json.loads(info.stdout).get("Labels") or {}).get(RUN, "")
        return found


def _pair(line: str) -> tuple[str, str]:
    """``ID RUN`` (RUN may be empty) as a pair."""
    handle, _, run = line.strip().partition(" ")
    return handle, run.strip()


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
