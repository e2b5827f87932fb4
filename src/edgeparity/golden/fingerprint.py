"""Golden fingerprints: what a golden keeps of one environment's bundle, and its file form.

A *golden* is a fingerprint of one environment's bundle, committed next to the code: per record
(image x stage chain) its status, shape, dtype, content digest and summary statistics, plus the
provenance that explains outputs (implementation versions, the JPEG library each decoder loads,
the math library each runner uses, Python/numpy/OS/CPU architecture). No arrays: a golden is a
few hundred small lines, one record per line, so a refresh reads as a normal code review diff.

    edgeparity golden update matrix-out/bundles/* --dir goldens/docker   # write DIR/<name>.json
    edgeparity golden check matrix-out/bundles/* --dir goldens/docker    # the gate (check.py)
"""

import json
import os
import re
from typing import Any, Dict

from ..bundle import Bundle
from ..models.declaration import model_identity
from ..text import printable

GOLDEN_SCHEMA = "edgeparity.golden/1"
# Statistics are for people, not for equality: rounding keeps goldens from changing in the last
# digit when the same array's mean is summed in a different order on another CPU.
STATS_DIGITS = 10
# Provenance fields of an implementation that can change its outputs. Paths, timings and model
# file locations are left out: they differ between machines without changing a single value.
IMPLEMENTATION_FIELDS = ("version", "jpeg_compiled_version", "libjpeg_turbo_feature",
                         "math_library", "backend")
JPEG_LIBRARY_FIELDS = ("build", "soname", "linkage", "origin", "sha256")

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
        # Which model and preprocessing produced the outputs (a changed model then shows as
        # the reason, not only as every infer record moving).
        "model": model_identity(manifest.get("model") or {}),
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


def check_name(name: str, bundle_path: str) -> None:
    """Refuse a bundle name that cannot be a file name in the golden folder (control
    characters included: a file named with an escape sequence would act in every `ls`)."""
    if (not name or name in (".", "..") or "/" in name or "\\" in name
            or printable(name) != name):
        if bundle_path == "--golden-name":  # the name came from the option, not the bundle
            raise ValueError("--golden-name {!r} cannot be a golden file name: use letters, "
                             "digits, '-', '_'.".format(name))
        raise ValueError("{}: the bundle's name {!r} cannot be a golden file name; capture it "
                         "again with --name NAME (letters, digits, '-', '_').".format(
                             printable(bundle_path), name))


def load(path: str, update_hint: str) -> Dict[str, Any]:
    """Read one golden file, with a message saying what to do when it is missing or broken."""
    if not os.path.exists(path):
        raise ValueError("{}: no golden for this environment. Create it (and commit it) with:  "
                         "{}".format(path, update_hint))
    if not os.path.isfile(path):  # a FIFO would hang the read, a folder would not parse
        raise ValueError("{}: not a golden file (a folder, a FIFO or a device). Regenerate it "
                         "with:  {}".format(path, update_hint))
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
