"""The golden gate: has any stage output of an environment moved since the goldens were made?

A *golden* is a fingerprint of one environment's bundle, committed next to the code: per record
(image x stage chain) its status, shape, dtype, content digest and summary statistics, plus the
provenance that explains outputs (implementation versions, the JPEG library each decoder loads,
the math library each runner uses, Python/numpy/OS/CPU architecture). No arrays: a golden is a
few hundred small lines, one record per line, so a refresh reads as a normal code review diff.

    edgeparity golden update matrix-out/bundles/* --dir goldens/docker   # write DIR/<name>.json
    edgeparity compare matrix-out/bundles/* --golden goldens/docker      # the gate

The gate matches each bundle to ``DIR/<bundle name>.json`` and reports every record whose output
digest changed (with how far its statistics moved), new and removed records, changed input
files and provenance changes ("decode/pillow now loads libjpeg-turbo 2.1.5 ..., golden says IJG
libjpeg 9d ..."). Exit 0 when every output is unchanged, 1 when any changed, 2 on errors.

Equality is exact (the sha256 of dtype, shape and bytes). Tolerances only qualify a change: a
float output whose statistics moved less than atol/rtol is still reported as changed, with how
much, because statistics cannot prove every element stayed within tolerance.
"""

import json
import os
import re
from typing import Any, Dict, List, Optional, Tuple

from . import __version__, bundle
from .bundle import Bundle
from .compare import STAGE_ORDER, Tolerances
from .report import STAGE_WORDS, _num, _pipeline_text, _short_list, _write, write_outputs

GOLDEN_SCHEMA = "edgeparity.golden/1"
GOLDEN_REPORT_SCHEMA = "edgeparity.golden-report/1"
# Statistics are for people, not for equality: rounding keeps goldens from changing in the last
# digit when the same array's mean is summed in a different order on another CPU.
STATS_DIGITS = 10
# Provenance fields of an implementation that can change its outputs. Paths, timings and model
# file locations are left out: they differ between machines without changing a single value.
IMPLEMENTATION_FIELDS = ("version", "jpeg_compiled_version", "libjpeg_turbo_feature",
                         "math_library", "backend")
JPEG_LIBRARY_FIELDS = ("build", "soname", "linkage", "origin", "sha256")
# Markdown reports list at most this many records per environment (a GitHub job summary is
# capped at 1 MiB); the JSON report always has them all.
MARKDOWN_RECORD_LIMIT = 200

_ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(?:[^\s()'\",;:/]+/)+([^\s()'\",;:/]+)")


def _strip_paths(text: Any) -> Any:
    """'... (/root/.cache/x/model.so) ...' -> '... (model.so) ...': keep what, drop where."""
    if not isinstance(text, str):
        return text
    return _ABSOLUTE_PATH.sub(r"\1", text)


def _round(value: Any) -> Any:
    if isinstance(value, float):
        return float("{:.{}g}".format(value, STATS_DIGITS))
    return value


# -- fingerprints ------------------------------------------------------------------------------

def record_fingerprint(record: Dict[str, Any]) -> Dict[str, Any]:
    """What a golden keeps of one bundle record."""
    entry = {
        "image": record.get("image"),
        "stage": record.get("stage"),
        "impl": record.get("impl"),
        "mode": record.get("mode"),
        "status": record.get("status"),
        # Digest of this stage's input (upstream output or canonical input): tells a change
        # inherited from upstream from one this stage made itself.
        "input": record.get("input"),
    }  # type: Dict[str, Any]
    if record.get("status") == "ok":
        entry["shape"] = list(record.get("shape") or [])
        entry["dtype"] = record.get("dtype")
        entry["sha256"] = record.get("sha256")
        entry["stats"] = {k: _round(v) for k, v in (record.get("stats") or {}).items()}
    else:
        entry["error"] = _strip_paths(record.get("error"))
    return entry


def implementation_fingerprint(entry: Dict[str, Any]) -> Dict[str, Any]:
    """Status, versions and native libraries of one implementation, without machine paths."""
    result = {"status": entry.get("status")}  # type: Dict[str, Any]
    details = entry.get("details") or {}
    for field in IMPLEMENTATION_FIELDS:
        if details.get(field) is not None:
            result[field] = _strip_paths(details[field])
    jpeg = details.get("jpeg_library")
    if jpeg:
        result["jpeg_library"] = {field: _strip_paths(jpeg.get(field))
                                  for field in JPEG_LIBRARY_FIELDS if jpeg.get(field) is not None}
    return result


def environment_fingerprint(provenance: Dict[str, Any]) -> Dict[str, Any]:
    """The environment facts that can change outputs (not the host name, kernel or CPU model)."""
    os_info = provenance.get("os") or {}
    result = {
        "arch": (provenance.get("cpu") or {}).get("arch"),
        "os": os_info.get("distro"),
        "libc": (provenance.get("libc") or {}).get("gnu_libc"),
        "python": (provenance.get("python") or {}).get("version"),
        "numpy": (provenance.get("numpy") or {}).get("version"),
        "environment_variables": dict(provenance.get("environment_variables") or {}),
    }
    if os_info.get("l4t_release"):
        result["l4t_release"] = os_info["l4t_release"]
    return result


def fingerprint(loaded: Bundle) -> Dict[str, Any]:
    """The golden of one bundle (a JSON-able dict, schema edgeparity.golden/1)."""
    manifest = loaded.manifest
    inputs = {image: entry.get("sha256") for image, entry in manifest.get("images", {}).items()}
    for label, entry in (manifest.get("canonical") or {}).items():
        inputs[label] = entry.get("sha256")
    implementations = (loaded.provenance.get("implementations")
                       or manifest.get("implementations") or {})
    return {
        "schema": GOLDEN_SCHEMA,
        "name": loaded.name,
        "edgeparity_version": manifest.get("edgeparity_version"),
        "pipeline": dict(manifest.get("pipeline") or {}),
        "environment": environment_fingerprint(loaded.provenance),
        "implementations": {key: implementation_fingerprint(entry)
                            for key, entry in implementations.items()},
        "inputs": inputs,
        "records": {key: record_fingerprint(record) for key, record in loaded.records.items()},
    }


def dumps(golden: Dict[str, Any]) -> str:
    """Stable, diff-friendly JSON: sorted keys, one record per line."""
    lines = ["{"]
    keys = sorted(golden)
    for index, key in enumerate(keys):
        comma = "," if index < len(keys) - 1 else ""
        if key == "records":
            records = golden["records"]
            lines.append(' "records": {')
            record_keys = sorted(records)
            for position, record_key in enumerate(record_keys):
                lines.append("  {}: {}{}".format(
                    json.dumps(record_key), json.dumps(records[record_key], sort_keys=True),
                    "," if position < len(record_keys) - 1 else ""))
            lines.append(" }" + comma)
        else:
            text = json.dumps(golden[key], indent=1, sort_keys=True).replace("\n", "\n ")
            lines.append(" {}: {}{}".format(json.dumps(key), text, comma))
    lines.append("}")
    return "\n".join(lines) + "\n"


def golden_path(directory: str, name: str) -> str:
    return os.path.join(directory, name + ".json")


def _check_name(name: str, bundle_path: str) -> None:
    if not name or name in (".", "..") or "/" in name or "\\" in name:
        raise ValueError("{}: the bundle's name {!r} cannot be a golden file name; capture it "
                         "again with --name NAME (letters, digits, '-', '_').".format(
                             bundle_path, name))


def load_golden(path: str, update_hint: str) -> Dict[str, Any]:
    """Read one golden file, with a message saying what to do when it is missing or broken."""
    if not os.path.exists(path):
        raise ValueError("{}: no golden for this environment. Create it (and commit it) with:  "
                         "{}".format(path, update_hint))
    try:
        with open(path, encoding="utf-8") as handle:
            golden = json.load(handle)
    except (OSError, ValueError) as exc:
        raise ValueError("{}: unreadable golden ({}). If a merge left conflict markers in it, "
                         "regenerate it with:  {}".format(path, exc, update_hint)) from None
    if not isinstance(golden, dict) or golden.get("schema") != GOLDEN_SCHEMA:
        raise ValueError("{}: not an edgeparity golden (schema {!r}, expected {!r}). Regenerate "
                         "it with:  {}".format(path, golden.get("schema") if isinstance(
                             golden, dict) else None, GOLDEN_SCHEMA, update_hint))
    return golden


# -- checking ----------------------------------------------------------------------------------

def _same_output(golden: Dict[str, Any], now: Dict[str, Any]) -> bool:
    if golden.get("status") != now.get("status"):
        return False
    if now.get("status") == "ok":
        return golden.get("sha256") == now.get("sha256")
    return golden.get("error") == now.get("error")


def _is_float(dtype: Optional[str]) -> bool:
    # numpy dtype strings: '<f4', '<f8', '|u1', ...
    return bool(dtype) and dtype[1:2] == "f"  # type: ignore


def _stats_change(golden: Dict[str, Any], now: Dict[str, Any], tolerances: Tolerances
                  ) -> Dict[str, Any]:
    """How far min/max/mean/std moved, and whether that is within the stage's tolerance."""
    old_stats, new_stats = golden.get("stats") or {}, now.get("stats") or {}
    delta = {}
    for name in ("min", "max", "mean", "std"):
        a, b = old_stats.get(name), new_stats.get(name)
        if isinstance(a, (int, float)) and isinstance(b, (int, float)):
            delta[name] = b - a
    result = {"stats_delta": delta,
              "max_stats_delta": max((abs(v) for v in delta.values()), default=None)}
    if (_is_float(golden.get("dtype")) and golden.get("dtype") == now.get("dtype")
            and golden.get("shape") == now.get("shape") and delta):
        atol, rtol = tolerances.for_stage(str(now.get("stage")))
        result["stats_within_tolerance"] = all(
            abs(value) <= atol + rtol * abs(old_stats[name]) for name, value in delta.items())
    return result


def _dtype_name(dtype: Any) -> str:
    """'|u1' -> 'uint8', '<f4' -> 'float32' (what the manifest stores is numpy's dtype.str)."""
    import numpy as np

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
            changed_inputs: List[str]) -> str:
    """'input file changed', 'inherited' (its input changed) or 'intrinsic' (same input)."""
    if now.get("stage") == "decode" and now.get("mode") == "e2e":
        return "input file changed" if now.get("image") in changed_inputs else "intrinsic"
    if golden.get("input") != now.get("input"):
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
                _pipeline_text(now.get("pipeline") or {}) or "undeclared",
                _pipeline_text(golden.get("pipeline") or {}) or "undeclared")})

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


