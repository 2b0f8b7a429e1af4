"""A board's trust in a TLS registry and its credentials, the way a node is configured, undone at close.

The docker engine reads every ``*.crt`` under ``/etc/docker/certs.d/HOST:PORT/`` as a CA for that registry
on each connection, so no restart is needed. A file of our own is added beside any the user has (never
replacing their ``ca.crt``) and removed at the end, with the directory when we made it.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from harness.defaults import DOCKER_CERTS_D
from harness.runtime_config.access import quote

if TYPE_CHECKING:
    from harness.boards.transport import SshTransport


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
        directory = self.root / host
        if not directory.is_dir():
            directory.mkdir(parents=True)
            self._dirs.append(directory)
        target = directory / f"{self.prefix}{uuid.uuid4().hex[:8]}.crt"
        shutil.copyfile(ca_file, target)
        self._files.append(target)
        return target

    def undo(self) -> None:
        """Remove what ``trust`` wrote (also after a failure half-way)."""
        for path in self._files:
            path.unlink(missing_ok=True)
        for directory in self._dirs:
            with contextlib.suppress(OSError):  # not empty: someone else put a file there meanwhile
                directory.rmdir()
        self._files.clear()
        self._dirs.clear()


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
