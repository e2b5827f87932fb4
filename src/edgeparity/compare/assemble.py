"""The comparison report: every pair of endpoints judged, explained, and put in one dict
(schema edgeparity.report/2, documented in docs/report-schema.md). Renderers read only this dict.
"""

import gc
import os
from collections import Counter
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Sequence, Tuple

from .. import __version__, defaults
from ..errors import EXIT_DIVERGENCE, EXIT_ERROR, EXIT_PARITY
from ..progress import Progress
from ..record_verdicts import ERROR, MISSING, SKIPPED
from ..stages.pipeline import STAGES, format_pipeline
from . import causes
from .endpoints import (
    Endpoint,
    choose_reference,
    load_endpoints,
    resolve_pipelines,
    split_difference,
)
from .model import Incomparable, incomparable_stages, runs_the_model
from .tolerances import Tolerances, tolerances_to_accept
from .verdicts import (
    COMPARED,
    DIVERGENT,
    Comparator,
    ViewBudget,
    overall_verdict,
    pair_verdict,
)

if TYPE_CHECKING:
    from ..diffview import DiffView  # numpy: imported only when a view is drawn

REPORT_SCHEMA = "edgeparity.report/2"
# What became of one image along both pipelines; `first_divergent_stage` is null for all but
# the first, so this tells "agrees" from "fails on both sides" (schema /2).
OUTCOMES = ("diverges", "agrees", "fails_on_both_sides", "incomplete")


def compare(
    specs: Sequence[str],
    reference: Optional[str] = None,
    tolerances: Optional[Tolerances] = None,
    want_heatmaps: bool = True,
    max_heatmaps: Optional[int] = defaults.HEATMAPS,
    jobs: Optional[int] = None,
    quiet: bool = True,
) -> Tuple[Dict[str, Any], Dict[str, "DiffView"]]:
    """Compare the bundles named by ``specs`` (``PATH[@stage=impl,...]``).

    Differences are computed on ``jobs`` processes (default: every core), with progress on
    stderr unless ``quiet``.

    Returns the report (a JSON-able dict, schema edgeparity.report/2) and difference views
    (``diffview.DiffView``: PNGs of both decodes and where they differ) by id, for the
    ``max_heatmaps`` worst divergent decoded images of each pair (None: all).
    Raises BundleError or ValueError with a user-facing message.
    """
    tolerances = tolerances or Tolerances()
    # The loaded manifests live as long as the comparison, so the garbage collector is told to
    # leave them out of its passes (gc.freeze, Python 3.7+) until it returns: walking 20,000
    # records' objects again on each of its passes cost 0.07 s of an identical 10,000-image
    # compare. It also keeps pool workers from touching (copying) the pages they inherit.
    # It is paused while both bundles are opened, so that they are frozen without one pass
    # over them (re-enabled between the two, it walked the first bundle's 200,000 new objects
    # at once: 0.02 s), and while they are compared: the report is a tree of new objects, one
    # per image and step, that no cycle holds (its passes over them cost 8 ms of 10,000
    # images). A program that froze objects itself (a pre-forking server) is left as it was:
    # unfreezing at the end would undo its freeze too.
    frozen = hasattr(gc, "freeze") and not gc.get_freeze_count()
    collecting = gc.isenabled()
    gc.disable()
    try:
        # Run from the command line, the parsed bundles are not freed one object at a time
        # as this returns, nor at the exit right after it (load_endpoints, quick_exit).
        endpoints = load_endpoints(specs)
        if frozen:
            gc.freeze()
        return _compare(endpoints, reference, tolerances, want_heatmaps, max_heatmaps, jobs,
                        quiet)
    finally:
        if frozen:
            gc.unfreeze()
        if collecting:
            gc.enable()


