"""Progress of long steps: the records processes share, what the logs say, and the lines the terminal gets."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness import progress, progress_log
from harness.progress import StepRecord, steps_in_progress
from harness.progress_display import (
    Display,
    PlainSchedule,
    Terminal,
    end_line,
    format_elapsed,
    step_line,
)
from harness.progress_log import BuildkitTitles, LogFollower, MmdebstrapTitles, trim

BUILDKIT_LOG = """\
$ /usr/bin/docker build --platform linux/riscv64 --progress=plain --build-arg TOKEN=s3cret-value /tmp/context
#1 [internal] load build definition from .rvconform.Dockerfile
#1 sha256:2bebd5eef14b60260c54f5e14c3ad41cca453fbf9e30eaba09f628e4ffc4b3c5
#1 transferring dockerfile: 1.64kB done
#1 DONE 0.0s

#4 [build 1/6] FROM docker.io/rvconform/debian:sid-riscv64-d6463d99defe
#4 CACHED

#5 [build 2/6] RUN apt-get update  && apt-get install -y --no-install-recommends gcc make  && rm -rf /var/lib/apt
#5 sha256:161857b7dfcb331be34634ea3d1e18750b52c5fd52edd54cefc319fa2d8d8aa2

#6 [internal] load build context
#6 transferring context: 3.03MB 0.1s done
#6 DONE 0.1s

#5 0.756 Get:1 http://deb.debian.org/debian sid InRelease [193 kB]
#5 DONE 48.1s
"""


def feed(titles: BuildkitTitles | MmdebstrapTitles, text: str) -> str | None:
    for line in text.splitlines():
        titles.feed(line)
    return titles.title


def record(tmp_path: Path, kind: str = "build", subject: str = "redis", started: float = 1000.0) -> StepRecord:
    return StepRecord(kind, subject, str(tmp_path / f"build-{subject}.log"), started, os.getpid())


@pytest.fixture
def run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A run directory this process records its steps in (until the test ends: this session has its own)."""
    monkeypatch.setattr(progress, "_directory", None)
    progress.enable(tmp_path)
    return tmp_path


# BuildKit and mmdebstrap logs -> the step's title


def test_buildkit_title_is_the_step_the_latest_line_is_about() -> None:
    titles = BuildkitTitles()
    assert feed(titles, BUILDKIT_LOG.split("#5 0.756")[0]) == "[internal] load build context"
    assert feed(titles, BUILDKIT_LOG) == "[build 2/6] RUN apt-get update && apt-get install -y --no..."
    assert feed(titles, "#12 [builder 5/9] RUN make -j2 MALLOC=libc") == "[builder 5/9] RUN make -j2 MALLOC=libc"
    assert feed(titles, "#9 [2/5] RUN nginx -t\n#9 0.512 ok") == "[2/5] RUN nginx -t"
    assert feed(titles, "#10 exporting to image\n#10 exporting layers 0.1s done") == "exporting to image"


def test_buildkit_title_never_shows_the_command_line_or_a_vertex_whose_name_was_missed() -> None:
    titles = BuildkitTitles()
    assert feed(titles, BUILDKIT_LOG.splitlines()[0]) is None, "the docker command (with build args) is not a step"
    assert feed(titles, "#9 187.9 checking whether compiler supports -Wall... yes\n#9 sha256:abc") is None
    assert "s3cret" not in (feed(titles, BUILDKIT_LOG) or "")


def test_a_long_step_title_is_cut_to_sixty_characters_on_one_line() -> None:
    title = trim("RUN set -eux;  \\\n   stage() { " + "x" * 100)
    assert len(title) == 60 and title.endswith("...") and "\n" not in title and "  " not in title
    assert trim("RUN make") == "RUN make"


def test_mmdebstrap_title_is_its_latest_message() -> None:
    titles = MmdebstrapTitles()
    assert feed(titles, "$ mmdebstrap --arch=riscv64 sid /tmp/x.tar http://deb.debian.org/debian") is None
    assert feed(titles, "I: automatically chosen mode: root\nI: running apt-get update...\ndone") == \
        "running apt-get update..."
    assert feed(titles, "W: something odd\nGet:1 http://deb.debian.org/debian sid") == "warning: something odd"
    assert feed(titles, "E: cannot find package kmod") == "error: cannot find package kmod"


