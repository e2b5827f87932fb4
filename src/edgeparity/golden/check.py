"""The golden gate: has any stage output of an environment moved since its golden was made?

The gate matches each bundle to ``DIR/<bundle name>.json`` and reports every record whose output
digest changed (with how far its statistics moved), new and removed records, changed input
files and provenance changes ("decode/pillow now loads libjpeg-turbo 2.1.5 ..., golden says IJG
libjpeg 9d ..."). The verdict is ``changed`` when any output changed, else ``unchanged``.

Equality is exact by default (the sha256 of dtype, shape and bytes). Tolerances then only qualify
a change: a float output whose statistics moved less than atol/rtol is still reported as changed,
with how much, because statistics cannot prove every element stayed within tolerance.

With ``float_tolerance`` (``--float-tolerance``) a float output of the same shape and dtype whose
min, max, mean and std each moved within the stage's atol + rtol * |golden value|, and that has
as many non-finite values as the golden, counts as *within tolerance* instead of changed: one
golden then serves x86_64 and (emulated) aarch64, whose float rounding differs in the last bits.
Integer outputs (decoded pixels) stay exact. The price is stated in the report: four statistics
per output are checked, not every element. An output within tolerance is a same-enough input for
the next stage, whose change beyond tolerance is then its own (intrinsic), not inherited.
"""

import json
import math
import os
from typing import Any, Dict, List, Optional, Set

import numpy as np

from .. import __version__
from ..bundle import load as load_bundle
from ..compare.tolerances import Tolerances
from ..report.golden import update_command
from ..stages.pipeline import STAGES, format_pipeline
from .fingerprint import check_name, fingerprint, golden_path, load

GOLDEN_REPORT_SCHEMA = "edgeparity.golden-report/1"


def _same_output(golden: Dict[str, Any], now: Dict[str, Any]) -> bool:
    if golden.get("status") != now.get("status"):
        return False
    if now.get("status") == "ok":
        return golden.get("sha256") == now.get("sha256")
    return golden.get("error") == now.get("error")


def _is_float(dtype: Optional[str]) -> bool:
    # numpy dtype strings: '<f4', '<f8', '|u1', ...
    return bool(dtype) and dtype[1:2] == "f"  # type: ignore


STATS = ("min", "max", "mean", "std")


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def _stats_change(golden: Dict[str, Any], now: Dict[str, Any], tolerances: Tolerances
                  ) -> Dict[str, Any]:
    """How far min/max/mean/std moved, and whether that is within the stage's tolerance.

    The statistics are of the finite values only (``arrays.array_stats`` counts the others as
    ``nonfinite``): an output is within tolerance only when both sides have all four statistics
    and the same number of non-finite values, so a NaN or an Inf that appeared never passes.
    """
    old_stats, new_stats = golden.get("stats") or {}, now.get("stats") or {}
    delta = {}
    for name in STATS:
        a, b = old_stats.get(name), new_stats.get(name)
        if _number(a) and _number(b):
            delta[name] = b - a
    result = {"stats_delta": delta,
              "max_stats_delta": max((abs(v) for v in delta.values()), default=None)}
    old_nonfinite, new_nonfinite = old_stats.get("nonfinite", 0), new_stats.get("nonfinite", 0)
    if old_nonfinite != new_nonfinite:
        result["nonfinite"] = {"golden": old_nonfinite, "now": new_nonfinite}
    if (_is_float(golden.get("dtype")) and golden.get("dtype") == now.get("dtype")
            and golden.get("shape") == now.get("shape")):
        atol, rtol = tolerances.for_stage(str(now.get("stage")))
        result["stats_within_tolerance"] = (
            len(delta) == len(STATS) and old_nonfinite == new_nonfinite
            and all(abs(value) <= atol + rtol * abs(old_stats[name])
                    for name, value in delta.items()))
    return result


