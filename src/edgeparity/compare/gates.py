"""What makes `edgeparity compare` exit 1: the ``--fail-on`` gate, read from the report dict.

A report always describes every difference; a gate only decides whether those differences fail
the run. Gates, from strictest to most lenient:

``any`` (the default)
    any divergence at any stage, or input files that differ: exit 1 (``exit_code``).
``stage:S``
    exit 1 when some image diverges at stage S *or an earlier stage* (the stage order is
    decode < preprocess < infer). ``stage:decode`` accepts preprocessing and inference
    differences but not different decoded pixels; ``stage:infer`` is ``any``.
``top1``
    exit 1 when the top-1 class of some image changes (or its output is missing on one side
    because an earlier stage failed there).
``[STAGE:]STAT>VALUE``
    exit 1 when an absolute-error statistic of some compared output exceeds VALUE (in the
    output's own units: levels for decoded pixels, floats for tensors), like Polygraphy's
    ``--check-error-stat``. STAT is ``max``, ``mean`` or ``p99`` of |other - reference| over
    one output; without STAGE every stage counts. An output that failed on one side or changed
    shape has an infinite error.

Whatever the gate, input files that differ between the bundles fail it (the environments did
not see the same images), and a gate that needs a stage the pipelines have but could not compare
(its implementation missing on one side) cannot pass: exit 2, like "parity not established".
So can ``top1`` or ``STAGE:STAT>VALUE`` when the pipelines lack that stage altogether.
"""

import math
import re
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple

from ..errors import EXIT_DIVERGENCE, EXIT_ERROR, EXIT_PARITY
from ..record_verdicts import DIFFERENT, ERROR, IDENTICAL, WITHIN_TOLERANCE, severity
from ..stages.pipeline import STAGES, format_pipeline

# --fail-on STAT names -> the statistic of diffstats.difference_stats they read.
STATISTICS = {"max": "max_abs_error", "mean": "mean_abs_error", "p99": "p99_abs_error"}
_STAT_GATE = re.compile(r"^(?:(?P<stage>[a-z]+):)?(?P<stat>[a-z0-9]+)(?P<op>>=?)(?P<value>\S+)$")

class Gate(NamedTuple):
    """A parsed --fail-on value."""

    kind: str  # "any", "stage", "top1" or "stat"
    stage: Optional[str] = None  # stage:S, or the stage a statistic is restricted to
    stat: Optional[str] = None  # a key of STATISTICS
    inclusive: bool = False  # '>=' rather than '>'
    threshold: float = 0.0

    @property
    def text(self) -> str:
        if self.kind == "stat":
            return "{}{}{}{}".format(self.stage + ":" if self.stage else "", self.stat,
                                     ">=" if self.inclusive else ">", _number(self.threshold))
        return self.kind + (":" + str(self.stage) if self.kind == "stage" else "")

    def scope(self) -> Tuple[str, ...]:
        """The stages whose comparison this gate needs."""
        if self.kind == "stage":
            return STAGES[:STAGES.index(str(self.stage)) + 1]
        if self.kind == "top1":
            return ("infer",)
        if self.kind == "stat" and self.stage:
            return (self.stage,)
        return STAGES


def parse_gate(text: str) -> Gate:
    """'any' | 'stage:decode' | 'top1' | 'p99>0.01' | 'infer:max>=1e-3'; ValueError otherwise."""
    value = text.strip().lower()
    if value in ("any", "top1"):
        return Gate(value)
    if value.startswith("stage:"):
        stage = value.partition(":")[2]
        if stage not in STAGES:
            raise ValueError("--fail-on {}: unknown stage {!r} (one of {})".format(
                text, stage, ", ".join(STAGES)))
        return Gate("stage", stage=stage)
    match = _STAT_GATE.match(value)
    if not match:
        raise ValueError("--fail-on {!r}: expected any, stage:STAGE, top1 or [STAGE:]STAT>VALUE "
                         "(e.g. p99>0.01)".format(text))
    stage, stat = match.group("stage"), match.group("stat")
    if stage is not None and stage not in STAGES:
        raise ValueError("--fail-on {}: unknown stage {!r} (one of {})".format(
            text, stage, ", ".join(STAGES)))
    if stat not in STATISTICS:
        raise ValueError("--fail-on {}: unknown statistic {!r} (one of {})".format(
            text, stat, ", ".join(STATISTICS)))
    try:
        threshold = float(match.group("value"))
    except ValueError:
        raise ValueError("--fail-on {}: {!r} is not a number".format(
            text, match.group("value"))) from None
    if math.isnan(threshold) or threshold < 0:
        raise ValueError("--fail-on {}: the threshold must be a number >= 0".format(text))
    return Gate("stat", stage=stage, stat=stat, inclusive=match.group("op") == ">=",
                threshold=threshold)


