"""How close two float outputs must be to count as agreeing: atol/rtol, per stage; and the
tolerances that would accept the differences a comparison found."""

import math
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

from .. import defaults
from ..record_verdicts import DIFFERENT, WITHIN_TOLERANCE
from ..stages.pipeline import STAGES

if TYPE_CHECKING:
    from .endpoints import Endpoint


class Tolerances:
    """Default atol/rtol with per-stage overrides (``--tolerance infer:1e-4:1e-4``)."""

    def __init__(self, atol: float = defaults.ATOL, rtol: float = defaults.RTOL,
                 per_stage: Optional[Dict[str, Tuple[float, float]]] = None) -> None:
        self.atol = atol
        self.rtol = rtol
        self.per_stage = dict(per_stage or {})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tolerances) and self.as_dict() == other.as_dict()

    def __repr__(self) -> str:
        return "Tolerances({})".format(self.describe())

    def for_stage(self, stage: str) -> Tuple[float, float]:
        return self.per_stage.get(stage, (self.atol, self.rtol))

    def as_dict(self) -> Dict[str, Any]:
        return {
            "atol": self.atol,
            "rtol": self.rtol,
            "per_stage": {k: {"atol": v[0], "rtol": v[1]} for k, v in self.per_stage.items()},
        }

    def describe(self) -> str:
        """'atol=1e-05 rtol=1e-05, infer: atol=0.0001 rtol=0.0001' for report headers."""
        text = "atol={} rtol={}".format(self.atol, self.rtol)
        for stage, (atol, rtol) in sorted(self.per_stage.items()):
            text += ", {}: atol={} rtol={}".format(stage, atol, rtol)
        return text

    @classmethod
    def parse(cls, atol: float, rtol: float, specs: Sequence[str]) -> "Tolerances":
        """From --atol, --rtol and repeated --tolerance STAGE:ATOL[:RTOL]; ValueError if bad."""
        for name, value in (("--atol", atol), ("--rtol", rtol)):
            if not value >= 0:  # also catches nan
                raise ValueError("{} {}: a tolerance must be a number >= 0".format(name, value))
        per_stage = {}
        for spec in specs:
            parts = spec.split(":")
            if len(parts) in (2, 3) and parts[0] not in STAGES:
                raise ValueError("bad --tolerance {!r}: no stage {!r} (the stages: {})".format(
                    spec, parts[0], ", ".join(STAGES)))
            if len(parts) not in (2, 3):
                raise ValueError(
                    "bad --tolerance {!r}: use STAGE:ATOL[:RTOL], e.g. infer:1e-4:1e-4".format(spec)
                )
            try:
                stage_atol = float(parts[1])
                stage_rtol = float(parts[2]) if len(parts) == 3 else rtol
            except ValueError:
                raise ValueError(
                    "bad --tolerance {!r}: tolerances must be numbers".format(spec)
                ) from None
            if parts[0] == "decode":
                raise ValueError(
                    "--tolerance {!r}: decoded pixels are integers and are compared exactly; "
                    "tolerances apply to preprocess and infer".format(spec)
                )
            if not (stage_atol >= 0 and stage_rtol >= 0):
                raise ValueError("--tolerance {!r}: tolerances must be numbers >= 0".format(spec))
            per_stage[parts[0]] = (stage_atol, stage_rtol)
        return cls(atol, rtol, per_stage)


def tolerances_to_accept(walks: List[Dict[str, Any]], stage: Optional[str],
                         reference: "Endpoint", other: "Endpoint") -> Optional[Dict[str, float]]:
    """{stage: the largest absolute error of its outputs along the pipeline walks} for
    ``stage`` (the first divergent one) and every later stage that differs: per-stage atols that
    accept every difference whatever the rtol (the advice rounds them up, ``round_up``). None
    when one of them cannot be accepted by a tolerance (integer outputs are compared exactly;
    a non-finite error is never within one)."""
    if stage not in STAGES[1:]:
        return None
    largest = {}  # type: Dict[str, float]
    differing = set()
    for walk in walks:
        for step in walk["stages"]:
            if STAGES.index(step["stage"]) < STAGES.index(stage) or step["verdict"] not in (
                    DIFFERENT, WITHIN_TOLERANCE):
                continue
            error = step.get("max_abs_error")
            floats = all(_floats(endpoint, step[key]) for endpoint, key in (
                (reference, "reference_key"), (other, "other_key")))
            if not floats or not isinstance(error, (int, float)) or not 0 <= error <= 1e300:
                return None
            largest[step["stage"]] = max(largest.get(step["stage"], 0.0), float(error))
            if step["verdict"] == DIFFERENT:
                differing.add(step["stage"])
    accept = {name: value for name, value in largest.items() if name in differing}
    return accept if accept and min(accept.values()) >= 1e-300 else None


def _floats(endpoint: "Endpoint", key: str) -> bool:
    """Whether a record's array holds floating-point numbers (dtype '<f4', '<f8', ...)."""
    digest = (endpoint.bundle.records.get(key) or {}).get("sha256")
    entry = endpoint.bundle.manifest.get("arrays", {}).get(digest) or {}
    return str(entry.get("dtype") or "")[1:2] == "f"


def round_up(value: float) -> float:
    """``value`` rounded up to two significant digits (0.5172 -> 0.52, 9.12e-06 -> 9.2e-06),
    never below it (a tolerance that names it must accept it)."""
    if value <= 0:
        return value
    step = 10.0 ** (math.floor(math.log10(value)) - 1)
    # ceil of a quotient a hair above an integer (float noise) would add a whole step.
    rounded = float("{:.2g}".format(math.ceil(value / step - 1e-9) * step))
    if rounded < value:
        rounded = float("{:.2g}".format(rounded + step))
    return rounded if rounded >= value else value
