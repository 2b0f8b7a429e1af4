"""The way to an SSH board as the user's own ``ssh`` would go: their ssh_config (``~/.ssh/config``, or the
file ``RVCONFORM_SSH_CONFIG`` names) for Host aliases (HostName, Port, User), IdentityFile,
UserKnownHostsFile and ProxyJump (one hop). Values the board URL gives explicitly win over the config.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import paramiko

from harness.errors import BoardError

CONFIG_ENV = "RVCONFORM_SSH_CONFIG"
DEFAULT_USER = "root"
DEFAULT_KNOWN_HOSTS = ("~/.ssh/known_hosts", "~/.ssh/known_hosts2")
GLOBAL_KNOWN_HOSTS = ("/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2")


@dataclass(frozen=True)
class SshHop:
    """One SSH server on the way: the name as written (maybe a Host alias) and what it resolves to."""

    name: str
    hostname: str
    port: int
    user: str
    key_files: tuple[str, ...]

    @property
    def address(self) -> str:
        """``user@hostname:port``, for messages."""
        return f"{self.user}@{self.hostname}:{self.port}"


@dataclass(frozen=True)
class SshRoute:
    """The board, the jump host in front of it (if any), and the known_hosts files that vouch for both."""

    board: SshHop
    jump: SshHop | None
    known_hosts: tuple[Path, ...]


def config_path() -> Path | None:
    """The ssh_config to honour: ``$RVCONFORM_SSH_CONFIG``, else ``~/.ssh/config`` if there is one."""
    named = os.environ.get(CONFIG_ENV)
    if named:
        path = Path(named).expanduser()
        if not path.exists() or path.is_dir():  # /dev/null is fine, as for ssh -F
            raise BoardError(f"{CONFIG_ENV}={named}: no such file",
                             fix=f"point {CONFIG_ENV} at an ssh_config file, or unset it to use ~/.ssh/config")
        return path
    default = Path("~/.ssh/config").expanduser()
    return default if default.is_file() else None


def load_config(path: Path | None) -> paramiko.SSHConfig:
    """The parsed ssh_config at ``path`` (an empty one for None); BoardError naming a file that cannot be read."""
    if path is None:
        return paramiko.SSHConfig()
    try:
        return paramiko.SSHConfig.from_path(str(path))
    except (OSError, UnicodeDecodeError, paramiko.ConfigParseError) as error:
        raise BoardError(f"cannot read the ssh config {path}: {error}",
                         fix=f"fix the file, or set {CONFIG_ENV} to another one") from None


def resolve_route(host: str, user: str | None, port: int | None, key: str | None,
                  config: paramiko.SSHConfig) -> SshRoute:
    """Where ``host`` (a name or a Host alias) leads under ``config``; ``user``, ``port`` and ``key``, when
    given, win over it."""
    found = config.lookup(host)
    board = _hop(host, found, user, port, key)
    return SshRoute(board, _jump(found, config), _known_hosts(found))


def _hop(name: str, found: paramiko.SSHConfigDict, user: str | None, port: int | None, key: str | None) -> SshHop:
    try:
        configured_port = int(found.get("port", 22))
    except ValueError:
        raise BoardError(f"ssh config: Host {name} has Port {found.get('port')!r}, not a number",
                         fix="give a port number in the ssh config") from None
    keys = (key,) if key else tuple(found.get("identityfile", ()))
    return SshHop(name, found.get("hostname", name), port or configured_port, user or found.get("user", DEFAULT_USER),
                  tuple(os.path.expanduser(path) for path in keys))


def _jump(found: paramiko.SSHConfigDict, config: paramiko.SSHConfig) -> SshHop | None:
    proxy_jump = found.get("proxyjump")
    if not proxy_jump or proxy_jump.lower() == "none":
        return None
    if "," in proxy_jump:
        raise BoardError(f"ssh config: ProxyJump {proxy_jump} has more than one hop; rvconform follows one",
                         fix="jump through one host (that host's own config may not jump again)")
    user, _, rest = proxy_jump.rpartition("@")
    name, _, port = rest.partition(":")
    if proxy_jump.startswith("ssh://") or (port and not port.isdigit()):
        raise BoardError(f"ssh config: ProxyJump {proxy_jump} is not [USER@]HOST[:PORT]", fix="write it so")
    return _hop(name, config.lookup(name), user or None, int(port) if port else None, None)


def _known_hosts(found: paramiko.SSHConfigDict) -> tuple[Path, ...]:
    user_files = found.get("userknownhostsfile")
    named = user_files.split() if user_files else DEFAULT_KNOWN_HOSTS
    if user_files and user_files.lower() == "none":
        named = ()
    return tuple(Path(os.path.expanduser(path)) for path in (*named, *GLOBAL_KNOWN_HOSTS))
