"""The ELF audit: every ELF file of an image is 64-bit RISC-V with the double-float ABI (lp64d) (or, for another
platform's entry of an index, that platform's architecture: x86-64 for amd64), and every dynamic executable
finds its interpreter and, transitively, its libraries in the image.

Library lookup follows the loader, leniently: a file's RPATH/RUNPATH (``$ORIGIN`` expanded), the
executable's own RPATH/RUNPATH, the directories of the image's ``/etc/ld.so.conf`` (with its includes)
and ``/etc/ld-musl-*.path``, then the riscv64 defaults. As the loader does, a candidate of the wrong
architecture is skipped and the search goes on; it is named only if nothing usable is found.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re
import time
from dataclasses import dataclass
from pathlib import Path

from harness.conformance.elf_file import ElfFile
from harness.conformance.filesystem import ImageContents, read_layers
from harness.errors import RvconformError

DEFAULT_LIBRARY_PATH = (
    "/lib/riscv64-linux-gnu", "/usr/lib/riscv64-linux-gnu", "/lib64/lp64d", "/usr/lib64/lp64d",
    "/lib64", "/usr/lib64", "/lib", "/usr/lib",
)
RISCV64 = "riscv64"


@dataclass(frozen=True)
class Architecture:
    """What an ELF file of one platform architecture is: its machine, class, name, and Debian's multiarch
    library directory."""

    machine: str
    bits: int
    name: str
    triplet: str


#: Debian/OCI architecture name -> what its ELF files are.
EXPECTED = {
    "riscv64": Architecture("EM_RISCV", 64, "64-bit RISC-V", "riscv64-linux-gnu"),
    "amd64": Architecture("EM_X86_64", 64, "x86-64", "x86_64-linux-gnu"),
    "arm64": Architecture("EM_AARCH64", 64, "64-bit Arm (AArch64)", "aarch64-linux-gnu"),
}


def expected(arch: str) -> Architecture:
    """What ``arch``'s ELF files are; RvconformError for an architecture the audit does not know."""
    if arch not in EXPECTED:
        raise RvconformError(f"the ELF audit does not know the architecture {arch!r}",
                             fix=f"use a platform with one of: {', '.join(EXPECTED)}")
    return EXPECTED[arch]


def default_library_path(arch: str) -> tuple[str, ...]:
    """The loader's default directories for ``arch`` (Debian multiarch first)."""
    if arch == RISCV64:
        return DEFAULT_LIBRARY_PATH
    triplet = expected(arch).triplet
    return (f"/lib/{triplet}", f"/usr/lib/{triplet}", "/lib64", "/usr/lib64", "/lib", "/usr/lib")
MUSL_LIBRARY_PATH = ("/lib", "/usr/local/lib", "/usr/lib")
LD_SO_CONF = "/etc/ld.so.conf"
MUSL_PATH_FILES = "/etc/ld-musl-*.path"
ORIGIN = re.compile(r"\$(ORIGIN\b|\{ORIGIN\})")
# musl's loader is its libc and answers for these itself (ldso/dynlink.c, load_library).
MUSL_BUILTIN = re.compile(r"lib(c|pthread|rt|m|dl|util|xnet)\.")
ARCHITECTURES = {
    "EM_X86_64": "x86-64", "EM_386": "x86", "EM_AARCH64": "AArch64", "EM_ARM": "ARM", "EM_RISCV": "RISC-V",
    "EM_PPC64": "POWER", "EM_PPC": "PowerPC", "EM_S390": "s390", "EM_MIPS": "MIPS", "EM_LOONGARCH": "LoongArch",
    "EM_SPARCV9": "SPARC", "EM_BPF": "BPF",
}


@dataclass(frozen=True)
class ElfProblem:
    """One ELF file that would not run on the image's platform; ``problem`` is a sentence naming the path."""

    path: str
    problem: str

    def __str__(self) -> str:
        return self.problem


