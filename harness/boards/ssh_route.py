"""The way to an SSH board as the user's own ``ssh`` would go: their ssh_config (``~/.ssh/config``, or the
file ``RVCONFORM_SSH_CONFIG`` names, with the files its ``Include`` lines name) for Host aliases (HostName,
Port, User), IdentityFile, UserKnownHostsFile, HostKeyAlias, StrictHostKeyChecking, ProxyCommand and ProxyJump
(any number of hops, each with its own settings). Values the board URL gives explicitly win over the config.

A route is a list of hops, jump hosts first and the board last: the first is reached over TCP or through a
ProxyCommand, each next one through a direct-tcpip channel of the one before, as ``ssh -J`` goes. Of
ProxyJump and ProxyCommand the one found first in the config wins (``none`` included), as in ssh; paramiko's
lookup keeps the order in which the config gives its keys, which tells it.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
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
#: How deep Include may nest, as in ssh (its READCONF_MAX_DEPTH).
MAX_INCLUDE_DEPTH = 16
#: An ssh_config line's keyword and its value (``Keyword value`` or ``Keyword=value``).
_KEYWORD_LINE = re.compile(r"\s*([A-Za-z]+)(?:\s*=\s*|\s+)(.*?)\s*$")
#: StrictHostKeyChecking values that let an unknown host key be recorded (``no``/``off`` too: see accepts_new_key).
_ACCEPTING = ("accept-new", "no", "off", "false")


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
    host_key_alias: str | None = None
    strict_host_key_checking: str | None = None

    @property
    def address(self) -> str:
        """``user@hostname:port``, for messages."""
        return f"{self.user}@{self.hostname}:{self.port}"

    @property
    def key_name(self) -> str:
        """The name its host key is filed under in known_hosts: its HostKeyAlias, else ``hostname`` (port 22) or
        ``[hostname]:port``, as ssh files it."""
        if self.host_key_alias:
            return self.host_key_alias
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"

    @property
    def accepts_new_key(self) -> bool:
        """Whether its config's StrictHostKeyChecking lets an unknown host key be recorded: ``accept-new``, and
        ``no`` too, which the harness takes as accept-new (a changed key is still refused, unlike ssh)."""
        return (self.strict_host_key_checking or "").lower() in _ACCEPTING


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
    """The parsed ssh_config at ``path`` (an empty one for None), its Includes read in (relative paths from the
    file's directory: ``~/.ssh`` for the user's config, as in ssh); BoardError naming a file that cannot be read."""
    if path is None:
        return SshConfig()
    try:
        config = SshConfig.from_text(expand_includes(path, path.parent))
    except paramiko.ConfigParseError as error:
        raise BoardError(f"cannot read the ssh config {path}: {error}",
                         fix=f"fix the file, or set {CONFIG_ENV} to another one") from None
    config.source = str(path)
    return config


def expand_includes(path: Path, base: Path) -> str:
    """The text of the ssh_config at ``path`` with each ``Include`` line replaced by the files it names (paths
    split as ssh splits them, ``~`` expanded, relative ones from ``base``, globs matched in sorted order; one that
    matches nothing is skipped, as in ssh), recursively. BoardError for a file that cannot be read, and for
    Includes nested deeper than ssh allows or in a loop.

    paramiko keeps ``Include`` as an ordinary key, so the files are read in before it parses the text. An Include
    inside a Host (or Match) block applies only within that block in ssh: the included text follows the block's
    line, so what it gives before any Host line of its own has that condition, and after it the enclosing
    ``Host``/``Match`` line is written again (``Host *`` at the top level), so the rest of the enclosing block
    keeps its condition and none of the included Host blocks runs on over it. Not rendered: in ssh a Host block
    inside a file included in a non-matching block never applies; here it stands on its own."""
    return _expanded(path, base, (path,), "Host *")


def _expanded(path: Path, base: Path, chain: tuple[Path, ...], condition: str) -> str:
    """``path``'s text with its Includes expanded; ``chain`` the files that included it, itself last;
    ``condition`` the Host or Match line its text starts under."""
    lines: list[str] = []
    for line in _read_config(path, chain).splitlines():
        match = _KEYWORD_LINE.match(line)
        keyword = match.group(1).lower() if match else ""
        if keyword in ("host", "match"):
            condition = line.strip()
        if keyword != "include":
            lines.append(line)
            continue
        for included in _include_paths(match.group(2), base, path):
            lines.append(_expanded(included, base, _deeper(chain, included), condition))
        lines.append(condition)
    return "\n".join(lines) + "\n"


def _read_config(path: Path, chain: tuple[Path, ...]) -> str:
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        included_by = f" (included by {chain[-2]})" if len(chain) > 1 else ""
        raise BoardError(f"cannot read the ssh config {path}{included_by}: {error}",
                         fix=f"fix the file or the Include that names it, or set {CONFIG_ENV} to another "
                         "config") from None


def _include_paths(value: str, base: Path, including: Path) -> list[Path]:
    """The files ``Include value`` (in ``including``) names, in ssh's order."""
    try:
        patterns = shlex.split(value, comments=True)
    except ValueError as error:
        raise BoardError(f"{including}: Include {value}: {error}", fix="fix the quoting of that Include") from None
    if not patterns:
        raise BoardError(f"{including}: Include without a file", fix="name the file(s) to include, or remove it")
    found: list[Path] = []
    for pattern in patterns:
        full = base / os.path.expanduser(pattern)  # an absolute path stays as it is
        found.extend(Path(match) for match in sorted(glob.glob(str(full))))
    return found


def _deeper(chain: tuple[Path, ...], included: Path) -> tuple[Path, ...]:
    """``chain`` with ``included`` added; BoardError when it is already in it or the chain is too deep."""
    if any(included.resolve() == earlier.resolve() for earlier in chain):
        loop = " -> ".join(str(path) for path in (*chain, included))
        raise BoardError(f"the ssh config {included} includes itself: {loop}",
                         fix="remove the Include that leads back to it")
    if len(chain) > MAX_INCLUDE_DEPTH:
        raise BoardError(f"the ssh config {included} (included by {chain[-1]}) is nested more than "
                         f"{MAX_INCLUDE_DEPTH} Includes deep (ssh's limit)", fix="flatten the Includes")
    return (*chain, included)


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
                  tuple(os.path.expanduser(path) for path in keys), _known_hosts(found), found.get("hostkeyalias"),
                  found.get("stricthostkeychecking"))


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