class GateResult(NamedTuple):
    """The gate's decision: exit code, and one sentence saying why."""

    code: int
    reason: str


def evaluate(report: Dict[str, Any], gate: Gate) -> GateResult:
    """Apply ``gate`` to a comparison report (schema edgeparity.report/2)."""
    failures = []  # type: List[Tuple[Any, str, str]]
    unknown = []  # type: List[str]
    for pair in report["pairs"]:
        name = "{} vs {}".format(pair["reference"], pair["other"])
        if pair.get("input_files_differ"):
            failures.append(((0, len(failures)), name, "input files differ ({})".format(
                ", ".join(pair["input_files_differ"][:3]))))
            continue
        found = _pair_failures(pair, gate)
        failures += [((1, order), name, text) for order, text in found]
        if not found:
            unknown += ["{}: {}".format(name, text) for text in _not_established(pair, gate)]
    if failures:
        # Input files that differ first, then the worst of every pair (ties by pair, then name).
        failures.sort(key=lambda failure: failure[0])
        # The pair is named where its run of failures starts, not before every image.
        said = ["{}: {}".format(name, text) if index == 0 or name != failures[index - 1][1]
                else text for index, (_, name, text) in enumerate(failures)]
        return GateResult(EXIT_DIVERGENCE, "--fail-on {} fails: {}".format(
            gate.text, _few(said)))
    if unknown:
        return GateResult(EXIT_ERROR, "--fail-on {} cannot be decided: {}".format(
            gate.text, _few(unknown)))
    return GateResult(EXIT_PARITY, "--fail-on {} passes{}".format(
        gate.text, _narrower_than_the_verdict(gate, report.get("verdict"))))


def decide(report: Dict[str, Any], gates: Sequence[Gate]) -> Tuple[int, List[str]]:
    """The exit code under all of ``gates`` (``--fail-on`` given several times): 1 when any of
    them fails, else 2 when any cannot be decided, else 0; and each gate's outcome, the one that
    decided the code last (what a CI log shows last)."""
    results = [evaluate(report, gate) for gate in gates]
    code = next((code for code in (EXIT_DIVERGENCE, EXIT_ERROR)
                 if any(result.code == code for result in results)), EXIT_PARITY)
    # The last of those that decided: the others keep the order they were given in.
    deciding = [result for result in results if result.code == code][-1]
    return code, [result.reason for result in results if result is not deciding] + [
        deciding.reason]


def _narrower_than_the_verdict(gate: Gate, verdict: Optional[str]) -> str:
    """Why a gate passes under a DIVERGENCE or INCOMPLETE verdict line: it asks less."""
    if verdict == "incomplete":
        return " (what it needs was compared; the verdict above is about what was not)"
    if verdict != "divergence":
        return ""
    if gate.kind == "stage" and gate.scope() != STAGES:
        return " (it looks only at {}; the verdict above covers every stage)".format(
            " and ".join(gate.scope()))
    if gate.kind == "top1":
        return " (it fails only on a changed top-1 class; the verdict above counts any difference)"
    if gate.kind == "stat":
        return " (it fails only {} {}; the verdict above counts any difference)".format(
            "at or above" if gate.inclusive else "above", _number(gate.threshold))
    return ""


def _pair_failures(pair: Dict[str, Any], gate: Gate) -> List[Tuple[Any, str]]:
    """What in one pair fails the gate, one phrase per image at its first failing stage (empty:
    the pair passes), each with its place in the order the report puts them: the worst images
    first; for ``top1`` the closest calls first, as the report's cost line; for a statistic the
    earlier stage, then the larger value first."""
    if gate.kind == "any":
        return [(0, "{} image(s) diverge".format(sum(len(v) for v in pair[
            "first_divergent_images"].values())))] if pair["first_divergent_stage"] else []
    failures = []  # type: List[Tuple[Any, str]]
    impact = pair.get("inference_impact") or {}
    named = {change["image"]: change for change in impact.get("top1_changes") or ()
             if impact.get("labels")}
    for walk in pair["images"]:
        failure = _image_failure(walk, gate, named)
        if failure:
            failures.append(failure)
    return failures


