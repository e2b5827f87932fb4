"""Compare bundles: verdicts per record, the first divergent stage, and its likely cause.

Vocabulary used throughout (and in the JSON report, see docs/report-schema.md):

- an *endpoint* is a bundle plus the pipeline it is read with (which implementation each stage
  uses). ``cloud@decode=mxnet`` reads bundle ``cloud`` as if it decoded with MXNet. The same
  bundle may appear twice with different pipelines, to compare implementations within one
  environment;
- a *pipeline walk* follows both endpoints' pipelines stage by stage for one image and stops at
  the *first divergent stage*;
- a later stage that differs is *inherited* when the same implementations agree on canonical
  inputs (identical bytes everywhere) and *intrinsic* when they differ there too.
"""

import base64
import os
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import __version__, bundle, diffstats
from .bundle import Bundle, BundleError
from .diffstats import (
    AGREEING,
    BOTH_ERROR,
    DIFFERENT,
    ERROR,
    IDENTICAL,
    MISSING,
    SKIPPED,
    WITHIN_TOLERANCE,
)
from .stages import all_implementations

REPORT_SCHEMA = "edgeparity.report/1"
# Verdicts for which both sides had an output to compare.
COMPARED = (IDENTICAL, WITHIN_TOLERANCE, DIFFERENT)
STAGE_ORDER = ("decode", "preprocess", "infer")
DEFAULT_PIPELINE = {"decode": "pillow", "preprocess": "pillow"}


class Tolerances:
    """Default atol/rtol with per-stage overrides (``--tolerance infer:1e-4:1e-4``)."""

    def __init__(
        self,
        atol: float = 1e-5,
        rtol: float = 1e-5,
        per_stage: Optional[Dict[str, Tuple[float, float]]] = None,
    ) -> None:
        self.atol = atol
        self.rtol = rtol
        self.per_stage = per_stage or {}

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
        for name, value in (("--atol", atol), ("--rtol", rtol)):
            if not value >= 0:  # also catches nan
                raise ValueError("{} {}: a tolerance must be a number >= 0".format(name, value))
        per_stage = {}
        for spec in specs:
            parts = spec.split(":")
            if len(parts) not in (2, 3) or parts[0] not in STAGE_ORDER:
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


class Endpoint:
    """A bundle read with a pipeline."""

    def __init__(self, loaded: Bundle, pipeline: Dict[str, str], label: str) -> None:
        self.bundle = loaded
        self.pipeline = pipeline
        self.label = label

    def chain_key(self, image: str, upto: str) -> str:
        parts = []
        for stage in STAGE_ORDER:
            parts.append("{}={}".format(stage, self.pipeline.get(stage, "?")))
            if stage == upto:
                break
        return "{}|{}".format(image, ">".join(parts))


def parse_endpoint(text: str) -> Tuple[str, Dict[str, str]]:
    """'path/to/cloud@decode=mxnet,infer=mxnet' -> ('path/to/cloud', {...})."""
    path, _, spec = text.partition("@")
    pipeline = {}
    for part in spec.split(","):
        if part.strip():
            stage, sep, impl = part.strip().partition("=")
            if not sep or stage not in STAGE_ORDER or not impl:
                raise ValueError(
                    "bad pipeline in {!r}: write BUNDLE@stage=impl,stage=impl with "
                    "stages {}".format(text, ", ".join(STAGE_ORDER))
                )
            known = [i.name for i in all_implementations() if i.stage == stage]
            if impl not in known:
                raise ValueError(
                    "bad pipeline in {!r}: no {} implementation {!r}; known: {}".format(
                        text, stage, impl, ", ".join(known)
                    )
                )
            pipeline[stage] = impl
    return path, pipeline


def _available(loaded: Bundle, stage: str) -> List[str]:
    names = []
    for key, entry in loaded.manifest.get("implementations", {}).items():
        key_stage, _, name = key.partition("/")
        if key_stage == stage and entry.get("status") == "available":
            names.append(name)
    return names