def _dtype_name(dtype: Any) -> str:
    """'|u1' -> 'uint8', '<f4' -> 'float32' (what the manifest stores is numpy's dtype.str)."""
    try:
        return np.dtype(dtype).name
    except TypeError:
        return str(dtype)


def _describe_output(record: Dict[str, Any]) -> str:
    """'uint8 360x480x3 5ef5c6124793' or 'error: OSError: ...'."""
    if record.get("status") != "ok":
        return "{}: {}".format(record.get("status"), record.get("error") or "")
    return "{} {} {}".format(_dtype_name(record.get("dtype")),
                             "x".join(str(n) for n in record.get("shape") or []),
                             str(record.get("sha256"))[:12])


def _origin(key: str, golden: Dict[str, Any], now: Dict[str, Any],
            changed_inputs: List[str], tolerated_outputs: Set[str]) -> str:
    """'input file changed', 'inherited' (its input changed) or 'intrinsic' (same input).

    An input that is the output of a record within tolerance (``tolerated_outputs``: their
    current digests, ``--float-tolerance``) counts as the same input: a change beyond tolerance
    after it is this record's own, so the gate names its stage as the first that changed. The
    entry says so with ``input_within_tolerance``.
    """
    if now.get("stage") == "decode" and now.get("mode") == "e2e":
        return "input file changed" if now.get("image") in changed_inputs else "intrinsic"
    if golden.get("input") != now.get("input") and now.get("input") not in tolerated_outputs:
        return "inherited"
    return "intrinsic"


def _what_changed(golden: Dict[str, Any], now: Dict[str, Any]) -> str:
    if golden.get("status") != now.get("status"):
        return "status {} -> {}".format(golden.get("status"), now.get("status"))
    if now.get("status") != "ok":
        return "error message"
    if golden.get("shape") != now.get("shape"):
        return "shape {} -> {}".format(tuple(golden.get("shape") or ()),
                                       tuple(now.get("shape") or ()))
    if golden.get("dtype") != now.get("dtype"):
        return "dtype {} -> {}".format(_dtype_name(golden.get("dtype")),
                                       _dtype_name(now.get("dtype")))
    return "values"


def _jpeg_text(jpeg: Optional[Dict[str, Any]]) -> str:
    if not jpeg:
        return "no JPEG library"
    extras = [text for text in (jpeg.get("soname"), jpeg.get("origin")) if text]
    return "{}{}".format(jpeg.get("build") or "an unidentified JPEG library",
                         " ({})".format(", ".join(extras)) if extras else "")


_ENVIRONMENT_WORDS = {"arch": "CPU architecture", "os": "OS", "libc": "libc",
                      "python": "Python", "numpy": "numpy", "l4t_release": "L4T release",
                      "environment_variables": "environment variables"}


def _implementation_text(keys: str, field: str, old: Any, new: Any) -> str:
    """One sentence for one changed provenance field of one or more implementations."""
    if field == "presence":
        return "{} {}".format(keys, "is new (not in the golden)" if old is None
                              else "is gone (the golden has it)")
    if field == "status":
        return "{} is now {}, golden says {}".format(keys, new, old)
    if field == "jpeg_library":
        same_kind = all((old or {}).get(f) == (new or {}).get(f) for f in ("build", "soname"))
        if same_kind and old and new:
            return ("{} loads a different {} file than the golden (same build {}; sha256 {} -> "
                    "{})".format(keys, new.get("soname") or "JPEG library", new.get("build"),
                                 str(old.get("sha256"))[:12], str(new.get("sha256"))[:12]))
        return "{} now loads {}, golden says {}".format(keys, _jpeg_text(new), _jpeg_text(old))
    return "{} {} is now {}, golden says {}".format(keys, field.replace("_", " "), new, old)


