"""A board's trust in a TLS registry and its credentials, the way a node is configured, undone at close.

The docker engine reads every ``*.crt`` under ``/etc/docker/certs.d/HOST:PORT/`` as a CA for that registry
on each connection, so no restart is needed, for every registry but those it counts as insecure (127.0.0.0/8
by default: never verified). A file of our own is added beside any the user has (never replacing their
``ca.crt``) and removed at the end, with the directories we made (certs.d itself on an engine without one).
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from harness.boards.board_names import NO_RUN, Mark
from harness.defaults import DOCKER_CERTS_D
from harness.runtime_config.access import quote

if TYPE_CHECKING:
    from harness.boards.transport import SshTransport
    from harness.registry_access import RegistryAccess


def trust_file_prefix(run_id: str | None) -> str:
    """The name every CA file of a run starts with, so a later run sweeps what a crashed one left."""
    return f"rvconform-{run_id}-" if run_id else "rvconform-"


class EngineTrust:
    """CA files this board placed under an engine's certs.d; ``undo`` removes exactly those."""

    def __init__(self, run_id: str | None = None, root: Path = Path(DOCKER_CERTS_D)) -> None:
        self.root = root
        self.prefix = trust_file_prefix(run_id)
        self._files: list[Path] = []
        self._dirs: list[Path] = []

    def trust(self, host: str, ca_file: Path) -> Path:
        """Make the engine trust ``ca_file`` for the registry ``host`` (HOST:PORT); returns the file written."""
        target = self.root / host / f"{self.prefix}{uuid.uuid4().hex[:8]}.crt"
        for attempt in range(3):
            self._make_dirs(target.parent)
            try:
                shutil.copyfile(ca_file, target)
                break
            except FileNotFoundError:  # another trust's undo removed the emptied directory just now
                if attempt == 2 or not ca_file.is_file():
                    raise
        self._files.append(target)
        return target

    def _make_dirs(self, directory: Path) -> None:
        """Make ``directory`` and its missing parents (certs.d itself, on an engine with none), noting each."""
        missing = []
        while not directory.is_dir():
            missing.append(directory)
            directory = directory.parent
        for made in reversed(missing):
            try:
                made.mkdir()
            except FileExistsError:  # made meanwhile by someone else: theirs to remove
                continue
            self._dirs.append(made)

    def undo(self) -> None:
        """Remove what ``trust`` wrote (also after a failure half-way), with the directories it made."""
        for path in self._files:
            path.unlink(missing_ok=True)
        for directory in reversed(self._dirs):
            with contextlib.suppress(OSError):  # not empty: someone else put a file there meanwhile
                directory.rmdir()
        self._files.clear()
        self._dirs.clear()


@contextlib.contextmanager
def engine_trusting(access: RegistryAccess | None, run_id: str | None = None,
                    root: Path = Path(DOCKER_CERTS_D)) -> Iterator[None]:
    """The local engine trusts ``access``'s CA for its registry while the block runs (a push from here), the
    file removed after it, also on failure. Nothing is written for plain HTTP or a registry without a CA."""
    if access is None or access.scheme != "https" or access.ca_file is None:
        yield
        return
    trust = EngineTrust(run_id, root)
    try:
        trust.trust(access.host, access.ca_file)
        yield
    finally:
        trust.undo()


class ContainerdTrust:
    """A containerd hosts directory on an SSH board (mode 0700, files 0600) for the registries it pulls from
    over TLS or with credentials: ``HOST/ca.crt`` and ``HOST/hosts.toml`` whose header carries the
    Authorization value, so no credential is ever on a command line. Removed by ``undo``."""

    def __init__(self, transport: SshTransport, directory: str) -> None:
        self.transport = transport
        self.directory = directory
        self.cas: dict[str, str] = {}
        self._made = False

    def add_ca(self, host: str, ca_file: Path) -> str:
        """Copy ``ca_file`` to the board for ``host``; returns its path there."""
        path = f"{self.directory}/{host}/ca.crt"
        self._write(path, ca_file.read_text())
        self.cas[host] = path
        return path

    def hosts_dir_for(self, host: str, authorization: str | None) -> str:
        """Write ``host``'s hosts.toml (https, its CA if any, the Authorization header if any); returns the
        hosts directory to give ``ctr images pull --hosts-dir``."""
        endpoint = f"https://{host}"
        lines = [f"server = {quote(endpoint)}", "", f"[host.{quote(endpoint)}]", '  capabilities = ["pull", "resolve"]']
        if host in self.cas:
            lines.append(f"  ca = {quote(self.cas[host])}")
        if authorization:
            lines += [f"  [host.{quote(endpoint)}.header]", f"    Authorization = {quote(authorization)}"]
        self._write(f"{self.directory}/{host}/hosts.toml", "\n".join(lines) + "\n")
        return self.directory

    def write_private(self, path: str, content: str) -> None:
        """A file on the board that only root reads (it may hold a credential)."""
        self._write(path, content)

    def undo(self) -> None:
        """Remove the directory from the board (a board that went away keeps it until its next run)."""
        if self._made:
            self.transport.run(["rm", "-rf", self.directory])
            self._made = False

    def _write(self, path: str, content: str) -> None:
        self._made = True
        self.transport.check(["sh", "-c", 'umask 077 && mkdir -p "$(dirname "$1")" && cat > "$1"', "sh", path],
                             stdin=content.encode())

