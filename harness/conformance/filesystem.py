"""The final filesystem of an image, read from its layer blobs with one streaming pass per layer.

Layers apply in order, as overlayfs shows them: a later layer's entry replaces a lower one, a member
``dir/.wh.NAME`` deletes ``dir/NAME`` and everything below it from the lower layers, and
``dir/.wh..wh..opq`` hides everything the lower layers have below ``dir``. ELF files are parsed as
they stream past (``elf_file``), so each layer blob is decompressed exactly once.
"""

from __future__ import annotations

import fnmatch
import posixpath
import tarfile
from dataclasses import dataclass, replace
from pathlib import Path

from harness.conformance.elf_file import ELF_MAGIC, ElfFile, parse_elf

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
AUFS_META = "/.wh..wh."
MAX_SYMLINK_HOPS = 40
SMALL_FILES = ("/etc/ld.so.conf", "/etc/ld.so.conf.d/*.conf", "/etc/ld-musl-*.path")
SMALL_FILE_LIMIT = 1 << 20


@dataclass(frozen=True)
class FileEntry:
    """One path of the image: ``kind`` is file, dir, symlink, hardlink or other; ``layer`` the layer index;
    ``mode`` the permission bits (with setuid/setgid/sticky), ``uid`` and ``gid`` the owner, as the tar says."""

    path: str
    kind: str
    size: int = 0
    link: str | None = None
    layer: int = 0
    mode: int = 0
    uid: int = 0
    gid: int = 0


class ImageFilesystem:
    """The paths of an image's final filesystem, absolute (``/usr/bin/true``), with symlink resolution."""

    def __init__(self, entries: dict[str, FileEntry] | None = None) -> None:
        self.entries: dict[str, FileEntry] = entries if entries is not None else {}

    def __len__(self) -> int:
        return len(self.entries)

    def resolve(self, path: str) -> str | None:
        """The path ``path`` leads to through symlinks in any component, or None if nothing is there."""
        pending = list(reversed(_parts(path)))
        current, hops = "/", 0
        while pending:
            part = pending.pop()
            if part == "..":
                current = posixpath.dirname(current)
                continue
            candidate = posixpath.join(current, part)
            entry = self.entries.get(candidate)
            if entry is None or (pending and entry.kind not in ("dir", "symlink")):
                return None
            if entry.kind != "symlink":
                current = candidate
                continue
            hops += 1
            if hops > MAX_SYMLINK_HOPS or not entry.link:
                return None
            if entry.link.startswith("/"):
                current = "/"
            pending.extend(reversed(_parts(entry.link)))
        return current


@dataclass
class ImageContents:
    """An image's final filesystem, its ELF files and loader configuration, and what reading them took."""

    filesystem: ImageFilesystem
    elves: dict[str, ElfFile]
    small_files: dict[str, bytes]
    bytes_read: int
    layers: int
    layer_paths: tuple[Path, ...] = ()

    def read(self, path: str) -> bytes | None:
        """The content of the regular file ``path`` leads to (through symlinks and hard links), read again from
        its layer blob; None when there is no regular file there."""
        resolved = self.filesystem.resolve(path)
        entry = self.filesystem.entries.get(resolved) if resolved else None
        if entry is not None and entry.kind == "hardlink" and entry.link:
            entry = self.filesystem.entries.get(entry.link)
        if entry is None or entry.kind != "file":
            return None
        return _member_bytes(self.layer_paths[entry.layer], entry.path)


def read_layers(layer_paths: list[Path]) -> ImageContents:
    """Apply the layer blobs (gzip or plain tar) in order, parsing every ELF file on the way."""
    builder = _Builder()
    for index, path in enumerate(layer_paths):
        builder.read_layer(index, Path(path))
    return ImageContents(ImageFilesystem(builder.entries), builder.elves, builder.small_files,
                         builder.bytes_read, len(layer_paths), tuple(Path(p) for p in layer_paths))


def _member_bytes(layer_path: Path, path: str) -> bytes | None:
    """The last member of the layer blob that is ``path`` (a layer may name a path twice; the last wins)."""
    content = None
    with tarfile.open(layer_path, mode="r|*") as layer:
        for member in layer:
            if member.isreg() and normalise(member.name) == path:
                content = layer.extractfile(member).read()
    return content


def normalise(name: str) -> str:
    """A tar member name (``./usr/bin/true``, ``usr/bin/``) as an absolute path (``/usr/bin/true``)."""
    return posixpath.normpath("/" + name.lstrip("/"))


