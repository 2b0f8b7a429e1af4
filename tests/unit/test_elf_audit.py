"""The ELF audit names every foreign, wrong-ABI or unresolvable binary by path, with its architecture."""

import io
import struct
import tarfile
from pathlib import Path

import pytest
from elftools.elf.elffile import ELFFile

from harness.conformance.elf_audit import ElfProblem, audit, audit_layers, describe
from harness.conformance.elf_file import parse_elf
from harness.conformance.filesystem import read_layers

EM_RISCV, EM_X86_64 = 243, 62
RVC_DOUBLE, RVC_SINGLE = 0x5, 0x3
ET_EXEC, ET_DYN, ET_REL = 2, 3, 1
PT_LOAD, PT_DYNAMIC, PT_INTERP = 1, 2, 3
DT_NULL, DT_NEEDED, DT_STRTAB, DT_STRSZ, DT_RUNPATH = 0, 1, 5, 10, 29
LOADER = "/lib/ld-linux-riscv64-lp64d.so.1"
Member = bytes | str | None


def make_elf(machine: int = EM_RISCV, flags: int = RVC_DOUBLE, elf_type: int = ET_DYN,
             interpreter: str | None = None, needed: tuple[str, ...] = (), runpath: str | None = None) -> bytes:
    """A minimal ELF64 little-endian file: one PT_LOAD over it all, PT_INTERP and PT_DYNAMIC when asked."""
    names = [*needed, *([runpath] if runpath else [])]
    strtab, offsets = b"\0", {}
    for name in names:
        offsets[name] = len(strtab)
        strtab += name.encode() + b"\0"
    tags = [(DT_NEEDED, offsets[name]) for name in needed] + ([(DT_RUNPATH, offsets[runpath])] if runpath else [])
    kinds = [PT_LOAD] + ([PT_INTERP] if interpreter else []) + ([PT_DYNAMIC] if names else [])
    interp = interpreter.encode() + b"\0" if interpreter else b""
    start = 64 + 56 * len(kinds)
    strtab_at = start + len(interp)
    dynamic_at = (strtab_at + len(strtab) + 7) // 8 * 8
    dynamic = b"".join(struct.pack("<qQ", tag, value)
                       for tag, value in [*tags, (DT_STRTAB, strtab_at), (DT_STRSZ, len(strtab)), (DT_NULL, 0)])
    size = dynamic_at + len(dynamic)
    where = {PT_LOAD: (0, size), PT_INTERP: (start, len(interp)), PT_DYNAMIC: (dynamic_at, len(dynamic))}
    header = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8) + struct.pack(
        "<HHIQQQIHHHHHH", elf_type, machine, 1, 0, 64, 0, flags, 64, 56, len(kinds), 64, 0, 0)
    phdrs = b"".join(struct.pack("<IIQQQQQQ", kind, 4, where[kind][0], where[kind][0], where[kind][0],
                                 where[kind][1], where[kind][1], 8) for kind in kinds)
    body = header + phdrs + interp + strtab
    return body + bytes(dynamic_at - len(body)) + dynamic


def write_layer(path: Path, members: dict[str, Member]) -> Path:
    """A gzip layer tar: bytes are a file, "-> target" a symlink, None a directory."""
    with tarfile.open(path, "w:gz") as layer:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            if content is None:
                info.type = tarfile.DIRTYPE
            elif isinstance(content, str):
                info.type, info.linkname = tarfile.SYMTYPE, content.removeprefix("-> ")
            else:
                info.size = len(content)
            layer.addfile(info, io.BytesIO(content) if isinstance(content, bytes) else None)
    return path


def run_audit(tmp_path: Path, *layers: dict[str, Member]) -> list[ElfProblem]:
    paths = [write_layer(tmp_path / f"layer{index}.tar.gz", members) for index, members in enumerate(layers)]
    return audit(read_layers(paths))


def texts(problems: list[ElfProblem]) -> list[str]:
    return [problem.problem for problem in problems]


