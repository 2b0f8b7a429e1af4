"""Which platforms a board runs images of: the local engine runs its own architecture natively and riscv64
under QEMU user emulation; the qemu VM and SSH boards (riscv64 boards) run riscv64. A multi-platform recipe's
entry is checked on every board that runs its platform, so the local board checks two entries."""

from __future__ import annotations

import platform as host

from harness.boards.url import parse_board_url

RISCV64 = "linux/riscv64"
#: ``uname -m`` -> the OCI architecture name.
_OCI_ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64", "riscv64": "riscv64"}


def host_platform() -> str:
    """This machine's own platform, e.g. ``linux/amd64``."""
    machine = host.machine()
    return f"linux/{_OCI_ARCHITECTURES.get(machine, machine)}"


def board_platforms(url: str) -> tuple[str, ...]:
    """The platforms (os/arch) board ``url`` runs: riscv64 everywhere, plus the host's own on ``local``."""
    if parse_board_url(url).kind == "local":
        return tuple(dict.fromkeys((RISCV64, host_platform())))
    return (RISCV64,)


def runs_platform(url: str, platform: str) -> bool:
    """Whether board ``url`` runs images of ``platform`` (its variant aside)."""
    return "/".join(platform.split("/")[:2]) in board_platforms(url)


def how_it_runs(url: str, platform: str) -> str:
    """``natively`` or ``under QEMU user emulation``: how board ``url`` runs ``platform``'s images."""
    if parse_board_url(url).kind == "local" and "/".join(platform.split("/")[:2]) != host_platform():
        return "under QEMU user emulation"
    return "natively"