def _compare(endpoints: List[Endpoint], reference: Optional[str], tolerances: Tolerances,
             want_heatmaps: bool, max_heatmaps: Optional[int], jobs: Optional[int],
             quiet: bool) -> Tuple[Dict[str, Any], Dict[str, "DiffView"]]:
    resolve_pipelines(endpoints)
    ref = choose_reference(endpoints, reference)
    pairs = []
    heatmaps: Dict[str, DiffView] = {}
    budget = ViewBudget()  # one bound on the views of all pairs: the HTML page's size
    for endpoint in endpoints:
        if endpoint is ref:
            continue
        # Counted: the pairs of differing outputs whose difference statistics are computed.
        progress = Progress("compare {} vs {}".format(ref.label, endpoint.label), 0, quiet,
                            unit="differing outputs")
        pair, pair_heatmaps = compare_pair(ref, endpoint, tolerances, want_heatmaps,
                                           max_heatmaps, jobs or os.cpu_count() or 1, progress,
                                           budget, incomparable_stages(ref, endpoint))
        progress.done()
        pairs.append(pair)
        heatmaps.update(pair_heatmaps)
    report = {
        "schema": REPORT_SCHEMA,
        "edgeparity_version": __version__,
        "verdict": overall_verdict([p["verdict"] for p in pairs]),
        "reference": ref.label,
        "tolerances": dict(tolerances.as_dict(), text=tolerances.describe()),
        "environments": [environment_summary(e) for e in endpoints],
        "pairs": pairs,
        "outcomes": _sum_counts(pair["outcomes"] for pair in pairs),
    }
    return report, heatmaps


def _sum_counts(counts: Any) -> Dict[str, int]:
    total = {}  # type: Dict[str, int]
    for count in counts:
        for key, value in count.items():
            total[key] = total.get(key, 0) + value
    return total


def exit_code(report: Dict[str, Any]) -> int:
    """0 parity, 1 divergence, 2 when parity could not be established (stages not compared):
    the default gate, ``--fail-on any``. Any other gate is ``gates.evaluate(report, gate).code``
    (``cli.compare.report_and_exit`` picks one or the other). Prints nothing: the command line says
    why.
    """
    if report["verdict"] == "divergence":
        return EXIT_DIVERGENCE
    if report["verdict"] == "incomplete":
        return EXIT_ERROR
    return EXIT_PARITY