def check(golden: Dict[str, Any], now: Dict[str, Any], tolerances: Tolerances
          ) -> Dict[str, Any]:
    """Compare a bundle's fingerprint (``now``) with its golden. Pure: two dicts in, one out."""
    old_inputs, new_inputs = golden.get("inputs") or {}, now.get("inputs") or {}
    changed_inputs = sorted(name for name in set(old_inputs) & set(new_inputs)
                            if old_inputs[name] != new_inputs[name])
    old_records, new_records = golden.get("records") or {}, now.get("records") or {}
    changed, new, removed = [], [], []
    unchanged = 0
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
                "origin": _origin(key, old, current, changed_inputs),
                "golden": _describe_output(old), "now": _describe_output(current),
                "golden_stats": old.get("stats"), "now_stats": current.get("stats"),
            }
            if old.get("status") == current.get("status") == "ok":
                entry.update(_stats_change(old, current, tolerances))
            changed.append(entry)
    stages = _stage_summary(changed, new, removed)
    first = next((s["stage"] for s in stages
                  if s["changed"] - s["inherited"] > 0 or s["new"] or s["removed"]), None)
    return {
        "name": now.get("name"),
        "verdict": "changed" if changed or new or removed else "unchanged",
        "counts": {"records": len(new_records), "unchanged": unchanged, "changed": len(changed),
                   "new": len(new), "removed": len(removed)},
        "first_changed_stage": first,
        "stages": stages,
        "inputs_changed": changed_inputs,
        "inputs_new": sorted(set(new_inputs) - set(old_inputs)),
        "inputs_removed": sorted(set(old_inputs) - set(new_inputs)),
        "provenance_changes": _provenance_changes(golden, now),
        "golden_edgeparity_version": golden.get("edgeparity_version"),
        "changed": changed,
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
    order = {stage: index for index, stage in enumerate(STAGE_ORDER)}
    result = sorted(groups.values(), key=lambda s: (order.get(s["stage"], 99), s["impl"]))
    for summary in result:
        summary["images"].sort()
    return result


def _update_command(directory: str, bundles: List[str]) -> str:
    return "edgeparity golden update {} --dir {}".format(" ".join(bundles), directory)


def check_bundles(bundle_paths: List[str], directory: str, tolerances: Tolerances
                  ) -> Dict[str, Any]:
    """The golden report for several bundles. Raises ValueError/BundleError for user errors."""
    loaded = []  # type: List[Tuple[str, Bundle]]
    missing = []
    for path in bundle_paths:
        if "@" in os.path.basename(path):
            raise ValueError("{}: --golden checks whole bundles; drop the '@pipeline' part (the "
                             "golden covers every record of the bundle).".format(path))
        current = bundle.load(path)
        _check_name(current.name, path)
        loaded.append((path, current))
        if not os.path.exists(golden_path(directory, current.name)):
            missing.append((golden_path(directory, current.name), path))
    if missing:
        raise ValueError("no golden for {}: {}. Create {} (and commit {}) with:  {}".format(
            "these environments" if len(missing) > 1 else "this environment",
            ", ".join(golden for golden, _ in missing),
            "them" if len(missing) > 1 else "it", "them" if len(missing) > 1 else "it",
            _update_command(directory, [path for _, path in missing])))
    environments = []
    for argument, current in loaded:
        path = golden_path(directory, current.name)
        golden = load_golden(path, _update_command(directory, [argument]))
        result = check(golden, fingerprint(current), tolerances)
        # The path as the user wrote it, so the suggested `golden update` command works as is.
        result.update(bundle=current.path, bundle_argument=argument, golden=path)
        environments.append(result)
    return {
        "schema": GOLDEN_REPORT_SCHEMA,
        "edgeparity_version": __version__,
        "verdict": "changed" if any(e["verdict"] == "changed" for e in environments)
        else "unchanged",
        "golden_dir": directory,
        "tolerances": tolerances.as_dict(),
        "environments": environments,
    }


# -- rendering ---------------------------------------------------------------------------------

def _stage_text(summary: Dict[str, Any]) -> str:
    parts = []
    if summary["changed"]:
        origins = ", ".join("{} {}".format(summary[key], key.replace("_", " "))
                            for key in ("intrinsic", "inherited", "input_file_changed")
                            if summary[key])
        parts.append("{} changed ({}) on {}".format(summary["changed"], origins,
                                                    _short_list(summary["images"], 4)))
    if summary["new"]:
        parts.append("{} new".format(summary["new"]))
    if summary["removed"]:
        parts.append("{} removed".format(summary["removed"]))
    text = "; ".join(parts)
    if summary["max_stats_delta"] is not None:
        text += "; stats moved by up to {}".format(_num(summary["max_stats_delta"]))
        if summary["all_within_tolerance"]:
            text += " (within atol/rtol: float rounding, e.g. another CPU?)"
    return text


def _counts_text(env: Dict[str, Any]) -> str:
    counts = env["counts"]
    return "{} of {} records changed, {} new, {} removed".format(
        counts["changed"], counts["records"], counts["new"], counts["removed"])


def _record_delta(record: Dict[str, Any]) -> str:
    if record.get("max_stats_delta") is None:
        return record["what"]
    text = "{}; stats moved by up to {}".format(record["what"], _num(record["max_stats_delta"]))
    if record.get("stats_within_tolerance"):
        text += " (within tolerance)"
    return text


def terminal(report: Dict[str, Any], verbose: bool = False) -> str:
    lines = ["edgeparity golden: {}  (goldens: {}, atol={} rtol={})".format(
        report["verdict"].upper(), report["golden_dir"], report["tolerances"]["atol"],
        report["tolerances"]["rtol"])]
    for env in report["environments"]:
        lines.append("")
        if env["verdict"] == "unchanged":
            lines.append("{}  vs  {}: unchanged ({} records)".format(
                env["name"], env["golden"], env["counts"]["records"]))
        else:
            lines.append("{}  vs  {}: CHANGED, {}".format(env["name"], env["golden"],
                                                          _counts_text(env)))
        if env["inputs_changed"]:
            lines.append("  ! input files changed since the golden: " +
                         _short_list(env["inputs_changed"]))
        for label in ("inputs_new", "inputs_removed"):
            if env[label]:
                lines.append("  ! {} inputs: {}".format(label.split("_")[1],
                                                        _short_list(env[label])))
        if env["first_changed_stage"]:
            lines.append("  first changed stage: {}".format(STAGE_WORDS.get(
                env["first_changed_stage"], env["first_changed_stage"])))
        for summary in env["stages"]:
            lines.append("    {:<10} {:<12} {}".format(summary["stage"], summary["impl"],
                                                      _stage_text(summary)))
        for change in env["provenance_changes"]:
            lines.append("  {}: {}".format("why" if env["verdict"] == "changed" else "note",
                                           change["text"]))
        if verbose:
            for record in env["changed"]:
                lines.append("    changed  {:<60} {:<18} {}".format(
                    record["key"][:60], record["origin"], _record_delta(record)))
            for label in ("new", "removed"):
                for record in env[label]:
                    lines.append("    {:<8} {:<60} {}".format(label, record["key"][:60],
                                                             record["output"]))
        if env["verdict"] == "changed":
            lines.append("  do: if this change is intended, refresh the golden and commit it:  "
                         "{}".format(_update_command(report["golden_dir"],
                                                     [env["bundle_argument"]])))
        elif env["provenance_changes"]:
            lines.append("  every output is identical; `golden update` would record the new "
                         "provenance")
    return "\n".join(lines)


def _cell(text: Any) -> str:
    # A '|' inside a table cell ends the cell in GitHub Markdown, even inside backticks.
    return str(text).replace("|", "\\|")


def markdown(report: Dict[str, Any]) -> str:
    changed = report["verdict"] == "changed"
    out = ["## {} edgeparity golden gate: {}".format("❌" if changed else "✅", report["verdict"]),
           "",
           "Goldens: `{}` · exact comparison of output digests (atol={} rtol={} only qualify "
           "float changes)".format(report["golden_dir"], report["tolerances"]["atol"],
                                   report["tolerances"]["rtol"]),
           "",
           "| environment | verdict | records | changed | new | removed | first changed stage |",
           "|---|---|---|---|---|---|---|"]
    for env in report["environments"]:
        counts = env["counts"]
        out.append("| {} | {} | {} | {} | {} | {} | {} |".format(
            env["name"], "❌ changed" if env["verdict"] == "changed" else "✅ unchanged",
            counts["records"], counts["changed"], counts["new"], counts["removed"],
            env["first_changed_stage"] or "—"))
    for env in report["environments"]:
        if env["verdict"] == "unchanged" and not env["provenance_changes"]:
            continue
        out += ["", "### {}".format(env["name"]), ""]
        if env["inputs_changed"]:
            out += ["Input files changed since the golden: {}.".format(
                ", ".join("`{}`".format(name) for name in env["inputs_changed"])), ""]
        if env["stages"]:
            out += ["| stage | implementation | changed | new | removed | origin | images | "
                    "largest stats change |", "|---|---|---|---|---|---|---|---|"]
            for summary in env["stages"]:
                origins = ", ".join("{} {}".format(summary[key], key.replace("_", " "))
                                    for key in ("intrinsic", "inherited", "input_file_changed")
                                    if summary[key]) or "—"
                out.append("| {} | {} | {} | {} | {} | {} | {} | {} |".format(
                    summary["stage"], summary["impl"], summary["changed"], summary["new"],
                    summary["removed"], origins, _cell(_short_list(summary["images"], 4)) or "—",
                    _num(summary["max_stats_delta"]) if summary["max_stats_delta"] is not None
                    else "—"))
        if env["provenance_changes"]:
            out += ["", "**Why** (provenance changed since the golden)" if env["verdict"] ==
                    "changed" else "**Note**: outputs identical, provenance changed", ""]
            out += ["- " + change["text"] for change in env["provenance_changes"]]
        rows = env["changed"]
        if rows or env["new"] or env["removed"]:
            total = len(rows) + len(env["new"]) + len(env["removed"])
            out += ["", "<details><summary>Records ({})</summary>".format(total), "",
                    "| record | change | origin | golden | now |", "|---|---|---|---|---|"]
            shown = 0
            for record in rows:
                if shown >= MARKDOWN_RECORD_LIMIT:
                    break
                out.append("| `{}` | {} | {} | `{}` | `{}` |".format(
                    _cell(record["key"]), _cell(_record_delta(record)), record["origin"],
                    _cell(record["golden"]), _cell(record["now"])))
                shown += 1
            for label in ("new", "removed"):
                for record in env[label]:
                    if shown >= MARKDOWN_RECORD_LIMIT:
                        break
                    out.append("| `{}` | {} | — | {} | {} |".format(
                        _cell(record["key"]), label,
                        "—" if label == "new" else "`{}`".format(_cell(record["output"])),
                        "`{}`".format(_cell(record["output"])) if label == "new" else "—"))
                    shown += 1
            if total > shown:
                out.append("")
                out.append("{} more in the JSON report.".format(total - shown))
            out += ["", "</details>"]
        if env["verdict"] == "changed":
            out += ["", "If this change is intended, refresh the golden and commit it: "
                    "`{}`".format(_update_command(report["golden_dir"],
                                                  [env["bundle_argument"]]))]
    out.append("")
    return "\n".join(out)


def _html(report: Dict[str, Any]) -> str:
    # The gate has no pixels to show; the HTML report is the Markdown in a <pre>.
    import html

    return ("<!doctype html><meta charset='utf-8'><title>edgeparity golden gate</title>"
            "<pre>{}</pre>\n".format(html.escape(markdown(report))))


def write_reports(report: Dict[str, Any], args: Any) -> None:
    """Terminal summary on stdout (stderr when the JSON goes to stdout), and the asked-for files."""
    write_outputs(report, args, terminal, markdown, _html)


# -- command line ------------------------------------------------------------------------------

def check_against_golden(args: Any) -> int:
    """`edgeparity compare BUNDLE... --golden DIR`: 0 unchanged, 1 changed, 2 error."""
    from .bundle import BundleError
    from .errors import EXIT_DIVERGENCE, EXIT_PARITY, UsageError

    try:
        tolerances = Tolerances.parse(args.atol, args.rtol, args.tolerance)
        report = check_bundles(list(args.bundles), args.golden, tolerances)
    except (ValueError, BundleError) as exc:
        raise UsageError(str(exc)) from None
    write_reports(report, args)
    return EXIT_DIVERGENCE if report["verdict"] == "changed" else EXIT_PARITY


def update(bundle_paths: List[str], directory: str
           ) -> List[Tuple[str, Dict[str, Any], Dict[str, int]]]:
    """Write DIR/<name>.json for each bundle.

    Returns (path, golden, counts of changes against the previous golden or {}) per bundle.
    """
    prepared = []
    for path in bundle_paths:
        current = bundle.load(path)
        _check_name(current.name, path)
        prepared.append((golden_path(directory, current.name), fingerprint(current)))
    names = [golden["name"] for _, golden in prepared]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError("several bundles are named {}: each environment needs its own name "
                         "(capture with --name).".format(", ".join(duplicates)))
    written = []
    for target, golden in prepared:
        previous = None
        if os.path.exists(target):
            try:
                previous = load_golden(target, "")
            except ValueError:
                previous = None  # a broken golden is simply replaced
        counts = check(previous, golden, Tolerances())["counts"] if previous else {}
        _write(target, dumps(golden))
        written.append((target, golden, counts))
    return written


def golden_cli(args: Any) -> int:
    """`edgeparity golden update BUNDLE... --dir DIR`."""
    from .bundle import BundleError
    from .errors import EXIT_PARITY, UsageError

    try:
        written = update(list(args.bundles), args.dir)
    except (ValueError, BundleError) as exc:
        raise UsageError(str(exc)) from None
    for target, golden, counts in written:
        text = "wrote {}: {} records".format(target, len(golden["records"]))
        if counts:
            text += " ({} changed, {} new, {} removed since the previous golden)".format(
                counts["changed"], counts["new"], counts["removed"])
        print(text)
    return EXIT_PARITY
