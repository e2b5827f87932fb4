"""Join the shard bundles of one environment (``capture --shard I/N``) into one bundle.

A 50,000-image set can be captured on several devices or CI runners of the same kind at once;
merged, the result compares like an unsharded capture. Shards must come from the same kind of
environment (same architecture, Python, and implementation versions and JPEG builds): a merge
of a Jetson's shard with a laptop's would hide exactly what edgeparity looks for.

Runs in every environment (CPython 3.6, numpy only).
"""

import os
import shutil
from typing import Any, Dict, List, Optional, Tuple

from ..models.declaration import model_identity
from .format import BundleError
from .reader import load
from .writer import BundleWriter

# What must be equal across shards for them to be one environment.
_SAME = (("cpu", "arch"), ("python", "version"), ("numpy", "version"))


def environment(manifest: Dict[str, Any], canonical: bool = True,
                strict: bool = False) -> Dict[str, Any]:
    """What must be equal in two captures for their records to be one environment's (merge's
    shards, a resumed capture and what it carries over), in the order a difference is said:
    how they were captured before what follows from it. ``canonical``: with the canonical
    inputs (an interrupted capture has none yet: they run last). ``strict``: captures in the
    same place (a resume), so also the same files: each library's JPEG build by its sha256,
    the model files, the CPU model, the interpreter and the environment variables."""
    provenance = manifest.get("provenance") or {}
    same = {"/".join(path): (provenance.get(path[0]) or {}).get(path[1]) for path in _SAME}
    if strict:
        cpu, python = provenance.get("cpu") or {}, provenance.get("python") or {}
        same["cpu/model"] = (cpu.get("model"), cpu.get("notable_features"))
        # The interpreter itself: bin/python, bin/python3 and a symlink of either are one.
        executable = python.get("executable")
        same["python/interpreter"] = (os.path.realpath(executable) if executable else None,
                                      python.get("prefix"))
        same["environment variables"] = provenance.get("environment_variables")
        # The same images: another folder (a typo) or shard would carry nothing over and then
        # replace the kept records with a capture of something else.
        images_dir = manifest.get("images_dir")  # a symlink to the same folder is the same
        same["images folder (--images)"] = os.path.realpath(images_dir) if isinstance(
            images_dir, str) else images_dir
        # Which share only: images added to the folder since are what a resume captures.
        shard = manifest.get("shard")
        same["shard (--shard)"] = {key: shard.get(key) for key in ("index", "count")} \
            if isinstance(shard, dict) else shard
    # Captured the same way: the same model and options, pipeline and limits. Not the model's
    # path (each device has its own copy, at its own path): the model itself is compared below.
    for key in ("options", "selection", "pipeline", "pipeline_only", "limits"):
        same[key] = manifest.get(key)
    if isinstance(same["options"], dict):
        same["options"] = {k: v for k, v in same["options"].items() if k != "model"}
    # The same model, as far as outputs go.
    same["model"] = model_identity(manifest.get("model") or {})
    if canonical:
        # The same canonical inputs (by content, wherever each device keeps them): the merged
        # bundle keeps one shard's isolated runs for all.
        same["canonical inputs"] = sorted(
            (label, entry.get("sha256")) for label, entry in
            (manifest.get("canonical") or {}).items() if isinstance(entry, dict))
    for key, entry in sorted((provenance.get("implementations") or {}).items()):
        details = entry.get("details") or {}
        jpeg = details.get("jpeg_library") or {}
        same[key] = {"status": entry.get("status"), "version": details.get("version"),
                     "JPEG build": jpeg.get("build")}
        if strict:
            # By content: the same files found at another path (another cache folder, a
            # relative --model from elsewhere) are the same.
            files = (details.get("model") or {}).get("files") or {}
            same[key].update({"JPEG library sha256": jpeg.get("sha256"),
                              "model files sha256": sorted(map(str, files.values()))})
    return same


# Facts a capture option sets, said as that option: "--impl differ: not given vs pillow".
_OPTIONS = {
    ("selection", "stages"): "--stages", ("selection", "implementations"): "--impl",
    ("options", "device"): "--device",
    ("options", "input_name"): "--input-name", ("options", "input_shape"): "--input-shape",
    ("options", "layout"): "--layout", ("limits", "max_pixels"): "--max-megapixels",
    ("limits", "max_file_bytes"): "--max-file-mb",
}


# Facts set by how a capture was asked for (its options), not by where it ran.
_ASKED = ("options", "selection", "pipeline", "pipeline_only", "limits", "model",
          "images folder (--images)", "shard (--shard)")


