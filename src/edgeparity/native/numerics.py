"""What, besides the runtime itself, decides a runtime's numerics: the math libraries it loaded
(and, for OpenBLAS, the CPU kernel it chose) and the environment variables it reads.

CPython 3.6+, standard library only.
"""

import os
from typing import Dict, List, Sequence

# Substrings of a shared object's file name -> the math library it is.
MATH_LIBRARIES = (
    ("oneDNN (MKL-DNN)", ("libdnnl", "libmkldnn")),
    ("Intel MKL", ("libmkl_",)),
    ("OpenBLAS", ("libopenblas",)),
    ("Arm Performance Libraries", ("libarmpl",)),
    ("Arm Compute Library", ("libarm_compute",)),
    ("BLIS", ("libblis",)),
    ("ATLAS", ("libatlas", "libsatlas", "libtatlas")),
    ("reference BLAS", ("libblas.so", "libcblas.so")),
    ("cuBLAS", ("libcublas",)),
    ("cuDNN", ("libcudnn",)),
    ("TensorRT", ("libnvinfer",)),
)


def math_libraries(paths: Sequence[str]) -> List[Dict[str, str]]:
    """The known math libraries among ``paths``, each as {"name", "path"} (+ OpenBLAS config)."""
    found = []
    for path in paths:
        base = os.path.basename(path).lower()
        for name, needles in MATH_LIBRARIES:
            if any(needle in base for needle in needles):
                entry = {"name": name, "path": path}
                if name == "OpenBLAS":
                    entry.update(openblas_config(path))
                found.append(entry)
                break
    return found


def openblas_config(path: str) -> Dict[str, str]:
    """OpenBLAS's own build string and the CPU kernel it chose (it differs per machine)."""
    import ctypes

    try:
        lib = ctypes.CDLL(path)  # already mapped: this only returns a handle
        info = {}
        for key, symbol in (("config", "openblas_get_config"), ("core", "openblas_get_corename")):
            func = getattr(lib, symbol, None)
            if func is None:  # builds with a symbol suffix (numpy's openblas64_) differ
                func = getattr(lib, symbol + "64_", None)
            if func is not None:
                func.restype = ctypes.c_char_p
                info[key] = func().decode("utf-8", "replace").strip()
        return info
    except (OSError, AttributeError):
        return {}


def relevant_environment(prefixes: Sequence[str]) -> Dict[str, str]:
    """Environment variables that change a runtime's numerics or threading (for provenance)."""
    return {key: value for key, value in sorted(os.environ.items())
            if any(key.startswith(prefix) for prefix in prefixes)}
