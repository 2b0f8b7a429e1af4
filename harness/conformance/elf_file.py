"""One ELF file, read for what the audit needs: machine, class, float ABI, interpreter, needed libraries and
search paths. Fast on purpose: pyelftools' structs are made once, and the dynamic section is read with
``struct``; it never raises on malformed input (the file is then "corrupt", with the reason)."""

from __future__ import annotations

import functools
import io
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pyelftools loads when the first ELF file is parsed, not when the suites are collected
    from elftools.construct.lib.container import Container
    from elftools.elf.structs import ELFStructs

ELF_MAGIC = b"\x7fELF"
DT_NULL = 0  # the dynamic section's terminator (ELF gABI)
EI_NIDENT, EI_CLASS, EI_DATA = 16, 4, 5
ELF_CLASSES = {1: 32, 2: 64}
ELF_BYTE_ORDERS = {1: True, 2: False}
RISCV_FLOAT_ABI_MASK = 0x6
RISCV_FLOAT_ABI = {0x0: "soft", 0x2: "single", 0x4: "double", 0x6: "quad"}


@dataclass(frozen=True)
class ElfFile:
    """What the audit needs to know of one ELF file; ``machine`` is ``corrupt: <reason>`` if unreadable."""

    path: str
    machine: str
    bits: int
    float_abi: str | None
    elf_type: str
    interpreter: str | None = None
    needed: tuple[str, ...] = ()
    search_paths: tuple[str, ...] = ()

    @property
    def corrupt(self) -> bool:
        return self.machine.startswith("corrupt:")


def parse_elf(path: str, data: bytes) -> ElfFile:
    """The ElfFile for the bytes ``data`` found at ``path``; never raises on malformed input."""
    try:
        return _parse(path, data)
    except Exception as error:  # pyelftools raises many kinds of error on malformed input
        return ElfFile(path, f"corrupt: {error or type(error).__name__}", 0, None, "")


def _parse(path: str, data: bytes) -> ElfFile:
    # pyelftools' structs, made once per byte order and class: ELFFile() builds them all afresh for every
    # file and iter_segments() parses every section header; that made ELF parsing 6x slower on Debian.
    from elftools.common.utils import struct_parse

    structs = _structs(*_identify(data))
    stream = io.BytesIO(data)
    header = struct_parse(structs.Elf_Ehdr, stream, 0)
    headers = [struct_parse(structs.Elf_Phdr, stream, header.e_phoff + n * header.e_phentsize)
               for n in range(header.e_phnum)]
    machine = str(header.e_machine)
    float_abi = RISCV_FLOAT_ABI[header.e_flags & RISCV_FLOAT_ABI_MASK] if machine == "EM_RISCV" else None
    interpreter = next((_cstring(data, h.p_offset) for h in headers if h.p_type == "PT_INTERP"), None)
    dynamic = next((h for h in headers if h.p_type == "PT_DYNAMIC"), None)
    needed, search = _dynamic(structs, data, dynamic, headers) if dynamic else ((), ())
    return ElfFile(path, machine, structs.elfclass, float_abi, str(header.e_type), interpreter, needed, search)


def _identify(data: bytes) -> tuple[bool, int]:
    """Byte order (little-endian?) and class (32 or 64) from e_ident, as ELFFile finds them."""
    if len(data) < EI_NIDENT:
        raise ValueError(f"truncated: {len(data)} bytes, fewer than an ELF identification")
    if data[EI_CLASS] not in ELF_CLASSES or data[EI_DATA] not in ELF_BYTE_ORDERS:
        raise ValueError(f"invalid EI_CLASS {data[EI_CLASS]} or EI_DATA {data[EI_DATA]}")
    return ELF_BYTE_ORDERS[data[EI_DATA]], ELF_CLASSES[data[EI_CLASS]]


@functools.cache
def _structs(little_endian: bool, elfclass: int) -> ELFStructs:
    from elftools.elf.structs import ELFStructs

    structs = ELFStructs(little_endian=little_endian, elfclass=elfclass)
    structs.create_basic_structs()
    structs.create_advanced_structs()  # machine-specific p_type names are not needed here
    return structs


def _dynamic(structs: ELFStructs, data: bytes, dynamic: Container,
             headers: list[Container]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """DT_NEEDED and DT_RUNPATH/DT_RPATH, with their strings read from DT_STRTAB as the loader finds it."""
    from elftools.elf.enums import ENUM_D_TAG_COMMON as DT

    tags = _dynamic_tags(structs, data, dynamic)
    strings = [(tag, value) for tag, value in tags if tag in (DT["DT_NEEDED"], DT["DT_RUNPATH"], DT["DT_RPATH"])]
    if not strings:
        return (), ()
    table = _file_offset(headers, next((value for tag, value in tags if tag == DT["DT_STRTAB"]), None))
    needed = tuple(_cstring(data, table + value) for tag, value in strings if tag == DT["DT_NEEDED"])
    search = tuple(part for tag, value in strings if tag != DT["DT_NEEDED"]
                   for part in _cstring(data, table + value).split(":") if part)
    return needed, search


def _dynamic_tags(structs: ELFStructs, data: bytes, dynamic: Container) -> list[tuple[int, int]]:
    # struct, not pyelftools' Elf_Dyn: construct parses one entry at a time, some 30 a file, 10x slower.
    entry = struct.Struct(("<" if structs.little_endian else ">") + ("qQ" if structs.elfclass == 64 else "iI"))
    end = dynamic.p_offset + dynamic.p_filesz
    if end > len(data):
        raise ValueError(f"truncated: the dynamic segment ends at {end}, past the end of the file")
    tags = []
    for tag, value in entry.iter_unpack(memoryview(data)[dynamic.p_offset:end - dynamic.p_filesz % entry.size]):
        if tag == DT_NULL:
            break
        tags.append((tag, value))
    return tags


def _file_offset(headers: list[Container], address: int | None) -> int:
    for header in headers:
        if header.p_type == "PT_LOAD" and address is not None and 0 <= address - header.p_vaddr < header.p_filesz:
            return address - header.p_vaddr + header.p_offset
    raise ValueError(f"DT_STRTAB {address} is not in a PT_LOAD segment")


def _cstring(data: bytes, offset: int) -> str:
    end = data.find(b"\0", offset)
    if offset >= len(data) or end < 0:
        raise ValueError(f"truncated: a string at offset {offset} runs past the end of the file")
    return data[offset:end].decode("utf-8", "replace")