def _provenance_changes(golden: Dict[str, Any], now: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Every provenance fact that differs, each with one sentence a user can act on.

    Implementations that changed the same way (Pillow's decode, decode with EXIF transpose and
    preprocess all share one Pillow) are reported together, most telling change first.
    """
    changes = []  # type: List[Dict[str, Any]]
    old_env, new_env = golden.get("environment") or {}, now.get("environment") or {}
    for field in sorted(set(old_env) | set(new_env)):
        if old_env.get(field) != new_env.get(field):
            changes.append({
                "what": "environment/" + field, "golden": old_env.get(field),
                "now": new_env.get(field),
                "text": "{} is now {}, golden says {}".format(
                    _ENVIRONMENT_WORDS.get(field, field), new_env.get(field), old_env.get(field))})
    if (golden.get("pipeline") or {}) != (now.get("pipeline") or {}):
        changes.append({
            "what": "pipeline", "golden": golden.get("pipeline"), "now": now.get("pipeline"),
            "text": "the deployed pipeline is now {}, golden says {}".format(
                format_pipeline(now.get("pipeline") or {}, " > ") or "undeclared",
                format_pipeline(golden.get("pipeline") or {}, " > ") or "undeclared")})

    old_model, new_model = golden.get("model"), now.get("model") or {}
    if old_model is not None and old_model != new_model:
        differ = sorted(key for key in set(old_model) | set(new_model)
                        if old_model.get(key) != new_model.get(key))
        changes.append({
            "what": "model", "golden": old_model, "now": new_model,
            "text": "the model changed ({}): now {}, golden says {}".format(
                ", ".join(differ),
                json.dumps({key: new_model.get(key) for key in differ}, sort_keys=True),
                json.dumps({key: old_model.get(key) for key in differ}, sort_keys=True))})

    # (field, golden value, current value) -> implementations that changed exactly so.
    grouped = {}  # type: Dict[Tuple[str, str, str], List[str]]
    values = {}  # type: Dict[Tuple[str, str, str], Tuple[Any, Any]]

    def note(key: str, field: str, old: Any, new: Any) -> None:
        group = (field, json.dumps(old, sort_keys=True), json.dumps(new, sort_keys=True))
        grouped.setdefault(group, []).append(key)
        values[group] = (old, new)

    old_impls, new_impls = golden.get("implementations") or {}, now.get("implementations") or {}
    for key in sorted(set(old_impls) | set(new_impls)):
        old, new = old_impls.get(key), new_impls.get(key)
        if old is None or new is None:
            note(key, "presence", old, new)
        elif old.get("status") != new.get("status"):
            note(key, "status", old.get("status"), new.get("status"))
        else:
            for field in sorted(set(old) | set(new)):
                if old.get(field) != new.get(field):
                    note(key, field, old.get(field), new.get(field))
    rank = {"jpeg_library": 0, "version": 1}
    for group in sorted(grouped, key=lambda g: (rank.get(g[0], 2), grouped[g][0])):
        field, keys = group[0], grouped[group]
        old, new = values[group]
        names = keys[0] if len(keys) == 1 else "{} (and {})".format(keys[0], ", ".join(keys[1:]))
        changes.append({"what": field if field != "presence" else "implementation",
                        "implementations": keys, "golden": old, "now": new,
                        "text": _implementation_text(names, field, old, new)})
    # Implementation changes explain outputs best: they go before environment-wide ones.
    changes.sort(key=lambda c: "implementations" not in c)
    return changes


def check(golden: Dict[str, Any], now: Dict[str, Any], tolerances: Tolerances,
          float_tolerance: bool = False) -> Dict[str, Any]:
    """Compare a bundle's fingerprint (``now``) with its golden. Pure: two dicts in, one out.

    ``float_tolerance``: float outputs whose statistics stayed within tolerance pass (they are
    listed under ``within_tolerance``, not ``changed``).
    """
    old_inputs, new_inputs = golden.get("inputs") or {}, now.get("inputs") or {}
    changed_inputs = sorted(name for name in set(old_inputs) & set(new_inputs)
                            if old_inputs[name] != new_inputs[name])
    old_records, new_records = golden.get("records") or {}, now.get("records") or {}
    changed, new, removed, tolerated = [], [], [], []
    unchanged = 0
    entries = []  # (entry, golden record, current record) of every record whose output moved
    for key in sorted(set(old_records) | set(new_records)):
        old, current = old_records.get(key), new_records.get(key)
        if old is None:
            new.append(dict(current, key=key))
        elif current is None:
            removed.append(dict(old, key=key))
        elif _same_output(old, current):
            unchanged += 1
        else:
            entry = {
                "key": key, "image": current.get("image"), "stage": current.get("stage"),
                "impl": current.get("impl"), "mode": current.get("mode"),
                "what": _what_changed(old, current),
                "golden": _describe_output(old), "now": _describe_output(current),
                "golden_stats": old.get("stats"), "now_stats": current.get("stats"),
            }
            if old.get("status") == current.get("status") == "ok":
                entry.update(_stats_change(old, current, tolerances))
            entries.append((entry, old, current))
    # What passes as unchanged under --float-tolerance: its output is a same-enough input, but
    # only when its own input was the same (or same-enough): a within-tolerance move whose
    # input changed beyond tolerance upstream does not make the next stage's change its own.
    tolerated_outputs = set()  # type: Set[str]
    for stage in STAGES if float_tolerance else ():
        for entry, old, current in entries:
            if entry["stage"] == stage and entry.get("stats_within_tolerance") and (
                    old.get("input") == current.get("input")
                    or current.get("input") in tolerated_outputs):
                tolerated_outputs.add(str(current.get("sha256")))
    for entry, old, current in entries:
        entry["origin"] = _origin(entry["key"], old, current, changed_inputs, tolerated_outputs)
        if (entry["origin"] == "intrinsic" and old.get("input") != current.get("input")
                and current.get("input") in tolerated_outputs):
            entry["input_within_tolerance"] = True
        if float_tolerance and entry.get("stats_within_tolerance"):
            tolerated.append(entry)
        else:
            changed.append(entry)
    stages = _stage_summary(changed, new, removed)
    first = next((s["stage"] for s in stages
                  if s["changed"] - s["inherited"] > 0 or s["new"] or s["removed"]), None)
    return {
        "name": now.get("name"),
        "verdict": "changed" if changed or new or removed else "unchanged",
        "counts": {"records": len(new_records), "unchanged": unchanged, "changed": len(changed),
                   "new": len(new), "removed": len(removed), "within_tolerance": len(tolerated)},
        "first_changed_stage": first,
        "stages": stages,
        "inputs_changed": changed_inputs,
        "inputs_new": sorted(set(new_inputs) - set(old_inputs)),
        "inputs_removed": sorted(set(old_inputs) - set(new_inputs)),
        "provenance_changes": _provenance_changes(golden, now),
        "golden_edgeparity_version": golden.get("edgeparity_version"),
        "changed": changed,
        "within_tolerance": tolerated,
        "new": [_brief(r) for r in new],
        "removed": [_brief(r) for r in removed],
    }


def _brief(record: Dict[str, Any]) -> Dict[str, Any]:
    return {"key": record["key"], "stage": record.get("stage"), "impl": record.get("impl"),
            "mode": record.get("mode"), "image": record.get("image"),
            "output": _describe_output(record)}


def _stage_summary(changed: List[Dict[str, Any]], new: List[Dict[str, Any]],
                   removed: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Per stage and implementation: how many records changed, appeared, disappeared."""
    groups = {}  # type: Dict[Tuple[str, str], Dict[str, Any]]

    def group(record: Dict[str, Any]) -> Dict[str, Any]:
        key = (str(record.get("stage")), str(record.get("impl")))
        if key not in groups:
            groups[key] = {"stage": key[0], "impl": key[1], "changed": 0, "inherited": 0,
                           "intrinsic": 0, "input_file_changed": 0, "new": 0, "removed": 0,
                           "images": [], "max_stats_delta": None,
                           "all_within_tolerance": True}
        return groups[key]

    for record in changed:
        summary = group(record)
        summary["changed"] += 1
        summary[record["origin"].replace(" ", "_")] += 1
        if record.get("image") not in summary["images"]:
            summary["images"].append(record.get("image"))
        delta = record.get("max_stats_delta")
        if delta is not None and (summary["max_stats_delta"] is None
                                  or delta > summary["max_stats_delta"]):
            summary["max_stats_delta"] = delta
        if not record.get("stats_within_tolerance"):
            summary["all_within_tolerance"] = False
    for name, records in (("new", new), ("removed", removed)):
        for record in records:
            summary = group(record)
            summary[name] += 1
            summary["all_within_tolerance"] = False
    order = {stage: index for index, stage in enumerate(STAGES)}
    result = sorted(groups.values(), key=lambda s: (order.get(s["stage"], 99), s["impl"]))
    for summary in result:
        summary["images"].sort()
    return result


def check_bundles(bundle_paths: List[str], directory: str, tolerances: Tolerances,
                  float_tolerance: bool = False, golden_name: Optional[str] = None
                  ) -> Dict[str, Any]:
    """The golden report for several bundles. Raises ValueError/BundleError for user errors.

    ``golden_name`` checks every bundle against ``DIR/<golden_name>.json`` instead of the golden
    of its own name (one golden for several machines, e.g. with ``float_tolerance``).
    """
    if golden_name is not None:
        check_name(golden_name, "--golden-name")
    loaded = []  # type: List[Tuple[str, Bundle]]
    missing = []
    for path in bundle_paths:
        if "@" in os.path.basename(path) and not os.path.exists(path):
            # A folder whose name holds '@' is a bundle like any other (as compare takes it).
            raise ValueError("{}: the golden check reads whole bundles; drop the '@pipeline' "
                             "part (the golden covers every record of the bundle).".format(path))
        current = load_bundle(path)
        name = golden_name or current.name
        check_name(name, path)
        loaded.append((path, current))
        if not os.path.exists(golden_path(directory, name)):
            missing.append((golden_path(directory, name), path))
    if missing:
        firsts = {}  # type: Dict[str, Tuple[str, str]]
        for golden, path in missing:  # one named golden: said once, from the first bundle
            firsts.setdefault(golden, (golden, path))
        missing = list(firsts.values())
        raise ValueError("no golden for {}: {}. Create {} (and commit {}) with:  {}".format(
            "these environments" if len(missing) > 1 else "this environment",
            ", ".join(golden for golden, _ in missing),
            "them" if len(missing) > 1 else "it", "them" if len(missing) > 1 else "it",
            # One named golden is written from one bundle.
            update_command(directory, [path for _, path in missing][:1 if golden_name else None],
                           golden_name)))
    environments = []
    for argument, current in loaded:
        path = golden_path(directory, golden_name or current.name)
        golden = load(path, update_command(directory, [argument], golden_name))
        result = check(golden, fingerprint(current), tolerances, float_tolerance)
        # The path as the user wrote it, so the suggested `golden update` command works as is.
        result.update(bundle=current.path, bundle_argument=argument, golden=path)
        if golden_name and len(loaded) == 1:
            result["golden_name"] = golden_name
        elif golden_name:
            # One golden for several bundles: refreshing it from each would undo the others.
            result["golden_shared"] = golden_name
        environments.append(result)
    return {
        "schema": GOLDEN_REPORT_SCHEMA,
        "edgeparity_version": __version__,
        "verdict": "changed" if any(e["verdict"] == "changed" for e in environments)
        else "unchanged",
        "golden_dir": directory,
        "tolerances": tolerances.as_dict(),
        # "exact": digests must match; "float_stats": float outputs may move within tolerance
        "mode": "float_stats" if float_tolerance else "exact",
        "environments": environments,
    }
