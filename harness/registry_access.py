"""How the harness reaches each registry: scheme, the CA it trusts, and credentials.

Credentials come, first found wins, from the run's own registry (files in the run directory), from
``RVCONFORM_REGISTRY_USERNAME`` / ``RVCONFORM_REGISTRY_PASSWORD``, or from the docker client config
(``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``, its ``auths``). A password is kept in
memory and in 0600 files only; ``Credentials`` never shows it in a repr.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import RegistryError

USERNAME_ENV = "RVCONFORM_REGISTRY_USERNAME"
PASSWORD_ENV = "RVCONFORM_REGISTRY_PASSWORD"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")


@dataclass(frozen=True)
class Credentials:
    """A username and password for one registry, and where they came from (for messages)."""

    username: str
    password: str = field(repr=False)
    source: str = ""

    def auth_config(self) -> dict[str, str]:
        """The docker engine's per-request auth (X-Registry-Auth): nothing is written to disk."""
        return {"username": self.username, "password": self.password}


#: Seconds a registry may take to answer one request of the harness (headers, or the next bytes of a body).
ANSWER_TIMEOUT = 60.0


@dataclass(frozen=True)
class RegistryAccess:
    """Everything needed to talk to one registry (``host`` is HOST:PORT as in image references)."""

    host: str
    scheme: str = "https"
    ca_file: Path | None = None
    credentials: Credentials | None = None

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"


@dataclass
class AccessBook:
    """What the run knows about registries: CA files (``None`` key: for every registry), schemes the user
    stated (--registry URL, --registry-http, a CA for one registry), and registries whose access is fully
    known (the run's own)."""

    ca_files: dict[str | None, Path] = field(default_factory=dict)
    schemes: dict[str, str] = field(default_factory=dict)
    known: dict[str, RegistryAccess] = field(default_factory=dict)
    #: Seconds a registry may stay silent on one request before it counts as not answering.
    answer_timeout: float = ANSWER_TIMEOUT

    def configure(self, ca_files: dict[str | None, Path], plain_http: tuple[str, ...], registry_url: str | None,
                  answer_timeout: float = ANSWER_TIMEOUT) -> None:
        """What the options say: a CA for one registry means it speaks TLS; --registry-http and an
        ``http://`` --registry mean plain HTTP; an ``https://`` --registry means TLS; how long a registry may
        stay silent (never longer than ANSWER_TIMEOUT: a pull's deadline may be longer, one answer's is not)."""
        self.answer_timeout = min(answer_timeout, ANSWER_TIMEOUT)
        self.ca_files.update(ca_files)
        self.schemes.update({host: "https" for host in ca_files if host})
        self.schemes.update({host: "http" for host in plain_http})
        if registry_url and "://" in registry_url:
            scheme, _, rest = registry_url.partition("://")
            self.schemes[rest.split("/")[0]] = scheme

    def remember(self, access: RegistryAccess) -> None:
        """Record a registry whose scheme, CA and credentials are fully known (e.g. the spawned one)."""
        self.known[access.host] = access

    def access(self, host: str, scheme: str | None = None) -> RegistryAccess:
        """The access for ``host``: a remembered one, else assembled from the options, environment and
        docker config. ``scheme`` (from a URL the user gave) wins over the default guess."""
        if host in self.known:
            return self.known[host]
        if scheme is None:
            loopback = host.rsplit(":", 1)[0] in LOOPBACK_HOSTS
            scheme = self.schemes.get(host, "http" if loopback else "https")
        ca_file = self.ca_files.get(host, self.ca_files.get(None)) if scheme == "https" else None
        return RegistryAccess(host, scheme, ca_file, find_credentials(host))


#: The process's book, filled from the options when the plugin configures and when the run's registry opens.
ACCESS = AccessBook()


def parse_ca_options(values: list[str]) -> dict[str | None, Path]:
    """``--registry-ca FILE`` (every registry) or ``--registry-ca HOST:PORT=FILE``; each file must exist."""
    ca_files: dict[str | None, Path] = {}
    for value in values:
        host, sep, path = value.rpartition("=") if "=" in value else ("", "", value)
        if sep and not host:
            raise RegistryError(f"--registry-ca {value!r} names no registry before '='",
                                fix="write --registry-ca FILE or --registry-ca HOST:PORT=FILE")
        if not Path(path).is_file():
            raise RegistryError(f"--registry-ca {value!r}: no such file {path}",
                                fix="give the PEM file of the CA that signed the registry's certificate")
        ca_files[host or None] = Path(path)
    return ca_files


def find_credentials(host: str) -> Credentials | None:
    """Credentials for ``host`` from the environment, else the docker client config; None when neither has."""
    username, password = os.environ.get(USERNAME_ENV), os.environ.get(PASSWORD_ENV)
    if username and password:
        return Credentials(username, password, f"${USERNAME_ENV}/${PASSWORD_ENV}")
    if bool(username) != bool(password):
        raise RegistryError(f"only one of {USERNAME_ENV} and {PASSWORD_ENV} is set",
                            fix="set both, or neither")
    return docker_config_credentials(host)


def docker_config_path() -> Path:
    """The docker client config: ``$DOCKER_CONFIG/config.json``, else ``~/.docker/config.json``."""
    directory = os.environ.get("DOCKER_CONFIG")
    return Path(directory) / "config.json" if directory else Path.home() / ".docker" / "config.json"


def docker_config_credentials(host: str, path: Path | None = None) -> Credentials | None:
    """The ``auths`` entry for ``host`` (base64 ``auth`` or username/password); RegistryError when only a
    credential helper holds them (the harness does not run helpers) or the file is not JSON."""
    path = path or docker_config_path()
    try:
        config = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise RegistryError(f"the docker client config {path} cannot be read: {error}",
                            fix="fix the file, or point DOCKER_CONFIG at another directory") from None
    entry = _auths_entry(config.get("auths") or {}, host)
    if entry:
        return _entry_credentials(entry, host, path)
    helper = (config.get("credHelpers") or {}).get(host) or config.get("credsStore")
    if helper:
        raise RegistryError(
            f"the credentials for {host} are in the docker credential helper '{helper}' ({path}); "
            "rvconform does not run credential helpers",
            fix=f"set {USERNAME_ENV} and {PASSWORD_ENV}, or use a DOCKER_CONFIG whose config.json has an "
            f"'auths' entry for {host}")
    return None


def _auths_entry(auths: dict[str, dict[str, str]], host: str) -> dict[str, str] | None:
    for key, entry in auths.items():
        bare = key.removeprefix("https://").removeprefix("http://").split("/")[0]
        if bare == host and (entry.get("auth") or entry.get("username")):
            return entry
    return None


def _entry_credentials(entry: dict[str, str], host: str, path: Path) -> Credentials:
    source = f"{path} auths[{host}]"
    if entry.get("username") and entry.get("password"):
        return Credentials(entry["username"], entry["password"], source)
    try:
        username, sep, password = base64.b64decode(entry.get("auth", ""), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        sep, username, password = "", "", ""
    if not sep or not username:
        raise RegistryError(f"{source}: 'auth' is not base64 of USERNAME:PASSWORD",
                            fix=f"run `docker login {host}` again, or fix the entry")
    return Credentials(username, password, source)
