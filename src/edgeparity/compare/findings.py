"""The decode stage's causes, the differences that are not causes, and computed advice.

Rules (each has a test in tests/host/test_report_evidence.py):

- a cause is stated only when a differing image ties it to the data: the JPEG library build is a
  cause when the same decoder on both sides decodes ordinary (YCbCr/grayscale/RGB) files
  differently; the decoder is a cause when the decoders differ; CMYK conversion, a file one side
  cannot decode, and EXIF orientation are named from the files' recorded headers and errors;
- a version difference is a cause on its own only when nothing else recorded differs (library
  build, CPU architecture, and ``evidence.other_recorded_differences``: OS, libc, CPU features,
  JSIMD_* variables, the library file); with those it is named together with them; with the
  same build on different CPUs it is named together with the architectures, the data not
  telling which matters; otherwise it "also differs", saying why (the builds differ too, or
  the library is not identified on both sides); a library difference with every ordinary file
  identical "also differs" too;
- files failing on one side get advice per failing side, counted there, naming a decoder of
  that side that gives the other side's pixels on some of them, with how many;
- advice names a decoder only when, in the captured data, it gives the other side's result on
  more images than the deployed one, says on how many, and never asks to change what is already
  the same on both sides.
"""

from typing import Any, Dict, List, Optional, Tuple

from .endpoints import Endpoint, available
from .evidence import (
    CMYK,
    FAILS,
    KIND_WORDS,
    ORDINARY_COLOURS,
    ORIENTATION,
    PIXELS,
    TRUNCATED,
    UNEXPLAINED,
    Side,
    agreement,
    build_relation,
    candidates,
    classify,
    describe_group,
    describe_library,
    display_name,
    group,
    header,
    listed,
    ordinary_images,
    other_recorded_differences,
    outcome,
    plural,
    two_names,
)
from .evidence import (
    advice_item as _item,
)
from .failing import both_fail_advice, broken_by_switch, failing_advice


def decode_findings(reference: Endpoint, other: Endpoint, images: List[str]) -> Dict[str, Any]:
    """{causes, also_differs, advice, differences} for the two endpoints' deployed decoders."""
    a = Side(reference, str(reference.pipeline.get("decode")))
    b = Side(other, str(other.pipeline.get("decode")))
    agree, differ = agreement(a, b, images)
    groups = group(a, b, images, reference, other)
    causes, also = _causes(a, b, groups, agree, reference, other)
    return {
        "causes": causes,
        "also_differs": also,
        "advice": _advice(a, b, agree, differ, groups, images, reference, other),
        "differences": groups,
    }


