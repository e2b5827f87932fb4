"""The one small interface every stage implementation follows.

A stage is a step of the pipeline (``decode`` -> ``preprocess`` -> ``infer``). An implementation
is one library's way of doing that step ("decode with Pillow", "infer with DLR"). Each lives in
its own module and is listed once in ``stages/__init__.py``; nothing else needs to change to add
one.

This module runs inside every environment, including a Jetson's CPython 3.6: no dataclasses,
no third-party imports beyond numpy.
"""

from typing import TYPE_CHECKING, Any, Dict, Optional

if TYPE_CHECKING:  # the registry is read by compare too, which needs numpy only for arrays
    import numpy as np


class Unavailable(Exception):
    """The library an implementation needs is missing or unusable here.

    Capture records the implementation as ``skipped`` with this message as the reason.
    """


class Implementation:
    """One library's implementation of one stage.

    Subclasses set ``stage`` and ``name`` and override ``load``/``run``/``provenance``.
    They import their library inside ``load`` (never at module import time), so that
    listing implementations never fails and a missing library becomes a skip reason.
    """

    stage = ""  # one of STAGES
    name = ""  # short, stable, used in record keys and on the command line: "pillow"
    description = ""  # one line for humans: "Pillow Image.open -> convert('RGB')"

    def load(self, options: Dict[str, Any]) -> None:
        """Import the library and prepare (e.g. load a model). Raise Unavailable if impossible.

        ``options`` carries capture-wide settings, e.g. ``options["model"]`` for runners.
        """

    def run(self, data: Any) -> "np.ndarray":
        """Run the stage on one input and return its output array.

        decode:     bytes of an image file     -> uint8 array H x W x 3 (RGB)
        preprocess: uint8 array H x W x 3 (RGB) -> float32 array 1 x 3 x 224 x 224 (NCHW)
        infer:      float32 array N x C x H x W -> float32 array of the model's first output
        """
        raise NotImplementedError

    def provenance(self) -> Dict[str, Any]:
        """What this implementation is built from: versions, linked libraries, files loaded.

        Called after ``load`` and after at least one ``run`` when possible, so that lazily
        loaded shared objects (a JPEG library is often mapped only on first decode) show up.
        """
        return {}



def import_or_unavailable(module: str, what: Optional[str] = None) -> Any:
    """Import ``module`` or raise Unavailable naming what to install."""
    import importlib

    try:
        return importlib.import_module(module)
    except Exception as exc:  # ImportError, but also broken native deps (OSError, ...)
        raise Unavailable(
            "{} is not importable ({}: {})".format(
                what or module, type(exc).__name__, str(exc).splitlines()[0] if str(exc) else ""
            )
        ) from None
