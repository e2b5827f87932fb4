"""Why two endpoints diverge, and what to do about it: cause hints from both bundles'
provenance, decoders that would agree, what a divergence costs at inference, and why a stage
could not be compared.
"""

import math
from typing import Any, Dict, List, Optional, Sequence

from ..models import label_of
from ..record_verdicts import AGREEING, ERROR
from ..stages.pipeline import STAGES, impl_key
from .endpoints import (
    Endpoint,
    available,
    captured_stage,
    implementation_details,
    implementation_entry,
)
from .evidence import (
    Side,
    agreement,
    decoded_key,
)
from .findings import decode_findings
from .later_stages import (
    better_implementation,
    explain_later_stage,
    implementations,
    later_stage_advice,
    on_its_own,
)
from .model import labels as model_labels
from .verdicts import COMPARED, Comparator


def jpeg_build(endpoint: Endpoint) -> Optional[str]:
    """The JPEG library build the endpoint's decoder loads, if known."""
    decoder = str(endpoint.pipeline.get("decode"))
    details = implementation_details(endpoint.bundle, "decode", decoder)
    return (details.get("jpeg_library") or {}).get("build")


def findings(comparator: Comparator, stage: Optional[str], images: List[str],
             isolation: Dict[str, Dict[str, Any]], divergent: int = 0,
             inherited: Optional[int] = None,
             accept: Optional[Dict[str, float]] = None,
             walks: Sequence[Dict[str, Any]] = ()) -> Dict[str, Any]:
    """{causes, also_differs, advice, differences} for a divergence first seen at ``stage``
    (on ``divergent`` of ``images``, ``inherited`` of them with the origin 'inherited';
    ``accept``: {stage: largest absolute error} that tolerances would have to accept), then
    for each later stage that differs on its own (``later_stages.on_its_own``; ``walks``:
    the pipeline walks of the images whose files are the same on both sides)."""
    if stage is None:
        return {"causes": [], "also_differs": [], "advice": [], "differences": []}
    if stage == "decode":
        found = decode_findings(comparator.reference, comparator.other, images)
    else:
        causes, also = explain_later_stage(comparator, stage)
        found = {"causes": causes, "also_differs": also,
                 "advice": [later_stage_advice(stage, implementations(comparator, stage),
                                               isolation.get(stage) or {}, divergent,
                                               len(images), inherited, accept,
                                               explained=bool(causes), better=better_implementation(
                                                   comparator, stage,
                                                   isolation.get(stage) or {}))],
                 "differences": []}
    for later in STAGES[STAGES.index(stage) + 1:]:
        cause, also, advice = on_its_own(comparator, stage, later, isolation.get(later) or {},
                                         list(walks))
        found["causes"] += cause
        found["also_differs"] += [item for item in also if item not in found["also_differs"]]
        found["advice"] += advice
    return found


def agreeing_decoders(comparator: Comparator, images: List[str]) -> Dict[str, Any]:
    """Which decoders give identical pixels in both environments: {name: {agree, images}}."""
    ref, other = comparator.reference, comparator.other
    names = sorted(set(available(ref.bundle, "decode")) & set(available(other.bundle, "decode")))
    result = {}
    for name in names:
        # Same pixels or both failing (most images of a large corpus) decided by digest; the
        # others judged, as a decode tolerance may let them agree.
        same, differ = agreement(Side(ref, name), Side(other, name), images)
        agree = len(same) + sum(
            1 for image in differ if comparator.judge(
                ref.bundle.records[decoded_key(image, name)],
                other.bundle.records[decoded_key(image, name)], "decode")["verdict"] in AGREEING)
        if same or differ:
            result[name] = {"agree": agree, "images": len(same) + len(differ)}
    return result