def debian(**extra: Member) -> dict[str, Member]:
    """A merged-/usr riscv64 base: the loader and libc reached through symlinks, as Debian ships them."""
    return {
        "./lib": "-> usr/lib",
        "./usr/lib/riscv64-linux-gnu/ld-linux-riscv64-lp64d.so.1": make_elf(),
        "./usr/lib/ld-linux-riscv64-lp64d.so.1": "-> riscv64-linux-gnu/ld-linux-riscv64-lp64d.so.1",
        "./usr/lib/riscv64-linux-gnu/libc.so.6": make_elf(interpreter=LOADER, needed=("ld-linux-riscv64-lp64d.so.1",)),
        "./usr/lib/riscv64-linux-gnu/libz.so.1.3": make_elf(needed=("libc.so.6",)),
        "./usr/lib/riscv64-linux-gnu/libz.so.1": "-> libz.so.1.3",
        "./usr/bin/gzip": make_elf(interpreter=LOADER, needed=("libz.so.1", "libc.so.6")),
        "./etc/motd": b"riscv64\n",
        **extra,
    }


def test_the_test_elf_is_what_pyelftools_reads() -> None:
    data = make_elf(interpreter=LOADER, needed=("libz.so.1", "libc.so.6"), runpath="$ORIGIN/../lib:/opt/lib")
    elf = ELFFile(io.BytesIO(data))
    assert (elf["e_machine"], elf.elfclass, elf["e_flags"], elf["e_type"]) == ("EM_RISCV", 64, 5, "ET_DYN")
    segments = {segment["p_type"]: segment for segment in elf.iter_segments()}
    assert segments["PT_INTERP"].get_interp_name() == LOADER
    tags = list(segments["PT_DYNAMIC"].iter_tags())
    assert [tag.needed for tag in tags if tag.entry.d_tag == "DT_NEEDED"] == ["libz.so.1", "libc.so.6"]
    assert [tag.runpath for tag in tags if tag.entry.d_tag == "DT_RUNPATH"] == ["$ORIGIN/../lib:/opt/lib"]
    parsed = parse_elf("/usr/bin/gzip", data)
    assert (parsed.machine, parsed.bits, parsed.float_abi, parsed.elf_type) == ("EM_RISCV", 64, "double", "ET_DYN")
    assert (parsed.interpreter, parsed.needed) == (LOADER, ("libz.so.1", "libc.so.6"))
    assert parsed.search_paths == ("$ORIGIN/../lib", "/opt/lib")


def test_a_good_image_has_no_problems(tmp_path: Path) -> None:
    assert run_audit(tmp_path, debian()) == []


def test_a_foreign_binary_is_named_with_its_architecture(tmp_path: Path) -> None:
    problems = run_audit(tmp_path, debian(**{"usr/local/bin/true-amd64": make_elf(EM_X86_64, 0, ET_EXEC)}))
    assert texts(problems) == ["/usr/local/bin/true-amd64: x86-64 binary (EM_X86_64, 64-bit), not 64-bit RISC-V"]


def test_the_hosts_own_true_is_caught(tmp_path: Path) -> None:
    host_true = Path("/usr/bin/true").read_bytes()
    problems = run_audit(tmp_path, debian(), {"usr/local/bin/true-host": host_true})
    assert [problem.path for problem in problems] == ["/usr/local/bin/true-host"]
    assert "(EM_X86_64, 64-bit), not 64-bit RISC-V" in problems[0].problem


@pytest.mark.parametrize(("flags", "abi"), [(0x1, "soft"), (RVC_SINGLE, "single"), (0x7, "quad")])
def test_another_float_abi_is_flagged(tmp_path: Path, flags: int, abi: str) -> None:
    problems = run_audit(tmp_path, debian(**{"opt/foo.o": make_elf(flags=flags, elf_type=ET_REL)}))
    assert texts(problems) == [f"/opt/foo.o: RISC-V with the {abi}-float ABI, not double-float (lp64d)"]