def compare_pair(
    reference: Endpoint, other: Endpoint, tolerances: Tolerances, want_heatmaps: bool = True,
    max_heatmaps: Optional[int] = defaults.HEATMAPS,
    jobs: int = 1,
    progress: Optional[Progress] = None,
    budget: Optional[ViewBudget] = None,
    incomparable: Optional[Incomparable] = None,
) -> Tuple[Dict[str, Any], Dict[str, "DiffView"]]:
    """One pair's part of the report, and its difference views by id (as many as ``budget``,
    shared by the report's pairs, holds).

    ``incomparable`` (model.incomparable_stages): the two were captured for different
    preprocessing or models; the stages up to its ``last_compared`` are compared, the later
    ones are "not compared", saying why."""
    later_stages = []  # type: List[str]
    deployed = (dict(reference.pipeline), dict(other.pipeline))
    same_bundle = reference.bundle is other.bundle  # one bundle read two ways
    set_aside = 0  # outputs both sides captured at the stages left out
    if incomparable:
        kept = STAGES[:STAGES.index(incomparable.last_compared) + 1]
        later_stages = [stage for stage in STAGES if stage not in kept
                        and (stage in reference.pipeline or stage in other.pipeline)]
        set_aside = sum(1 for key, record in reference.bundle.records.items()
                        if record["stage"] not in kept and key in other.bundle.records)
        reference, other = _up_to(reference, kept), _up_to(other, kept)
    comparator = Comparator(reference, other, tolerances, want_heatmaps)
    ref_images = reference.bundle.manifest.get("images", {})
    other_images = other.bundle.manifest.get("images", {})
    # The pair is about the images both captured: an image on one side only is listed apart
    # (``only_in``), never as an input file that differs, nor counted in any verdict.
    images = sorted(set(ref_images) & set(other_images))
    only_in = {
        endpoint.label: sorted(set(mine) - set(theirs))
        for endpoint, mine, theirs in ((reference, ref_images, other_images),
                                       (other, other_images, ref_images))
        if set(mine) - set(theirs)
    }
    input_mismatch = [
        image
        for image in images
        if ref_images[image].get("sha256") != other_images[image].get("sha256")
    ]
    comparator.prefetch(images, jobs, progress)
    # Decode's input is the file itself: only later stages have canonical inputs to isolate.
    isolation = {stage: comparator.isolated(stage) for stage in STAGES[1:]}
    differing_files = set(input_mismatch)
    walks = comparator.walk(images, isolation, differing_files)
    views_spent = comparator.add_heatmaps(walks, max_heatmaps, budget)
    # Like for like over what both captured: records of an image only one side has would all
    # count as "not captured on one side" and say nothing the only_in list does not.
    one_sided = {image for names in only_in.values() for image in names}
    counts, records = comparator.like_for_like(leave_out=one_sided)
    if set_aside:
        counts["not_compared"] = set_aside
    not_run = causes.not_run(reference, other)

    divergent = [w for w in walks if w["first_divergent_stage"]]
    by_stage = {}  # type: Dict[str, List[str]]
    for walk in divergent:
        by_stage.setdefault(walk["first_divergent_stage"], []).append(walk["image"])
    first_stage = next((s for s in STAGES if s in by_stage), None)
    stage_summary = _stage_summaries(reference, other, walks, isolation, not_run)
    stage_summary += [_nothing_compared(stage, deployed[0].get(stage), deployed[1].get(stage),
                                        incomparable.notes[stage])
                      for stage in later_stages if incomparable]
    # Stages of the pipelines that could not be compared at all (an implementation that did not
    # run on a side): parity cannot be claimed for them.
    not_compared = [
        summary.get("unavailable") or "{}: no outputs to compare".format(summary["stage"])
        for summary in stage_summary
        if summary["compared"] == 0
    ]
    # A file neither environment could read was compared nowhere: never count it as agreeing.
    unreadable = [image for image in images if "error" in ref_images.get(image, {})
                  and "error" in other_images.get(image, {})]
    if unreadable:
        not_compared.append("{} image file(s) could not be read on either side: {}".format(
            len(unreadable), ", ".join(unreadable[:5]) + (" …" if len(unreadable) > 5 else "")))
    if not images and (ref_images or other_images):
        not_compared.append("no image captured on both sides")
    split = split_difference(reference, other)
    if split:  # the images only one side has would be listed apart, and parity claimed
        not_compared.append(split)
    # Images whose files differ between the sides (flagged apart) say nothing about the
    # libraries: they are left out of the causes and advice, and of the counts these rest on.
    same_files = [w for w in divergent if w["image"] not in differing_files]
    inherited = sum(1 for walk in same_files for step in walk["stages"]
                    if step["stage"] == first_stage and step.get("origin") == "inherited")
    same_file_walks = [walk for walk in walks if walk["image"] not in differing_files]
    found = causes.findings(comparator, first_stage,
                            [image for image in images if image not in differing_files],
                            isolation, sum(1 for walk in same_files
                                           if walk["first_divergent_stage"] == first_stage),
                            inherited, tolerances_to_accept(same_file_walks, first_stage,
                                                            reference, other), same_file_walks)
    pair = {
        "reference": reference.label,
        "other": other.label,
        "pipelines": {reference.label: deployed[0], other.label: deployed[1]},
        "verdict": pair_verdict(divergent, input_mismatch, not_compared),
        "not_compared": not_compared,
        "first_divergent_stage": first_stage,
        "outcomes": _count(walk["outcome"] for walk in walks),
        "first_divergent_images": by_stage,
        "input_files_differ": input_mismatch,
        "unreadable_on_both_sides": unreadable,
        "only_in": only_in,
        # Said whatever the verdict, and no --fail-on gate passes on it: a gate green on one
        # device's shard would be green on a part of the set.
        "partial_corpus": split,
        "views_budget_spent": views_spent,
        "stages": stage_summary,
        "causes": found["causes"],
        "also_differs": found["also_differs"],
        "advice": found["advice"],
        "decode_differences": found["differences"],
        # One bundle read two ways agrees with itself by construction: nothing to learn.
        "agreeing_decoders": {}
        if reference.bundle is other.bundle
        else causes.agreeing_decoders(comparator, images),
        "decode_jpeg_builds": {
            endpoint.label: causes.jpeg_build(endpoint) for endpoint in (reference, other)
        },
        "alternatives": causes.alternatives(comparator, images),
        "inference_impact": causes.inference_impact(walks, reference, other),
        "images": walks,
        "like_for_like": {
            "counts": counts,
            "records": records,
            "missing_in": {label: list(why) for label, why in not_run.items()},
            "not_run_why": not_run,
            **({"same_bundle": True} if same_bundle else {}),
        },
        "isolation": isolation,
    }
    return pair, comparator.heatmaps


