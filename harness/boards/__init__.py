"""Boards behind URL schemes: ``local`` (the engine here, under QEMU user emulation), ``ssh://...``
(a real board over SSH) and ``qemu`` (a full-system riscv64 VM, driven like an SSH board).

Making a board neither connects nor boots; ``Board.open()`` does (``open_board`` does both).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from harness.boards.base import Board, CommandResult, Container, PullResult, RunSpec
from harness.boards.url import board_id, parse_board_url
from harness.engine import skip_unused_ssh_transport

if TYPE_CHECKING:
    from harness.run import Run

skip_unused_ssh_transport()  # before the board modules import the docker SDK

__all__ = ["BOARD_CLASSES", "Board", "CommandResult", "Container", "PullResult", "RunSpec", "board_id", "make_board",
           "open_board", "validate_board_url"]

#: URL scheme -> the board class, as "module:class" (a board's libraries load only when one is made).
BOARD_CLASSES = {
    "local": "harness.boards.local:LocalBoard",
    "ssh": "harness.boards.ssh:SshBoard",
    "qemu": "harness.boards.qemu:QemuBoard",
}


def validate_board_url(url: str) -> str:
    """Return the board kind of ``url``, or raise BoardError saying which URLs are understood."""
    return parse_board_url(url).kind


def make_board(url: str, labels: dict[str, str], run: Run | None = None) -> Board:
    """The board named by ``url``, not yet open; ``labels`` mark everything it creates for this run.

    A qemu board needs the ``run``, which owns (and at its end stops) the VM.
    """
    spec = parse_board_url(url)
    module, name = BOARD_CLASSES[spec.kind].split(":")
    board_class: type[Board] = getattr(import_module(module), name)
    return board_class(spec, labels, run)


def open_board(url: str, labels: dict[str, str], run: Run | None = None) -> Board:
    """The board named by ``url``, open: connected (an SSH board) or booted (a VM). Raises BoardUnreachable
    with the cause when it cannot be reached."""
    board = make_board(url, labels, run)
    try:
        board.open()
    except BaseException:
        board.close()
        raise
    return board
