"""Why preprocess or infer differs, and what to do about it: causes from both bundles'
provenance, and advice resting on the isolated runs (the same canonical inputs and probes on
both sides) and on the images whose inputs were identical.
"""

import os
import re
from typing import Any, Dict, List, Optional, Tuple

from ..record_verdicts import ERROR, IDENTICAL, WITHIN_TOLERANCE
from ..stages.pipeline import STAGES
from .endpoints import available, implementation_details
from .evidence import display_name, other_recorded_differences, plural
from .tolerances import round_up, tolerances_to_accept
from .verdicts import DIVERGENT, Comparator


def implementations(comparator: Comparator, stage: str) -> Tuple[str, str]:
    """The two pipelines' implementations of ``stage`` (reference, other)."""
    return (str(comparator.reference.pipeline.get(stage)),
            str(comparator.other.pipeline.get(stage)))


def better_implementation(comparator: Comparator, stage: str, isolation: Dict[str, Any]
                          ) -> Optional[Tuple[str, int]]:
    """(what to use, on how many isolated inputs it agrees) when the deployed pair disagrees on
    isolated inputs and a captured choice agrees on every one (at least as many as the deployed
    pair ran): an implementation one side also captured that agrees with the other side's
    deployed one ('use preprocess=pillow in cloud (now preprocess=mxnet): it agrees with
    edge's preprocess=pillow on 3 of 3 isolated inputs (now 0)'), else one both sides captured
    ('use infer=onnxruntime on both sides (now tvm vs mxnet): ...'); else None."""
    inputs, agree = isolation.get("inputs") or 0, isolation.get("agree") or 0
    if (inputs and agree == inputs) or comparator.reference.bundle is comparator.other.bundle:
        return None
    ref, other = comparator.reference, comparator.other
    deployed = implementations(comparator, stage)
    found = []
    for side, that in ((ref, other), (other, ref)):
        now, target = str(side.pipeline.get(stage)), str(that.pipeline.get(stage))
        for name in sorted(set(available(side.bundle, stage)) - {now}):
            run = comparator.isolated(stage, (name, target) if side is ref else (target, name))
            if _agrees_on_every(run, inputs):
                found.append((0, -run["inputs"], side is not ref, name, "use {s}={} in {} (now "
                              "{s}={}): it agrees with {}'s {s}={}".format(
                                  name, side.label, now, that.label, target, s=stage)))
    # Changing both sides only when changing one does not do, and never an implementation
    # already the same on both sides.
    for name in sorted(set(available(ref.bundle, stage)) & set(available(other.bundle, stage))
                       - set(deployed) if deployed[0] != deployed[1] else ()):
        run = comparator.isolated(stage, (name, name))
        if _agrees_on_every(run, inputs):
            found.append((1, -run["inputs"], False, name, "use {s}={} on both sides (now {} vs "
                          "{}): the two sides' {s}={} agree".format(name, deployed[0],
                                                                    deployed[1], name, s=stage)))
    if not found:
        return None
    _, size, _, _, text = min(found)  # one side before both, most inputs, reference first
    return "{} on {n} of {n} isolated inputs (now {})".format(text, agree, n=-size), -size


def _agrees_on_every(run: Dict[str, Any], inputs: int) -> bool:
    """Whether an isolated run agrees on every input, at least as many as the deployed pair
    ran: failing on both sides is agreement, never a reason to switch."""
    agreeing = sum(1 for verdict in run["verdicts"]
                   if verdict["verdict"] in (IDENTICAL, WITHIN_TOLERANCE))
    return run["inputs"] >= max(inputs, 1) and agreeing == run["inputs"]