def test_kernel_modules_may_be_soft_float_but_must_be_riscv64(tmp_path: Path) -> None:
    modules = {"usr/lib/modules/6.12/kernel/fs/ext4.ko": make_elf(flags=0x1, elf_type=ET_REL),
               "usr/lib/modules/6.12/kernel/fs/x86.ko": make_elf(EM_X86_64, 0, ET_REL)}
    problems = run_audit(tmp_path, debian(**modules))
    assert [problem.path for problem in problems] == ["/usr/lib/modules/6.12/kernel/fs/x86.ko"]


def test_musl_answers_for_libc_itself(tmp_path: Path) -> None:
    musl = "/lib/ld-musl-riscv64.so.1"
    alpine = {"lib/ld-musl-riscv64.so.1": make_elf(), "usr/lib/libz.so.1": make_elf(needed=("libc.musl-riscv64.so.1",)),
              "lib/libc.musl-riscv64.so.1": "-> ld-musl-riscv64.so.1",
              "bin/gzip": make_elf(interpreter=musl, needed=("libz.so.1", "libc.musl-riscv64.so.1")),
              "bin/app": make_elf(interpreter=musl, needed=("libc.so", "libm.so.6", "libpthread.so.0"))}
    assert run_audit(tmp_path, alpine) == []


def test_a_missing_interpreter(tmp_path: Path) -> None:
    problems = run_audit(tmp_path, {"true": make_elf(interpreter=LOADER, needed=("libc.so.6",))})
    assert texts(problems) == [
        f"/true: its interpreter {LOADER} is not in the image",
        "/true: needs libc.so.6, which is not on the image's library path (/lib/riscv64-linux-gnu, "
        "/usr/lib/riscv64-linux-gnu, /lib64/lp64d, /usr/lib64/lp64d, /lib64, /usr/lib64, /lib, /usr/lib)",
    ]


def test_a_missing_library_is_named_even_when_needed_indirectly(tmp_path: Path) -> None:
    layers = debian(**{"usr/lib/riscv64-linux-gnu/libz.so.1.3": make_elf(needed=("libc.so.6", "libzstd.so.1"))})
    problems = run_audit(tmp_path, layers)
    assert [problem.path for problem in problems] == ["/usr/lib/riscv64-linux-gnu/libz.so.1.3"]
    assert problems[0].problem.startswith("/usr/lib/riscv64-linux-gnu/libz.so.1.3: needs libzstd.so.1, which is not")


@pytest.mark.parametrize(("content", "cause"), [
    (b"not an ELF", "not an ELF file"),
    (make_elf(EM_X86_64, 0), "x86-64 binary (EM_X86_64, 64-bit), not 64-bit RISC-V"),
])
def test_a_library_that_is_not_riscv_is_named(tmp_path: Path, content: bytes, cause: str) -> None:
    problems = run_audit(tmp_path, debian(**{"usr/lib/riscv64-linux-gnu/libz.so.1.3": content}))
    expected = f"/usr/bin/gzip: needs libz.so.1, but /lib/riscv64-linux-gnu/libz.so.1 is not usable: {cause}"
    assert expected in texts(problems)


def test_a_foreign_library_is_skipped_when_a_good_one_follows(tmp_path: Path) -> None:
    layers = debian(**{"usr/lib64/libz.so.1": make_elf(EM_X86_64, 0), "lib64": None})
    problems = run_audit(tmp_path, layers)
    assert texts(problems) == ["/usr/lib64/libz.so.1: x86-64 binary (EM_X86_64, 64-bit), not 64-bit RISC-V"]


def test_runpath_with_origin_finds_a_library(tmp_path: Path) -> None:
    app = make_elf(interpreter=LOADER, needed=("libapp.so", "libc.so.6"), runpath="$ORIGIN/../lib")
    layers = debian(**{"opt/app/bin/app": app, "opt/app/lib/libapp.so": make_elf(needed=("libc.so.6",))})
    assert run_audit(tmp_path, layers) == []
    without = debian(**{"opt/app/bin/app": app, "opt/app/elsewhere/libapp.so": make_elf()})
    assert [problem.path for problem in run_audit(tmp_path, without)] == ["/opt/app/bin/app"]