def resolve_pipelines(endpoints: List[Endpoint]) -> None:
    """Fill stages no one declared: Pillow for decode/preprocess, a runner both sides have."""
    for stage in STAGE_ORDER:
        for endpoint in endpoints:
            if stage in endpoint.pipeline:
                continue
            declared = endpoint.bundle.manifest.get("pipeline", {}).get(stage)
            if declared:
                endpoint.pipeline[stage] = declared
            elif stage in DEFAULT_PIPELINE:
                endpoint.pipeline[stage] = DEFAULT_PIPELINE[stage]
    # Inference: prefer a runner every endpoint has, so the default comparison is like for like.
    common = None  # type: Optional[set]
    for endpoint in endpoints:
        names = set(_available(endpoint.bundle, "infer"))
        common = names if common is None else common & names
    for endpoint in endpoints:
        if "infer" not in endpoint.pipeline:
            choices = sorted(common or ()) or sorted(_available(endpoint.bundle, "infer"))
            if choices:
                endpoint.pipeline["infer"] = choices[0]


class Comparator:
    """Compares two endpoints. Arrays are loaded lazily and cached by digest."""

    def __init__(
        self,
        reference: Endpoint,
        other: Endpoint,
        tolerances: Tolerances,
        want_heatmaps: bool = True,
    ) -> None:
        self.reference = reference
        self.other = other
        self.tolerances = tolerances
        self.want_heatmaps = want_heatmaps
        self.heatmaps = {}  # type: Dict[str, bytes]
        self._cache = {}  # type: Dict[Tuple[int, str], np.ndarray]

    def _array(self, endpoint: Endpoint, digest: str) -> np.ndarray:
        key = (id(endpoint.bundle), digest)
        if key not in self._cache:
            self._cache[key] = endpoint.bundle.array(digest)
        return self._cache[key]

    def judge(
        self,
        ref_record: Optional[Dict[str, Any]],
        other_record: Optional[Dict[str, Any]],
        stage: str,
        heatmap_id: Optional[str] = None,
    ) -> Dict[str, Any]:
        """Verdict and statistics for one pair of records (either may be absent)."""
        if ref_record is None or other_record is None:
            present = ref_record or other_record
            missing_side = self.reference.label if ref_record is None else self.other.label
            return {
                "verdict": MISSING,
                "missing_in": missing_side,
                "note": "no output in {}{}".format(missing_side, _status_note(present)),
            }
        ref_status, other_status = ref_record["status"], other_record["status"]
        if ref_status != "ok" or other_status != "ok":
            if ref_status == other_status == "error":
                return {
                    "verdict": BOTH_ERROR,
                    "reference_error": ref_record.get("error"),
                    "other_error": other_record.get("error"),
                }
            verdict = ERROR if "error" in (ref_status, other_status) else SKIPPED
            return {
                "verdict": verdict,
                "reference_error": ref_record.get("error"),
                "other_error": other_record.get("error"),
            }
        if ref_record["sha256"] == other_record["sha256"]:
            return {"verdict": IDENTICAL}
        a = self._array(self.reference, ref_record["sha256"])
        b = self._array(self.other, other_record["sha256"])
        atol, rtol = self.tolerances.for_stage(stage)
        result = diffstats.difference_stats(a, b, atol, rtol)
        if stage == "infer":
            classes = diffstats.classifier_stats(a, b)
            if classes:
                result["classification"] = classes
        if heatmap_id and self.want_heatmaps and result["verdict"] == DIFFERENT:
            png = diffstats.heatmap_png(a, b)
            if png:
                self.heatmaps[heatmap_id] = png
                result["heatmap"] = heatmap_id
        return result

    # -- like with like: the same record key on both sides ---------------------------------
    def like_for_like(self) -> List[Dict[str, Any]]:
        ref_records = self.reference.bundle.records
        other_records = self.other.bundle.records
        results = []
        for key in sorted(set(ref_records) | set(other_records)):
            record = ref_records.get(key) or other_records[key]
            judged = self.judge(ref_records.get(key), other_records.get(key), record["stage"])
            judged.update(
                key=key,
                image=record["image"],
                chain=record["chain"],
                stage=record["stage"],
                impl=record["impl"],
                mode=record["mode"],
            )
            results.append(judged)
        return results

    # -- isolation: do two implementations agree on the canonical inputs? ------------------
    def isolated(self, stage: str) -> Dict[str, Any]:
        ref_impl = self.reference.pipeline.get(stage)
        other_impl = self.other.pipeline.get(stage)
        verdicts = []
        for key, record in sorted(self.reference.bundle.records.items()):
            if record["mode"] not in ("isolated", "probe") or record["stage"] != stage:
                continue
            if record["impl"] != ref_impl:
                continue
            other_key = key.rsplit("=", 1)[0] + "=" + str(other_impl)
            judged = self.judge(record, self.other.bundle.records.get(other_key), stage)
            judged["input"] = record["image"]
            verdicts.append(judged)
        # An input only one side ran (captured without canonical inputs) proves nothing either
        # way: it is left out of the count, so the origin reads "unknown" rather than intrinsic.
        counted = [v for v in verdicts if v["verdict"] not in (MISSING, SKIPPED)]
        agreeing = [v for v in counted if v["verdict"] in AGREEING]
        return {
            "inputs": len(counted),
            "agree": len(agreeing),
            "missing": len(verdicts) - len(counted),
            "verdicts": verdicts,
        }

    # -- the pipeline walk -------------------------------------------------------------------
    def walk(self, images: List[str], isolation: Dict[str, Dict[str, Any]]) -> List[Dict[str, Any]]:
        ref_records = self.reference.bundle.records
        other_records = self.other.bundle.records
        walks = []
        for image in images:
            stages = []  # type: List[Dict[str, Any]]
            first = None
            previous = None  # type: Optional[Dict[str, Any]]
            for stage in STAGE_ORDER:
                if stage not in self.reference.pipeline or stage not in self.other.pipeline:
                    break  # no implementation of this stage anywhere (e.g. no runner installed)
                if previous is not None and previous["verdict"] not in COMPARED:
                    break  # upstream failed or is missing: nothing downstream to compare
                ref_key = self.reference.chain_key(image, stage)
                other_key = self.other.chain_key(image, stage)
                if ref_key not in ref_records and other_key not in other_records:
                    judged = {
                        "verdict": MISSING,
                        "missing_in": "both",
                        "note": "{} was captured on neither side".format(stage),
                    }  # type: Dict[str, Any]
                else:
                    judged = self.judge(
                        ref_records.get(ref_key),
                        other_records.get(other_key),
                        stage,
                        heatmap_id="{}|{}|{}".format(
                            image, self.reference.label, self.other.label
                        ),
                    )
                judged.update(stage=stage, reference_key=ref_key, other_key=other_key)
                if judged["verdict"] in (DIFFERENT, ERROR):
                    if first is None and (previous is None or previous["verdict"] == IDENTICAL):
                        # Its input was bit-identical on both sides (file bytes for decode).
                        judged["origin"] = "intrinsic"
                    else:
                        judged["origin"] = _origin(isolation.get(stage, {}))
                    if first is None:
                        first = stage
                stages.append(judged)
                previous = judged
            walks.append({"image": image, "first_divergent_stage": first, "stages": stages})
        return walks


