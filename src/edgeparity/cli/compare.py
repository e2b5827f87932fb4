"""`edgeparity compare`: bundles against each other (or, with --golden, against goldens)."""

import argparse
import sys
from typing import Any, List

from ..errors import EXIT_ERROR, EXIT_PARITY, UsageError
from ..text import printable
from .golden import add_golden_mode_arguments, run_check
from .options import add_compare_arguments, compare_options, fail_on_gates, report_targets

NOT_ESTABLISHED = (
    "edgeparity: parity could not be established: something was not compared (see 'NOT "
    "ESTABLISHED' in the report below)\n"
)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "compare",
        help="compare bundles; report the first divergent stage and its cause",
        description="Compare bundles from different environments (or the same bundle under "
        "different pipelines). Each BUNDLE may carry a pipeline after '@': "
        "cloud@decode=mxnet,infer=mxnet compares cloud's MXNet decode with the other side's "
        "pipeline. A stage neither '@' nor the capture's --pipeline names is filled in: Pillow "
        "for decode and preprocess where a bundle captured it; else, and for inference, an "
        "implementation every bundle given captured (like for like), else the bundle's own that "
        "most others captured (so it can change with the bundles given together). "
        "Exit 0 if everything agrees, 1 if something diverges, 2 on errors.",
    )
    p.add_argument("bundles", nargs="+", metavar="BUNDLE[@STAGE=IMPL,...]")
    add_compare_arguments(p)
    p.add_argument(
        "--golden", metavar="DIR", dest="golden_dir",
        help="compare each bundle against committed golden fingerprints instead of against "
        "each other (the same as `edgeparity golden check`: exit 1 on any change; refused "
        "with --fail-on)",
    )
    add_golden_mode_arguments(p)
    p.set_defaults(func=run_compare)

    p = sub.add_parser(
        "verify",
        help="check that bundles are complete and undamaged (every array file read and hashed)",
        description="compare checks each array when it opens it; verify checks them all, e.g. "
        "after copying bundles from a device. Exit 0 if all are intact, 2 otherwise.",
    )
    p.add_argument("bundles", nargs="+", metavar="BUNDLE")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress line")
    p.set_defaults(func=run_verify)

    p = sub.add_parser(
        "merge",
        help="join the shard bundles of one environment (capture --shard I/N) into one",
        description="Join shard bundles captured with `edgeparity capture --shard I/N` (on "
        "several devices or CI runners of the same kind) into one bundle that compares like "
        "an unsharded capture. Refuses shards of different environments or an incomplete set.",
    )
    p.add_argument("shards", nargs="+", metavar="SHARD_BUNDLE")
    p.add_argument("--out", required=True, metavar="BUNDLE", help="bundle to write")
    p.add_argument("--name", help="environment name shown in reports (default: the shards' "
                   "own when they were all captured with the same --name, else BUNDLE's name)")
    p.set_defaults(func=run_merge)


def run_merge(args: argparse.Namespace) -> int:
    from ..bundle.merge import merge

    path, counts, name = merge(list(args.shards), args.out, args.name)
    print("wrote {} (environment {}): {} shards merged: {} image{}, {} output{}, {} error{} "
          "recorded".format(
        printable(path), printable(str(name)), len(args.shards), counts["images"],
        "" if counts["images"] == 1 else "s",
        counts["ok"], "" if counts["ok"] == 1 else "s", counts["error"],
        "" if counts["error"] == 1 else "s"))
    return EXIT_PARITY


def run_verify(args: argparse.Namespace) -> int:
    from ..bundle import BundleError, load

    # Every bundle is checked and named, damaged or not: bundles copied back from several
    # devices are verified together, and each damaged one should be known at once.
    damaged = 0
    for path in args.bundles:
        try:
            # Reads every .npy; .npy.gz files by their sha256.
            loaded = load(path, verify=True, progress=not args.quiet)
            for digest, entry in loaded.manifest["arrays"].items():
                if entry["file"].endswith(".gz"):
                    loaded.array(digest)  # and their content too
        except BundleError as exc:
            damaged += 1
            sys.stderr.write("edgeparity: error: {}\n".format(printable(exc, multiline=True)))
            continue
        print("{}: intact ({} records, {} arrays)".format(
            printable(path), len(loaded.records), len(loaded.manifest["arrays"])))
    if damaged:
        sys.stderr.write("edgeparity: {} of {} bundles damaged or incomplete\n".format(
            damaged, len(args.bundles)))
        return EXIT_ERROR
    return EXIT_PARITY