def test_ld_so_conf_d_adds_directories(tmp_path: Path) -> None:
    app = make_elf(interpreter=LOADER, needed=("libapp.so", "libc.so.6"))
    layers = debian(**{"usr/local/bin/app": app, "usr/local/lib/app/libapp.so": make_elf()})
    assert len(run_audit(tmp_path, layers)) == 1
    conf = {"etc/ld.so.conf": b"include /etc/ld.so.conf.d/*.conf\n",
            "etc/ld.so.conf.d/app.conf": b"# app, in its own directory\n/usr/local/lib/app\n"}
    assert run_audit(tmp_path, layers, conf) == []


def test_elf_info_goes_when_a_later_layer_overwrites_or_whites_out(tmp_path: Path) -> None:
    foreign = make_elf(EM_X86_64, 0, ET_EXEC)
    lower = debian(**{"usr/bin/a": foreign, "usr/bin/b": foreign, "opt/c/d": foreign, "usr/bin/e": foreign})
    upper = {"usr/bin/a": b"#!/bin/sh\n", "usr/bin/.wh.b": b"", "opt/.wh.c": b"", "usr/bin/e": "-> gzip"}
    contents = read_layers([write_layer(tmp_path / "lower.tgz", lower), write_layer(tmp_path / "upper.tgz", upper)])
    assert audit(contents) == []
    assert not {"/usr/bin/a", "/usr/bin/b", "/opt/c/d", "/usr/bin/e"} & set(contents.elves)


def test_a_corrupt_elf_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    truncated = make_elf(interpreter=LOADER, needed=("libc.so.6",))[:100]
    problems = run_audit(tmp_path, debian(**{"usr/bin/broken": truncated, "usr/bin/magic": b"\x7fELF"}))
    assert [problem.path for problem in problems] == ["/usr/bin/broken", "/usr/bin/magic"]
    assert all(": not a readable ELF file (corrupt: " in problem.problem for problem in problems)


def test_audit_layers_counts_and_describe_lists(tmp_path: Path) -> None:
    foreign = make_elf(EM_X86_64, 0, ET_EXEC)
    layer = write_layer(tmp_path / "layer.tgz", debian(**{f"opt/x{n:02}": foreign for n in range(25)}))
    result = audit_layers([layer])
    assert (len(result.problems), result.elf_count, result.seconds > 0) == (25, 29, True)
    assert result.files == len(read_layers([layer]).filesystem)
    message = describe(result.problems)
    assert message.splitlines()[0] == "25 ELF problems:"
    assert "/opt/x19: x86-64 binary" in message and "/opt/x20" not in message
    assert message.endswith("... and 5 more")
    assert describe([]) == "no ELF problems"


def test_an_amd64_entry_expects_x86_64_and_names_a_riscv64_binary(tmp_path: Path) -> None:
    layer = write_layer(tmp_path / "layer.tar.gz", {"bin/busybox": make_elf(EM_X86_64, 0, ET_EXEC),
                                                    "bin/stray": make_elf(EM_RISCV, RVC_DOUBLE, ET_EXEC)})
    problems = audit(read_layers([layer]), "amd64")
    assert texts(problems) == ["/bin/stray: RISC-V binary (EM_RISCV, 64-bit), not x86-64"]


def test_an_amd64_executable_finds_its_libraries_in_the_x86_64_multiarch_directory(tmp_path: Path) -> None:
    loader = "/lib64/ld-linux-x86-64.so.2"
    layer = write_layer(tmp_path / "layer.tar.gz", {
        "lib64/ld-linux-x86-64.so.2": make_elf(EM_X86_64, 0),
        "usr/lib/x86_64-linux-gnu/libc.so.6": make_elf(EM_X86_64, 0),
        "usr/bin/tool": make_elf(EM_X86_64, 0, ET_EXEC, interpreter=loader, needed=("libc.so.6",)),
    })
    assert audit(read_layers([layer]), "amd64") == []


def test_an_unknown_architecture_is_a_clear_error(tmp_path: Path) -> None:
    from harness.errors import RvconformError

    layer = write_layer(tmp_path / "layer.tar.gz", {"bin/x": make_elf()})
    with pytest.raises(RvconformError, match="does not know the architecture 's390x'"):
        audit(read_layers([layer]), "s390x")