def _origin(isolation: Dict[str, Any]) -> str:
    if not isolation.get("inputs"):
        return "unknown (no canonical inputs for this stage)"
    if isolation["agree"] == isolation["inputs"]:
        return "inherited"
    return "intrinsic"


def _status_note(record: Optional[Dict[str, Any]]) -> str:
    if record and record.get("status") == "error":
        return " (the other side errored: {})".format(record.get("error"))
    return ""


def _impl_details(loaded: Bundle, stage: str, impl: str) -> Dict[str, Any]:
    entry = loaded.provenance.get("implementations", {}).get("{}/{}".format(stage, impl), {})
    return entry.get("details") or {}


def _describe_jpeg(label: str, loaded: Bundle, impl: str) -> Optional[str]:
    details = _impl_details(loaded, "decode", impl)
    jpeg = details.get("jpeg_library")
    if not jpeg:
        return None
    where = jpeg.get("origin") or ""
    if jpeg.get("path") and jpeg.get("linkage") == "shared":
        where += ": " + jpeg["path"]
    return "{}'s {} {} loads {} ({})".format(
        label,
        _display_name(impl),
        details.get("version") or "",
        jpeg.get("build") or "an unidentified JPEG library",
        where,
    ).replace("  ", " ")


def _display_name(impl: str) -> str:
    return {
        "pillow": "Pillow",
        "pillow-exif": "Pillow",
        "mxnet": "MXNet",
        "opencv": "OpenCV",
        "simplejpeg": "simplejpeg",
        "dlr": "DLR",
        "onnxruntime": "ONNX Runtime",
        "tvm": "TVM",
    }.get(impl, impl)


