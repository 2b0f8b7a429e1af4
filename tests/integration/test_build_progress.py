"""A long build shows its progress on the terminal: plain lines in a CI log, a live line on a terminal."""

from __future__ import annotations

import fcntl
import os
import re
import select
import struct
import subprocess
import sys
import termios
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).parents[2]
STEP = "[slow 3/3] RUN sleep 12 && cat /nonce"


def slow_recipe(recipes_dir) -> Path:
    """The slow-build recipe with a file of its own, so that BuildKit's cache cannot skip its slow step."""
    recipes = recipes_dir("slow-build")
    (recipes / "slow-build" / "nonce").write_text(uuid.uuid4().hex + "\n")
    return recipes


def test_a_ci_log_gets_plain_progress_lines_from_an_xdist_worker(run_suites, recipes_dir) -> None:
    run = run_suites("-n", "2", "-k", "test_build", recipes=slow_recipe(recipes_dir), cli=True, timeout=300)
    assert run.outcome("test_build[slow-build]") == "passed", run.output
    log = run.reports / "logs" / "build-slow-build.log"
    lines = [line for line in run.output.splitlines() if line.startswith("rvconform: build slow-build:")]
    assert re.fullmatch(rf"rvconform: build slow-build: {re.escape(STEP)} \(\d+s, log {log}\)", lines[0]), run.output
    assert re.fullmatch(rf"rvconform: build slow-build: ended after \d+s \(log {log}\)", lines[-1]), run.output
    assert len(lines) <= 4, f"a 12 s step is worth a line or two, not more:\n{run.output}"
    assert "\x1b[J" not in run.output, "no live drawing in a log"


def test_a_terminal_gets_a_live_line_that_leaves_pytest_s_output_intact(recipes_dir, tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    command = [sys.executable, "-m", "harness.cli", "run", "-p", "no:cacheprovider", "--reports", str(reports),
               "--recipes", str(slow_recipe(recipes_dir)), "-k", "test_build"]
    raw = run_in_terminal(command, columns=200, timeout=300)
    live = re.findall(rf"rvconform: build slow-build: {re.escape(STEP)} \((\d+)s, log ([^)]+)\)", raw)
    assert len({seconds for seconds, _ in live}) >= 5, f"redrawn every second or so:\n{raw!r}"
    assert {log for _, log in live} == {str(reports / "logs" / "build-slow-build.log")}
    screen = render(raw, columns=200)
    assert not any("rvconform: build" in line for line in screen), "the live line is erased when the step ends"
    results = [line for line in screen if line.startswith("suites/test_build.py")]
    assert results and re.fullmatch(r"suites/test_build\.py \.\s+\[100%\]", results[0]), "\n".join(screen)
    assert re.search(r"=+ 1 passed, \d+ deselected in [\d.]+s =+", screen[-1]), "\n".join(screen)


def run_in_terminal(command: list[str], columns: int, timeout: float) -> str:
    """Run ``command`` on a pseudo-terminal of ``columns`` columns; everything it wrote, escape sequences included."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    process = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, start_new_session=True,
                               env={**os.environ, "TERM": "xterm", "COLUMNS": str(columns)})
    os.close(slave)
    output = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if select.select([master], [], [], 1)[0]:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: every end of the terminal's other side is closed
                    break
                if not chunk:
                    break
                output += chunk
        assert process.wait(timeout=30) == 0, output.decode(errors="replace")
    finally:
        process.kill()
        os.close(master)
    return output.decode(errors="replace")


def render(raw: str, columns: int) -> list[str]:
    """What a terminal shows (scrollback included) after ``raw``: text, CR, LF, and the cursor moves and
    erasures the harness and pytest use (colours are dropped)."""
    screen: list[list[str]] = [[]]
    row = column = 0
    for match in re.finditer(r"\x1b\[([0-9;?]*)([A-Za-z])|[\r\n]|[^\x1b\r\n]", raw):
        token, (argument, command) = match.group(0), match.groups()
        screen.extend([] for _ in range(row + 1 - len(screen)))
        if token == "\r":
            column = 0
        elif token == "\n":
            row, column = row + 1, 0
        elif command == "A":
            row = max(row - int(argument or 1), 0)
        elif command == "C":
            column += int(argument or 1)
        elif command == "J":
            del screen[row][column:]
            del screen[row + 1:]
        elif command is None:
            if column >= columns:
                row, column = row + 1, 0
                screen.append([])
            line = screen[row]
            line.extend(" " * (column + 1 - len(line)))
            line[column] = token
            column += 1
    return ["".join(line).rstrip() for line in screen if "".join(line).strip()]