@dataclass
class AuditResult:
    """The problems of one image, and what it took to find them."""

    problems: list[ElfProblem]
    elf_count: int
    files: int
    bytes_read: int
    seconds: float


def audit_layers(layer_paths: list[Path]) -> AuditResult:
    """Read the layer blobs in order and audit the final filesystem, timed."""
    start = time.perf_counter()
    contents = read_layers(layer_paths)
    problems = audit(contents)
    return AuditResult(problems, len(contents.elves), len(contents.filesystem), contents.bytes_read,
                       time.perf_counter() - start)


def audit(contents: ImageContents, arch: str = RISCV64) -> list[ElfProblem]:
    """Every problem of the image's ELF files for an image of architecture ``arch``, one per file and cause,
    sorted by path."""
    library_path = image_library_path(contents.small_files, arch)
    problems: dict[ElfProblem, None] = {}
    for elf in contents.elves.values():
        cause = architecture_problem(elf, arch)
        if cause:
            problems[ElfProblem(elf.path, f"{elf.path}: {cause}")] = None
        elif elf.interpreter:
            # A foreign binary's loader and libraries are foreign too: its architecture is the news.
            problems.update(dict.fromkeys(_dynamic_problems(contents, elf, library_path, arch)))
    return sorted(problems, key=lambda problem: (problem.path, problem.problem))


def describe(problems: list[ElfProblem], limit: int = 20) -> str:
    """The problems as a message, one a line: the first ``limit``, then how many more there are."""
    if not problems:
        return "no ELF problems"
    lines = [f"{len(problems)} ELF problem{'s' if len(problems) != 1 else ''}:"]
    lines += [f"  {problem.problem}" for problem in problems[:limit]]
    if len(problems) > limit:
        lines.append(f"  ... and {len(problems) - limit} more")
    return "\n".join(lines)


def architecture_problem(elf: ElfFile, arch: str = RISCV64) -> str | None:
    """Why ``elf`` is not an ELF file of ``arch`` (for riscv64: 64-bit RISC-V lp64d), or None if it is one."""
    if elf.corrupt:
        return f"not a readable ELF file ({elf.machine})"
    want = expected(arch)
    if elf.machine != want.machine or elf.bits != want.bits:
        name = ARCHITECTURES.get(elf.machine, elf.machine.removeprefix("EM_"))
        return f"{name} binary ({elf.machine}, {elf.bits}-bit), not {want.name}"
    if arch != RISCV64:
        return None
    # The kernel never uses the FPU: its modules are lp64 (soft-float) by design.
    if elf.float_abi != "double" and not (elf.elf_type == "ET_REL" and elf.path.endswith(".ko")):
        return f"RISC-V with the {elf.float_abi}-float ABI, not double-float (lp64d)"
    return None


def image_library_path(small_files: dict[str, bytes], arch: str = RISCV64) -> tuple[str, ...]:
    """The directories the image's loader searches: ld.so.conf, then musl's path files, then the defaults."""
    dirs = _ld_so_conf(small_files, LD_SO_CONF, {LD_SO_CONF})
    for path in sorted(small_files):
        if fnmatch.fnmatchcase(path, MUSL_PATH_FILES):
            dirs += re.split(r"[\s:]+", small_files[path].decode(errors="replace"))
    return tuple(dict.fromkeys(d for d in [*dirs, *default_library_path(arch)] if d.startswith("/")))


def _ld_so_conf(files: dict[str, bytes], path: str, seen: set[str]) -> list[str]:
    dirs: list[str] = []
    for raw in files.get(path, b"").decode(errors="replace").splitlines():
        words = raw.split("#", 1)[0].replace(",", " ").replace(":", " ").split()
        if words[:1] == ["include"]:
            for pattern in words[1:]:
                pattern = posixpath.join(posixpath.dirname(path), pattern)
                for included in sorted(p for p in files if fnmatch.fnmatchcase(p, pattern) and p not in seen):
                    seen.add(included)
                    dirs += _ld_so_conf(files, included, seen)
        elif words[:1] != ["hwcap"]:
            dirs += [word.split("=", 1)[0] for word in words]
    return dirs