def alternatives(comparator: Comparator, images: List[str]) -> List[Dict[str, Any]]:
    """Decoders on one side that match the other side's deployed decoder better than its own.

    This is how the case's fix reads: the cloud's MXNet decode equals the Jetson's Pillow.
    """
    reference, other = comparator.reference, comparator.other
    if reference.bundle is other.bundle:
        return []  # one environment read two ways: there is no "other side" to switch
    deployed, _ = agreement(Side(reference, str(reference.pipeline.get("decode"))),
                            Side(other, str(other.pipeline.get("decode"))), images)
    found = []
    for this, that in ((reference, other), (other, reference)):
        target = str(that.pipeline.get("decode"))
        for name in sorted(available(this.bundle, "decode")):
            if name == this.pipeline.get("decode"):
                continue
            agree, disagree = agreement(Side(this, name), Side(that, target), images)
            if len(agree) > len(deployed):
                found.append(
                    {
                        "environment": this.label,
                        "stage": "decode",
                        "impl": name,
                        "matches": that.label,
                        "matches_impl": target,
                        "agree": len(agree),
                        "images": len(agree) + len(disagree),
                        "still_differ": disagree,
                    }
                )
    found.sort(key=lambda item: -item["agree"])
    return found


def inference_impact(walks: List[Dict[str, Any]], reference: Optional[Endpoint] = None,
                     other: Optional[Endpoint] = None) -> Optional[Dict[str, Any]]:
    """What the divergence costs: on how many images the top-1 class changes, and to what.

    ``top1_changes`` lists each change with both class names (the model's labels when the
    reference bundle recorded them, else "class N") and the reference's top-2 margin, the
    closest calls first.
    """
    rows = []
    one_sided = []  # a stage fails on one side only: a class there, none on the other
    for walk in walks:
        for step in walk["stages"]:
            if step["stage"] == "infer" and step["verdict"] in COMPARED:
                rows.append((walk["image"], step.get("classification")))
            if step["verdict"] == ERROR:
                one_sided.append(walk["image"])
    if not rows:
        return None
    # The reference's labels, else the other side's (a device bundle may carry them alone).
    names = next((model_labels(side) for side in (reference, other)
                  if side is not None and model_labels(side) is not None), None)
    classes = {c.get("classes") for _, c in rows if c}
    note = None
    # No classes known (every output identical: nothing was compared): nothing to name wrongly.
    if names is not None and classes and classes != {len(names)}:
        # Labels for another output size (e.g. 1000 names, 1001 outputs with a background
        # class) would name every class wrongly: name them by index and say why.
        note = "the model declares {} labels for {} classes: classes are named by index".format(
            len(names), " or ".join(str(n) for n in sorted(c for c in classes if c)) or "?")
        names = None
    changes = [{
        "image": image,
        "reference_class": c["top1_reference"],
        "other_class": c["top1_other"],
        "reference_label": label_of(names, c["top1_reference"]),
        "other_label": label_of(names, c["top1_other"]),
        "margin": c.get("margin_reference"),
    } for image, c in rows if c and c["top1_changed"]]
    # Closest calls first; changes without a margin (non-finite scores) last, by name.
    changes.sort(key=lambda change: (change["margin"] is None, change["margin"] or 0.0,
                                     change["image"]))
    overlaps = [c["top5_overlap"] if c else 1.0 for _, c in rows]
    impact = {
        "images": len(rows),
        "top1_changed": len(changes),
        "top1_changed_images": [change["image"] for change in changes],
        "top1_changes": changes,
        "labels": names is not None,
        "mean_top5_overlap": math.fsum(overlaps) / len(overlaps),
    }  # type: Dict[str, Any]
    if note:
        impact["labels_note"] = note
    if one_sided:
        impact["no_class_on_one_side"] = one_sided
    return impact


def recorded_reason(entry: Dict[str, Any]) -> str:
    """The first line of the reason a capture recorded for an implementation that did not run
    ('' when none). Bundles captured before the wording changed said "not importable here",
    which in a report read as the machine running compare."""
    reason = reworded(str(entry.get("reason") or "").strip())
    return reason.splitlines()[0] if reason else ""


