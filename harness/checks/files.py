"""``[[checks.file]]`` and CST file tests: a path of the image's final filesystem, as its layers leave it.

Paths are followed through symlinks, as a process in the container would open them: the mode, owner and
content checked are those of what the path leads to.
"""

from __future__ import annotations

import posixpath
import stat

from harness.checks.modes import parse_mode
from harness.checks.spec import FileCheck
from harness.checks.text import text_problems
from harness.conformance.filesystem import FileEntry, ImageContents

EXECUTE_BITS = {"any": 0o111, "owner": 0o100, "group": 0o010, "other": 0o001}
_TYPE_BITS = {"file": stat.S_IFREG, "hardlink": stat.S_IFREG, "dir": stat.S_IFDIR, "symlink": stat.S_IFLNK}


def file_problems(check: FileCheck, contents: ImageContents) -> list[str]:
    """What is wrong with ``check.path`` in the image; empty when the check passes."""
    entry = _entry(contents, check.path)
    if not check.exists:
        return [] if entry is None else [f"expected {check.path} to be absent, but it is a {_kind(entry)}"]
    if entry is None:
        return [f"expected {check.path} to exist, but the image has no such path"]
    link = contents.filesystem.entries.get(posixpath.normpath(check.path))
    problems = _mode_problems(check, entry, link if link is not None and link.kind == "symlink" else None)
    problems += _owner_problems(check, entry)
    if check.content is not None:
        problems += _content_problems(check, contents)
    return problems


def _entry(contents: ImageContents, path: str) -> FileEntry | None:
    resolved = contents.filesystem.resolve(path)
    entry = contents.filesystem.entries.get(resolved) if resolved else None
    if entry is not None and entry.kind == "hardlink" and entry.link in contents.filesystem.entries:
        return contents.filesystem.entries[entry.link]
    return entry


def _kind(entry: FileEntry) -> str:
    return {"file": "file", "hardlink": "file", "dir": "directory", "symlink": "symlink"}.get(entry.kind, entry.kind)


def ls_mode(entry: FileEntry) -> str:
    """The entry's mode as ``ls -l`` shows it, e.g. ``-rwxr-xr-x``."""
    return stat.filemode(_TYPE_BITS.get(entry.kind, 0) | entry.mode)


def _mode_problems(check: FileCheck, entry: FileEntry, link: FileEntry | None) -> list[str]:
    problems = []
    if check.mode is not None:
        expected = parse_mode(check.mode)
        # A mode that says "symlink" is about the link itself (as CST's "Lrwxrwxrwx" is); any other, its target.
        subject = link if expected.kind == stat.S_IFLNK and link is not None else entry
        if not expected.matches(_TYPE_BITS.get(subject.kind, 0) | subject.mode):
            seen = ls_mode(subject) if expected.kind else f"{subject.mode & 0o7777:04o} ({ls_mode(subject)})"
            problems.append(f"expected {check.path} to have mode {expected}, got {seen}")
    if check.executable_by is not None and not entry.mode & EXECUTE_BITS[check.executable_by]:
        problems.append(f"expected {check.path} to be executable by {check.executable_by}, but its mode is "
                        f"{ls_mode(entry)}")
    return problems


def _owner_problems(check: FileCheck, entry: FileEntry) -> list[str]:
    problems = []
    if check.uid is not None and entry.uid != check.uid:
        problems.append(f"expected {check.path} to be owned by uid {check.uid}, got {entry.uid}")
    if check.gid is not None and entry.gid != check.gid:
        problems.append(f"expected {check.path} to belong to gid {check.gid}, got {entry.gid}")
    return problems


def _content_problems(check: FileCheck, contents: ImageContents) -> list[str]:
    assert check.content is not None
    data = contents.read(check.path)
    if data is None:
        return [f"expected {check.path} to be a file with content to check, but it is not a regular file"]
    return text_problems(f"the content of {check.path}", data.decode("utf-8", errors="replace"), check.content)