def _up_to(endpoint: Endpoint, stages: Sequence[str]) -> Endpoint:
    """The endpoint as far as ``stages`` go: their records and implementations only."""
    import copy  # only for captures of different models or preprocessing

    view = copy.copy(endpoint.bundle)  # the same manifest and arrays, fewer records
    view.records = {key: record for key, record in endpoint.bundle.records.items()
                    if record["stage"] in stages}
    pipeline = {stage: impl for stage, impl in endpoint.pipeline.items() if stage in stages}
    return Endpoint(view, pipeline, endpoint.label)


def _stage_summaries(
    reference: Endpoint,
    other: Endpoint,
    walks: List[Dict[str, Any]],
    isolation: Dict[str, Dict[str, Any]],
    not_run: Dict[str, Dict[str, str]],
) -> List[Dict[str, Any]]:
    """Per stage of the pipelines: how many images diverge there, how much, and from where."""
    summaries = []
    by_stage = {stage: [] for stage in STAGES}  # type: Dict[str, List[Dict[str, Any]]]
    for walk in walks:
        for step in walk["stages"]:
            by_stage[step["stage"]].append(step)
    for stage in STAGES:
        steps = by_stage[stage]
        one_sided = causes.one_sided_note(reference, other, stage, not_run)
        if one_sided:
            # One pipeline runs it, the other has no implementation of it (its runtime missing
            # there, or a capture that left the stage out): a stage compared with nothing,
            # which every reader of "compared == 0" (verdict, gates, reports) then sees.
            summaries.append(_nothing_compared(stage, reference.pipeline.get(stage),
                                               other.pipeline.get(stage), one_sided))
            continue
        if not steps:
            upstream = summaries[-1] if summaries else None
            if upstream is not None and upstream["compared"] == 0 and \
                    stage in reference.pipeline and stage in other.pipeline:
                # Both pipelines run it, but nothing reached it: said, not left out (a gate
                # on it would otherwise name a reason no report line gives).
                summaries.append(_nothing_compared(
                    stage, reference.pipeline.get(stage), other.pipeline.get(stage),
                    "{}: nothing to compare: its input stage, {}, was not compared".format(
                        stage, upstream["stage"])))
            continue
        different = [s for s in steps if s["verdict"] in DIVERGENT]
        summary = {
            "stage": stage,
            "reference_impl": reference.pipeline.get(stage),
            "other_impl": other.pipeline.get(stage),
            "images": len(steps),
            "divergent": len(different),
            # steps with outputs on both sides (not missing or skipped): what "N of M" means
            "compared": len([1 for st in steps if st["verdict"] in COMPARED + (ERROR,)]),
            "verdicts": _count(s["verdict"] for s in steps),
            "origins": _count(s.get("origin") for s in different if s.get("origin")),
            "worst": _worst(different),
        }
        unavailable = causes.unavailable_note(reference, other, stage)
        if not unavailable and summary["compared"] == 0:
            unavailable = _no_outputs_note(reference, other, stage, steps)
        if unavailable:
            summary["unavailable"] = unavailable
        if stage in isolation:
            summary["isolated"] = {k: isolation[stage][k] for k in ("inputs", "agree")}
            # Of those inputs, how many are probe tensors rather than canonical inputs.
            summary["isolated"]["probes"] = sum(
                1 for v in isolation[stage]["verdicts"]
                if str(v.get("input", "")).startswith("probe:")
                and v["verdict"] not in (MISSING, SKIPPED))
        summaries.append(summary)
    return summaries