def reworded(reason: str) -> str:
    """A recorded reason in today's words: older bundles' "not importable here" read, in a
    report, as if about the machine running compare."""
    return reason.replace(" is not importable here (", " is not importable (")


def unavailable_note(reference: Endpoint, other: Endpoint, stage: str) -> Optional[str]:
    """'infer=dlr is unavailable in jetson: <reason>' when a pipeline's implementation is absent."""
    notes = []
    for endpoint in (reference, other):
        impl = endpoint.pipeline.get(stage)
        if impl is None:
            continue  # this side runs no such stage: one_sided_note() says so
        entry = implementation_entry(endpoint.bundle, stage, impl)
        if entry.get("status") != "available":
            reason = recorded_reason(entry) or "not captured there"
            notes.append(
                "{}={} is unavailable in {}: {}".format(stage, impl, endpoint.label, reason)
            )
    return "; ".join(notes) or None


def not_run(reference: Endpoint, other: Endpoint) -> Dict[str, Dict[str, str]]:
    """{environment: {stage/impl: why it did not run there}} for the implementations that ran on
    the other side only.

    Not always "not installed": its capture may have found it broken, found no form of the
    model for it, or not asked for it at all; the reason is what that capture recorded.
    """
    result = {}
    for this, that in ((reference, other), (other, reference)):
        why = {}
        for stage in STAGES:
            for name in sorted(set(available(that.bundle, stage))
                               - set(available(this.bundle, stage))):
                why[impl_key(stage, name)] = _why_not_run(this, stage, name)
        if why:
            result[this.label] = why
    return result


def _why_not_run(endpoint: Endpoint, stage: str, name: str) -> str:
    entry = implementation_entry(endpoint.bundle, stage, name)
    reason = recorded_reason(entry)
    if reason:
        return reason
    if entry:
        return "its capture recorded it as {}".format(entry.get("status"))
    selection = endpoint.bundle.manifest.get("selection") or {}
    stages, names = _listed(selection.get("stages")), _listed(selection.get("implementations"))
    if stages and stage not in stages:
        return "its capture left the {} stage out (--stages {})".format(stage, ",".join(stages))
    if names:
        return "its capture did not ask for it (--impl {})".format(",".join(names))
    if "selection" in endpoint.bundle.manifest:  # recorded, and neither option left it out
        version = endpoint.bundle.manifest.get("edgeparity_version")
        return "its capture did not try it (edgeparity{} had no such implementation)".format(
            " " + str(version) if version else "")
    if captured_stage(endpoint.bundle, stage):
        return "its capture did not ask for it (--impl)"
    # A bundle from before the manifest recorded the selection: either option could have.
    return "its capture ran no {} implementation (--stages or --impl left it out)".format(stage)


def _listed(value: Any) -> List[str]:
    """A recorded --stages or --impl list ([] when absent or malformed)."""
    return [str(item) for item in value] if isinstance(value, list) else []


def one_sided_note(reference: Endpoint, other: Endpoint, stage: str,
                   not_run: Dict[str, Dict[str, str]]) -> Optional[str]:
    """'infer: only cloud has outputs (infer=mxnet); edge ran no infer implementation' when one
    pipeline runs ``stage`` and the other has no implementation of it; else None."""
    running = [e for e in (reference, other) if stage in e.pipeline]
    if len(running) != 1:
        return None
    has = running[0]
    lacking = other if has is reference else reference
    impl = has.pipeline[stage]
    entry = implementation_entry(has.bundle, stage, impl)
    if entry.get("status") == "available":
        first = "only {} has outputs ({}={})".format(has.label, stage, impl)
    else:  # its pipeline names it, yet it did not run there either
        first = "neither side has outputs: {}'s {}={} did not run there: {}".format(
            has.label, stage, impl, recorded_reason(entry) or "not captured there")
    why = ""
    if any(key.startswith(stage + "/") for key in not_run.get(lacking.label, {})):
        why = " (see 'not run in {}')".format(lacking.label)
    return "{}: {}; {} ran no {} implementation{}".format(
        stage, first, lacking.label, stage, why)
