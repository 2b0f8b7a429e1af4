"""Host keys checked the way ``ssh`` checks them: a board's key must be in a known_hosts file (the user's,
those their ssh_config names, or the harness's own); an unknown key stops the connection before any
credential is sent, a changed one too (possible man in the middle).

``accept_new_host_key=1`` in a board URL records an unknown key, like ssh's ``StrictHostKeyChecking
accept-new``, in the harness's own known_hosts under the cache: the user's files are theirs to edit. Without
it in the URL, that host's ``StrictHostKeyChecking accept-new`` (or ``no``, taken as accept-new: a changed key is
still refused) in the ssh config does the same; ``accept_new_host_key=0`` refuses unknown keys whatever the
config says. A key is looked up and recorded under the host's ``HostKeyAlias`` when it has one, as in ssh.
A VM this run booted must present exactly the host key made with its image (``VmImage.host_key_path``): that
one key is pinned for the connection (its port is random per run), no known_hosts file is read or written.
"""

from __future__ import annotations

import base64
import hashlib
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paramiko

from harness.boards.ssh_route import SshHop
from harness.boards.url import ACCEPT_NEW, STRICT
from harness.cache import cache_dir
from harness.errors import BoardError, BoardUnreachable


def harness_known_hosts() -> Path:
    """The known_hosts file the harness owns (keys accepted with ``accept_new_host_key=1``)."""
    return cache_dir("ssh") / "known_hosts"


def fingerprint(key: paramiko.PKey) -> str:
    """``SHA256:...`` as ``ssh-keygen -l`` prints it."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


def accepts_new(hop: SshHop, host_keys: str) -> bool:
    """Whether an unknown host key of ``hop`` is recorded: the board URL's explicit ``accept_new_host_key``
    (ACCEPT_NEW or STRICT) wins, else the hop's StrictHostKeyChecking says."""
    if host_keys in (ACCEPT_NEW, STRICT):
        return host_keys == ACCEPT_NEW
    return hop.accepts_new_key


def load_known_hosts(client: paramiko.SSHClient, hop: SshHop) -> None:
    """Give ``client`` the keys for ``hop`` in every readable file of its known_hosts and in the harness's own
    file."""
    readable = [path for path in (*hop.known_hosts, harness_known_hosts()) if path.is_file()]
    if not hop.host_key_alias:
        for path in readable:
            _load(path, client.load_system_host_keys)
        return
    # ssh looks the key up under the alias alone; paramiko looks it up under [host]:port, so the alias's keys
    # are filed there (and nothing else is loaded: a key known for [host]:port does not count, as in ssh).
    found = paramiko.HostKeys()
    for path in readable:
        _load(path, found.load)
    for key_type, key in (found.lookup(hop.host_key_alias) or {}).items():
        client.get_host_keys().add(_lookup_name(hop), key_type, key)


def _load(path: Path, load: Callable[[str], None]) -> None:
    try:
        load(str(path))
    except (OSError, UnicodeDecodeError) as error:
        raise BoardError(f"cannot read the known_hosts file {path}: {error}",
                         fix="make it readable, or name another with UserKnownHostsFile in your ssh config") from None


class RejectUnknown(paramiko.MissingHostKeyPolicy):
    """An unknown host key: a clear error (or, with ``accept_new``, recorded in the harness's known_hosts)."""

    def __init__(self, board: str, hop: SshHop, accept_new: bool) -> None:
        self.board, self.hop, self.accept_new = board, hop, accept_new

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        """Record the key (accept-new) or refuse to go on."""
        hop = self.hop
        if self.accept_new:  # under the alias when there is one, as ssh records it
            with harness_known_hosts().open("a") as known:
                known.write(f"{hop.key_name} {key.get_name()} {key.get_base64()}\n")
            return
        port = f"-p {hop.port} " if hop.port != 22 else ""
        alias = f"-o HostKeyAlias={shlex.quote(hop.host_key_alias)} " if hop.host_key_alias else ""
        rename = f" | sed 's/^[^ ]*/{hop.host_key_alias}/'" if hop.host_key_alias else ""
        raise BoardUnreachable(
            f"{self.board}: the host key of {hop.name} ({hop.key_name}) is not known: it presents "
            f"{key.get_name()} {fingerprint(key)}; not connecting (nothing was sent to it)",
            fix=f"check that fingerprint with the board's owner, then run "
            f"`ssh {alias}{port}{hop.user}@{hop.hostname}` once "
            f"(or `ssh-keyscan {port}{hop.hostname}{rename} >> ~/.ssh/known_hosts`), "
            f"or add accept_new_host_key=1 to the board URL (or `StrictHostKeyChecking accept-new` to its Host "
            f"block) to record it in {harness_known_hosts()}")


