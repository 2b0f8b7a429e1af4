"""What a run ran on: the versions of the tools it used and each board's kernel, for the report's header."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import PackageNotFoundError, version

from harness.buildkit import find_buildkit_cli, run_quietly
from harness.cache import cache_dir
from harness.engine import engine
from harness.errors import RvconformError

#: Report label -> the command whose output names the version.
TOOLS = {
    "qemu-user": ["qemu-riscv64-static", "--version"],
    "qemu-system": ["qemu-system-riscv64", "--version"],
    "registry": ["docker-registry", "--version"],
    "mmdebstrap": ["mmdebstrap", "--version"],
}


def rvconform_version() -> str:
    """The installed rvconform's version ("unknown" when run from a checkout that is not installed)."""
    try:
        return version("rvconform")
    except PackageNotFoundError:
        return "unknown"


def version_in(text: str) -> str:
    """The first version in a tool's --version output: "QEMU emulator version 7.2.22 (...)" -> 7.2.22."""
    match = re.search(r"\b\d+\.\d+[\w.+~-]*", text)
    return match.group(0) if match else "(version unknown)"


def tool_version(command: list[str]) -> str:
    """The version a tool reports, "not installed", or "(version unknown)".

    Cached by the binary's path, size and modification time (``$RVCONFORM_CACHE/tools``): asking costs a
    process start, some of them (mmdebstrap, QEMU) a tenth of a second each, and the answer only changes
    when the binary does.
    """
    path = shutil.which(command[0])
    if not path:
        return "not installed"
    stat = os.stat(path)
    key = hashlib.sha256(f"{os.path.realpath(path)}\0{stat.st_size}\0{stat.st_mtime_ns}\0{command}".encode())
    cached = cache_dir("tools") / f"{key.hexdigest()[:24]}.version"
    if cached.is_file():
        return cached.read_text()
    result = run_quietly(command, timeout=10)
    if not result:
        return "(version unknown)"
    found = version_in(result.stdout + result.stderr)
    cached.write_text(found)
    return found


def engine_version() -> str:
    """The container engine's server version: from the SDK when the run already talks to the engine through
    it, else through the BuildKit-capable client the builds use."""
    if "docker" in sys.modules:  # loaded: asking through it costs a request, not a process
        with contextlib.suppress(RvconformError, OSError, KeyError):
            return str(engine().version()["Version"])
    cli = find_buildkit_cli()
    if cli is None:
        return "no docker client"
    result = run_quietly([cli.path, "version", "--format", "{{.Server.Version}}"], timeout=10)
    return result.stdout.strip() if result and result.returncode == 0 else "not answering"


def run_environment(board_kernels: dict[str, str]) -> dict[str, str]:
    """The report header's rows: rvconform, engine, QEMU, registry and mmdebstrap versions, board kernels.

    The tools are asked side by side: each answer is a process start, and together they took half a second.
    """
    with ThreadPoolExecutor(max_workers=len(TOOLS) + 1) as pool:
        engine = pool.submit(engine_version)
        tools = {name: pool.submit(tool_version, command) for name, command in TOOLS.items()}
        rows = {"rvconform": rvconform_version(), "engine": engine.result()}
        rows.update({name: future.result() for name, future in tools.items()})
    rows.update({f"kernel of board {board}": kernel for board, kernel in board_kernels.items()})
    return rows