def _causes(a: Side, b: Side, groups: List[Dict[str, Any]], agree: List[str],
            reference: Endpoint, other: Endpoint) -> Tuple[List[str], List[str]]:
    causes, also = [], []  # type: List[str], List[str]
    relation = build_relation(a, b)
    libraries = "; ".join(describe_library(side) for side in (a, b))
    same_decoder = a.decoder == b.decoder
    version_words = None  # type: Optional[str]
    if same_decoder and a.version and b.version and a.version != b.version:
        version_words = "{} {} in {} vs {} in {}".format(
            display_name(a.decoder), a.version, a.label, b.version, b.label)
    pixels = next((g for g in groups if g["kind"] == PIXELS), None)
    identical = ordinary_images(a, b, agree, reference, other)
    # Besides the decoder's version and the CPU architecture, said apart below.
    others = other_recorded_differences(reference, other, "decode", (a.decoder, b.decoder))
    unexplained = any(g["kind"] == UNEXPLAINED for g in groups)
    if pixels:
        ordinary = all(header(reference, other, image).get("colour") in ORDINARY_COLOURS
                       for image in pixels["images"])
        count = "{} of {} {}JPEG files decode differently".format(
            len(pixels["images"]), len(pixels["images"]) + len(identical),
            "ordinary " if ordinary else "")
        if not same_decoder:
            causes.append("the decoders differ ({} vs {}){}: {}; {}".format(
                *two_names(a.decoder, b.decoder),
                " and so do their JPEG libraries (the data cannot tell which matters)"
                if relation == "differ" else "", count, libraries))
        elif relation == "differ":
            causes.append("the JPEG library builds differ under the same decoder ({}): {}; {}"
                          .format(display_name(a.decoder), count, libraries))
        elif relation == "same" and version_words and _arch(reference) != _arch(other) \
                and "?" not in (_arch(reference), _arch(other)):
            causes.append("{}, and the CPU architectures differ ({} vs {}; both load {}): {}; "
                          "the data cannot tell which matters".format(
                              version_words, _arch(reference), _arch(other), a.build, count))
            version_words = None
        elif relation == "same" and version_words and not others:
            causes.append("{}, the only recorded difference (both load {}): {}".format(
                version_words, a.build, count))
            version_words = None
        elif relation == "same" and version_words:
            causes.append("{} (both load {}); also recorded as different: {}; the data cannot "
                          "tell which matters: {}".format(version_words, a.build,
                                                          "; ".join(others), count))
            version_words = None
        elif relation == "same":
            causes.append(
                "same {} and JPEG library build ({}) on both sides, yet {}: look at "
                "CPU-specific code paths (SIMD: {} vs {}) or the JSIMD_* variables{}".format(
                    display_name(a.decoder), a.build, count, _arch(reference), _arch(other),
                    "; recorded as different: " + "; ".join(others) if others else ""))
        else:
            causes.append("{}; the JPEG library is not identified on both sides: {}".format(
                count, libraries))
    elif unexplained and (a.build or b.build) and a.build != b.build:
        also.append("the JPEG library builds{} differ; whether that is a cause cannot be told: "
                    "the bundles record no JPEG header for the differing files (captured by an "
                    "older edgeparity; capture again): {}".format(
                        " may" if relation == "unknown" else "", libraries))
    elif relation in ("differ", "unknown") and (a.build or b.build) and a.build != b.build:
        also.append("the JPEG library builds{} differ, but not as a cause here ({}): {}".format(
            " may" if relation == "unknown" else "",
            "every one of the {} ordinary JPEG files decodes identically".format(len(identical))
            if identical else "no ordinary JPEG file differs", libraries))
    if version_words and pixels and relation == "unknown":
        also.append("{} (whether it is a cause cannot be told: the JPEG library is not "
                    "identified on both sides)".format(version_words))
    elif version_words:
        also.append("{} (not a cause on its own: {})".format(
            version_words, "the JPEG library builds differ too" if pixels else
            "no ordinary JPEG file differs" if not identical else
            "the ordinary JPEG files decode identically"))
    for entry in groups:
        if entry["kind"] != PIXELS:
            causes.append(describe_group(entry))
    return causes, also


def _arch(endpoint: Endpoint) -> str:
    return str((endpoint.bundle.provenance.get("cpu") or {}).get("arch") or "?")


def _switch_text(ref_side: Side, oth_side: Side, what: str, now: Tuple[Side, Side],
                 agree: int, total: int, deployed: int) -> str:
    """The advice to switch decoders, with its evidence count."""
    if ref_side.endpoint.bundle is oth_side.endpoint.bundle:
        changed, kept = (ref_side, oth_side) if what == "reference" else (oth_side, ref_side)
        before = now[0] if what == "reference" else now[1]
        return ("in {}, decode={} gives the same pixels as decode={} on {} of {} images "
                "(decode={} on {})".format(ref_side.endpoint.bundle.name, changed.decoder,
                                           kept.decoder, agree, total, before.decoder, deployed))
    if what == "both":
        return ("use decode={} on both sides: it gives the same pixels on {} of {} images "
                "(now {})".format(ref_side.decoder, agree, total, deployed))
    changed, kept = (ref_side, oth_side) if what == "reference" else (oth_side, ref_side)
    before = now[0] if what == "reference" else now[1]
    return ("use decode={} in {} (now decode={}): it gives the same pixels as {}'s decode={} "
            "on {} of {} images (now {})".format(changed.decoder, changed.label, before.decoder,
                                                 kept.label, kept.decoder, agree, total,
                                                 deployed))


def _same_pixels(ref_side: Side, oth_side: Side, images: List[str]) -> List[str]:
    return [image for image in images if outcome(ref_side, oth_side, image) == "same"]


