"""How a verdict is decided: one place to read, from a pair of records up to the whole report.

1. ``Comparator.judge``: two records of the same output. Missing on a side -> ``missing``;
   failed on both -> ``both_error``; failed or skipped on one -> ``error`` / ``skipped``; same
   content digest -> ``identical``; otherwise ``diffstats.difference_stats`` decides between
   ``within_tolerance`` and ``different`` (decoded pixels are integers: compared exactly).
2. ``Comparator.walk``: for each image, follow both endpoints' pipelines stage by stage, judge
   each stage and note the *first divergent stage* (``different`` or ``error``). The walk stops
   after a stage without outputs on both sides: nothing downstream of it can be compared.
3. A divergent stage is *intrinsic* when its input was bit-identical on both sides (file bytes
   for decode), or when the same two implementations also disagree on the canonical inputs
   (``Comparator.isolated``); it is *inherited* when they agree there: the difference came from
   upstream; *unknown* when there were no canonical inputs to run.
4. ``pair_verdict``: ``divergence`` if any image diverges or the input files differ, else
   ``incomplete`` if a pipeline stage had nothing to compare, else ``parity``;
   ``overall_verdict`` combines the pairs.
"""

import gc
import signal
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from ..record_verdicts import (
    AGREEING,
    BOTH_ERROR,
    DIFFERENT,
    ERROR,
    IDENTICAL,
    MISSING,
    SKIPPED,
    WITHIN_TOLERANCE,
    top1_changed,
)
from ..stages.pipeline import STAGES, record_key, with_last_impl
from .endpoints import Endpoint
from .tolerances import Tolerances

if TYPE_CHECKING:
    from ..diffview import DiffView

# What every view one report embeds adds to the HTML page, all pairs together (base64 PNGs
# and markup, diffview.view_bytes): with its bounded rows (report/html.py) the page stays under
# 10 MB (10,000,000 bytes) at any corpus size and any number of pairs. Decoded photos (worst
# first; later views show only where the images differ) take at most half of it: a pair of
# 600 x 400 photos is ~1.2 MB of page.
VIEW_BUDGET = 8000000


class ViewBudget:
    """What is left of ``VIEW_BUDGET`` for one report (shared by its pairs)."""

    def __init__(self, total: int = VIEW_BUDGET) -> None:
        self.left = total
        self.photos_left = total // 2
# Differences computed per task by a worker process of ``Comparator.prefetch``, at most: each
# task costs the parent a wake-up and an unpickling, which at 16 small pairs per task took a
# core-second per 10,000 pairs from the workers on a 2-core machine. Fewer pairs per task when
# there are few, so that every worker gets several tasks and they finish together.
PARALLEL_CHUNK = 256
TASKS_PER_WORKER = 8
# Below this many pairs the differences are computed in the parent: a pool costs more.
PARALLEL_MIN_PAIRS = 32
_WORKER = None  # type: Optional[Comparator]


def _start_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to report
    gc.enable()  # paused in the parent for the comparison (compare()); a worker collects


def _worker_difference(key: Tuple[str, str, str]) -> Dict[str, Any]:
    assert _WORKER is not None
    return _WORKER._difference(*key)


# Verdicts for which both sides had an output to compare.
COMPARED = (IDENTICAL, WITHIN_TOLERANCE, DIFFERENT)
# Verdicts that make a stage divergent.
DIVERGENT = (DIFFERENT, ERROR)
# The origin of a decode step whose input files differ between the sides.
INPUT_FILES_DIFFER = "input files differ"