def explain(comparator: Comparator, stage: str) -> List[str]:
    """Cause hints for a divergence at ``stage``, from both bundles' provenance."""
    ref, other = comparator.reference, comparator.other
    ref_impl, other_impl = ref.pipeline.get(stage), other.pipeline.get(stage)
    hints = []
    if ref_impl != other_impl:
        hints.append(
            "the two sides use different implementations for {}: {} vs {}".format(
                stage, ref_impl, other_impl
            )
        )
    if stage == "decode":
        descriptions = [
            _describe_jpeg(ref.label, ref.bundle, str(ref_impl)),
            _describe_jpeg(other.label, other.bundle, str(other_impl)),
        ]
        if all(descriptions):
            hints.append("; ".join(descriptions))  # type: ignore
        ref_jpeg = _impl_details(ref.bundle, "decode", str(ref_impl)).get("jpeg_library") or {}
        other_jpeg = (
            _impl_details(other.bundle, "decode", str(other_impl)).get("jpeg_library") or {}
        )
        if (
            ref_impl == other_impl
            and ref_jpeg.get("build")
            and ref_jpeg.get("build") == other_jpeg.get("build")
        ):
            hints.append(
                "both load the same JPEG library build ({}); look at CPU-specific code "
                "paths (SIMD) or the JSIMD_* variables".format(ref_jpeg["build"])
            )
    details = [
        (_impl_details(ref.bundle, stage, str(ref_impl)), ref.label),
        (_impl_details(other.bundle, stage, str(other_impl)), other.label),
    ]
    versions = [d.get("version") for d, _ in details]
    if ref_impl == other_impl and versions[0] != versions[1] and all(versions):
        hints.append(
            "{} {} in {} vs {} in {}".format(
                _display_name(str(ref_impl)), versions[0], ref.label, versions[1], other.label
            )
        )
    maths = [d.get("math_library") for d, _ in details]
    if stage == "infer" and maths[0] != maths[1] and any(maths):
        hints.append(
            "math libraries differ: {} in {} vs {} in {}".format(
                maths[0], ref.label, maths[1], other.label
            )
        )
    arches = [e.bundle.provenance.get("cpu", {}).get("arch") for e in (ref, other)]
    if stage != "decode" and arches[0] != arches[1]:
        hints.append(
            "CPU architectures differ ({} vs {}): float results may differ in the last bits".format(
                *arches
            )
        )
    return hints


def _agreeing_implementations(
    comparator: Comparator, stage: str, images: List[str]
) -> Dict[str, Any]:
    """Which implementations of ``stage`` give identical results in both environments."""
    ref, other = comparator.reference, comparator.other
    names = sorted(set(_available(ref.bundle, stage)) & set(_available(other.bundle, stage)))
    result = {}
    for name in names:
        agree = total = 0
        for image in images:
            key = "{}|{}={}".format(image, stage, name)
            a, b = ref.bundle.records.get(key), other.bundle.records.get(key)
            if a is None or b is None:
                continue
            total += 1
            if comparator.judge(a, b, stage)["verdict"] in AGREEING:
                agree += 1
        if total:
            result[name] = {"agree": agree, "images": total}
    return result