def _nothing_compared(stage: str, reference_impl: Optional[str], other_impl: Optional[str],
                      why: str) -> Dict[str, Any]:
    """A stage summary with nothing compared, saying why: the verdict, the gates and every
    report read it as any stage whose ``compared`` is 0."""
    return {"stage": stage, "reference_impl": reference_impl, "other_impl": other_impl,
            "images": 0, "divergent": 0, "compared": 0, "verdicts": {}, "origins": {},
            "worst": None, "unavailable": why}


def _no_outputs_note(reference: Endpoint, other: Endpoint, stage: str,
                     steps: List[Dict[str, Any]]) -> Optional[str]:
    """'right has no infer=tvm output for 13 of 13 images (captured with --pipeline-only along
    decode=pillow,preprocess=pillow,infer=onnxruntime)': which side lacks the stage's outputs
    along the compared pipeline, when its implementation did run there."""
    missing = _count(step.get("missing_in") for step in steps if step["verdict"] == MISSING)
    notes = []
    for endpoint in (reference, other):
        count = missing.get(endpoint.label, 0) + missing.get("both", 0)
        if not count:
            continue
        note = "{} has no {}={} output for {} of {} images".format(
            endpoint.label, stage, endpoint.pipeline.get(stage), count, len(steps))
        manifest = endpoint.bundle.manifest
        if manifest.get("pipeline_only"):
            note += " (captured with --pipeline-only along {})".format(
                format_pipeline(manifest.get("pipeline") or {}))
        notes.append(note)
    return "; ".join(notes) or None


def _count(values: Any) -> Dict[str, int]:
    return dict(Counter(values))  # counted in C: called for every image of a pair


def _worst(steps: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    """The largest of each difference statistic over ``steps`` (None when there are none)."""
    keys = (
        "fraction_pixels_differ",
        "max_channel_diff",
        "max_abs_error",
        "max_rel_error",
        "fraction_elements_differ",
    )
    worst = {}  # type: Dict[str, Any]
    for step in steps:
        if step.get("shape_mismatch") and "shape_mismatch" not in worst:
            worst["shape_mismatch"] = step["shape_mismatch"]
        for key in keys:
            if key in step and (key not in worst or step[key] > worst[key]):
                worst[key] = step[key]
    return worst or None


def _text(value: Any) -> Optional[str]:
    return None if value is None else str(value)


def environment_summary(endpoint: Endpoint) -> Dict[str, Any]:
    """One endpoint as the report's ``environments[]`` shows it."""
    provenance = endpoint.bundle.provenance
    return {
        "label": endpoint.label,
        "name": endpoint.bundle.name,
        "bundle": endpoint.bundle.path,
        "pipeline": dict(endpoint.pipeline),
        "arch": (provenance.get("cpu") or {}).get("arch"),
        "os": (provenance.get("os") or {}).get("distro"),
        "python": (provenance.get("python") or {}).get("version"),
        "numpy": (provenance.get("numpy") or {}).get("version"),
        "created": endpoint.bundle.manifest.get("created"),
        # The model that ran (null: a bundle from before bundles recorded it, or one whose
        # capture ran no stage that uses it: a decode-only capture records the model it would
        # have used, and naming it would mislead).
        "model": _text((endpoint.bundle.manifest.get("model") or {}).get("name"))
        if runs_the_model(endpoint) else None,
        "implementations": {
            key: {
                "status": entry.get("status"),
                "reason": causes.reworded(entry["reason"]) if isinstance(
                    entry.get("reason"), str) else entry.get("reason"),
                "version": (entry.get("details") or {}).get("version"),
                "jpeg_library": (entry.get("details") or {}).get("jpeg_library"),
            }
            for key, entry in provenance.get("implementations", {}).items()
        },
    }
