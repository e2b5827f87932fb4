"""How close two float outputs must be to count as agreeing: atol/rtol, per stage."""

from dataclasses import dataclass, field
from typing import Any, Dict, Sequence, Tuple

from .. import defaults
from ..stages.pipeline import STAGES


@dataclass
class Tolerances:
    """Default atol/rtol with per-stage overrides (``--tolerance infer:1e-4:1e-4``)."""

    atol: float = defaults.ATOL
    rtol: float = defaults.RTOL
    per_stage: Dict[str, Tuple[float, float]] = field(default_factory=dict)

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
            if len(parts) not in (2, 3) or parts[0] not in STAGES:
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