def on_its_own(comparator: Comparator, first: str, stage: str, isolation: Dict[str, Any],
               walks: List[Dict[str, Any]]) -> Tuple[List[str], List[str], List[Dict[str, Any]]]:
    """([cause], also differs, [advice]) for ``stage``, after ``first`` (the first divergent
    stage), when it also computes differently by itself, so that fixing ``first`` would leave
    it: its implementations disagree on isolated inputs, or it differs on images whose inputs
    were identical on both sides (``walks``). Nothing when neither shows (its difference is
    inherited, as far as the data tells). Its tolerance is what it differs by where its inputs
    were identical."""
    divergent = reached = identical_inputs = failing = 0
    own = []  # the steps at ``stage`` whose inputs were identical: what it differs by itself
    inherited = []  # the others that differ: what a tolerance of ``own`` may leave
    for walk in walks:
        previous = None
        for step in walk["stages"]:
            if step["stage"] == stage:
                reached += 1
                if step["verdict"] in DIVERGENT:
                    divergent += 1
                    if previous == IDENTICAL:
                        identical_inputs += 1
                        own.append({"stages": [step]})
                        # A failure on one side is no difference of values: no tolerance.
                        failing += step["verdict"] == ERROR
                    else:
                        inherited.append(step.get("max_abs_error"))
                break
            previous = step["verdict"]
    inputs, agree = isolation.get("inputs") or 0, isolation.get("agree") or 0
    evidence = []
    if inputs and agree < inputs:
        evidence.append("{} of {} isolated inputs differ".format(inputs - agree, inputs))
    if identical_inputs - failing:
        evidence.append("it differs on {} whose inputs were identical on both sides".format(
            plural(identical_inputs - failing, "image")))
    if failing:
        evidence.append("it fails on one side on {} whose inputs were identical".format(
            plural(failing, "image")))
    if not evidence or not divergent:  # nothing differs there on any image: nothing to fix
        return [], [], []
    explained, also = explain_later_stage(comparator, stage)
    cause = "besides the {} difference, {} differs on its own ({}){}".format(
        first, stage, "; ".join(evidence), ": " + "; ".join(explained) if explained else "")
    accept = None if failing else _own_errors(stage, own, comparator)
    # Whether the tolerance advised leaves images whose inputs differed (checked, not assumed).
    left = bool(accept) and any(not isinstance(error, (int, float)) or error > round_up(
        accept[stage]) for error in inherited)
    return [cause], also, [later_stage_advice(
        stage, implementations(comparator, stage), isolation, divergent, reached,
        divergent - identical_inputs, accept, explained=bool(explained),
        better=better_implementation(comparator, stage, isolation), failing_images=failing,
        upstream_too=left)]


def _own_errors(stage: str, own: List[Dict[str, Any]], comparator: Comparator
                ) -> Optional[Dict[str, float]]:
    """{stage: the largest absolute error of its outputs in ``own`` (walks of its steps whose
    inputs were identical: what it differs by on its own)}, or None when a tolerance cannot
    accept them: a difference inherited from upstream is not the stage's to accept."""
    accept = tolerances_to_accept(own, stage, comparator.reference, comparator.other)
    return {stage: accept[stage]} if accept and stage in accept else None


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
    # Compared without folders: a compiled artifact's path names where each machine keeps it.
    maths = [_FOLDERS.sub("", str(d.get("math_library") or "")) for d in details]
    if stage == "infer" and maths[0] != maths[1] and any(maths):
        causes.append("math libraries differ: {} in {} vs {} in {}".format(
            maths[0], ref.label, maths[1], other.label))
    arches = [(e.bundle.provenance.get("cpu") or {}).get("arch") for e in (ref, other)]
    if arches[0] != arches[1] and ref_impl != other_impl:
        # Different implementations explain a difference by themselves: the data cannot tell
        # whether the architecture adds to it.
        also.append("the CPU architectures differ too ({} vs {}); with different "
                    "implementations the data cannot tell whether that matters".format(*arches))
    elif arches[0] != arches[1]:
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