def _advice(a: Side, b: Side, agree: List[str], differ: List[str],
            groups: List[Dict[str, Any]], images: List[str], reference: Endpoint,
            other: Endpoint) -> List[Dict[str, Any]]:
    advice = []  # type: List[Dict[str, Any]]
    if not differ:
        return advice
    # A file cut short is no evidence for any decoder (what it fills in is not the image): it
    # gets its own advice, and the choices are scored on the whole files.
    cut = [image for image in images if header(reference, other, image).get("truncated")]
    whole = [image for image in images if image not in set(cut)]
    total = len(agree) + len(differ) - sum(1 for image in cut if outcome(a, b, image))
    # A choice is scored by the images it gives the same pixels on: failing on both sides
    # is agreement, but never a reason to switch.
    same = _same_pixels(a, b, whole)
    options = []
    for ref_side, oth_side, what in candidates(reference, other):
        yes, no = agreement(ref_side, oth_side, whole)
        options.append((ref_side, oth_side, what, yes, no,
                        _same_pixels(ref_side, oth_side, whole)))
    better = [o for o in options if len(o[5]) > len(same)]
    # Most images first; then changing one side before changing both.
    better.sort(key=lambda o: (-len(o[5]), o[2] == "both", o[0].decoder, o[1].decoder))
    chosen = (a, b)
    if better:
        ref_side, oth_side, what, yes, no, pixels_same = better[0]
        advice.append(_item(_switch_text(ref_side, oth_side, what, (a, b), len(pixels_same),
                                         len(yes) + len(no), len(same)),
                            len(pixels_same), len(yes) + len(no)))
        chosen = (ref_side, oth_side)
    elif a.decoder != b.decoder and same and reference.bundle is not other.bundle:
        advice.append(_item(
            "keep decode={} in {} and decode={} in {}: they already give the same pixels on {} "
            "of {} images".format(a.decoder, a.label, b.decoder, b.label, len(same), total),
            len(same), total))
    remaining = [g for g in (group(chosen[0], chosen[1], images, reference, other) if better
                             else groups) if g["kind"] != TRUNCATED]
    pixels = next((g for g in groups if g["kind"] == PIXELS), None)
    if pixels and a.decoder == b.decoder and build_relation(a, b) == "differ":
        count = len(pixels["images"])
        versions = "" if a.version == b.version else "; {} {} vs {} differs too".format(
            display_name(a.decoder), a.version, b.version)
        advice.append(_item(
            "{}build both sides' {} against the same JPEG library (now {} vs {}): with the same "
            "decoder on both sides, {} of {} images decode differently{}".format(
                "or " if better else "", display_name(a.decoder), a.build, b.build,
                count, total, versions), len(same), total))  # same pixels, as advice counts
        remaining = [g for g in remaining if g["kind"] != PIXELS]
    # A file the deployed decoders both fail on is about neither side alone, whichever
    # decoders are chosen above: it gets its own advice, saying so.
    both_fail = [image for image in whole if outcome(a, b, image) == "both_fail"]
    remaining = [dict(g, images=[i for i in g["images"] if i not in both_fail])
                 if g["kind"] == FAILS else g for g in remaining]
    for entry in _split_failing([g for g in remaining if g["images"]], chosen, images,
                                reference, other):
        line = _group_advice(entry, options + [(a, b, "deployed", agree, differ, same)], chosen,
                             reference, other, after_switch=bool(better))
        if line:
            advice.append(line)
    if better:
        advice += broken_by_switch(a, b, chosen, whole)
    advice += both_fail_advice(a, b, both_fail, images)
    broken = [image for image in cut if outcome(a, b, image) in ("differ", "both_fail")]
    if broken:
        one = len(broken) == 1
        advice.append(_item("for {}: replace {} with {}, or leave {} out (no decoder gets the "
                            "image from a file cut short)".format(
                                broken[0] + " (cut short)" if one else "the {} ({})".format(
                                    plural(len(broken), "cut-short file"), ", ".join(broken)),
                                "it" if one else "them", "a whole copy" if one else
                                "whole copies", "it" if one else "them"), 0, len(broken)))
    return advice


def _split_failing(groups: List[Dict[str, Any]], chosen: Tuple[Side, Side], images: List[str],
                   reference: Endpoint, other: Endpoint) -> List[Dict[str, Any]]:
    """``groups`` with the files failing on one side split by that side (reference first):
    each part gets its own advice, about the side that fails and counted on its files."""
    result = []  # type: List[Dict[str, Any]]
    for entry in groups:
        if entry["kind"] != FAILS:
            result.append(entry)
            continue
        for index, side in enumerate(chosen):
            files = [image for image in entry["images"]
                     if (side.record(image) or {}).get("status") not in (None, "ok")]
            if not files:
                continue
            why = []  # type: List[str]
            for image in files:
                words = classify(chosen[0], chosen[1], image, header(reference, other, image),
                                 images)[1]
                if words not in why:
                    why.append(words)
            result.append({"kind": FAILS, "images": files, "why": why, "failing": index})
    return result