def differences(expected: Dict[str, Any], found: Dict[str, Any]) -> List[str]:
    """'--impl differ: not given vs pillow', ...: every option that differs (several wrong
    options are all said at once), else the first other fact (of ``environment``) that does:
    what follows from other options (other implementations ran) is not said. A fact made of
    parts is said by each part that differs."""
    keys = list(expected) + [key for key in found if key not in expected]
    # A fact absent from an older capture and its "nothing asked" (None vs all None) says
    # nothing: decided on the lines said, so the facts after it are still checked.
    asked = [line for key in keys if key in _ASKED and expected.get(key) != found.get(key)
             for line in _said(key, expected, found)]
    if asked:
        return asked
    for key in keys:
        if key not in _ASKED and expected.get(key) != found.get(key):
            said = _said(key, expected, found)
            if said:
                return said[:1]
    return []


def _said(key: str, expected: Dict[str, Any], found: Dict[str, Any]) -> List[str]:
    """How one fact that differs is said (a fact made of parts: each part that differs)."""
    old, new = expected.get(key), found.get(key)
    if key == "pipeline_only":
        return [] if bool(old) == bool(new) else ["--pipeline-only differ: {} vs {}".format(
            "given" if old else "not given", "given" if new else "not given")]
    if key == "shard (--shard)":
        return ["--shard differ: {} vs {}".format(_shown(key, expected), _shown(key, found))]
    if isinstance(old, dict) or isinstance(new, dict):
        # Say which part (an implementation that ran on one side only has none on the other).
        old, new = old if isinstance(old, dict) else {}, new if isinstance(new, dict) else {}
        return [_part_differs(key, part, old.get(part), new.get(part))
                for part in list(old) + [k for k in new if k not in old]
                if old.get(part) != new.get(part)]
    return ["{} differ: {} vs {}".format(key, _shown(key, expected), _shown(key, found))]


def _part_differs(key: str, part: str, old: Any, new: Any) -> str:
    option = _OPTIONS.get((key, part))
    if key == "pipeline":
        option = "--pipeline {}".format(part)
    if option is None:
        return "{} differ: {}: {} vs {}".format(key, part, old, new)
    return "{} differ: {} vs {}".format(option, _option_value(key, part, old),
                                        _option_value(key, part, new))


def _option_value(key: str, part: str, value: Any) -> str:
    """A fact as the option's value: 'not given', 'decode,infer', 12 (MB), 1,3,224,224."""
    if value is None:
        return "not given"
    if part == "max_pixels" and isinstance(value, (int, float)):
        return "{:g}".format(value / 1e6)
    if part == "max_file_bytes" and isinstance(value, (int, float)):
        return "{:g}".format(value / (1024 * 1024))
    if isinstance(value, (list, tuple)):
        return ",".join(str(item) for item in value)
    return str(value)


def _shown(key: str, facts: Dict[str, Any]) -> str:
    """One fact for the message: canonical inputs by name, not digest; a shard as I/N."""
    value = facts.get(key)
    if key == "canonical inputs":
        return "[{}]".format(", ".join(label for label, _ in value)) if value else "none"
    if key == "shard (--shard)":
        return "{}/{}".format(value.get("index"), value.get("count")) if isinstance(
            value, dict) else "not given"
    return str(value)


def _split(shard: Any) -> Tuple[Any, Any]:
    """(index, count) of a shard bundle's --shard I/N."""
    facts = shard.manifest.get("shard")
    facts = facts if isinstance(facts, dict) else {}
    return facts.get("index"), facts.get("count")


def _check_split(shards: List[Any]) -> None:
    """Every shard 1/N .. N/N of one split, each once; BundleError naming what is not."""
    for shard in shards:
        if not shard.manifest.get("shard"):
            raise BundleError("{} is not a shard bundle (it was captured without --shard I/N): "
                              "merge joins the shards of one split".format(shard.path))
        index, count = _split(shard)
        if not (type(index) is int and type(count) is int and 1 <= index <= count):
            raise BundleError("{}: its manifest records shard {}/{}, which no capture --shard "
                              "I/N writes; the bundle was edited or damaged: capture that shard "
                              "again".format(shard.path, index, count))
    counts = {_split(shard)[1] for shard in shards}
    if len(counts) != 1 or not isinstance(next(iter(counts)), int):
        raise BundleError("these shards come from different splits ({}): merge joins the "
                          "shards of one split, each captured with --shard I/N and the same N"
                          .format(", ".join("{} is {}/{}".format(s.path, *_split(s))
                                            for s in shards)))
    count = next(iter(counts))
    by_index = {}  # type: Dict[Any, List[str]]
    for shard in shards:
        by_index.setdefault(_split(shard)[0], []).append(shard.path)
    twice = sorted((index, paths) for index, paths in by_index.items() if len(paths) > 1)
    if twice:
        index, paths = twice[0]
        if len({os.path.realpath(path) for path in paths}) == 1:
            raise BundleError("{} is given {} times: pass each shard once".format(
                paths[0], len(paths)))
        raise BundleError("{} are {} shard {}/{} (one shard captured twice?): pass each shard "
                          "once".format(" and ".join(paths), "both" if len(paths) == 2 else "all",
                                        index, count))
    _check_same_images(shards)
    missing = [i for i in range(1, count + 1) if i not in by_index]
    if missing:
        raise BundleError("shard{} {} {} missing: capture {} with `edgeparity capture "
                          "--shard {}/{}` and pass every shard to merge".format(
                              "s" if len(missing) > 1 else "",
                              ", ".join("{}/{}".format(i, count) for i in missing),
                              "are" if len(missing) > 1 else "is",
                              "them" if len(missing) > 1 else "it",
                              "I" if len(missing) > 1 else missing[0], count))
    if len(shards) < 2:
        raise BundleError("merge needs at least two shard bundles")


