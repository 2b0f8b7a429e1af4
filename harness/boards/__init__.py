"""Boards behind URL schemes: ``local`` (the engine here, under QEMU user emulation), more to come."""

from __future__ import annotations

from urllib.parse import urlsplit

from harness.boards.base import Board, CommandResult, Container, PullResult, RunSpec
from harness.errors import BoardError

__all__ = ["Board", "CommandResult", "Container", "PullResult", "RunSpec", "open_board", "validate_board_url"]

KNOWN = "local"


def validate_board_url(url: str) -> str:
    """Return the board kind of ``url``, or raise BoardError saying which URLs are understood."""
    kind = urlsplit(url).scheme or url
    if kind != "local":
        raise BoardError(f"unknown board URL {url!r}", fix=f"use one of: {KNOWN}")
    return kind


def open_board(url: str, labels: dict[str, str]) -> Board:
    """Connect to the board named by ``url``; ``labels`` mark everything it creates for this run."""
    kind = validate_board_url(url)
    if kind == "local":
        from harness.boards.local import LocalBoard

        return LocalBoard(labels)
    raise AssertionError(kind)