def _image_failure(walk: Dict[str, Any], gate: Gate,
                   named: Dict[str, Dict[str, Any]]) -> Optional[Tuple[Any, str]]:
    """The first step of one image that fails the gate, as (order, phrase), or None."""
    image = walk["image"]
    for step in walk["stages"]:
        if step["stage"] not in gate.scope() and gate.kind != "top1":
            continue
        if gate.kind == "stage" and step["verdict"] in (DIFFERENT, ERROR):
            return severity(walk), "{} diverges at {}".format(image, step["stage"])
        if gate.kind == "top1":
            if step["verdict"] == ERROR:
                return ((1, False, 0.0, image), "{} has no {} output on {} (it fails there), "
                        "so no class".format(image, step["stage"],
                                             step.get("failed_in") or "one side"))
            if step["stage"] == "infer" and (step.get("classification") or {}).get(
                    "top1_changed"):
                classes = step["classification"]
                margin = classes.get("margin_reference")
                if image in named:  # the model's class names, as the cost line says them
                    change = named[image]
                    margin = change["margin"]
                    text = "{} top-1 {} → {}{}".format(
                        image, change["reference_label"], change["other_label"],
                        "" if margin is None else " (margin {:.3g})".format(margin))
                else:
                    text = "{} top-1 class {} → {}".format(
                        image, classes["top1_reference"], classes["top1_other"])
                return (0, margin is None, margin or 0.0, image), text
        if gate.kind == "stat":
            value = _statistic(step, str(gate.stat))
            if value is not None and (value >= gate.threshold if gate.inclusive
                                      else value > gate.threshold):
                # Values of different stages are in different units: stage order first.
                return ((STAGES.index(step["stage"]), -value, image), "{} {} {} abs error "
                        "{}".format(image, step["stage"], gate.stat, _number(value)))
    return None


def _not_established(pair: Dict[str, Any], gate: Gate) -> List[str]:
    """Why the gate cannot pass for a pair that did not fail it (empty: it can)."""
    if gate.kind == "any":
        return list(pair.get("not_compared") or []) if pair["verdict"] == "incomplete" else []
    reasons = [pair["partial_corpus"]] if pair.get("partial_corpus") else []
    summaries = {s["stage"]: s for s in pair["stages"]}
    for stage in gate.scope():
        summary = summaries.get(stage)
        if summary is None and gate.kind != "top1" and not (gate.kind == "stat" and gate.stage):
            continue  # neither pipeline has the stage (e.g. a decode-only capture): nothing to fail
        if summary is None or summary.get("compared", summary["images"]) == 0:
            reasons.append((summary or {}).get("unavailable") or _no_outputs(pair, stage))
    if pair.get("unreadable_on_both_sides"):
        reasons.append("image files unreadable on both sides: {}".format(
            ", ".join(pair["unreadable_on_both_sides"][:3])))
    if gate.kind == "top1":
        # A non-classifier output (no top-1 to speak of) that is not bit-identical.
        blind = [image for image, step in _steps(pair) if step["stage"] == "infer"
                 and step["verdict"] in (DIFFERENT, WITHIN_TOLERANCE)
                 and not step.get("classification")]
        if blind:
            reasons.append("inference outputs are not N x classes logits ({})".format(
                ", ".join(blind[:3])))
    return reasons


def _no_outputs(pair: Dict[str, Any], stage: str) -> str:
    """Why a stage has no outputs to compare: neither pipeline has it (e.g. two decode-only
    captures under ``top1``), said with the pipelines; else plainly."""
    pipelines = pair.get("pipelines") or {}
    if pipelines and all(stage not in pipeline for pipeline in pipelines.values()):
        return "{}: neither side ran it ({})".format(stage, "; ".join(
            "{}: {}".format(label, format_pipeline(pipeline, " > ") or "nothing")
            for label, pipeline in pipelines.items()))
    return "{}: no outputs to compare".format(stage)


def _steps(pair: Dict[str, Any]) -> Iterator[Tuple[str, Dict[str, Any]]]:
    for walk in pair["images"]:
        for step in walk["stages"]:
            yield walk["image"], step


def _statistic(step: Dict[str, Any], stat: str) -> Optional[float]:
    """The step's abs-error statistic: 0 when identical, infinite when it cannot be measured
    (one side failed, or the shapes differ), None when the step was not compared."""
    if step["verdict"] == IDENTICAL:
        return 0.0
    if step["verdict"] == ERROR or step.get("shape_mismatch"):
        return math.inf
    if step["verdict"] in (DIFFERENT, WITHIN_TOLERANCE):
        value = step.get(STATISTICS[stat])
        try:
            return float(value)  # "inf" / "nan" strings of a JSON round trip too
        except (TypeError, ValueError):
            return math.inf
    return None


def _few(items: List[str], limit: int = 3) -> str:
    return "; ".join(items[:limit]) + (" (+{} more)".format(len(items) - limit)
                                       if len(items) > limit else "")


def _number(value: float) -> str:
    return "{:g}".format(value)