def _dynamic_problems(contents: ImageContents, executable: ElfFile, library_path: tuple[str, ...],
                      arch: str) -> list[ElfProblem]:
    problems = _library_problems(contents, executable, library_path, arch)
    cause = _interpreter_problem(contents, executable.interpreter or "", arch)
    if cause:
        problems.insert(0, ElfProblem(executable.path, f"{executable.path}: {cause}"))
    return problems


def _interpreter_problem(contents: ImageContents, interpreter: str, arch: str) -> str | None:
    real = contents.filesystem.resolve(interpreter)
    if real is None:
        return f"its interpreter {interpreter} is not in the image"
    loader = contents.elves.get(real)
    cause = "not an ELF file" if loader is None else architecture_problem(loader, arch)
    return f"its interpreter {interpreter} is not usable: {cause}" if cause else None


def _library_problems(contents: ImageContents, executable: ElfFile,
                      library_path: tuple[str, ...], arch: str) -> list[ElfProblem]:
    """Walk the executable's libraries breadth first, as the loader does, naming each that is missing."""
    interpreter = executable.interpreter or ""
    musl = "musl" in posixpath.basename(interpreter)
    if musl:
        library_path = tuple(dict.fromkeys([*library_path, *MUSL_LIBRARY_PATH]))
    inherited = _expand(executable, executable.path, contents)
    # The loader itself is loaded first; glibc's libc.so.6 needs it by that name.
    loaded = {posixpath.basename(interpreter)}
    queue, visited, problems = [(executable.path, executable)], {executable.path}, []
    while queue:
        found_at, obj = queue.pop(0)
        own = _expand(obj, found_at, contents)
        for name in obj.needed:
            if name in loaded or (musl and MUSL_BUILTIN.match(name)):
                continue
            path, cause = _find_library(contents, name, (*own, *inherited, *library_path), (*own, *library_path),
                                        arch)
            if cause:
                problems.append(ElfProblem(obj.path, f"{obj.path}: {cause}"))
                continue
            loaded.add(name)
            real = contents.filesystem.resolve(path)
            if real not in visited:
                visited.add(real)
                queue.append((path, contents.elves[real]))
    return problems


def _expand(elf: ElfFile, found_at: str, contents: ImageContents) -> tuple[str, ...]:
    """``elf``'s RPATH/RUNPATH with ``$ORIGIN`` as the directory it was found in, or its real directory."""
    real = contents.filesystem.resolve(found_at) or found_at
    origins = dict.fromkeys((posixpath.dirname(found_at), posixpath.dirname(real)))
    dirs = [posixpath.normpath(ORIGIN.sub(origin, entry)) for entry in elf.search_paths for origin in origins]
    return tuple(dict.fromkeys(dirs))


def _find_library(contents: ImageContents, name: str, search: tuple[str, ...],
                  shown: tuple[str, ...], arch: str) -> tuple[str | None, str | None]:
    """The path ``name`` is loaded from, or None and why not; ``shown`` is the search path a user is told."""
    candidates = [name] if "/" in name else [posixpath.join(directory, name) for directory in dict.fromkeys(search)]
    rejected = []
    for candidate in candidates:
        real = contents.filesystem.resolve(candidate)
        if real is None:
            continue
        elf = contents.elves.get(real)
        cause = "not an ELF file" if elf is None else architecture_problem(elf, arch)
        if cause is None:
            return candidate, None
        rejected.append(f"{candidate} is not usable: {cause}")
    if rejected:
        return None, f"needs {name}, but {rejected[0]}"
    if "/" in name:
        return None, f"needs {name}, which is not in the image"
    return None, f"needs {name}, which is not on the image's library path ({', '.join(dict.fromkeys(shown))})"
