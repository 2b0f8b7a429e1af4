"""Byte sizes as people write them ("12 MB", "1.5 MiB", 4096) and as reports show them."""

from __future__ import annotations

import re

_UNITS = {
    "": 1, "B": 1,
    "KB": 1000, "MB": 1000**2, "GB": 1000**3,
    "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")


def parse_size(value: int | str) -> int:
    """Return the number of bytes in ``value``: an int, or a string such as "12 MB" or "3.5 MiB".

    MB is 1000**2 bytes, as `docker images` counts; MiB is 1024**2.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a size such as 12 MB, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"a size cannot be negative, got {value}")
        return value
    match = _SIZE.match(str(value))
    unit = match.group(2).upper() if match else None
    if not match or unit not in _UNITS:
        raise ValueError(f"expected a size such as 12 MB, 3.5 MiB or 4096, got {value!r}")
    return int(float(match.group(1)) * _UNITS[unit])


def format_size(n_bytes: int | None) -> str:
    """Format bytes the way `docker images` does (decimal units), e.g. 10.2 MB."""
    if n_bytes is None:
        return "-"
    size = float(n_bytes)
    for unit in ("B", "kB", "MB", "GB"):
        if abs(size) < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.2f} {unit}"
        size /= 1000
    raise AssertionError("unreachable")
