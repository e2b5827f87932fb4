"""Which native libraries a process actually runs, and what they are.

One module per question:

- ``elf``: what an ELF file is (machine it was built for, SONAME, NEEDED libraries);
- ``maps``: which files this process mapped (``/proc/self/maps``), libraries a runtime brought,
  and file fingerprints (sha256);
- ``libjpeg``: which JPEG codec a module really decodes with;
- ``numerics``: the math libraries (BLAS, DNN) and environment variables behind a runtime;
- ``stderr``: what native code printed (the real reason of a C++ failure).

Callers use the names re-exported here (``native.mapped_files``). Runs on CPython 3.6 with the
standard library only.
"""

from .elf import ELF_MACHINES, elf_machine, host_machine, read_dynamic, read_needed, read_soname
from .libjpeg import (
    describe_library,
    identify_jpeg_build,
    jpeg_library_of,
    loaded_jpeg_libraries,
    module_binary,
)
from .maps import LibraryWatch, loaded_libraries, mapped_files, owned_libraries, sha256_file
from .numerics import MATH_LIBRARIES, math_libraries, openblas_config, relevant_environment
from .stderr import NativeStderr

__all__ = [
    "ELF_MACHINES", "MATH_LIBRARIES", "LibraryWatch", "NativeStderr", "describe_library",
    "elf_machine", "host_machine", "identify_jpeg_build", "jpeg_library_of",
    "loaded_jpeg_libraries", "loaded_libraries", "mapped_files", "math_libraries",
    "module_binary", "openblas_config", "owned_libraries", "read_dynamic", "read_needed",
    "read_soname", "relevant_environment", "sha256_file",
]
