"""Why two endpoints diverge, and what to do about it: cause hints from both bundles'
provenance, decoders that would agree, what a divergence costs at inference, and why a stage
could not be compared.
"""

import math
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..models import label_of
from ..record_verdicts import AGREEING
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
    display_name,
    other_recorded_differences,
    plural,
)
from .findings import decode_findings
from .model import labels as model_labels
from .tolerances import round_up
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
             differing_stages: Sequence[str] = ()) -> Dict[str, Any]:
    """{causes, also_differs, advice, differences} for a divergence first seen at ``stage``
    (on ``divergent`` of ``images``, ``inherited`` of them with the origin 'inherited';
    ``accept``: {stage: largest absolute error} that tolerances would have to accept), then
    for each later stage of ``differing_stages`` that differs on its own (``on_its_own``)."""
    if stage is None:
        return {"causes": [], "also_differs": [], "advice": [], "differences": []}
    if stage == "decode":
        found = decode_findings(comparator.reference, comparator.other, images)
    else:
        causes, also = explain_later_stage(comparator, stage)
        found = {"causes": causes, "also_differs": also,
                 "advice": [later_stage_advice(stage, _impls(comparator, stage),
                                               isolation.get(stage) or {}, divergent,
                                               len(images), inherited, accept)],
                 "differences": []}
    for later in STAGES[STAGES.index(stage) + 1:]:
        if later in differing_stages:
            cause, also, advice = on_its_own(comparator, later, isolation.get(later) or {})
            found["causes"] += cause
            found["also_differs"] += also
            found["advice"] += advice
    return found


def _impls(comparator: Comparator, stage: str) -> Tuple[str, str]:
    return (str(comparator.reference.pipeline.get(stage)),
            str(comparator.other.pipeline.get(stage)))


def on_its_own(comparator: Comparator, stage: str, isolation: Dict[str, Any]
               ) -> Tuple[List[str], List[str], List[Dict[str, Any]]]:
    """([cause], also differs, [advice]) for a stage after the first divergent one that also
    computes differently by itself: its implementations disagree on isolated inputs (the same
    canonical inputs and probes on both sides), so fixing the first divergence would not fix it.
    Nothing when they agree there (its difference is inherited) or there were none (it cannot be
    told). The tolerance is left as ATOL: the errors of this run mix in the upstream difference."""
    inputs, agree = isolation.get("inputs") or 0, isolation.get("agree") or 0
    if not inputs or agree == inputs:
        return [], [], []
    explained, also = explain_later_stage(comparator, stage)
    cause = "{} differs on its own too ({} of {} isolated inputs differ); {}".format(
        stage, inputs - agree, inputs,
        "; ".join(explained) if explained else "nothing recorded in the bundles tells why")
    return [cause], also, [later_stage_advice(stage, _impls(comparator, stage), isolation, 0, 0)]


def explain_later_stage(comparator: Comparator, stage: str) -> Tuple[List[str], List[str]]:
    """(causes, also differs) for preprocess or infer, from both bundles' provenance.

    A version difference of one implementation is a cause only when nothing else recorded
    differs (implementation, math library, CPU architecture)."""
    ref, other = comparator.reference, comparator.other
    ref_impl, other_impl = str(ref.pipeline.get(stage)), str(other.pipeline.get(stage))
    details = [implementation_details(ref.bundle, stage, ref_impl),
               implementation_details(other.bundle, stage, other_impl)]
    causes, also = [], []
    if ref_impl != other_impl:
        causes.append("the two sides use different implementations for {}: {} vs {}".format(
            stage, ref_impl, other_impl))
    maths = [d.get("math_library") for d in details]
    if stage == "infer" and maths[0] != maths[1] and any(maths):
        causes.append("math libraries differ: {} in {} vs {} in {}".format(
            maths[0], ref.label, maths[1], other.label))
    arches = [(e.bundle.provenance.get("cpu") or {}).get("arch") for e in (ref, other)]
    if arches[0] != arches[1]:
        causes.append("CPU architectures differ ({} vs {}): float results may differ in the "
                      "last bits".format(*arches))
    elif stage == "infer" and ref_impl == other_impl:
        # The same runtime on the same kind of CPU runs the same files unless someone exported
        # or compiled the model again (across architectures a compiled artifact differs anyway).
        files = [_model_files(d) for d in details]
        if files[0] and files[1] and files[0] != files[1]:
            causes.append(_model_files_words(files, ref.label, other.label))
    versions = [d.get("version") for d in details]
    others = other_recorded_differences(ref, other, stage, (ref_impl, other_impl))
    if ref_impl == other_impl and versions[0] != versions[1] and all(versions):
        words = "{} {} in {} vs {} in {}".format(
            display_name(ref_impl), versions[0], ref.label, versions[1], other.label)
        if causes:
            also.append(words + " (not a cause on its own: more differs, see above)")
        elif others:
            causes.append("{}; also recorded as different: {} (the data cannot tell which "
                          "matters)".format(words, "; ".join(others)))
        else:
            causes.append(words + ", the only recorded difference")
    elif not causes and others:  # nothing above: what else differs is worth a look
        also.append("recorded as different between the environments (whether it is a "
                    "cause cannot be told): {}".format("; ".join(others)))
    return causes, also


