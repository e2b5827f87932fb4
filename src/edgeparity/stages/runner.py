"""What every inference runner does first: read capture's options, find the model, and fit the
input tensor to it.

In-environment code: CPython 3.6+, numpy only.
"""

from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from ..models import ModelError, resolve_model
from .base import Implementation


class RunnerSettings:
    """The capture options a runner reads, normalised once (see stages/base.py for the keys).

    ``input_shape`` is the model's input shape in the model's own ``layout``; run() always
    receives NCHW and converts.
    """

    def __init__(self, options: Dict[str, Any]) -> None:
        self.model = options.get("model")  # type: Optional[str]
        self.device = (options.get("device") or "cpu").lower()
        self.input_name = options.get("input_name")  # type: Optional[str]
        shape = options.get("input_shape")
        self.input_shape = tuple(int(d) for d in shape) if shape else None
        # Not given: the model's declaration decides, else NCHW (see ModelRunner.resolve).
        self.layout = (options.get("layout") or "NCHW").upper()
        self.layout_given = bool(options.get("layout"))
        if self.device not in ("cpu", "gpu"):
            raise ModelError("unknown device {!r}: use cpu or gpu".format(self.device))
        if self.layout not in ("NCHW", "NHWC"):
            raise ModelError("unknown input layout {!r}: use NCHW or NHWC".format(self.layout))
        # What the model's edgeparity-model.json says, when the options leave it open.
        self.declared_name = None  # type: Optional[str]
        self.declared_shape = None  # type: Optional[Tuple[int, ...]]

    def choose_input(
        self, inputs: Sequence[Tuple[str, Optional[Sequence[Any]]]], model_label: str
    ) -> Tuple[str, Optional[Tuple[Any, ...]]]:
        """Pick the input to feed from the model's (name, shape) list, honouring the options."""
        names = [name for name, _shape in inputs]
        if self.input_name:
            if self.input_name not in names:
                raise ModelError(
                    "model {} has no input named {!r} (its inputs: {}); pass one of those as "
                    "--input-name".format(model_label, self.input_name, ", ".join(names))
                )
            chosen = self.input_name
        elif self.declared_name in names:
            chosen = self.declared_name
        elif len(names) == 1:
            chosen = names[0]
        else:
            raise ModelError(
                "model {} has {} inputs ({}); say which one takes the image with "
                "--input-name".format(model_label, len(names), ", ".join(names) or "none")
            )
        shape = dict(inputs)[chosen]
        if self.input_shape is not None:
            shape = self.input_shape
        elif self.declared_shape is not None and (shape is None or any(
                d is None or int(d) <= 0 for d in shape)):
            shape = self.declared_shape  # e.g. MXNet symbols carry no input shape
        return chosen, tuple(shape) if shape is not None else None


def model_input(tensor: Any, expected: Optional[Sequence[Optional[int]]], layout: str,
                name: str, model_label: str) -> np.ndarray:
    """Check a float32 NCHW tensor against the model's input and convert it to its layout.

    ``expected`` is the input shape in the model's own layout; ``None``/non-positive dims are
    free. Raises ModelError naming the model and the shapes when they do not fit.
    """
    array = np.asarray(tensor)
    if array.dtype != np.float32 or array.ndim != 4:
        raise ModelError(
            "model {} input {!r}: expected a float32 N x C x H x W array, got {} {}".format(
                model_label, name, array.dtype, array.shape
            )
        )
    if layout == "NHWC":
        array = array.transpose(0, 2, 3, 1)
    elif layout != "NCHW":
        raise ModelError("unknown input layout {!r}: use NCHW or NHWC".format(layout))
    array = np.ascontiguousarray(array)
    if expected is not None:
        fits = len(expected) == array.ndim and all(
            want is None or int(want) <= 0 or int(want) == got
            for want, got in zip(expected, array.shape)
        )
        if not fits:
            raise ModelError(
                "model {} expects input {!r} of shape {} ({}), got {}: preprocess to that size, "
                "or pass the model's real input shape (--input-shape)".format(
                    model_label, name, tuple(expected), layout, array.shape
                )
            )
    return array


class ModelRunner(Implementation):
    """Base of the infer plugins: one place that turns options into settings and a model."""

    stage = "infer"

    def resolve(self, options: Dict[str, Any]) -> RunnerSettings:
        """Set ``self.settings`` and ``self.source`` (every form of the model); return settings.

        Raises models.ModelError (an Unavailable) naming the file when the model is missing.
        """
        self.settings = RunnerSettings(options)
        self.source = resolve_model(self.settings.model)
        declaration = self.source.declaration
        if declaration.layout and self.settings.layout_given and (
                self.settings.layout != declaration.layout):
            raise ModelError(
                "--layout {} contradicts the model's declaration {} (input layout {}): leave "
                "--layout out, or fix the declaration".format(
                    self.settings.layout, declaration.path, declaration.layout))
        if declaration.layout:
            self.settings.layout = declaration.layout
        self.settings.declared_name = declaration.input_name
        self.settings.declared_shape = declaration.input_shape or (
            declaration.preprocessing.input_shape if self.source.demo else None)
        return self.settings
