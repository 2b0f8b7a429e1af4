"""Reading a long step's log as it grows: what BuildKit or mmdebstrap is doing now, from the new lines only."""

from __future__ import annotations

import re
from pathlib import Path

TITLE_WIDTH = 60
MAX_READ = 64 * 1024

_VERTEX = re.compile(r"#(\d+) (.+)")
_VERTEX_STATUS = re.compile(r"(DONE|CACHED|ERROR|CANCELED)\b")
_VERTEX_OUTPUT = re.compile(r"\d+\.\d+ |sha256:")
_MMDEBSTRAP = re.compile(r"([IWE]): (.+)")


def trim(text: str, width: int = TITLE_WIDTH) -> str:
    """``text`` on one line with single spaces, cut to ``width`` characters (ending in "...")."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: max(width - 3, 0)] + "..."


class BuildkitTitles:
    """The step a BuildKit ``--progress=plain`` log is at: the name of the vertex its latest line is about.

    A vertex's first line is its name (``#12 [build 5/9] RUN make -j2``); its output, digest and status
    lines follow, interleaved with other vertices' lines when stages run side by side.
    """

    def __init__(self) -> None:
        self._names: dict[str, str] = {}
        self._current: str | None = None

    def feed(self, line: str) -> None:
        """Take one log line into account."""
        match = _VERTEX.match(line)
        if not match or _VERTEX_STATUS.match(match.group(2)):
            return
        vertex, text = match.groups()
        if vertex not in self._names:
            if _VERTEX_OUTPUT.match(text):  # its name was in a part of the log that was skipped
                return
            self._names[vertex] = text
        self._current = vertex

    @property
    def title(self) -> str | None:
        """The current step's title, trimmed; None before the first one."""
        return trim(self._names[self._current]) if self._current else None


class MmdebstrapTitles:
    """What mmdebstrap is doing: its latest ``I:`` (or ``W:``, ``E:``) line."""

    def __init__(self) -> None:
        self.title: str | None = None

    def feed(self, line: str) -> None:
        """Take one log line into account."""
        match = _MMDEBSTRAP.match(line)
        if match:
            level, text = match.groups()
            self.title = trim({"I": "", "W": "warning: ", "E": "error: "}[level] + text)


class LogFollower:
    """Reads what a log gained since the last look (at most its last ``MAX_READ`` bytes), line by line."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._offset = 0
        self._rest = b""

    def new_lines(self) -> list[str]:
        """The complete lines written since the last call."""
        try:
            size = self.path.stat().st_size
        except OSError:
            return []
        if size < self._offset:  # truncated: a new build reuses the file
            self._offset, self._rest = 0, b""
        start = max(self._offset, size - MAX_READ)
        skipped = start > self._offset
        with self.path.open("rb") as log:
            log.seek(start)
            data = log.read(size - start)
        self._offset = start + len(data)
        lines = ((b"" if skipped else self._rest) + data).split(b"\n")
        self._rest = lines.pop()
        if skipped and lines:
            lines.pop(0)  # the rest of a line whose start was skipped
        return [line.decode("utf-8", "replace").rstrip("\r") for line in lines]