def _parts(path: str) -> list[str]:
    return [part for part in path.split("/") if part and part != "."]


def _hidden(path: str, gone: set[str], below: set[str]) -> bool:
    """Whether a whiteout (``gone``: the path and below) or an opaque dir (``below``) hides ``path``."""
    if path in gone:
        return True
    while path != "/":
        path = posixpath.dirname(path)
        if path in gone or path in below:
            return True
    return False


class _Builder:
    """The state of the final filesystem while the layers stream past."""

    def __init__(self) -> None:
        self.entries: dict[str, FileEntry] = {}
        self.elves: dict[str, ElfFile] = {}
        self.small_files: dict[str, bytes] = {}
        self.bytes_read = 0

    def read_layer(self, index: int, path: Path) -> None:
        gone: set[str] = set()
        below: set[str] = set()
        with tarfile.open(path, mode="r|*") as layer:
            for member in layer:
                self._member(layer, member, index, gone, below)
        # Whiteouts apply to the lower layers only, so they wait until this layer is complete.
        if gone or below:
            self._sweep(index, gone, below)

    def _member(self, layer: tarfile.TarFile, member: tarfile.TarInfo, index: int,
                gone: set[str], below: set[str]) -> None:
        path = normalise(member.name)
        directory, name = posixpath.split(path)
        if name == OPAQUE:
            below.add(directory)
        elif name.startswith(WHITEOUT):
            gone.add(posixpath.join(directory, name[len(WHITEOUT):]))
        elif path != "/" and not path.startswith(AUFS_META):  # aufs bookkeeping, not image content
            self._add(layer, member, path, index, below)

    def _add(self, layer: tarfile.TarFile, member: tarfile.TarInfo, path: str, index: int, below: set[str]) -> None:
        self._forget(path)
        entry = self._entry(member, path, index)
        previous = self.entries.get(path)
        if previous is not None and previous.kind == "dir" and entry.kind != "dir":
            below.add(path)  # a non-directory replaces a lower directory with all it held
        self._ensure_parents(posixpath.dirname(path), index)
        self.entries[path] = entry
        if entry.kind == "file":
            self.bytes_read += member.size
            self._read_file(layer, member, path)
        elif entry.kind == "hardlink":
            self._share(entry.link, path)

    def _entry(self, member: tarfile.TarInfo, path: str, index: int) -> FileEntry:
        owner = {"mode": member.mode, "uid": member.uid, "gid": member.gid}
        if member.isreg():
            return FileEntry(path, "file", member.size, None, index, **owner)
        if member.isdir():
            return FileEntry(path, "dir", 0, None, index, **owner)
        if member.issym():
            return FileEntry(path, "symlink", 0, member.linkname, index, **owner)
        if member.islnk():
            target = normalise(member.linkname)
            size = self.entries[target].size if target in self.entries else 0
            return FileEntry(path, "hardlink", size, target, index, **owner)
        return FileEntry(path, "other", 0, None, index, **owner)

    def _read_file(self, layer: tarfile.TarFile, member: tarfile.TarInfo, path: str) -> None:
        handle = layer.extractfile(member)
        head = handle.read(len(ELF_MAGIC))
        if head == ELF_MAGIC:
            self.elves[path] = parse_elf(path, head + handle.read())
        elif member.size <= SMALL_FILE_LIMIT and any(fnmatch.fnmatchcase(path, p) for p in SMALL_FILES):
            self.small_files[path] = head + handle.read()

    def _share(self, target: str, path: str) -> None:
        if target in self.elves:
            self.elves[path] = replace(self.elves[target], path=path)
        if target in self.small_files:
            self.small_files[path] = self.small_files[target]

    def _ensure_parents(self, directory: str, index: int) -> None:
        while directory != "/" and directory not in self.entries:
            self.entries[directory] = FileEntry(directory, "dir", 0, None, index, mode=0o755)
            directory = posixpath.dirname(directory)

    def _forget(self, path: str) -> None:
        self.elves.pop(path, None)
        self.small_files.pop(path, None)

    def _sweep(self, index: int, gone: set[str], below: set[str]) -> None:
        doomed = [path for path, entry in self.entries.items() if entry.layer < index and _hidden(path, gone, below)]
        for path in doomed:
            del self.entries[path]
            self._forget(path)