def _decode_agreement(
    this: Endpoint, this_impl: str, that: Endpoint, that_impl: str, images: List[str]
) -> Tuple[List[str], List[str]]:
    """Images on which two decoders give identical pixels, and those on which they do not."""
    agree, disagree = [], []
    for image in images:
        a = this.bundle.records.get("{}|decode={}".format(image, this_impl))
        b = that.bundle.records.get("{}|decode={}".format(image, that_impl))
        if a is None or b is None:
            continue
        same_pixels = a["status"] == b["status"] == "ok" and a["sha256"] == b["sha256"]
        if same_pixels or a["status"] == b["status"] == "error":  # both fail: same behaviour
            agree.append(image)
        else:
            disagree.append(image)
    return agree, disagree


def _alternatives(comparator: Comparator, images: List[str]) -> List[Dict[str, Any]]:
    """Decoders on one side that match the other side's deployed decoder better than its own.

    This is how the case's fix reads: the cloud's MXNet decode equals the Jetson's Pillow.
    """
    reference, other = comparator.reference, comparator.other
    if reference.bundle is other.bundle:
        return []  # one environment read two ways: there is no "other side" to switch
    deployed, _ = _decode_agreement(
        reference,
        str(reference.pipeline.get("decode")),
        other,
        str(other.pipeline.get("decode")),
        images,
    )
    found = []
    for this, that in ((reference, other), (other, reference)):
        target = str(that.pipeline.get("decode"))
        for name in sorted(_available(this.bundle, "decode")):
            if name == this.pipeline.get("decode"):
                continue
            agree, disagree = _decode_agreement(this, name, that, target, images)
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


