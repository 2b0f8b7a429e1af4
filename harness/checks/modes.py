"""File modes as checks declare them: octal permission bits ("0755"), an ``ls -l`` string ("-rwxr-xr-x",
"drwxrwxrwt") or the Go ``FileMode`` string that container-structure-test files use ("Lrwxrwxrwx" for a
symlink, "urwxr-xr-x" for setuid, "dtrwxrwxrwx" for a sticky directory)."""

from __future__ import annotations

import re
import stat
from dataclasses import dataclass

FORMS = 'octal such as "0755", or "-rwxr-xr-x" as ls -l prints it (container-structure-test: Go\'s "Lrwxrwxrwx")'
_OCTAL = re.compile(r"^[0-7]{3,5}$")
_LS = re.compile(r"^([-dlcbps])([r-][w-][xsS-])([r-][w-][xsS-])([r-][w-][xtT-])$")
_LS_KINDS = {"-": stat.S_IFREG, "d": stat.S_IFDIR, "l": stat.S_IFLNK, "c": stat.S_IFCHR, "b": stat.S_IFBLK,
             "p": stat.S_IFIFO, "s": stat.S_IFSOCK}
_GO = re.compile(r"^(-|[dLDpSugct]+)([r-][w-][x-][r-][w-][x-][r-][w-][x-])$")


@dataclass(frozen=True)
class ExpectedMode:
    """A declared mode: ``kind`` (a ``stat.S_IF*`` value; None when only the bits were given, as in "0755")
    and ``bits``, the permission bits with setuid, setgid and sticky (``0o7777``)."""

    kind: int | None
    bits: int

    def matches(self, mode: int) -> bool:
        """Whether a file's full ``st_mode`` (type and permission bits, as a tar header gives) is this one."""
        kind_ok = self.kind is None or stat.S_IFMT(mode) == self.kind
        return kind_ok and stat.S_IMODE(mode) == self.bits

    def __str__(self) -> str:
        return stat.filemode((self.kind or 0) | self.bits) if self.kind else f"{self.bits:04o}"


def parse_mode(text: str) -> ExpectedMode:
    """``text`` in any of the FORMS; ValueError saying what is wrong otherwise."""
    if _OCTAL.match(text):
        bits = int(text, 8)
        if bits > 0o7777:
            raise ValueError(f"octal mode {text} has bits above 07777")
        return ExpectedMode(None, bits)
    if match := _LS.match(text):
        return ExpectedMode(_LS_KINDS[match[1]], _rwx_bits("".join(match.groups()[1:])))
    if match := _GO.match(text):
        return _go_mode(match[1], match[2])
    raise ValueError(f"{text!r} is not a mode: expected {FORMS}")


def _rwx_bits(triplets: str) -> int:
    """Permission bits of nine ``ls -l`` characters (s/S/t/T included)."""
    bits = 0
    for index, char in enumerate(triplets):
        if char not in "-ST":
            bits |= 1 << (8 - index)
    special = {2: stat.S_ISUID, 5: stat.S_ISGID, 8: stat.S_ISVTX}
    for index, flag in special.items():
        if triplets[index] in "sStT":
            bits |= flag
    return bits


def _go_mode(letters: str, rwx: str) -> ExpectedMode:
    bits = _rwx_bits(rwx)
    kind = stat.S_IFREG
    for letter in letters.strip("-"):
        if letter in "ugt":
            bits |= {"u": stat.S_ISUID, "g": stat.S_ISGID, "t": stat.S_ISVTX}[letter]
        else:
            kind = {"d": stat.S_IFDIR, "L": stat.S_IFLNK, "D": stat.S_IFBLK, "p": stat.S_IFIFO, "S": stat.S_IFSOCK,
                    "c": stat.S_IFCHR}[letter]
    return ExpectedMode(kind, bits)
