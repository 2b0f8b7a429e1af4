"""The way to an SSH board as the user's own ``ssh`` would go: their ssh_config (``~/.ssh/config``, or the
file ``RVCONFORM_SSH_CONFIG`` names) for Host aliases (HostName, Port, User), IdentityFile,
UserKnownHostsFile, ProxyCommand and ProxyJump (any number of hops, each with its own settings). Values the
board URL gives explicitly win over the config.

A route is a list of hops, jump hosts first and the board last: the first is reached over TCP or through a
ProxyCommand, each next one through a direct-tcpip channel of the one before, as ``ssh -J`` goes. Of
ProxyJump and ProxyCommand the one found first in the config wins (``none`` included), as in ssh; paramiko's
lookup keeps the order in which the config gives its keys, which tells it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import paramiko

from harness.errors import BoardError

CONFIG_ENV = "RVCONFORM_SSH_CONFIG"
DEFAULT_USER = "root"
DEFAULT_KNOWN_HOSTS = ("~/.ssh/known_hosts", "~/.ssh/known_hosts2")
GLOBAL_KNOWN_HOSTS = ("/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2")
#: The most jump hosts a route may have (a ProxyJump that names hosts made from %h could grow without end).
MAX_JUMPS = 10
#: The tokens ssh expands in ProxyCommand and ProxyJump.
TOKENS = ("%h", "%n", "%p", "%r", "%%")
#: What a host or user name may hold when it goes, unquoted, into a ProxyCommand's shell command line.
_SHELL_SAFE = re.compile(r"[A-Za-z0-9_.:@+-]+")


@dataclass(frozen=True)
class SshHop:
    """One SSH server on the way: the name as written (maybe a Host alias), what it resolves to, and the
    known_hosts files its own config names for its host key."""

    name: str
    hostname: str
    port: int
    user: str
    key_files: tuple[str, ...]
    known_hosts: tuple[Path, ...] = ()

    @property
    def address(self) -> str:
        """``user@hostname:port``, for messages."""
        return f"{self.user}@{self.hostname}:{self.port}"


@dataclass(frozen=True)
class SshRoute:
    """The hops to the board in the order they are connected (jump hosts first, the board last); the first
    is reached through ``proxy_command`` (already expanded) when there is one, else over TCP. ``config``
    names the ssh_config the route came from, for messages."""

    hops: tuple[SshHop, ...]
    proxy_command: str | None = None
    config: str = "ssh config"

    @property
    def board(self) -> SshHop:
        """The board itself."""
        return self.hops[-1]

    @property
    def jumps(self) -> tuple[SshHop, ...]:
        """The jump hosts before the board, first connected first."""
        return self.hops[:-1]


class SshConfig(paramiko.SSHConfig):
    """paramiko's ssh_config parser and lookup, with ProxyCommand and ProxyJump left as written: their
    tokens are expanded here (``expand_tokens``) with the values the connection really uses (the URL's user and
    port win over the config's) and with %n and %%, which paramiko does not know; paramiko's ``~`` anywhere in
    the command is left to the shell, as ssh does."""

    TOKENS_BY_CONFIG_KEY: ClassVar[dict[str, list[str]]] = {
        **paramiko.SSHConfig.TOKENS_BY_CONFIG_KEY, "proxycommand": [], "proxyjump": []}
    #: The file the config was read from, for messages.
    source = "ssh config"


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


def load_config(path: Path | None) -> SshConfig:
    """The parsed ssh_config at ``path`` (an empty one for None); BoardError naming a file that cannot be read."""
    if path is None:
        return SshConfig()
    try:
        config = SshConfig.from_path(str(path))
    except (OSError, UnicodeDecodeError, paramiko.ConfigParseError) as error:
        raise BoardError(f"cannot read the ssh config {path}: {error}",
                         fix=f"fix the file, or set {CONFIG_ENV} to another one") from None
    config.source = str(path)
    return config


def resolve_route(host: str, user: str | None, port: int | None, key: str | None, config: SshConfig) -> SshRoute:
    """Where ``host`` (a name or a Host alias) leads under ``config``; ``user``, ``port`` and ``key``, when
    given, win over it."""
    found = config.lookup(host)
    board = _hop(host, found, user, port, key, config.source)
    jumps, command = _way_to(board, found, config, (board,))
    return SshRoute((*jumps, board), command, config.source)


def expand_tokens(value: str, hop: SshHop, option: str, source: str) -> str:
    """``value`` (the ProxyCommand or ProxyJump of ``hop``) with ssh's tokens expanded: %h the HostName, %n the
    name as written, %p the port, %r the user, %% a %. BoardError for any other token, and for a name that
    would go into a ProxyCommand's shell command line with characters the shell reads (ssh refuses them too)."""
    values = {"%": "%", "h": hop.hostname, "n": hop.name, "p": str(hop.port), "r": hop.user}

    def replace(match: re.Match[str]) -> str:
        token = match.group(1)
        if token not in values:
            raise BoardError(f"{source}: Host {hop.name}: {option} {value!r} has the token %{token}, which ssh does "
                             f"not expand there", fix=f"use only {', '.join(TOKENS)} in {option}")
        if option == "ProxyCommand" and token in ("h", "n", "r") and not _shell_safe(values[token]):
            raise BoardError(f"{source}: Host {hop.name}: %{token} in {option} would be {values[token]!r}, which "
                             "is not a plain host or user name", fix="give the board's host and user as plain names")
        return values[token]

    return re.sub(r"%(.?)", replace, value)


def _shell_safe(name: str) -> bool:
    return bool(_SHELL_SAFE.fullmatch(name)) and not name.startswith("-")


def _hop(name: str, found: paramiko.SSHConfigDict, user: str | None, port: int | None, key: str | None,
         source: str) -> SshHop:
    try:
        configured_port = int(found.get("port", 22))
    except ValueError:
        raise BoardError(f"{source}: Host {name} has Port {found.get('port')!r}, not a number",
                         fix="give a port number in the ssh config") from None
    keys = (key,) if key else tuple(found.get("identityfile", ()))
    return SshHop(name, found.get("hostname", name), port or configured_port, user or found.get("user", DEFAULT_USER),
                  tuple(os.path.expanduser(path) for path in keys), _known_hosts(found))


def _way_to(hop: SshHop, found: paramiko.SSHConfigDict, config: SshConfig, followed: tuple[SshHop, ...]
            ) -> tuple[tuple[SshHop, ...], str | None]:
    """The jump hosts before ``hop`` and the ProxyCommand that carries the first connection, as ``found`` (the
    config of ``hop``) says; ``followed`` are the hops whose own config led here (to tell a loop)."""
    option, value = _proxy_option(found)
    if option == "proxycommand":
        return (), expand_tokens(value, hop, "ProxyCommand", config.source)
    if option == "proxyjump":
        return _jumps(expand_tokens(value, hop, "ProxyJump", config.source), hop, config, followed)
    return (), None


def _proxy_option(found: paramiko.SSHConfigDict) -> tuple[str | None, str]:
    """Which of ProxyJump and ProxyCommand the config gave first, and its value; (None, "") for none."""
    for option, value in found.items():
        if option in ("proxyjump", "proxycommand"):
            if value is None or not value.strip() or value.strip().lower() == "none":
                return None, ""
            return option, value.strip()
    return None, ""


def _jumps(spec: str, hop: SshHop, config: SshConfig, followed: tuple[SshHop, ...]
           ) -> tuple[tuple[SshHop, ...], str | None]:
    """``ProxyJump a,b`` of ``hop`` as ssh goes it (``ssh -J a -W %h:%p b``): b is reached through a, and a the
    way a's own config says (b's own ProxyJump and ProxyCommand give way to the list)."""
    listed = [_jump_hop(part.strip(), spec, hop, config) for part in spec.split(",")]
    first, first_found = listed[0]
    if any(_same_server(first, earlier) for earlier in followed):  # ssh: "jumphost loop"
        chain = " -> ".join(earlier.name for earlier in (*followed, first))
        raise BoardError(f"{config.source}: ProxyJump loops: {chain}",
                         fix=f"reach {first.name} without jumping through itself (e.g. `ProxyJump none` in its Host "
                         "block, before any `Host *` that jumps)")
    if len(followed) > MAX_JUMPS:  # each jump host followed adds one: the chain is too long already
        raise _too_many(hop, config)
    before, command = _way_to(first, first_found, config, (*followed, first))
    jumps = (*before, *(jump for jump, _ in listed))
    if len(jumps) > MAX_JUMPS:
        raise _too_many(hop, config)
    return jumps, command


def _same_server(one: SshHop, other: SshHop) -> bool:
    return (one.hostname, one.port, one.user) == (other.hostname, other.port, other.user)


def _too_many(hop: SshHop, config: SshConfig) -> BoardError:
    return BoardError(f"{config.source}: the way to {hop.name} has more than {MAX_JUMPS} jump hosts",
                      fix="shorten the ProxyJump chain")


def _jump_hop(text: str, spec: str, hop: SshHop, config: SshConfig) -> tuple[SshHop, paramiko.SSHConfigDict]:
    """One jump host written ``[ssh://][USER@]HOST[:PORT]`` (HOST maybe an alias, or ``[IPv6]``), and its
    config."""
    user, _, rest = text.removeprefix("ssh://").rpartition("@")
    if rest.startswith("["):
        name, _, tail = rest[1:].partition("]")
        port = tail.removeprefix(":")
        well_formed = bool(name) and (not tail or tail.startswith(":"))
    else:
        name, _, port = rest.partition(":")
        well_formed = bool(name)
    if not well_formed or (port and not port.isdigit()):
        raise BoardError(f"{config.source}: Host {hop.name}: ProxyJump {spec} has {text!r}, not "
                         "[USER@]HOST[:PORT]", fix="write each jump host as [USER@]HOST[:PORT], separated by commas")
    found = config.lookup(name)
    return _hop(name, found, user or None, int(port) if port else None, None, config.source), found


def _known_hosts(found: paramiko.SSHConfigDict) -> tuple[Path, ...]:
    user_files = found.get("userknownhostsfile")
    named = user_files.split() if user_files else DEFAULT_KNOWN_HOSTS
    if user_files and user_files.lower() == "none":
        named = ()
    return tuple(Path(os.path.expanduser(path)) for path in (*named, *GLOBAL_KNOWN_HOSTS))
