"""A board's trust in a TLS registry, the way a node is configured, undone when the board closes.

The docker engine reads every ``*.crt`` under ``/etc/docker/certs.d/HOST:PORT/`` as a CA for that registry
on each connection, so no restart is needed. A file of our own is added beside any the user has (never
replacing their ``ca.crt``) and removed at the end, with the directory when we made it.
"""

from __future__ import annotations

import contextlib
import shutil
import uuid
from pathlib import Path

DOCKER_CERTS_D = Path("/etc/docker/certs.d")


class EngineTrust:
    """CA files this board placed under an engine's certs.d; ``undo`` removes exactly those."""

    def __init__(self, root: Path = DOCKER_CERTS_D) -> None:
        self.root = root
        self._files: list[Path] = []
        self._dirs: list[Path] = []

    def trust(self, host: str, ca_file: Path) -> Path:
        """Make the engine trust ``ca_file`` for the registry ``host`` (HOST:PORT); returns the file written."""
        directory = self.root / host
        if not directory.is_dir():
            directory.mkdir(parents=True)
            self._dirs.append(directory)
        target = directory / f"rvconform-{uuid.uuid4().hex[:8]}.crt"
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