#: The mark of client files made without one (tests): no origin's sweep takes them.
_UNMARKED = Mark("0" * 12, NO_RUN)


class CliTrust:
    """docker or podman on an SSH board pulling over TLS or with credentials, never with a secret on a command
    line: a private directory (``mktemp -d``, 0700, files 0600) holds the auth file, written just before a
    pull and removed right after it, and podman's per-registry ``--cert-dir``. docker's daemon reads a CA only
    from ``/etc/docker/certs.d/HOST:PORT/`` (every ``*.crt`` there): ours goes beside any of the user's. Both
    are named by ``mark`` (origin and run), so a later run sweeps them when this one dies. ``undo`` removes
    what was made."""

    def __init__(self, transport: SshTransport, program: str, mark: Mark = _UNMARKED,
                 certs_d: str = DOCKER_CERTS_D) -> None:
        self.transport = transport
        self.program = program
        self.mark = mark
        self.certs_d = certs_d
        self.directory: str | None = None
        self.written: list[str] = []
        self._cert_dirs: dict[str, str] = {}
        self._made_dirs: list[str] = []

    def add_ca(self, host: str, ca_file: Path) -> str:
        """Make the runtime trust ``ca_file`` for ``host``; returns the CA's path on the board."""
        if self.program == "podman":
            self._cert_dirs[host] = f"{self._private()}/certs/{host}"
            self._write(f"{self._cert_dirs[host]}/ca.crt", ca_file.read_text())
            return f"{self._cert_dirs[host]}/ca.crt"
        return self._docker_ca(host, ca_file.read_text())

    def _docker_ca(self, host: str, pem: str) -> str:
        directory = f"{self.certs_d}/{host}"
        present = self.transport.run(["cat", f"{directory}/ca.crt"])
        if present.exit_status == 0 and present.stdout.strip() == pem.strip():
            return f"{directory}/ca.crt"  # already trusted, and not ours to remove
        name = f"{self.mark.name(uuid.uuid4().hex[:8])}.crt"
        # certs.d itself too: an engine that never had one gets it back as it was after undo.
        missing = self.transport.run(["sh", "-c", 'for d in "$@"; do test -d "$d" || echo "$d"; done', "sh",
                                      self.certs_d, directory])
        self._made_dirs += [line for line in missing.stdout.splitlines() if line]
        path = f"{directory}/{name}"
        self.written.append(path)
        self.transport.check(["sh", "-c", 'mkdir -p "$(dirname "$1")" && umask 022 && cat > "$1"', "sh", path],
                             stdin=pem.encode())
        return path

    def pull_args(self, host: str, auths_file: str | None) -> tuple[list[str], list[str]]:
        """The options (before ``pull``, after ``pull``) that make the runtime use this trust for ``host``."""
        if self.program == "podman":
            after = ["--cert-dir", self._cert_dirs[host]] if host in self._cert_dirs else []
            return [], [*after, *(["--authfile", auths_file] if auths_file else [])]
        return (["--config", auths_file.rsplit("/", 1)[0]] if auths_file else []), []

    def write_auths(self, host: str, username: str, password: str) -> str:
        """The client config (docker's config.json, podman's auth file) with ``host``'s credentials; returns
        its path. Remove it with ``remove_auths`` once the pull is over."""
        token = base64.b64encode(f"{username}:{password}".encode()).decode()
        path = f"{self._private()}/client/config.json"
        self._write(path, json.dumps({"auths": {host: {"auth": token}}}) + "\n")
        return path

    def remove_auths(self, path: str) -> None:
        """Remove the client config written by ``write_auths``."""
        self.transport.run(["rm", "-f", path])
        if path in self.written:
            self.written.remove(path)

    def undo(self) -> None:
        """Remove the private directory and the CA files written under certs.d (with directories we made)."""
        if self.directory:
            self.transport.run(["rm", "-rf", self.directory])
            self.written = [path for path in self.written if not path.startswith(f"{self.directory}/")]
            self.directory = None
            self._cert_dirs.clear()
        for path in self.written:
            self.transport.run(["rm", "-f", path])
        for directory in reversed(self._made_dirs):
            self.transport.run(["rmdir", directory])  # fails, harmlessly, when someone else put a file there
        self.written.clear()
        self._made_dirs.clear()

    def _private(self) -> str:
        if self.directory is None:
            made = self.transport.check(["sh", "-c", 'umask 077 && mktemp -d "${TMPDIR:-/tmp}/$1"', "sh",
                                         self.mark.name("XXXXXXXX")])
            self.directory = made.strip()
        return self.directory

    def _write(self, path: str, content: str) -> None:
        self.written.append(path)
        self.transport.check(["sh", "-c", 'umask 077 && mkdir -p "$(dirname "$1")" && cat > "$1"', "sh", path],
                             stdin=content.encode())