def run_compare(args: argparse.Namespace) -> int:
    """Compare, print the terminal summary, write the requested reports; 0/1/2."""
    if args.golden_dir:
        if args.fail_on is not None:
            # The golden gate has no --fail-on: it fails on any change since the golden.
            raise UsageError("--fail-on {} cannot be used with --golden: the golden gate fails "
                             "on any change since the golden (use --float-tolerance to let "
                             "float outputs move); drop --fail-on or --golden".format(
                                 " --fail-on ".join(dict.fromkeys(args.fail_on))))
        for option, given in (("--reference", args.reference is not None),
                              ("--heatmaps", args.heatmaps is not None),
                              ("--jobs", args.jobs is not None)):
            if given:  # options of a bundle-to-bundle compare: ignoring them would mislead
                raise UsageError(
                    "{} cannot be used with --golden: the golden check compares each bundle "
                    "with its own golden fingerprints (no reference side, no difference views, "
                    "no arrays to compute on); drop {}".format(option, option))
        return run_check(args)  # `compare --golden DIR` is `golden check --dir DIR`
    for option, given in (("--float-tolerance", getattr(args, "float_tolerance", False)),
                          ("--golden-name", getattr(args, "golden_name", None))):
        if given:  # options of the golden gate: ignoring them would hide a typo'd command
            raise UsageError("{} applies to the golden gate only: add --golden DIR, or drop "
                             "{}".format(option, option))
    from ..bundle import BundleError
    from ..compare import Tolerances, compare

    gates = fail_on_gates(args)  # a malformed gate is refused before any bundle is read
    try:
        tolerances = Tolerances.parse(args.atol, args.rtol, args.tolerance)
        targets = report_targets(args)  # an unwritable report path too
        report, heatmaps = compare(args.bundles, args.reference, tolerances,
                                   **compare_options(args))
    except (ValueError, BundleError) as exc:
        raise UsageError(str(exc)) from None
    return report_and_exit(report, heatmaps, targets, gates)


def report_and_exit(report: Any, heatmaps: Any, targets: Any, gates: Any) -> int:
    """Write the reports; return the exit code, which ``--fail-on`` decides when given.

    The last line is what decided the exit code (what a CI log shows last): the report's
    verdict, or under gates other than ``any`` each gate's outcome after it, the one that
    decided last. "Parity not established" is said before the report.
    """
    from ..compare import decide, exit_code
    from ..report.write import write_compare_reports

    gate_lines: List[str] = []
    if [gate.kind for gate in gates] != ["any"]:
        code, reasons = decide(report, gates)
        gate_lines = ["edgeparity: {}".format(printable(reason)) for reason in reasons[:-1]]
        gate_lines.append("edgeparity: exit {}: {}".format(code, printable(reasons[-1])))
        # In the files too: a job summary headed DIVERGENCE under a passing job says why.
        report["gate"] = {"fail_on": [gate.text for gate in gates], "exit_code": code,
                          "outcomes": reasons}
    else:
        code = exit_code(report)
        if code == EXIT_ERROR:
            sys.stderr.write(NOT_ESTABLISHED)
            sys.stderr.flush()
    if targets.json or targets.md or targets.html:
        # Report files take memory to build (11 MB of JSON at 10,000 images): the bundles are
        # freed first so that it is theirs (kept, the peak grew by their size, 30 MB there).
        from ..quick_exit import release_kept

        release_kept()
    write_compare_reports(report, heatmaps, targets)
    if gate_lines:
        # Where the summary went: stderr when the JSON report is written to stdout (--json -).
        stream = sys.stderr if targets.json == "-" else sys.stdout
        print("\n".join(gate_lines), file=stream, flush=True)
    return code