def changed_key_error(board: str, hop: SshHop, error: paramiko.BadHostKeyException) -> BoardUnreachable:
    """The error for a host key that differs from the known one."""
    return BoardUnreachable(
        f"{board}: THE HOST KEY OF {hop.name} ({hop.hostname}:{hop.port}) HAS CHANGED: known "
        f"{error.expected_key.get_name()} {fingerprint(error.expected_key)}, presented {error.key.get_name()} "
        f"{fingerprint(error.key)}. Someone may be intercepting the connection (man in the middle), or the "
        "board was re-imaged; not connecting",
        fix=f"if the board was re-imaged, check the new fingerprint with its owner and remove the old key with "
        f"`ssh-keygen -R {_known_name(hop)}` (and from {harness_known_hosts()} if it is there)")


def _known_name(hop: SshHop) -> str:
    return shlex.quote(hop.key_name)


@dataclass(frozen=True)
class PinnedKey:
    """The one host key a server may present, and the file it was read from (a VM image's public host key)."""

    key: paramiko.PKey
    path: Path


def read_pinned_key(board: str, path: str | None) -> PinnedKey:
    """The public key in ``path`` (``TYPE BASE64 [COMMENT]``, as ssh-keygen writes it); BoardUnreachable when
    there is none: a VM without a pinned key is never trusted as it comes."""
    if not path:
        raise BoardUnreachable(f"{board}: no host key to pin for the VM; refusing to trust whatever key it presents",
                               fix="boot the VM from an image made by ensure_vm_image (its host key is kept beside "
                               "the disk)")
    try:
        fields = Path(path).read_text().split()
        return PinnedKey(paramiko.PKey.from_type_string(fields[0], base64.b64decode(fields[1])), Path(path))
    except (OSError, ValueError, IndexError, paramiko.SSHException, paramiko.UnknownKeyType) as error:
        raise BoardUnreachable(f"{board}: cannot read the VM's host key {path}: {type(error).__name__}: {error}",
                               fix=_rebuild_fix(Path(path))) from None


def pin(client: paramiko.SSHClient, board: str, hop: SshHop, pinned: PinnedKey) -> None:
    """Make ``client`` accept ``pinned`` from ``hop`` and nothing else (a key of another type too is refused)."""
    client.get_host_keys().add(_lookup_name(hop), pinned.key.get_name(), pinned.key)
    client.set_missing_host_key_policy(_RejectOther(board, hop, pinned))


class _RejectOther(paramiko.MissingHostKeyPolicy):
    """The server presented a key of another type than the pinned one: refused like a changed key."""

    def __init__(self, board: str, hop: SshHop, pinned: PinnedKey) -> None:
        self.board, self.hop, self.pinned = board, hop, pinned

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        """Refuse to go on."""
        raise pinned_key_error(self.board, self.hop, self.pinned, key)


def pinned_key_error(board: str, hop: SshHop, pinned: PinnedKey, presented: paramiko.PKey) -> BoardUnreachable:
    """The error for a VM that presents another host key than the one made with its image."""
    return BoardUnreachable(
        f"{board}: THE HOST KEY OF THE VM (SSH on {hop.hostname}:{hop.port}) HAS CHANGED: pinned "
        f"{pinned.key.get_name()} {fingerprint(pinned.key)} (made with its image: {pinned.path}), presented "
        f"{presented.get_name()} {fingerprint(presented)}. Something other than the VM this run booted may be "
        "answering on that port (man in the middle), or the image's files no longer match its disk; not connecting",
        fix=_rebuild_fix(pinned.path))


def _rebuild_fix(host_key: Path) -> str:
    return (f"rebuild the VM image: `rm -rf {shlex.quote(str(host_key.parent))}`, and the next run with the qemu "
            "board builds it again (about 8 minutes); if the key differs again, find what else listens on "
            "the VM's port")


def _lookup_name(hop: SshHop) -> str:
    """The name paramiko looks the server's key up under (as in known_hosts)."""
    return hop.hostname if hop.port == 22 else f"[{hop.hostname}]:{hop.port}"
