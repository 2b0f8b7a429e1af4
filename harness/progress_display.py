"""The terminal side of progress: one line per long step in progress, in the controlling pytest process.

A daemon thread reads the run's step records (harness/progress.py) and what each step's log gained since
its last look (harness/progress_log.py), and shows
``rvconform: build redis: [build 5/6] RUN make ... (3m12s, log PATH)``. On a terminal the lines are live:
drawn below pytest's cursor and redrawn every second, erased before pytest writes anything. Otherwise (a CI
log) they are plain lines at a modest rate: when a step has run for a few seconds, when its title changes,
every half minute while it does not, and when it ends.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import pytest

from harness.progress import BASE, BUILD, VM, StepRecord, steps_dir, steps_in_progress
from harness.progress_log import BuildkitTitles, LogFollower, MmdebstrapTitles, trim

TICK = 1.0
FIRST_AFTER = 5.0  # a plain line only for steps that take a while: cached builds stay quiet
MIN_GAP = 5.0
HEARTBEAT = 30.0
ERASE_BELOW = "\x1b[J"

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def format_elapsed(seconds: float) -> str:
    """``42s``, ``3m12s``, ``1h02m``."""
    seconds = int(max(seconds, 0))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def label(record: StepRecord) -> str:
    """What a step is about: ``build redis``, ``base sid-riscv64``, ``VM image 1a2b3c4d5e6f``."""
    return {BUILD: "build", BASE: "base", VM: "VM image"}.get(record.kind, record.kind) + f" {record.subject}"


def shown_path(path: str) -> str:
    """A log path as shown: relative to the working directory when under it."""
    with contextlib.suppress(ValueError, OSError):
        return str(Path(path).resolve().relative_to(Path.cwd()))
    return path


def step_line(record: StepRecord, title: str, now: float, width: int | None = None) -> str:
    """One step's progress line; with ``width``, the title is shortened first so that the log path stays."""
    head = f"rvconform: {label(record)}: "
    tail = f" ({format_elapsed(now - record.started)}, log {shown_path(record.log)})"
    if width is None:
        return head + title + tail
    room = width - len(head) - len(tail)
    line = head + trim(title, room) + tail if room >= 12 else head + title + tail
    return line if len(line) <= width else line[: max(width - 3, 0)] + "..."


def end_line(record: StepRecord, now: float) -> str:
    """The plain line that says a step is over (its test says how it went)."""
    return f"rvconform: {label(record)}: ended after {format_elapsed(now - record.started)} " \
           f"(log {shown_path(record.log)})"


@dataclass
class PlainSchedule:
    """When a step's plain line is due: once it has run ``FIRST_AFTER`` s, then when its title changes (at most
    every ``MIN_GAP`` s), and every ``HEARTBEAT`` s while it does not."""

    title: str | None = None
    at: float | None = None

    def due(self, title: str, age: float, now: float) -> bool:
        """Whether to print a line now; when it says yes, it counts the line as printed."""
        if age < FIRST_AFTER:
            return False
        if self.at is not None and now - self.at < HEARTBEAT and (title == self.title or now - self.at < MIN_GAP):
            return False
        self.title, self.at = title, now
        return True


class _Watched:
    """A step the display follows: its record, its log and what was printed about it."""

    def __init__(self, record: StepRecord) -> None:
        self.record = record
        self.follower = LogFollower(Path(record.log))
        self.titles = BuildkitTitles() if record.kind == BUILD else MmdebstrapTitles()
        self.schedule = PlainSchedule()

    def title(self) -> str:
        for line in self.follower.new_lines():
            self.titles.feed(line)
        return self.titles.title or "starting"