# Reading logs cheaply


def test_a_log_is_read_from_where_the_last_look_stopped(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    follower = LogFollower(log)
    assert follower.new_lines() == [], "no log yet"
    log.write_text("one\ntw")
    assert follower.new_lines() == ["one"]
    with log.open("a") as handle:
        handle.write("o\nthree\n")
    assert follower.new_lines() == ["two", "three"]
    assert follower.new_lines() == []
    log.write_text("new build\n")
    assert follower.new_lines() == ["new build"], "a truncated log is read from its start"


def test_only_the_tail_of_a_large_log_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress_log, "MAX_READ", 100)
    log = tmp_path / "build.log"
    log.write_text("".join(f"line {n:03d} " + "x" * 20 + "\n" for n in range(50)))
    lines = LogFollower(log).new_lines()
    assert lines and len(lines) <= 4 and lines[-1].startswith("line 049")
    assert all(line.startswith("line ") for line in lines), "no partial first line"


# Lines


def test_elapsed_time_is_short() -> None:
    assert [format_elapsed(s) for s in (0, 42.9, 192, 3600 + 125)] == ["0s", "42s", "3m12s", "1h02m"]


def test_a_step_line_names_the_step_title_elapsed_time_and_log(tmp_path: Path) -> None:
    step = record(tmp_path)
    line = step_line(step, "[build 5/6] RUN make", 1192.0)
    assert line == f"rvconform: build redis: [build 5/6] RUN make (3m12s, log {tmp_path}/build-redis.log)"
    base = StepRecord("base", "sid-riscv64", str(tmp_path / "b.log"), 1000.0, 1)
    assert step_line(base, "installing essential packages...", 1061).startswith(
        "rvconform: base sid-riscv64: installing essential packages... (1m01s")
    assert end_line(step, 1192.0) == f"rvconform: build redis: ended after 3m12s (log {tmp_path}/build-redis.log)"