def _group_name(entry: Dict[str, Any]) -> str:
    """'the 2 CMYK files (a.jpg, b.jpg)' or 'photo.jpg'."""
    files = entry["images"]
    if len(files) == 1:
        return files[0]
    return "the {} ({})".format(plural(len(files), KIND_WORDS[entry["kind"]] + " file"),
                                listed(files))


def _group_advice(entry: Dict[str, Any], options: List[Tuple[Any, ...]],
                  chosen: Tuple[Side, Side], reference: Endpoint,
                  other: Endpoint, after_switch: bool = False) -> Optional[Dict[str, Any]]:
    """What makes one kind of remaining difference go away, if the data shows anything does:
    a choice of decoders giving the same pixels on all of them (failing on both sides is not
    a fix). ``after_switch``: ``chosen`` is the pair a switch advised above makes, which the
    line says, or it would read as false against what is deployed now: a choice for these
    files is the switch's exception ("but for ..."), a decoder for files failing there comes
    "with that switch"."""
    files = entry["images"]
    count = len(files)
    scope = "{}for {}".format("but " if after_switch else "", _group_name(entry))
    # What is deployed first (keeping it changes nothing), then one decoder on both sides.
    # Not for one bundle read two ways: its two decoders are what is being compared, and any
    # decoder agrees with itself; the kind of difference says what to do (below).
    order = {"deployed": 0, "both": 1, "reference": 2, "other": 2}
    one_bundle = reference.bundle is other.bundle
    for ref_side, oth_side, what, *_ in [] if one_bundle else sorted(
            options, key=lambda o: order[o[2]]):
        if (ref_side.decoder, oth_side.decoder) == (chosen[0].decoder, chosen[1].decoder):
            continue
        if all(outcome(ref_side, oth_side, image) == "same" for image in files):
            if what == "deployed":
                how = "keep decode={} in {} and decode={} in {}".format(
                    ref_side.decoder, ref_side.label, oth_side.decoder, oth_side.label)
                if ref_side.decoder == oth_side.decoder:
                    how = "keep decode={} on both sides".format(ref_side.decoder)
            elif ref_side.decoder == oth_side.decoder:
                how = "decode with {} on both sides".format(ref_side.decoder)
            else:
                how = "decode with {} in {} and {} in {}".format(
                    ref_side.decoder, ref_side.label, oth_side.decoder, oth_side.label)
            return _item("{}: {}, which gives the same pixels on {} of {}".format(
                scope, how, count, count), count, count)
    if entry["kind"] == FAILS:
        return failing_advice(entry, "{}for {}".format(
            "with that switch, " if after_switch else "", _group_name(entry)), chosen)
    if entry["kind"] == ORIENTATION:
        return _item("{}: apply the EXIF orientation on both sides or on neither (differs on {} "
                     "of {})".format(scope, count, count), 0, count)
    if entry["kind"] in (CMYK, PIXELS) and chosen[0].decoder != chosen[1].decoder:
        return _same_decoder_fallback(scope, files, reference, other)
    return None


def _same_decoder_fallback(scope: str, files: List[str], reference: Endpoint,
                           other: Endpoint) -> Optional[Dict[str, Any]]:
    """Use one decoder on both sides, naming the one that ran on both and gives the same
    pixels on most of ``files`` (or saying that none does)."""
    if reference.bundle is other.bundle:
        return None  # one bundle: any decoder agrees with itself, nothing to advise
    ref_names = sorted(available(reference.bundle, "decode"))
    oth_names = sorted(available(other.bundle, "decode"))
    count = len(files)
    scored = []
    for name in sorted(set(ref_names) & set(oth_names)):
        scored.append((len(_same_pixels(Side(reference, name), Side(other, name), files)),
                       name))
    if not scored:
        return _item("{}: use the same decoder on both sides (they differ on {} of {}); no "
                     "decoder ran on both ({} has {}, {} has {})".format(
                         scope, count, count, reference.label, ", ".join(ref_names),
                         other.label, ", ".join(oth_names)), 0, count)
    best = max(scored, key=lambda item: (item[0], item[1] == "pillow"))
    if not best[0]:
        return _item("{}: no decoder that ran on both sides gives the same pixels on {} ({})"
                     .format(scope, "it" if count == 1 else "them", ", ".join(
                         "{}: 0 of {}".format(name, count) for _, name in scored)), 0, count)
    return _item("{}: use the same decoder on both sides; decode={} ran on both and gives the "
                 "same pixels on {} of {}".format(scope, best[1], best[0], count),
                 best[0], count)