class Terminal:
    """pytest's terminal, shared with the progress lines.

    ``install`` puts this object in the place of the terminal writer's file, so every write of pytest's
    passes through: live lines drawn below the cursor are erased first, and pytest's output continues where
    it was. Progress goes to a duplicate of the terminal's descriptor, so that it reaches the terminal even
    while pytest captures fd 1 (without xdist, builds run during a test's setup, under capture).
    """

    def __init__(self, writer: Any, live: bool | None = None) -> None:
        self._inner: TextIO = writer._file
        self._writer = writer
        self._lock = threading.Lock()
        self._fd = _duplicate(self._inner)
        self.live = _is_terminal(self._fd) if live is None else live
        self._line: str = getattr(writer, "_current_line", "")  # pytest's unfinished line
        self._drawn = 0
        self._broken = False  # plain lines ended pytest's unfinished line: write it again before it goes on

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._inner, name)

    def write(self, text: str) -> int:
        """pytest's writes: erase the live lines first; flush, so progress written beside stays in order."""
        with self._lock:
            if self._drawn:
                with contextlib.suppress(OSError):
                    self._emit(ERASE_BELOW)
                self._drawn = 0
            self._inner.write(self._resumed(text) if self._broken else text)
            self._broken = False
            self._inner.flush()
            self._line = re.split(r"[\r\n]", text)[-1] if re.search(r"[\r\n]", text) else self._line + text
        return len(text)

    def _resumed(self, text: str) -> str:
        """pytest's text after plain lines ended its line: its line again (the column it counts on), or its next."""
        if text.startswith("\n"):
            return text[1:]
        return text if text.startswith("\r") else self._line + text

    def flush(self) -> None:
        """Flush pytest's stream."""
        with self._lock:
            self._inner.flush()

    @property
    def width(self) -> int:
        """The terminal's width (80 when it has none)."""
        return self._size()[0]

    def _size(self) -> tuple[int, int]:
        try:
            size = os.get_terminal_size(self._fd) if self._fd is not None else None
        except OSError:
            size = None
        return (size.columns, size.lines) if size else (80, 24)

    def install(self) -> None:
        """Route pytest's writes through this object."""
        self._writer._file = self

    def uninstall(self) -> None:
        """Erase the live lines and give pytest its stream back."""
        with self._lock:
            if self._writer._file is self:
                self._writer._file = self._inner
            if self._drawn:
                self._drawn = 0
                with contextlib.suppress(OSError):
                    self._emit(ERASE_BELOW)
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def show(self, lines: list[str]) -> None:
        """Live: draw ``lines`` below pytest's cursor, and put the cursor back where pytest left it."""
        with self._lock:
            column = len(_ANSI.sub("", self._line))
            width, height = self._size()
            if column >= width:  # pytest's line wrapped: where the cursor is is not known
                return
            lines = lines[: max(height - 2, 1)]  # the cursor cannot go back above the top of the screen
            drawing = ERASE_BELOW
            if lines:
                drawing += "\n" + "\n".join(line[: width - 1] for line in lines)
                drawing += f"\x1b[{len(lines)}A\r" + (f"\x1b[{column}C" if column else "")
            if lines or self._drawn:
                self._emit(drawing)
            self._drawn = len(lines)

    def print(self, lines: list[str]) -> None:
        """Plain: print ``lines`` as they are, on lines of their own."""
        if not lines:
            return
        with self._lock:
            start = "\n" if self._line and not self._broken else ""
            self._emit(start + "".join(f"{line}\n" for line in lines))
            self._broken = bool(self._line)

    def _emit(self, text: str) -> None:
        if self._fd is None:
            self._inner.write(text)
            self._inner.flush()
            return
        data = text.encode(getattr(self._inner, "encoding", None) or "utf-8", "replace")
        while data:
            data = data[os.write(self._fd, data):]


def _duplicate(stream: TextIO) -> int | None:
    try:
        return os.dup(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return None


def _is_terminal(fd: int | None) -> bool:
    return fd is not None and os.isatty(fd) and os.environ.get("TERM") != "dumb"


class Display:
    """The pytest plugin object (controlling process only) that shows the run's steps in progress."""

    def __init__(self, run_dir: Path) -> None:
        self.directory = steps_dir(run_dir)
        self._watched: dict[str, _Watched] = {}
        self._terminal: Terminal | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        config = session.config
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None and not config.option.collectonly:
            with contextlib.suppress(Exception):  # without progress lines, the run is the same
                self.start(config.get_terminal_writer())

    @pytest.hookimpl(tryfirst=True)  # before the summaries
    def pytest_sessionfinish(self) -> None:
        self.stop()

    def pytest_unconfigure(self) -> None:
        self.close()

    def start(self, writer: Any, live: bool | None = None) -> None:
        """Share ``writer``'s terminal and start the thread."""
        self._terminal = Terminal(writer, live)
        self._terminal.install()
        self._thread = threading.Thread(target=self._loop, name="rvconform-progress", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread, say which steps ended and erase the live lines."""
        if self._thread is None or self._terminal is None:
            return
        self._stopping.set()
        self._thread.join(timeout=5)
        self._thread = None
        with contextlib.suppress(Exception):
            self.tick(time.time())

    def close(self) -> None:
        """Stop, and give pytest its terminal back (after the summaries: the last plain line may have
        interrupted one of pytest's lines, which its next write finishes)."""
        self.stop()
        if self._terminal is not None:
            with contextlib.suppress(Exception):
                self._terminal.uninstall()
            self._terminal = None

    def tick(self, now: float) -> None:
        """Read the records and logs once and update the terminal."""
        assert self._terminal is not None
        records = steps_in_progress(self.directory)
        ended = [self._watched.pop(key) for key in list(self._watched) if key not in records]
        for key, record in records.items():
            self._watched.setdefault(key, _Watched(record))
        titles = [(watched, watched.title()) for watched in self._watched.values()]
        if self._terminal.live:
            width = self._terminal.width - 1
            self._terminal.show([step_line(w.record, title, now, width) for w, title in titles])
            return
        lines = [end_line(w.record, now) for w in ended if w.schedule.at is not None]
        lines += [step_line(w.record, title, now) for w, title in titles
                  if w.schedule.due(title, now - w.record.started, now)]
        self._terminal.print(lines)

    def _loop(self) -> None:
        while not self._stopping.wait(TICK):
            with contextlib.suppress(Exception):  # progress is a courtesy: it must never disturb the run
                self.tick(time.time())