def test_a_step_line_fits_the_terminal_by_shortening_the_title(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    line = step_line(record(tmp_path), "[build 5/6] RUN " + "x" * 50, 1010.0, width=79)
    assert line == "rvconform: build redis: [build 5/6] RUN xxxxxxxxx... (10s, log build-redis.log)" and len(line) == 79
    assert len(step_line(record(tmp_path, subject="y" * 80), "RUN make", 1010.0, width=79)) == 79


def test_a_log_under_the_working_directory_is_shown_relative(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert step_line(record(tmp_path), "x", 1000.0).endswith("(0s, log build-redis.log)")


def test_plain_lines_come_after_a_few_seconds_on_changes_and_every_half_minute() -> None:
    schedule = PlainSchedule()
    start = 1000.0

    def due(title: str, at: float) -> bool:
        return schedule.due(title, at - start, at)

    assert not due("a", start + 4.9), "a quick step says nothing"
    assert due("a", start + 5)
    assert not due("a", start + 20), "unchanged"
    assert not due("b", start + 8), "changed, but too soon after the last line"
    assert due("b", start + 10)
    assert not due("b", start + 39)
    assert due("b", start + 40), "still alive"


# Records shared by the processes of a run


def test_a_step_is_recorded_while_it_runs_and_removed_after_even_on_failure(run_dir: Path, tmp_path: Path) -> None:
    with progress.step("build", "redis", tmp_path / "build-redis.log"):
        (step,) = steps_in_progress(progress.steps_dir(run_dir)).values()
        assert (step.kind, step.subject, step.log, step.pid) == ("build", "redis", str(tmp_path / "build-redis.log"),
                                                                  os.getpid())
        assert StepRecord.from_json(step.to_json()) == step
    assert steps_in_progress(progress.steps_dir(run_dir)) == {}
    with pytest.raises(RuntimeError), progress.step("base", "sid-riscv64", "log"):
        raise RuntimeError("mmdebstrap failed")
    assert steps_in_progress(progress.steps_dir(run_dir)) == {}


def test_outside_a_run_nothing_is_recorded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "_directory", None)
    with progress.step("build", "redis", tmp_path / "log"):
        assert list(tmp_path.iterdir()) == []


def test_records_of_dead_processes_and_broken_files_are_ignored(tmp_path: Path) -> None:
    directory = progress.steps_dir(tmp_path)
    directory.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (directory / "1-1.json").write_text(StepRecord("build", "gone", "log", 1.0, int(dead.stdout)).to_json())
    (directory / "2-1.json").write_text("{not json")
    (directory / "3-1.json").write_text('{"kind": "build"}')
    alive = StepRecord("vm", "abc", "log", 1.0, os.getpid())
    (directory / "4-1.json").write_text(alive.to_json())
    assert steps_in_progress(directory) == {"4-1.json": alive}


# The terminal


class Writer:
    """What Terminal needs of pytest's TerminalWriter: its file (here without a descriptor)."""

    def __init__(self) -> None:
        self._file = io.StringIO()
        self._current_line = ""


def test_plain_lines_end_pytest_s_line_which_goes_on_after_them() -> None:
    writer = Writer()
    terminal = Terminal(writer, live=False)
    terminal.install()
    writer._file.write("suites/test_build.py ")
    terminal.print(["rvconform: build redis: step (5s, log x)"])
    terminal.print(["rvconform: build redis: step (35s, log x)"])
    writer._file.write(".")
    writer._file.write("\n")
    writer._file.write("suites/test_platform.py .")
    terminal.print(["rvconform: build nginx: ended after 9s (log y)"])
    writer._file.write("\n")
    writer._file.write("== 2 passed ==\n")
    terminal.uninstall()
    assert writer._file is terminal._inner
    assert terminal._inner.getvalue() == (
        "suites/test_build.py \n"
        "rvconform: build redis: step (5s, log x)\n"
        "rvconform: build redis: step (35s, log x)\n"
        "suites/test_build.py .\n"
        "suites/test_platform.py .\n"
        "rvconform: build nginx: ended after 9s (log y)\n"
        "== 2 passed ==\n"
    )


def test_live_lines_are_drawn_below_pytest_s_cursor_and_erased_before_pytest_writes() -> None:
    writer = Writer()
    writer._current_line = "suites/test_build.py "
    terminal = Terminal(writer, live=True)
    terminal.install()
    terminal.show(["line one", "line two"])
    assert terminal._inner.getvalue() == "\x1b[J\nline one\nline two\x1b[2A\r\x1b[21C"
    writer._file.write(".")
    terminal.show([])
    terminal.show(["line one"])
    writer._file.write("\n")
    terminal.show(["line one"])
    assert terminal._inner.getvalue().endswith(
        "\x1b[J.\x1b[J\nline one\x1b[1A\r\x1b[22C\x1b[J\n\x1b[J\nline one\x1b[1A\r")
    terminal.uninstall()
    assert terminal._inner.getvalue().endswith("\x1b[J")


def test_the_display_prints_steps_and_their_end_once(tmp_path: Path, run_dir: Path) -> None:
    log = tmp_path / "build-redis.log"
    log.write_text(BUILDKIT_LOG)
    writer = Writer()
    display = Display(run_dir)
    display.start(writer, live=False)
    display.stop()  # the thread; ticks are driven here
    with progress.step("build", "redis", log):
        (step,) = steps_in_progress(progress.steps_dir(run_dir)).values()
        for seconds in (1, 6, 7, 40):
            display.tick(step.started + seconds)
    display.tick(step.started + 41)
    display.close()
    assert writer._file.getvalue().splitlines() == [
        f"rvconform: build redis: [build 2/6] RUN apt-get update && apt-get install -y --no... "
        f"({seconds}s, log {log})" for seconds in (6, 40)
    ] + [f"rvconform: build redis: ended after 41s (log {log})"]
