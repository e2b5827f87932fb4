"""Advice for files a decoder fails on: on one side (which other decoder captured there reads
them), on both sides (with both errors and any decoder that reads them), and files the switch
advised above would make fail on both sides.
"""

from typing import Any, Dict, List, Optional, Tuple

from ..bundle import Bundle
from .endpoints import available
from .evidence import (
    Side,
    coding_fact,
    display_name,
    first_error_line,
    listed,
    outcome,
    plural,
)
from .evidence import (
    advice_item as _item,
)


def broken_by_switch(a: Side, b: Side, chosen: Tuple[Side, Side],
                      images: List[str]) -> List[Dict[str, Any]]:
    """Files the switch advised above would make fail on both sides (which counts as agreeing
    when the switched pair is grouped): said, with what is deployed now for them."""
    files = [image for image in images if outcome(chosen[0], chosen[1], image) == "both_fail"
             and outcome(a, b, image) != "both_fail"]
    if not files:
        return []
    it = "it" if len(files) == 1 else "them"
    now = "keep decode={} on both sides".format(a.decoder) if a.decoder == b.decoder else \
        "keep decode={} in {} and decode={} in {}".format(a.decoder, a.label, b.decoder, b.label)
    same = all(outcome(a, b, image) == "same" for image in files)
    return [_item("but after that switch {} would fail to decode on both sides ({}): {} for "
                  "{}{}".format(listed(files), first_error_line(chosen[0].record(files[0])), now,
                                it, ", which gives the same pixels" if same else ""),
                  len(files) if same else 0, len(files))]


def both_fail_advice(a: Side, b: Side, files: List[str],
                      images: List[str]) -> List[Dict[str, Any]]:
    """Files both deployed decoders fail on, one line per error pair: they say so, with the
    errors, and name the decoders captured in either bundle that read them (if any)."""
    by_errors = {}  # type: Dict[Tuple[str, str], List[str]]
    for image in files:
        key = (first_error_line(a.record(image)), first_error_line(b.record(image)))
        by_errors.setdefault(key, []).append(image)
    advice = []
    for (ref_error, oth_error), group_files in by_errors.items():
        count = len(group_files)
        scope = "for {}".format(group_files[0] if count == 1 else "the {} ({})".format(
            plural(count, "file") + " failing on both sides", listed(group_files)))
        errors = ("same error on both: {}".format(ref_error) if ref_error == oth_error else
                  "{}: {}; {}: {}".format(a.label, ref_error, b.label, oth_error))
        facts = coding_fact([a, b], group_files[0], images) if count == 1 else ""
        readers, without = [], []  # type: List[str], List[str]
        # One bundle read two ways has one set of decoders: named once, not per side.
        one_bundle = a.endpoint.bundle is b.endpoint.bundle
        for side in (a,) if one_bundle else (a, b):
            found = []
            for name in sorted(available(side.endpoint.bundle, "decode")):
                read = [image for image in group_files
                        if (Side(side.endpoint, name).record(image) or {}).get("status") == "ok"]
                if read:
                    found.append("decode={}{} reads {}".format(
                        name, "" if one_bundle else " in " + side.label,
                        "it" if count == 1 else "{} of {}".format(len(read), count)))
            readers += found
            if not found:
                without.append(side.label)
        it = "it" if count == 1 else "them"
        if readers and without:
            # Switching only the side that has a reader would leave the file failing on the
            # other: the advice is about the side without one.
            how = "; ".join(readers + ["no decoder captured in {}{} does".format(
                side.label, asked_only(side.endpoint.bundle)) for side in (a, b)
                if side.label in without])
            how += ": add a decoder in {} that reads {}, or leave such files out".format(
                " and ".join(without), it)
        elif readers:
            how = "; ".join(readers)
            how += ": decode such files with a decoder that reads them, or leave them out"
        elif ref_error.startswith("EmptyFile:") and oth_error.startswith("EmptyFile:"):
            how = "no decoder can read an empty file: put the image in {} or leave {} out".format(
                it, it)
        else:
            how = "no decoder captured in either bundle reads {}: leave such files out or " \
                "add a decoder that reads them".format(it)
        advice.append(_item("{}: {} to decode on both sides ({}){}; {}".format(
            scope, "it fails" if count == 1 else "they fail", errors, facts, how), 0, count))
    return advice


def asked_only(bundle: Bundle) -> str:
    """' (its capture asked only for --impl pillow)' when ``bundle``'s capture left
    implementations out on purpose: installed ones may read what the captured ones do not."""
    selection = bundle.manifest.get("selection") or {}
    names = selection.get("implementations")
    if not isinstance(names, list) or not names:
        return ""
    return " (its capture asked only for --impl {})".format(",".join(str(n) for n in names))


def failing_advice(entry: Dict[str, Any], scope: str,
                   chosen: Tuple[Side, Side]) -> Optional[Dict[str, Any]]:
    """Files that fail on one side (``entry["failing"]``): which other decoder captured there
    gives the other side's pixels on how many of them. One bundle read two ways: not the other
    side's decoder or a variant of it (it agrees with itself), and nothing when no other does."""
    files = entry["images"]
    count = len(files)
    failing, working = chosen[entry["failing"]], chosen[1 - entry["failing"]]
    one_bundle = failing.endpoint.bundle is working.endpoint.bundle
    pair = (lambda s: (s, working)) if entry["failing"] == 0 else (lambda s: (working, s))
    best = (0, "", [])  # type: Tuple[int, str, List[str]]
    for name in sorted(available(failing.endpoint.bundle, "decode")):
        if name == failing.decoder or (one_bundle and display_name(name) == display_name(
                working.decoder)):
            continue
        fixed = [image for image in files
                 if outcome(*pair(Side(failing.endpoint, name)), image) == "same"]
        if len(fixed) > best[0]:
            best = (len(fixed), name, fixed)
    # Why each fails is the why line's: the advice says what to do about it.
    it = "it" if count == 1 else "them"
    if not best[0] and one_bundle:
        return None  # the why line says which decoder reads it
    if not best[0]:
        return _item("{}: no other decoder captured in {}{} gives the other side's pixels{}: "
                     "leave {} out or add a decoder in {} that reads {}".format(
                         scope, failing.label, asked_only(failing.endpoint.bundle),
                         "" if count == 1 else " on any of the {}".format(count),
                         "it" if count == 1 else "such files", failing.label, it), 0, count)
    if best[0] == count:
        return _item("{}: decode={} in {} gives the other side's pixels on {} of {}: decode "
                     "{} with it".format(scope, best[1], failing.label, count, count,
                                         "it" if count == 1 else "such files"), count, count)
    return _item("{}: decode={} in {} gives the other side's pixels on {} of {} ({}): "
                 "decode those with it, and leave the others out or add a decoder that reads "
                 "them".format(scope, best[1], failing.label, best[0], count,
                               listed(best[2])), best[0], count)
