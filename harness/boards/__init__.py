"""Boards behind URL schemes: ``local`` (the engine here, under QEMU user emulation), ``ssh://...``
(a real board over SSH) and ``qemu`` (a full-system riscv64 VM, driven like an SSH board)."""

from __future__ import annotations

from urllib.parse import urlsplit

from harness.boards.base import Board, CommandResult, Container, PullResult, RunSpec
from harness.errors import BoardError
from harness.run import Run

__all__ = ["Board", "CommandResult", "Container", "PullResult", "RunSpec", "open_board", "validate_board_url"]

KNOWN = "local, qemu[://?cpus=N&memory=MB], ssh://USER@HOST[:PORT][?key=PATH&runtime=docker|podman|ctr|k3s]"


def validate_board_url(url: str) -> str:
    """Return the board kind of ``url``, or raise BoardError saying which URLs are understood."""
    kind = urlsplit(url).scheme or url
    if kind not in ("local", "ssh", "qemu"):
        raise BoardError(f"unknown board URL {url!r}", fix=f"use one of: {KNOWN}")
    if kind == "ssh":
        from harness.boards.ssh import SshTarget

        SshTarget.parse(url)
    if kind == "qemu":
        from harness.boards.qemu import QemuOptions

        QemuOptions.parse(url)
    return kind


def open_board(url: str, labels: dict[str, str], run: Run | None = None) -> Board:
    """Connect to the board named by ``url``; ``labels`` mark everything it creates for this run.

    A qemu board needs the ``run``, which owns (and at its end stops) the VM.
    """
    kind = validate_board_url(url)
    if kind == "local":
        from harness.boards.local import LocalBoard

        return LocalBoard(labels)
    if kind == "ssh":
        from harness.boards.ssh import SshBoard, SshTarget

        return SshBoard(url, SshTarget.parse(url), labels)
    from harness.boards.qemu import QemuBoard, QemuOptions

    if run is None:
        raise BoardError("a qemu board needs a run to own its VM")
    return QemuBoard(url, QemuOptions.parse(url), labels, run)