def _inference_impact(walks: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
    rows = []
    for walk in walks:
        for step in walk["stages"]:
            if step["stage"] == "infer" and step["verdict"] in (
                IDENTICAL,
                "within_tolerance",
                DIFFERENT,
            ):
                classes = step.get("classification")
                rows.append((walk["image"], classes))
    if not rows:
        return None
    changed = [image for image, c in rows if c and c["top1_changed"]]
    overlaps = [c["top5_overlap"] if c else 1.0 for _, c in rows]
    return {
        "images": len(rows),
        "top1_changed": len(changed),
        "top1_changed_images": changed,
        "mean_top5_overlap": float(np.mean(overlaps)),
    }


def compare_pair(
    reference: Endpoint, other: Endpoint, tolerances: Tolerances, want_heatmaps: bool = True
) -> Tuple[Dict[str, Any], Dict[str, bytes]]:
    comparator = Comparator(reference, other, tolerances, want_heatmaps)
    ref_images = reference.bundle.manifest.get("images", {})
    other_images = other.bundle.manifest.get("images", {})
    images = sorted(set(ref_images) | set(other_images))
    input_mismatch = [
        image
        for image in images
        if ref_images.get(image, {}).get("sha256") != other_images.get(image, {}).get("sha256")
    ]
    isolation = {stage: comparator.isolated(stage) for stage in ("preprocess", "infer")}
    walks = comparator.walk(images, isolation)
    records = comparator.like_for_like()
    counts = {}  # type: Dict[str, int]
    for record in records:
        counts[record["verdict"]] = counts.get(record["verdict"], 0) + 1

    divergent = [w for w in walks if w["first_divergent_stage"]]
    by_stage = {}  # type: Dict[str, List[str]]
    for walk in divergent:
        by_stage.setdefault(walk["first_divergent_stage"], []).append(walk["image"])
    first_stage = next((s for s in STAGE_ORDER if s in by_stage), None)
    stage_summary = []
    for stage in STAGE_ORDER:
        steps = [(w["image"], s) for w in walks for s in w["stages"] if s["stage"] == stage]
        if not steps:
            continue
        different = [s for _, s in steps if s["verdict"] in (DIFFERENT, ERROR)]
        summary = {
            "stage": stage,
            "reference_impl": reference.pipeline.get(stage),
            "other_impl": other.pipeline.get(stage),
            "images": len(steps),
            "divergent": len(different),
            # steps with outputs on both sides (not missing or skipped): what "N of M" means
            "compared": len([1 for _, st in steps if st["verdict"] in COMPARED + (ERROR,)]),
            "verdicts": _count(s["verdict"] for _, s in steps),
            "origins": _count(s.get("origin") for s in different if s.get("origin")),
            "worst": _worst(different),
        }
        unavailable = _unavailable_note(reference, other, stage)
        if unavailable:
            summary["unavailable"] = unavailable
        if stage in isolation:
            summary["isolated"] = {k: isolation[stage][k] for k in ("inputs", "agree")}
        stage_summary.append(summary)
    # Stages of the pipelines that could not be compared at all (an implementation that did not
    # run on a side): parity cannot be claimed for them.
    not_compared = [
        summary.get("unavailable") or "{}: no outputs to compare".format(summary["stage"])
        for summary in stage_summary
        if summary["compared"] == 0
    ]
    pair = {
        "reference": reference.label,
        "other": other.label,
        "pipelines": {reference.label: dict(reference.pipeline), other.label: dict(other.pipeline)},
        "verdict": "divergence"
        if divergent or input_mismatch
        else "incomplete"
        if not_compared
        else "parity",
        "not_compared": not_compared,
        "first_divergent_stage": first_stage,
        "first_divergent_images": by_stage,
        "input_files_differ": input_mismatch,
        "stages": stage_summary,
        "causes": explain(comparator, first_stage) if first_stage else [],
        # One bundle read two ways agrees with itself by construction: nothing to learn.
        "agreeing_decoders": {}
        if reference.bundle is other.bundle
        else _agreeing_implementations(comparator, "decode", images),
        "decode_jpeg_builds": {
            endpoint.label: (
                _impl_details(endpoint.bundle, "decode", str(endpoint.pipeline.get("decode"))).get(
                    "jpeg_library"
                )
                or {}
            ).get("build")
            for endpoint in (reference, other)
        },
        "alternatives": _alternatives(comparator, images),
        "inference_impact": _inference_impact(walks),
        "images": walks,
        "like_for_like": {
            "counts": counts,
            "records": [r for r in records if r["verdict"] not in (IDENTICAL, MISSING)],
            "missing_in": _not_installed(reference, other),
        },
        "isolation": isolation,
    }
    return pair, comparator.heatmaps


def _unavailable_note(reference: Endpoint, other: Endpoint, stage: str) -> Optional[str]:
    """'infer=dlr is skipped in jetson: <reason>' when a pipeline's implementation is absent."""
    notes = []
    for endpoint in (reference, other):
        impl = endpoint.pipeline.get(stage)
        entry = endpoint.bundle.manifest.get("implementations", {}).get(
            "{}/{}".format(stage, impl), {}
        )
        if entry.get("status") != "available":
            reason = (entry.get("reason") or "not captured there").strip().splitlines()[0]
            notes.append(
                "{}={} is unavailable in {}: {}".format(stage, impl, endpoint.label, reason)
            )
    return "; ".join(notes) or None


def _not_installed(reference: Endpoint, other: Endpoint) -> Dict[str, List[str]]:
    """{environment: [stage/impl, ...]} available on the other side but not there."""
    result = {}
    for this, that in ((reference, other), (other, reference)):
        missing = []
        for stage in STAGE_ORDER:
            names = set(_available(that.bundle, stage)) - set(_available(this.bundle, stage))
            missing += ["{}/{}".format(stage, name) for name in sorted(names)]
        if missing:
            result[this.label] = missing
    return result


def _count(values: Any) -> Dict[str, int]:
    counts = {}  # type: Dict[str, int]
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return counts


def _worst(steps: List[Dict[str, Any]]) -> Optional[Dict[str, Any]]:
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


def environment_summary(endpoint: Endpoint) -> Dict[str, Any]:
    provenance = endpoint.bundle.provenance
    return {
        "label": endpoint.label,
        "name": endpoint.bundle.name,
        "bundle": endpoint.bundle.path,
        "pipeline": dict(endpoint.pipeline),
        "arch": provenance.get("cpu", {}).get("arch"),
        "os": provenance.get("os", {}).get("distro"),
        "python": provenance.get("python", {}).get("version"),
        "numpy": provenance.get("numpy", {}).get("version"),
        "created": endpoint.bundle.manifest.get("created"),
        "implementations": {
            key: {
                "status": entry.get("status"),
                "reason": entry.get("reason"),
                "version": (entry.get("details") or {}).get("version"),
                "jpeg_library": (entry.get("details") or {}).get("jpeg_library"),
            }
            for key, entry in provenance.get("implementations", {}).items()
        },
    }


def compare(
    specs: Sequence[str],
    reference: Optional[str] = None,
    tolerances: Optional[Tolerances] = None,
    want_heatmaps: bool = True,
) -> Tuple[Dict[str, Any], Dict[str, bytes]]:
    """Compare the bundles named by ``specs`` (``PATH[@stage=impl,...]``).

    Returns the report (a JSON-able dict, schema edgeparity.report/1) and heatmap PNGs by id.
    Raises BundleError or ValueError with a user-facing message.
    """
    tolerances = tolerances or Tolerances()
    endpoints = []
    loaded_by_path = {}  # type: Dict[str, Bundle]
    for spec in specs:
        path, pipeline = parse_endpoint(spec)
        real = os.path.realpath(path)
        if real not in loaded_by_path:
            loaded_by_path[real] = bundle.load(path)
        loaded = loaded_by_path[real]
        label = loaded.name
        if any(e.label == label for e in endpoints) or pipeline:
            label = loaded.name + (
                "@" + ",".join("{}={}".format(k, v) for k, v in sorted(pipeline.items()))
                if pipeline
                else ""
            )
        if any(e.label == label for e in endpoints):
            label = "{}#{}".format(label, len(endpoints) + 1)
        endpoints.append(Endpoint(loaded, pipeline, label))
    if len(endpoints) < 2:
        raise ValueError(
            "compare needs at least two bundles (or one bundle twice with different "
            "pipelines, e.g. cloud@decode=mxnet cloud@decode=pillow)"
        )
    resolve_pipelines(endpoints)
    ref = endpoints[0]
    if reference:
        matches = [e for e in endpoints if reference in (e.label, e.bundle.name)]
        if not matches:
            raise ValueError(
                "--reference {!r} is none of the bundles: {}".format(
                    reference, ", ".join(e.label for e in endpoints)
                )
            )
        ref = matches[0]
    pairs = []
    heatmaps = {}  # type: Dict[str, bytes]
    for endpoint in endpoints:
        if endpoint is ref:
            continue
        pair, pair_heatmaps = compare_pair(ref, endpoint, tolerances, want_heatmaps)
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
    }
    return report, heatmaps


