"""Registries: one we spawn (the distribution registry on 127.0.0.1) or one the user names."""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from harness.cache import cache_dir
from harness.errors import ReadinessTimeout, RegistryError, RegistryUnreachable
from harness.ports import free_port
from harness.registry_access import ACCESS, RegistryAccess
from harness.registry_client import RegistryClient
from harness.registry_security import RegistrySecurity, read_credentials
from harness.wait import Deadline, wait_until

START_TIMEOUT = 20.0


def _config(storage: Path, address: str, port: int, security: RegistrySecurity) -> str:
    sections = security.config()
    http: dict[str, Any] = {"addr": f"{address}:{port}", "headers": {"X-Content-Type-Options": ["nosniff"]}}
    if "tls" in sections:
        http["tls"] = sections["tls"]
    config: dict[str, Any] = {
        "version": 0.1, "log": {"level": "info"},
        "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
        "http": http,
    }
    if "auth" in sections:
        config["auth"] = sections["auth"]
    import yaml  # loaded when a registry is spawned: a run with --image or --registry never needs it

    return yaml.safe_dump(config, sort_keys=False)


@dataclass(frozen=True)
class Registry:
    """A registry as the harness sees it.

    ``host`` is what image references start with (``127.0.0.1:5000``); boards that see the registry
    at another address (a VM sees the host's loopback at 10.0.2.2) translate it themselves.
    """

    url: str
    log_path: str | None = None
    pid: int | None = None
    ca_file: str | None = None
    credentials_file: str | None = None

    @property
    def host(self) -> str:
        return urlsplit(self.url).netloc

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or (443 if parts.scheme == "https" else 80)

    def access(self) -> RegistryAccess:
        """How to reach it: the run's CA and credentials for a spawned one, else what the options say."""
        if not (self.ca_file or self.credentials_file):
            return ACCESS.access(self.host, urlsplit(self.url).scheme)
        credentials = read_credentials(Path(self.credentials_file)) if self.credentials_file else None
        return RegistryAccess(self.host, urlsplit(self.url).scheme, Path(self.ca_file) if self.ca_file else None,
                              credentials)

    def client(self) -> RegistryClient:
        return RegistryClient(self.url, self.access())

    def describe(self) -> str:
        """One line for the report header: where the run's images went and how that registry was secured
        (never a secret: the password lives only in its 0600 file)."""
        if self.pid is None:
            return f"{self.url}, given with --registry"
        security = [*(["TLS with a CA made for this run"] if self.ca_file else []),
                    *(["an htpasswd login made for this run"] if self.credentials_file else [])]
        return f"{self.url}, spawned for this run" + (f" ({'; '.join(security)})" if security else "")


def external_registry(url: str) -> Registry:
    """A registry that already runs, e.g. a lab registry; checked to answer within seconds."""
    if "://" not in url:
        url = f"http://{url}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise RegistryError(
            f"--registry {url!r} is not a registry base URL",
            fix="write it as http://HOST:PORT or https://HOST:PORT (no path)",
        )
    registry = Registry(url=f"{parts.scheme}://{parts.netloc}")
    registry.client().ping()
    return registry


def registry_binary() -> str | None:
    """The distribution registry executable (Debian's docker-registry package), if installed."""
    return shutil.which("docker-registry") or shutil.which("registry")


def shared_storage() -> tuple[Path, int] | None:
    """The cache's registry storage and a locked descriptor on it, or None while another run uses it.

    Kept between runs, so an unchanged image is found there and not pushed again. The lock goes to
    the registry process, so it is held exactly as long as that registry lives.
    """
    root = cache_dir("registry")
    fd = os.open(root / "in-use.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return root / "storage", fd


def spawn_registry(workdir: Path, attempts: int = 3, storage: tuple[Path, int] | None = None,
                   security: RegistrySecurity | None = None, address: str = "127.0.0.1",
                   ) -> tuple[Registry, subprocess.Popen[bytes]]:
    """Start the distribution registry on ``address`` (a local one; default 127.0.0.1) with an ephemeral port.

    Blobs go to ``storage`` (a directory and a lock descriptor handed to the registry process, see
    ``shared_storage``) or, without one, to ``workdir/storage``. ``security`` adds TLS and auth.
    """
    binary = registry_binary()
    if not binary:
        raise RegistryError(
            "the distribution registry (docker-registry) is not installed",
            fix="run scripts/setup-host (apt-get install docker-registry), or pass --registry URL",
        )
    last: RegistryError | None = None
    try:
        for attempt in range(attempts):
            try:
                return _spawn_once(binary, workdir, attempt, storage, security or RegistrySecurity(), address)
            except RegistryError as error:  # usually a port taken between choosing and binding it
                last = error
    finally:
        if storage:
            os.close(storage[1])
    assert last is not None
    raise last


def _spawn_once(binary: str, workdir: Path, attempt: int, shared: tuple[Path, int] | None,
                security: RegistrySecurity, address: str) -> tuple[Registry, subprocess.Popen[bytes]]:
    port = free_port(address)
    storage = shared[0] if shared else workdir / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "config.yml"
    config.write_text(_config(storage, address, port, security))
    log_path = workdir / f"registry-{attempt}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True, pass_fds=(shared[1],) if shared else (),
        )
    registry = Registry(url=f"{security.scheme}://{address}:{port}", log_path=str(log_path), pid=process.pid,
                        ca_file=str(security.tls.ca) if security.tls else None,
                        credentials_file=str(security.credentials_file) if security.credentials_file else None)
    try:
        wait_until(
            registry.client().ping, what=f"registry on {address}:{port}", deadline=Deadline(START_TIMEOUT),
            retry_on=(RegistryUnreachable,),  # a TLS or auth refusal will not go away by waiting
            alive=lambda: None if process.poll() is None else f"exited with code {process.returncode}",
            logs=log_path.read_text,
        )
    except ReadinessTimeout as error:
        _kill(process)
        raise RegistryError(f"the registry did not start: {error}") from None
    except RegistryError as error:
        _kill(process)
        raise RegistryError(f"the registry started but refuses the harness: {error}") from None
    except BaseException:
        _kill(process)
        raise
    return registry, process


def _kill(process: subprocess.Popen[bytes]) -> None:
    process.kill()
    process.wait()
