"""Board URLs as data: the one parser, and what each kind of URL says (``SshTarget``, ``QemuOptions``).

Parsing needs no board library (paramiko, the docker SDK): the options are checked before a run starts.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from harness.errors import BoardError

RUNTIMES = ("docker", "podman", "ctr", "k3s")
#: Each kind of board URL as a user writes it, and an example for the fix of a bad one.
FORMS = {
    "local": ("local", "--board local"),
    "qemu": ("qemu[://?cpus=N&memory=MB&images=DIR]", "e.g. --board qemu or --board 'qemu://?cpus=2&memory=2048'"),
    "ssh": ("ssh://USER@HOST[:PORT][?key=PATH&runtime=docker|podman|ctr|k3s&accept_new_host_key=1]",
            "e.g. ssh://riscv@board1:22?key=~/.ssh/id_ed25519&runtime=ctr"),
}
QUERY_KEYS = {"local": (), "qemu": ("cpus", "memory", "images"), "ssh": ("key", "runtime", "accept_new_host_key")}
KNOWN = ", ".join(form for form, _ in FORMS.values())
#: How an SSH board's host key is checked: against known_hosts (recording an unknown key when the host's
#: StrictHostKeyChecking in the ssh config says accept-new); that, recording an unknown key
#: (accept_new_host_key=1); that, never recording one whatever the config says (accept_new_host_key=0); or, for a
#: VM this run booted, against the one key made with its image (``SshTarget.host_key``), never a known_hosts file.
VERIFY, ACCEPT_NEW, STRICT, OWN_VM = "verify", "accept-new", "strict", "own-vm"


@dataclass(frozen=True)
class SshTarget:
    """What an ssh:// board URL says; user and port are None when it does not say (the ssh config may).
    ``host_key``: with OWN_VM, the file of the only host key the server may present."""

    user: str | None
    host: str
    port: int | None
    key: str | None
    runtime: str | None
    host_keys: str = VERIFY
    host_key: str | None = None


@dataclass(frozen=True)
class QemuOptions:
    """What a qemu board URL says."""

    cpus: int = 2
    memory_mb: int = 2048
    images: Path | None = None


@dataclass(frozen=True)
class BoardSpec:
    """A parsed board URL: the URL (the board's name in reports), its kind, and what it says for that kind."""

    url: str
    kind: str
    target: SshTarget | QemuOptions | None = None


def parse_board_url(url: str) -> BoardSpec:
    """The board ``url`` names; BoardError saying which URLs are understood for anything else."""
    parts = urlsplit(url)
    kind = parts.scheme or url
    if kind not in FORMS:
        raise BoardError(f"unknown board URL {url!r}", fix=f"use one of: {KNOWN}")
    if kind == "local":
        return BoardSpec(url, kind)
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    if set(query) - set(QUERY_KEYS[kind]) or (parts.scheme and parts.path not in ("", "/")):
        raise _not_a(kind, url)
    target = _ssh_target(url, query) if kind == "ssh" else _qemu_options(url, query)
    return BoardSpec(url, kind, target)


def board_id(url: str) -> str:
    """A board URL as a test id part: ``local``, ``qemu``, ``riscv@board1:22``."""
    parts = urlsplit(url)
    if not parts.scheme:
        return url
    return (parts.netloc + parts.path).strip("/").replace("/", "_") or parts.scheme


def _ssh_target(url: str, query: dict[str, str]) -> SshTarget:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise _not_a("ssh", url) from None
    if not parts.hostname:
        raise _not_a("ssh", url)
    runtime = query.get("runtime")
    if runtime is not None and runtime not in RUNTIMES:
        raise BoardError(f"board URL {url!r}: unknown runtime {runtime!r}", fix=f"use one of {', '.join(RUNTIMES)}")
    accept_new = query.get("accept_new_host_key")
    if accept_new not in (None, "0", "1"):
        raise BoardError(f"board URL {url!r}: accept_new_host_key={accept_new!r}", fix="use accept_new_host_key=1")
    return SshTarget(parts.username, parts.hostname, port, query.get("key"), runtime,
                     {None: VERIFY, "0": STRICT, "1": ACCEPT_NEW}[accept_new])


def _qemu_options(url: str, query: dict[str, str]) -> QemuOptions:
    if url != "qemu" and urlsplit(url).netloc:
        raise _not_a("qemu", url)
    try:
        options = QemuOptions(int(query.get("cpus", 2)), int(query.get("memory", 2048)),
                              Path(query["images"]) if "images" in query else None)
    except ValueError:
        raise _not_a("qemu", url) from None
    if options.cpus < 1 or options.memory_mb < 256:
        raise _not_a("qemu", url)
    return options


def _not_a(kind: str, url: str) -> BoardError:
    form, example = FORMS[kind]
    return BoardError(f"board URL {url!r} is not {form}", fix=example)