def overall_verdict(verdicts: List[str]) -> str:
    """divergence > incomplete > parity: a found divergence is the news, even if more is unknown."""
    for verdict in ("divergence", "incomplete"):
        if verdict in verdicts:
            return verdict
    return "parity"


def heatmap_data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def compare_cli(args: Any) -> int:
    """`edgeparity compare`: run, print the terminal summary, write requested reports."""
    from . import report as report_module
    from .errors import UsageError

    if args.golden:
        from .golden import check_against_golden

        return check_against_golden(args)
    try:
        tolerances = Tolerances.parse(args.atol, args.rtol, args.tolerance)
        result, heatmaps = compare(
            args.bundles, args.reference, tolerances, want_heatmaps=bool(args.html)
        )
    except (ValueError, BundleError) as exc:
        raise UsageError(str(exc)) from None
    report_module.write_all(result, heatmaps, args)
    return exit_code(result)


def exit_code(result: Dict[str, Any]) -> int:
    """0 parity, 1 divergence, 2 when parity could not be established (stages not compared)."""
    from .errors import EXIT_DIVERGENCE, EXIT_ERROR, EXIT_PARITY

    if result["verdict"] == "divergence":
        return EXIT_DIVERGENCE
    if result["verdict"] == "incomplete":
        sys.stderr.write(
            "edgeparity: parity could not be established: some pipeline stages had nothing to "
            "compare (see 'NOT COMPARED' above); capture them, or compare other pipelines\n"
        )
        return EXIT_ERROR
    return EXIT_PARITY