def _check_same_images(shards: List[Any]) -> None:
    """Shards cut from the same set of images (their number and names, as each capture found
    them; not recorded by older captures): a device with an incomplete copy of the images
    would otherwise leave some out of the merged bundle without a word."""
    seen = {}  # type: Dict[Tuple[Any, Any], Any]
    for shard in shards:
        facts = shard.manifest.get("shard") or {}
        if "names_sha256" in facts:
            seen.setdefault((facts.get("of_images"), facts["names_sha256"]), shard)
    if len(seen) > 1:
        (one, first), (other, second) = list(seen.items())[:2]
        counts = "{} vs {} images".format(one[0], other[0]) if one[0] != other[0] else \
            "{} images each, with other names".format(one[0])
        raise BundleError("{} and {} are shares of different sets of images ({} in the images "
                          "folder when each was captured): capture every shard from the same "
                          "copy of the images (`find IMAGES -type f | sort` on each device shows "
                          "which files differ)".format(first.path, second.path, counts))


def merge(paths: List[str], out: str, name: Optional[str] = None
          ) -> Tuple[str, Dict[str, int], str]:
    """Write the union of the shard bundles ``paths`` to ``out``; return its path, counts
    (images, and the ok/error/skipped outputs of its manifest) and name. ``name``: the environment's
    name in reports; by default the shards' own when they share one (each captured with the
    same --name), else the folder ``out``'s."""
    if os.path.realpath(out) in {os.path.realpath(path) for path in paths}:
        raise BundleError("--out {} is one of the shards: write the merged bundle elsewhere"
                          .format(out))
    shards = [load(path) for path in paths]
    # Named before the finer checks: a bundle captured without --shard, then which shards of
    # the split are missing or given twice.
    _check_split(shards)
    first = shards[0]
    expected = environment(first.manifest)
    for shard in shards[1:]:
        differ = differences(expected, environment(shard.manifest))
        if differ:
            raise BundleError(
                "{} and {} are not shards of one environment ({}); capture every shard with "
                "the same options in the same kind of environment (container image, device "
                "setup)".format(first.path, shard.path, "; ".join(differ)))
    # Shard bundles captured without --name are named after their own folders (jetson-1,
    # jetson-2, ...): the first one's would name the whole environment in every report.
    names = {shard.name for shard in shards}
    if name is None:
        name = names.pop() if len(names) == 1 else os.path.basename(
            os.path.abspath(out).rstrip("/"))
    writer = BundleWriter(out, "none")
    try:
        records = {}  # type: Dict[str, Dict[str, Any]]
        images = {}  # type: Dict[str, Any]
        for shard in shards:
            images.update(shard.manifest.get("images", {}))
            for record in shard.manifest["records"]:
                # Canonical inputs and probes ran in every shard; the same environment gives
                # the same outputs, so the first shard's are kept.
                records.setdefault(record["key"], record)
        for record in records.values():
            writer.add_record(record)
            if record["status"] != "ok" or record["sha256"] in writer.arrays:
                continue
            source = next(s for s in shards if record["sha256"] in s.manifest["arrays"])
            writer.adopt(source.path, record["sha256"], source.manifest["arrays"][record["sha256"]])
        for digest, entry in first.manifest["arrays"].items():  # canonical inputs
            if digest not in writer.arrays and os.path.exists(
                    os.path.join(first.path, entry["file"])):
                shutil.copyfile(os.path.join(first.path, entry["file"]),
                                os.path.join(writer.staging, entry["file"]))
                writer.arrays[digest] = dict(entry)
        manifest = {key: value for key, value in first.manifest.items()
                    if key not in ("records", "arrays", "index_sha256", "complete")}
        manifest["name"] = name
        manifest["images"] = dict(sorted(images.items()))
        manifest["shard"] = None
        manifest["merged_from"] = [os.path.abspath(shard.path) for shard in shards]
        manifest["counts"] = {
            "ok": sum(1 for r in records.values() if r["status"] == "ok"),
            # failed outputs, and image files that could not be read at all
            "error": sum(1 for r in records.values() if r["status"] == "error")
            + sum(1 for entry in images.values() if "error" in entry),
            "skipped": 0,
        }
        return writer.finish(manifest), dict(manifest["counts"], images=len(images)), name
    except BaseException:
        if not writer.finished:
            writer.discard()
        raise
