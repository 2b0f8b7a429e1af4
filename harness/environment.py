"""What a run ran on: the versions of the tools it used and each board's kernel, for the report's header."""

from __future__ import annotations

import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import PackageNotFoundError, version

from harness.buildkit import find_buildkit_cli, run_quietly

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
    """The version a tool reports, "not installed", or "(version unknown)"."""
    if not shutil.which(command[0]):
        return "not installed"
    result = run_quietly(command, timeout=10)
    return version_in(result.stdout + result.stderr) if result else "(version unknown)"


def engine_version() -> str:
    """The container engine's server version, through the BuildKit-capable client the builds use."""
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
