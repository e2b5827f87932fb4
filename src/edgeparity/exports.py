"""Names a package exports from submodules that are imported when a name is first used.

Opening a bundle or reading a model's declaration should not import what writing a bundle or
building a DLR artifact needs (numpy, subprocess, zipfile...): a compare whose digests all match
uses neither, and those imports were a fifth of its time. Runs on CPython 3.6, which has no
module ``__getattr__`` (PEP 562): there the names are imported with the package, as before.
"""

import importlib
import sys
from typing import Any, Callable, Dict, List, Tuple


def lazy_exports(package: str, where: Dict[str, str], namespace: Dict[str, Any]
                 ) -> Tuple[Callable[[str], Any], Callable[[], List[str]]]:
    """The module ``__getattr__`` and ``__dir__`` of ``package`` for ``where`` ({name: relative
    module}): ``__getattr__, __dir__ = lazy_exports(__name__, {...}, globals())``.

    On Python 3.6 every name is imported now into ``namespace`` (the package's globals()).
    """
    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError("module {!r} has no attribute {!r}".format(package, name))
        value = getattr(importlib.import_module(where[name], package), name)
        namespace[name] = value  # asked once: later uses are a plain global lookup
        return value

    def __dir__() -> List[str]:  # dir(), help() and completion list them before first use
        return sorted(set(namespace) | set(where))

    if sys.version_info < (3, 7):
        for name in where:
            __getattr__(name)
    return __getattr__, __dir__