def _model_files(details: Dict[str, Any]) -> Dict[str, str]:
    """{file name: 'sha256:...'} of the model files a runner loaded (names without their
    folders: each machine keeps the model where it likes)."""
    files = (details.get("model") or {}).get("files")
    if not isinstance(files, dict):
        return {}
    return {os.path.basename(str(path)): str(digest) for path, digest in files.items()}


def _model_files_words(files: List[Dict[str, str]], ref_label: str, other_label: str) -> str:
    """'the model files differ: model.onnx is sha256:ec03b862cad4 in cloud vs sha256:0a1b2c3d4e5f
    in edge' (or which files each side loaded, when their names differ)."""
    if set(files[0]) == set(files[1]):
        return "the model files differ: {}".format("; ".join(
            "{} is {} in {} vs {} in {}".format(name, files[0][name][:19], ref_label,
                                              files[1][name][:19], other_label)
            for name in sorted(files[0]) if files[0][name] != files[1][name]))
    return "the model files differ: {} loaded {}, {} loaded {}".format(
        ref_label, ", ".join(sorted(files[0])), other_label, ", ".join(sorted(files[1])))


def _isolation_words(isolation: Dict[str, Any], short: bool = False) -> str:
    """What the isolated runs of a stage were: '3 canonical inputs and 2 probes' (``short``:
    '3 canonical and 2 probes'); the capture runs each stage on the canonical inputs and on
    probe tensors, and both are counted in ``inputs``."""
    inputs = isolation.get("inputs") or 0
    labels = [str(v.get("input", "")) for v in isolation.get("verdicts") or ()
              if v.get("verdict") not in ("missing", "skipped")]
    if len(labels) != inputs:
        return "{} canonical inputs and probes".format(inputs)
    probes = sum(1 for label in labels if label.startswith("probe:"))
    canonical = inputs - probes
    parts = []
    if canonical:
        parts.append("{} canonical{}".format(
            canonical, "" if short else " input" + ("" if canonical == 1 else "s")))
    if probes:
        parts.append("{} probe{}".format(probes, "" if probes == 1 else "s"))
    return " and ".join(parts)


def later_stage_advice(stage: str, impls: Tuple[str, str], isolation: Dict[str, Any],
                       divergent: int, images: int, inherited: Optional[int] = None,
                       accept: Optional[Dict[str, float]] = None) -> Dict[str, Any]:
    """Align what differs in the stage, or accept the difference; the canonical inputs (and
    probes) are the evidence when there are any. When the stage agrees on all of them, the
    difference came from upstream (its inputs differed within tolerance): the step itself is
    not asked to change. An implementation already the same on both sides is never asked to
    change. ``agree`` of ``images`` is the count the advice rests on. ``inherited``: how many
    of the ``divergent`` images got differing inputs (None: all of them, as far as known); an
    image whose inputs were identical yet differs shows the step itself computes differently.
    ``accept``: {stage: the largest absolute error of its outputs} for this stage and each later
    one that differs; the tolerances that accept them are then named (rounded up to two
    digits), else ``--tolerance STAGE:ATOL``."""
    inputs, agree = isolation.get("inputs") or 0, isolation.get("agree") or 0
    accept_text = "accept the difference with " + (
        "--tolerance {}:ATOL".format(stage) if not accept else "{} (the largest absolute "
        "error{} here: {})".format(
            " ".join("--tolerance {}:{:g}".format(name, round_up(accept[name]))
                     for name in STAGES if name in accept),
            "s" if len(accept) > 1 else "",
            ", ".join("{} {:.4g}".format(name, accept[name]) for name in STAGES
                      if name in accept)))
    identical_inputs = divergent - inherited if inherited is not None else 0
    if inputs and agree == inputs and not identical_inputs:
        upstream = STAGES[STAGES.index(stage) - 1] if stage in STAGES[1:] else "upstream"
        return {"text": "the {} step agrees on all {}: the difference comes from the "
                        "within-tolerance change upstream (the {} outputs it gets): {}, or make "
                        "{} identical on both sides".format(
                            stage, _isolation_words(isolation), upstream, accept_text,
                            upstream),
                "agree": agree, "images": inputs}
    if inputs and agree == inputs:
        # Not "N of M images whose inputs were identical": M counts every image that differs.
        inherited_too = divergent - identical_inputs
        evidence = "they agree on all {}, yet it differs on {} whose inputs were identical on " \
            "both sides{}".format(
                _isolation_words(isolation), plural(identical_inputs, "image"),
                "; the other {} that differ got differing inputs".format(inherited_too)
                if inherited_too > 1 else "; the other one that differs got differing inputs"
                if inherited_too else "")
        count = (images - divergent, images)  # the images on which the step agrees
    elif inputs:
        evidence = "they differ on {} of {} isolated inputs, {}".format(
            inputs - agree, inputs, _isolation_words(isolation, short=True))
        count = (agree, inputs)
    else:
        evidence = "it differs on {} of {} images; no canonical inputs isolate it".format(
            divergent, images)
        count = (images - divergent, images)
    if impls[0] != impls[1]:
        align = "use one {} implementation on both sides (now {} vs {})".format(stage, *impls)
    else:
        align = "both sides already use {}={}: align what differs under why".format(
            stage, impls[0])
    return {"text": "the {} step itself computes differently ({}): {}, or {}".format(
                stage, evidence, align, accept_text),
            "agree": count[0], "images": count[1]}


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
    for walk in walks:
        for step in walk["stages"]:
            if step["stage"] == "infer" and step["verdict"] in COMPARED:
                rows.append((walk["image"], step.get("classification")))
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