# The folders of an absolute path inside a description: '/model/dlr-x86_64/model.so' -> 'model.so'.
_FOLDERS = re.compile(r"(?<![\w.])/(?:[^/\s()]+/)+")


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
                       accept: Optional[Dict[str, float]] = None,
                       explained: bool = True, better: Optional[Tuple[str, int]] = None,
                       failing_images: int = 0, upstream_too: bool = False) -> Dict[str, Any]:
    """Align what differs in the stage, or accept the difference; the canonical inputs (and
    probes) are the evidence when there are any. When the stage agrees on all of them, the
    difference came from upstream (its inputs differed within tolerance): the step itself is
    not asked to change. An implementation already the same on both sides is never asked to
    change. ``agree`` of ``images`` is the count the advice rests on. ``inherited``: how many
    of the ``divergent`` images got differing inputs (None: all of them, as far as known); an
    image whose inputs were identical yet differs shows the step itself computes differently.
    ``accept``: {stage: the largest absolute error of its outputs} for this stage and each later
    one that differs; the tolerances that accept them are then named (rounded up to two
    digits), else ``--tolerance STAGE:ATOL``. ``explained``: whether a cause was found (the
    advice then points at it). ``better``: the implementation to switch to, when the isolated
    runs found one (``better_implementation``). A difference that is only a failure on one side
    is not offered a tolerance: none accepts it (``failing_images``: images on which it fails
    on one side although its inputs were identical). ``upstream_too``: ``accept`` is what the
    stage differs by where its inputs were identical, and images whose inputs differed differ
    by more: the tolerance leaves them, which the advice says."""
    inputs, agree = isolation.get("inputs") or 0, isolation.get("agree") or 0
    accept_text = "accept the difference with " + (
        "--tolerance {}:ATOL".format(stage) if not accept else "{} (the largest absolute "
        "error{} {}: {}{})".format(
            " ".join("--tolerance {}:{:g}".format(name, round_up(accept[name]))
                     for name in STAGES if name in accept),
            "s" if len(accept) > 1 else "",
            "on the images whose inputs were identical" if upstream_too else "here",
            ", ".join("{} {:.4g}".format(name, accept[name]) for name in STAGES
                      if name in accept),
            "; the images whose inputs differed still differ until the upstream difference "
            "is fixed" if upstream_too else ""))
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
        evidence = "the two sides agree on all {}, yet it differs on {} whose inputs were " \
            "identical on both sides{}".format(
                _isolation_words(isolation), plural(identical_inputs, "image"),
                "; the other {} that differ got differing inputs".format(inherited_too)
                if inherited_too > 1 else "; the other one that differs got differing inputs"
                if inherited_too else "")
        count = (images - divergent, images)  # the images on which the step agrees
    elif inputs:
        failing = sum(1 for verdict in isolation.get("verdicts") or ()
                      if verdict.get("verdict") == ERROR)
        evidence = "the two sides differ on {} of {} isolated inputs, {}{}".format(
            inputs - agree, inputs, _isolation_words(isolation, short=True),
            "; it fails on one side on {} of them".format(failing) if failing else "")
        if failing == inputs - agree:
            accept_text = ""  # what differs is a failure: no tolerance accepts it
        count = (agree, inputs)
    else:
        evidence = "it differs on {} of {} images; no canonical inputs isolate it".format(
            divergent, images)
        count = (images - divergent, images)
    if better:
        align, count = better[0], (better[1], better[1])  # the choice's evidence
    elif impls[0] != impls[1]:
        align = "use one {} implementation on both sides (now {} vs {})".format(stage, *impls)
    else:
        align = "both sides already use {}={}: {}".format(
            stage, impls[0], "align what differs under why" if explained else
            "look for what differs in how each side built or runs it")
    if failing_images:
        accept_text = ""  # no tolerance accepts an output missing on one side
    remedy = "{}, or {}".format(align, accept_text) if accept_text else \
        "{}; see why it fails ({})".format(align, "on {} whose inputs were identical: the "
                                           "image rows say where".format(
                                               plural(failing_images, "image"))
                                           if failing_images else
                                           "the JSON report's isolation has each error")
    return {"text": "the {} step itself computes differently ({}): {}".format(
                stage, evidence, remedy),
            "agree": count[0], "images": count[1]}
