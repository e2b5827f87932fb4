"""What an ELF file is: the machine it was built for, its SONAME and the libraries it links.

Read straight from the file's header and dynamic section (no ``readelf`` needed, which a slim
image may lack). CPython 3.6+, standard library only.
"""

import os
import platform
import struct
from typing import BinaryIO, Dict, List, Optional, Tuple

# e_machine values of the ELF header (System V ABI) for the machines edgeparity meets.
ELF_MACHINES = {3: "i386", 40: "arm", 62: "x86_64", 183: "aarch64", 243: "riscv", 21: "ppc64"}
PLATFORM_TO_ELF = {
    "x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64",
    "i386": "i386", "i686": "i386", "armv7l": "arm", "armv6l": "arm", "ppc64le": "ppc64",
    "riscv64": "riscv",
}


def host_machine() -> str:
    """This machine's architecture, named as :data:`ELF_MACHINES` names it."""
    machine = platform.machine().lower()
    return PLATFORM_TO_ELF.get(machine, machine)


def elf_machine(path: str) -> Optional[Tuple[str, int]]:
    """(architecture, 32 or 64) of an ELF file, or None if it is not ELF."""
    with open(path, "rb") as handle:
        header = handle.read(20)
    if len(header) < 20 or header[:4] != b"\x7fELF":
        return None
    bits = 64 if header[4] == 2 else 32
    endian = "<" if header[5] == 1 else ">"
    (machine,) = struct.unpack(endian + "H", header[18:20])
    return ELF_MACHINES.get(machine, "e_machine %d" % machine), bits


def read_soname(path: str) -> Optional[str]:
    """DT_SONAME of an ELF shared object, or None if it has none or is not ELF."""
    return read_dynamic(path).get("soname")  # type: ignore


def read_needed(path: str) -> List[str]:
    """DT_NEEDED entries (the sonames a binary links against) of an ELF file."""
    return read_dynamic(path).get("needed") or []  # type: ignore


def read_dynamic(path: str) -> Dict[str, object]:
    """SONAME and NEEDED entries of an ELF file's dynamic section ({} if not ELF).

    Reads only the ELF header, the section header table, the dynamic section and its string
    table (a few KB), never the whole file: libmxnet.so is 150 MB, and every capture describes
    its libraries.
    """
    try:
        with open(path, "rb") as handle:
            return _read_dynamic(handle)
    except (OSError, struct.error, ValueError, OverflowError, MemoryError):
        return {}


# A dynamic section or its string table larger than this is not a real library's (libmxnet.so's
# are a few KB): refused before anything is allocated for it.
_MAX_SECTION_BYTES = 16 << 20


def _read_at(handle: BinaryIO, offset: int, size: int) -> bytes:
    """``size`` bytes at ``offset``; ValueError when the file, or the limit, is smaller: sizes
    come from the file itself, so a damaged or hostile one must not make us allocate them."""
    file_size = os.fstat(handle.fileno()).st_size
    if size < 0 or offset < 0 or size > _MAX_SECTION_BYTES or offset + size > file_size:
        raise ValueError("ELF section out of bounds")
    handle.seek(offset)
    data = handle.read(size)
    if len(data) != size:
        raise ValueError("truncated ELF file")
    return data


def _read_dynamic(handle: BinaryIO) -> Dict[str, object]:
    header = handle.read(64)
    if header[:4] != b"\x7fELF":
        return {}
    is64 = header[4] == 2
    endian = "<" if header[5] == 1 else ">"
    if is64:
        (shoff,) = struct.unpack_from(endian + "Q", header, 0x28)
        shentsize, shnum = struct.unpack_from(endian + "HH", header, 0x3A)
    else:
        (shoff,) = struct.unpack_from(endian + "I", header, 0x20)
        shentsize, shnum = struct.unpack_from(endian + "HH", header, 0x2E)
    table = _read_at(handle, shoff, shnum * shentsize)
    sections = []
    for index in range(shnum):
        base = index * shentsize
        if is64:
            (sh_type,) = struct.unpack_from(endian + "I", table, base + 4)
            sh_offset, sh_size = struct.unpack_from(endian + "QQ", table, base + 0x18)
            (sh_link,) = struct.unpack_from(endian + "I", table, base + 0x28)
        else:
            (sh_type,) = struct.unpack_from(endian + "I", table, base + 4)
            sh_offset, sh_size, sh_link = struct.unpack_from(endian + "III", table, base + 0x10)
        sections.append((sh_type, sh_offset, sh_size, sh_link))
    SHT_DYNAMIC, DT_NEEDED, DT_SONAME = 6, 1, 14
    result = {"soname": None, "needed": []}  # type: Dict[str, object]
    for sh_type, sh_offset, sh_size, sh_link in sections:
        if sh_type != SHT_DYNAMIC or sh_link >= len(sections):
            continue
        _, strtab_offset, strtab_size, _ = sections[sh_link]
        strings = _read_at(handle, strtab_offset, strtab_size)
        dynamic = _read_at(handle, sh_offset, sh_size)
        entry_format = endian + ("qQ" if is64 else "iI")
        entry_size = struct.calcsize(entry_format)
        for offset in range(0, sh_size - entry_size + 1, entry_size):
            tag, value = struct.unpack_from(entry_format, dynamic, offset)
            if tag == 0:
                break
            if tag in (DT_SONAME, DT_NEEDED):
                end = strings.index(b"\x00", value)
                name = strings[value:end].decode("ascii", "replace")
                if tag == DT_SONAME:
                    result["soname"] = name
                else:
                    result["needed"].append(name)  # type: ignore
    return result