class Comparator:
    """Compares two endpoints.

    Memory stays flat at any corpus size: arrays are loaded only for a pair of outputs whose
    digests differ, compared once, and released; what is kept is the small statistics dict of
    each such pair (the walk, like-for-like and causes all ask about the same pairs).
    """

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
        self.heatmaps: Dict[str, DiffView] = {}
        self._judged: Dict[Tuple[str, str, str], Dict[str, Any]] = {}

    def _difference(self, ref_digest: str, other_digest: str, stage: str) -> Dict[str, Any]:
        """difference_stats of two stored arrays, computed once per (digests, stage)."""
        key = (ref_digest, other_digest, stage)
        if key not in self._judged:
            # Imported here, with numpy, only when arrays are compared: a compare whose
            # digests all match opens none and skips numpy's import (0.06 s).
            from .. import diffstats

            a = self.reference.bundle.array(ref_digest)
            b = self.other.bundle.array(other_digest)
            atol, rtol = self.tolerances.for_stage(stage)
            result = diffstats.difference_stats(a, b, atol, rtol)
            if stage == "infer":
                classes = diffstats.classifier_stats(a, b)
                if classes:
                    result["classification"] = classes
            self._judged[key] = result
        return dict(self._judged[key])

    def pairs_to_compare(self, images: List[str]) -> List[Tuple[str, str, str]]:
        """Every (digest, digest, stage) that like-for-like and the pipeline walk will judge."""
        ref_records = self.reference.bundle.records
        other_records = self.other.bundle.records
        wanted = [(record, other_records.get(key)) for key, record in ref_records.items()]
        for stage in STAGES:
            if stage not in self.reference.pipeline or stage not in self.other.pipeline:
                continue
            if self.reference.chain_key("", stage) == self.other.chain_key("", stage):
                continue  # both pipelines name the same record: like-for-like has it already
            wanted += [(ref_records.get(self.reference.chain_key(image, stage)),
                        other_records.get(self.other.chain_key(image, stage)))
                       for image in images]
        pairs = []
        seen = set(self._judged)
        for a, b in wanted:
            # Equal digests (most records of a large corpus) and failed outputs need no
            # statistics.
            if (a is None or b is None or a["status"] != "ok" or b["status"] != "ok"
                    or a["sha256"] == b["sha256"]):
                continue
            key = (a["sha256"], b["sha256"], a["stage"])
            if key not in seen:
                seen.add(key)
                pairs.append(key)
        return pairs

    def prefetch(self, images: List[str], jobs: int, progress: Any = None) -> None:
        """Compute every difference the report needs up front, on ``jobs`` processes.

        Each worker loads its own arrays and returns only the small statistics dict, so the
        parent's memory does not grow with the corpus.
        """
        pairs = self.pairs_to_compare(images)
        if progress is not None:
            progress.total = len(pairs)
        if jobs <= 1 or len(pairs) < PARALLEL_MIN_PAIRS:
            for key in pairs:
                self._difference(*key)
                if progress is not None:
                    progress.step()
            return
        import multiprocessing  # here: a compare whose digests all match starts no pool

        from .. import diffstats  # noqa: F401  (numpy too) imported once, shared by the workers

        global _WORKER
        _WORKER = self  # forked workers inherit it: no bundle is pickled
        context = multiprocessing.get_context("fork")
        chunk = max(1, min(PARALLEL_CHUNK, len(pairs) // (TASKS_PER_WORKER * jobs)))
        with context.Pool(jobs, initializer=_start_worker) as pool:
            for key, result in zip(pairs, pool.imap(_worker_difference, pairs,
                                                     chunksize=chunk)):
                self._judged[key] = result
                if progress is not None:
                    progress.step()
        _WORKER = None

    def add_heatmaps(self, walks: List[Dict[str, Any]], limit: Optional[int],
                     budget: Optional[ViewBudget] = None) -> bool:
        """Difference views (``diffview.DiffView``) for the ``limit`` worst divergent decode
        steps (all with None; images whose top-1 class changed first), as many as ``budget``
        holds; the worst of them embed both images too. Whether the budget is spent. Only
        what a report shows is drawn: each costs loading both images again."""
        budget = budget or ViewBudget()
        if not self.want_heatmaps:
            return False
        # Images whose top-1 class changed come first: what the divergence cost is what a
        # reader looks at first, whatever its share of differing pixels.
        steps = [(0 if top1_changed(w["stages"]) else 1, s)
                 for w in walks for s in w["stages"]
                 if s.get("heatmap_id") and "fraction_pixels_differ" in s]
        steps.sort(key=lambda item: (item[0], -item[1].get("fraction_pixels_differ", 0),
                                     -item[1].get("max_channel_diff", 0),
                                     item[1]["heatmap_id"]))
        steps = [step for _flipped, step in steps]
        from ..diffview import build_view, view_bytes  # numpy: only when there is a view to draw

        for step in steps[:limit] if limit is not None else steps:
            if budget.left <= 0:
                break
            ref_record = self.reference.bundle.records[step["reference_key"]]
            other_record = self.other.bundle.records[step["other_key"]]
            view = build_view(self.reference.bundle.array(ref_record["sha256"]),
                              self.other.bundle.array(other_record["sha256"]),
                              photos=budget.photos_left > 0)
            if not view:
                continue
            if view.reference is not None and view.other is not None:
                photo_bytes = (len(view.reference) + len(view.other) + 2) // 3 * 4  # base64
                if photo_bytes > budget.photos_left:  # this view and the rest: differences only
                    view.reference = view.other = None
                    budget.photos_left = 0
                else:
                    budget.photos_left -= photo_bytes
            size = view_bytes(view)
            if size > budget.left:  # full: no more views in this report, for any pair
                budget.left = 0
                break
            budget.left -= size
            self.heatmaps[step["heatmap_id"]] = view
            step["heatmap"] = step["heatmap_id"]
        for walk in walks:
            for step in walk["stages"]:
                step.pop("heatmap_id", None)
        return budget.left <= 0

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
            return {  # one ok, one error: the only statuses a bundle's records may have
                "verdict": ERROR,
                "failed_in": self.reference.label if ref_status == "error" else self.other.label,
                "reference_error": ref_record.get("error"),
                "other_error": other_record.get("error"),
            }
        if ref_record["sha256"] == other_record["sha256"]:
            return {"verdict": IDENTICAL}  # a dictionary lookup: no array is opened
        result = self._difference(ref_record["sha256"], other_record["sha256"], stage)
        if heatmap_id and self.want_heatmaps and result["verdict"] == DIFFERENT:
            result["heatmap_id"] = heatmap_id  # drawn later for the worst few (add_heatmaps)
        return result

    # -- like with like: the same record key on both sides ---------------------------------
    def like_for_like(self, leave_out: Any = ()) -> Tuple[Dict[str, int], List[Dict[str, Any]]]:
        """Every record key of either side judged against the same key on the other, but for
        the images in ``leave_out``: how many got each verdict, and the records that are
        neither identical nor missing (sorted by key), each with its key, image, chain, stage,
        impl and mode.

        A record whose digest is the same on both sides is counted and nothing else: most
        records of a large corpus are, and a report lists only the others.
        """
        ref_records = self.reference.bundle.records
        other_records = self.other.bundle.records
        counts = {}  # type: Dict[str, int]
        identical = 0
        results = []
        keys = list(ref_records)
        keys += [key for key in other_records if key not in ref_records]
        for key in keys:
            a, b = ref_records.get(key), other_records.get(key)
            record = a or b
            if record["image"] in leave_out:
                continue
            if (a is not None and b is not None and a["status"] == "ok" == b["status"]
                    and a["sha256"] == b["sha256"]):
                identical += 1
                continue
            judged = self.judge(a, b, record["stage"])
            counts[judged["verdict"]] = counts.get(judged["verdict"], 0) + 1
            if judged["verdict"] in (IDENTICAL, MISSING):
                continue
            judged.update(key=key, image=record["image"], chain=record["chain"],
                          stage=record["stage"], impl=record["impl"], mode=record["mode"])
            results.append(judged)
        if identical:
            counts[IDENTICAL] = counts.get(IDENTICAL, 0) + identical
        results.sort(key=lambda judged: judged["key"])
        return dict(sorted(counts.items())), results

    # -- isolation: do two implementations agree on the canonical inputs? ------------------
    def isolated(self, stage: str, impls: Optional[Tuple[str, str]] = None) -> Dict[str, Any]:
        """The two pipelines' implementations of ``stage`` (or ``impls``: reference's, other's)
        on the same isolated inputs: {inputs, agree, missing, verdicts}."""
        ref_impl, other_impl = impls or (self.reference.pipeline.get(stage),
                                         self.other.pipeline.get(stage))
        verdicts = []
        records = self.reference.bundle.records
        # Picked out before sorting: most records of a corpus are end-to-end ones.
        for key in sorted(key for key, record in records.items()
                          if record["stage"] == stage and record["impl"] == ref_impl
                          and record["mode"] in ("isolated", "probe")):
            record = records[key]
            other_key = with_last_impl(key, str(other_impl))
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
    def walk(self, images: List[str], isolation: Dict[str, Dict[str, Any]],
             differing_files: Optional[set] = None) -> List[Dict[str, Any]]:
        """Per image: each stage's verdict along both pipelines, and the first divergent one.
        ``differing_files``: images whose files differ between the sides (their decode step
        differs because its input does: the origin says so, never "intrinsic")."""
        differing_files = differing_files or set()
        ref_records = self.reference.bundle.records
        other_records = self.other.bundle.records
        heatmap_suffix = "|{}|{}".format(self.reference.label, self.other.label)
        # A record's key is the image's name and its chain's suffix (record_key).
        suffixes = {stage: (record_key("", self.reference.chain(stage)),
                            record_key("", self.other.chain(stage))) for stage in STAGES}
        walks = []
        for image in images:
            stages = []  # type: List[Dict[str, Any]]
            first = None
            previous = None  # type: Optional[Dict[str, Any]]
            identical = True  # every step so far: then the image agrees (image_outcome)
            for stage in STAGES:
                if stage not in self.reference.pipeline or stage not in self.other.pipeline:
                    break  # no implementation of this stage anywhere (e.g. no runner installed)
                if previous is not None and previous["verdict"] not in COMPARED:
                    break  # upstream failed or is missing: nothing downstream to compare
                ref_key = image + suffixes[stage][0]
                other_key = image + suffixes[stage][1]
                a, b = ref_records.get(ref_key), other_records.get(other_key)
                if (a is not None and b is not None and a["status"] == "ok" == b["status"]
                        and a["sha256"] == b["sha256"]):
                    # Equal digests: judge()'s answer, without the call (most steps of a
                    # large corpus), the whole step at once.
                    previous = {"verdict": IDENTICAL, "stage": stage, "reference_key": ref_key,
                                "other_key": other_key}
                    stages.append(previous)
                    continue
                identical = False
                if a is None and b is None:
                    judged = {  # type: Dict[str, Any]
                        "verdict": MISSING,
                        "missing_in": "both",
                        "note": "{} was captured on neither side".format(stage),
                    }
                else:
                    judged = self.judge(a, b, stage, heatmap_id=heatmap_suffix)
                    if "heatmap_id" in judged:  # the id is built only for a differing image
                        judged["heatmap_id"] = image + judged["heatmap_id"]
                judged.update(stage=stage, reference_key=ref_key, other_key=other_key)
                if judged["verdict"] in DIVERGENT:
                    if previous is None and image in differing_files:
                        judged["origin"] = INPUT_FILES_DIFFER
                    elif first is None and (previous is None
                                            or previous["verdict"] == IDENTICAL):
                        # Its input was bit-identical on both sides (file bytes for decode).
                        judged["origin"] = "intrinsic"
                    else:
                        judged["origin"] = _origin(isolation.get(stage, {}))
                    if first is None:
                        first = stage
                stages.append(judged)
                previous = judged
            walk = {"image": image, "first_divergent_stage": first, "stages": stages}
            walk["outcome"] = "agrees" if identical and stages else image_outcome(walk)
            walks.append(walk)
        return walks


def image_outcome(walk: Dict[str, Any]) -> str:
    """One of OUTCOMES: diverges, agrees (every stage identical or within tolerance),
    fails_on_both_sides (a stage failed in both environments, nothing diverged), incomplete
    (a stage had no output on a side, or the file could not be read)."""
    if walk["first_divergent_stage"]:
        return "diverges"
    verdicts = {step["verdict"] for step in walk["stages"]}
    if BOTH_ERROR in verdicts:
        return "fails_on_both_sides"
    if verdicts and verdicts <= _AGREE:
        return "agrees"
    return "incomplete"


_AGREE = frozenset((IDENTICAL, WITHIN_TOLERANCE))


def _origin(isolation: Dict[str, Any]) -> str:
    """Inherited when the implementations agree on every canonical input, else intrinsic."""
    if not isolation.get("inputs"):
        return "unknown (no canonical inputs for this stage)"
    if isolation["agree"] == isolation["inputs"]:
        return "inherited"
    return "intrinsic"


def _status_note(record: Optional[Dict[str, Any]]) -> str:
    if record and record.get("status") == "error":
        return " (the other side errored: {})".format(record.get("error"))
    return ""


def pair_verdict(divergent_images: List[str], input_files_differ: List[str],
                 not_compared: List[str]) -> str:
    """A pair's verdict: a divergence is the news; parity needs every pipeline stage compared."""
    if divergent_images or input_files_differ:
        return "divergence"
    if not_compared:
        return "incomplete"
    return "parity"


def overall_verdict(verdicts: List[str]) -> str:
    """divergence > incomplete > parity: a found divergence is the news, even if more is unknown."""
    for verdict in ("divergence", "incomplete"):
        if verdict in verdicts:
            return verdict
    return "parity"
