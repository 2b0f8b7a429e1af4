"""Layers apply in order, whiteouts and opaque directories hide lower layers, symlinks resolve like the kernel's."""

import io
import tarfile
from pathlib import Path

import pytest

from harness.conformance.filesystem import FileEntry, ImageFilesystem, read_layers

Member = bytes | str | None


def write_layer(path: Path, members: dict[str, Member], compress: bool = True) -> Path:
    """A layer tar: bytes are a file, "-> target" a symlink, "=> target" a hardlink, None a directory."""
    with tarfile.open(path, "w:gz" if compress else "w") as layer:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            if content is None:
                info.type = tarfile.DIRTYPE
            elif isinstance(content, str):
                info.type = tarfile.SYMTYPE if content.startswith("-> ") else tarfile.LNKTYPE
                info.linkname = content[3:]
            else:
                info.size = len(content)
            layer.addfile(info, io.BytesIO(content) if isinstance(content, bytes) else None)
    return path


def image(tmp_path: Path, *layers: dict[str, Member]) -> ImageFilesystem:
    paths = [write_layer(tmp_path / f"layer{index}.tar.gz", members) for index, members in enumerate(layers)]
    return read_layers(paths).filesystem


def test_paths_are_absolute_with_or_without_dot_slash(tmp_path: Path) -> None:
    fs = image(tmp_path, {"./": None, "./usr/": None, "./usr/bin/": None, "./usr/bin/true": b"x", "etc/issue": b"hi"})
    assert set(fs.entries) == {"/usr", "/usr/bin", "/usr/bin/true", "/etc", "/etc/issue"}
    assert fs.entries["/usr/bin/true"] == FileEntry("/usr/bin/true", "file", 1, None, 0, mode=0o644)
    assert fs.entries["/etc"].kind == "dir"  # implied by /etc/issue
    assert len(fs) == 5


@pytest.mark.parametrize("compress", [True, False])
def test_gzip_and_plain_tar_both_read(tmp_path: Path, compress: bool) -> None:
    path = write_layer(tmp_path / "layer", {"a/b": b"12345"}, compress=compress)
    contents = read_layers([path])
    assert contents.filesystem.resolve("/a/b") == "/a/b"
    assert (contents.bytes_read, contents.layers) == (5, 1)


def test_a_later_layer_overwrites(tmp_path: Path) -> None:
    fs = image(tmp_path, {"etc/motd": b"old", "bin/sh": b"sh"}, {"etc/motd": b"newer", "bin/sh": "-> dash"})
    assert fs.entries["/etc/motd"] == FileEntry("/etc/motd", "file", 5, None, 1, mode=0o644)
    assert fs.entries["/bin/sh"].kind == "symlink"


def test_a_whiteout_deletes_the_path_and_all_below_it_from_lower_layers(tmp_path: Path) -> None:
    fs = image(tmp_path,
               {"opt/app/bin/run": b"x", "opt/app/lib/l.so": b"y", "opt/keep": b"z", "etc/a": b"a"},
               {"opt/.wh.app": b"", "etc/.wh.a": b""})
    assert set(fs.entries) == {"/opt", "/opt/keep", "/etc"}


def test_a_whiteout_spares_the_same_layer_and_a_later_one_restores(tmp_path: Path) -> None:
    fs = image(tmp_path, {"etc/a": b"1"}, {"etc/.wh.a": b"", "etc/b": b"2"}, {"etc/a": b"3"})
    assert fs.entries["/etc/a"].layer == 2
    assert fs.resolve("/etc/b") is not None


def test_an_opaque_directory_hides_lower_layers_but_keeps_its_own_layer(tmp_path: Path) -> None:
    fs = image(tmp_path,
               {"var/cache/old": b"o", "var/cache/sub/deep": b"d", "var/other": b"k"},
               {"var/cache/": None, "var/cache/new": b"n", "var/cache/.wh..wh..opq": b""})
    assert set(fs.entries) == {"/var", "/var/cache", "/var/cache/new", "/var/other"}


def test_a_file_replacing_a_directory_takes_its_contents_away(tmp_path: Path) -> None:
    fs = image(tmp_path, {"srv/www/index.html": b"<p>"}, {"srv/www": b"now a file"})
    assert set(fs.entries) == {"/srv", "/srv/www"}


def test_hardlinks_point_at_another_path(tmp_path: Path) -> None:
    fs = image(tmp_path, {"./usr/bin/perl": b"perl!", "./usr/bin/perl5.40": "=> ./usr/bin/perl"})
    assert fs.entries["/usr/bin/perl5.40"] == FileEntry("/usr/bin/perl5.40", "hardlink", 5, "/usr/bin/perl", 0,
                                                        mode=0o644)
    assert fs.resolve("/usr/bin/perl5.40") == "/usr/bin/perl5.40"


@pytest.fixture
def linked(tmp_path: Path) -> ImageFilesystem:
    return image(tmp_path, {
        "lib": "-> usr/lib",  # Debian's merged /usr
        "usr/lib/riscv64-linux-gnu/libc.so.6": b"libc",
        "usr/lib/ld-linux-riscv64-lp64d.so.1": "-> riscv64-linux-gnu/ld-linux-riscv64-lp64d.so.1",
        "usr/lib/riscv64-linux-gnu/ld-linux-riscv64-lp64d.so.1": b"ld",
        "usr/bin/awk": "-> /etc/alternatives/awk",
        "etc/alternatives/awk": "-> /usr/bin/mawk",
        "usr/bin/mawk": b"mawk",
        "usr/bin/up": "-> ../lib/./riscv64-linux-gnu/../riscv64-linux-gnu/libc.so.6",
        "loop/a": "-> b",
        "loop/b": "-> a",
        "dangling": "-> /nowhere",
        "self": "-> .",
    })


@pytest.mark.parametrize(("path", "expected"), [
    ("/lib/ld-linux-riscv64-lp64d.so.1", "/usr/lib/riscv64-linux-gnu/ld-linux-riscv64-lp64d.so.1"),
    ("/lib/riscv64-linux-gnu/libc.so.6", "/usr/lib/riscv64-linux-gnu/libc.so.6"),
    ("lib/riscv64-linux-gnu/../riscv64-linux-gnu//libc.so.6", "/usr/lib/riscv64-linux-gnu/libc.so.6"),
    ("/usr/bin/awk", "/usr/bin/mawk"),
    ("/usr/bin/up", "/usr/lib/riscv64-linux-gnu/libc.so.6"),
    ("/self/self/lib", "/usr/lib"),
    ("/../../lib", "/usr/lib"),
    ("/", "/"),
    ("/loop/a", None),
    ("/dangling", None),
    ("/lib/missing.so", None),
    ("/usr/bin/mawk/x", None),
])
def test_symlinks_resolve_in_every_component(linked: ImageFilesystem, path: str, expected: str | None) -> None:
    assert linked.resolve(path) == expected
    assert (linked.resolve(path) is not None) is (expected is not None)


def test_the_lower_layers_symlinked_directory_takes_new_files(tmp_path: Path) -> None:
    fs = image(tmp_path, {"lib": "-> usr/lib", "usr/lib/": None}, {"usr/lib/libnew.so": b"x"})
    assert fs.resolve("/lib/libnew.so") == "/usr/lib/libnew.so"
