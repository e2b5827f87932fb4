"""Option groups and value parsers more than one command uses."""

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from .. import defaults

if TYPE_CHECKING:  # the host side needs Python >= 3.9; `capture` imports this module on 3.6
    from ..compare.gates import Gate
    from ..report.write import Targets


def require_host(command: str) -> None:
    """Host-side commands (compare, golden, matrix, image) need CPython >= 3.9."""
    from ..errors import UsageError

    if sys.version_info < (3, 9):
        raise UsageError(
            "`edgeparity {}` runs on the host, which needs Python >= 3.9 (this is {}.{}): copy "
            "the bundles to such a machine, or run it there; capture and probe run "
            "here".format(command, *sys.version_info[:2]))


# The oldest numpy the capture side is measured with: numpy 1.11.3, 1.12.1, 1.13.3, 1.14.6 and
# 1.19.5 on CPython 3.6.15 give identical records (tests/inenv capture, bundle and hostile-input
# tests pass with 1.11.3). What the code needs is older still (np.save(allow_pickle=) is 1.10,
# .npy format 2.0 headers 1.9), but nothing older than 1.11 was run. JetPack 4's apt numpy
# (Ubuntu 18.04 python3-numpy) is 1.13.3; pip on CPython 3.6 gets 1.19.5.
MIN_NUMPY = (1, 11)


def numpy_problem(version: Optional[str], failure: Optional[str] = None) -> Optional[str]:
    """Why numpy ``version`` (None: not importable) cannot run capture; None when it can.
    ``failure``: the error importing an installed numpy raised (it is broken, not missing)."""
    wanted = "{}.{}".format(*MIN_NUMPY)
    pip = "`{} -m pip install {{}}numpy`".format(sys.executable)
    if failure is not None:
        return ("edgeparity needs numpy >= {}; this Python's numpy fails to import ({}): "
                "reinstall it for this interpreter: {}".format(
                    wanted, failure, pip.format("--force-reinstall ")))
    if version is None:
        return ("edgeparity needs numpy >= {}, and this Python has none: install it for this "
                "interpreter: {} (on JetPack 4 also `sudo apt-get install python3-numpy`)".format(
                    wanted, pip.format("")))
    parts = []
    for piece in version.split(".")[:2]:
        digits = "".join(c for c in piece if c.isdigit()) if piece[:1].isdigit() else ""
        parts.append(int(digits) if digits else -1)
    if tuple(parts) < MIN_NUMPY:
        return "edgeparity needs numpy >= {}; this Python has numpy {}: upgrade it for this " \
            "interpreter: {}".format(wanted, version, pip.format("--upgrade "))
    return None


def check_numpy(load: bool = True) -> Optional[str]:
    """Why this Python's numpy cannot run edgeparity (missing, failing to import, too old), or
    None. ``load=False``: its version is read from its metadata (``numpy_version``)."""
    version = numpy_version(load)
    if version is None:
        return numpy_problem(None, _numpy_import_failure())
    return numpy_problem(version)


def _numpy_import_failure() -> Optional[str]:
    """The error importing numpy raises, or None when it imports or is not installed."""
    try:
        import numpy  # noqa: F401
    except Exception as exc:  # a broken build raises anything: RuntimeError, SyntaxError...
        if isinstance(exc, ImportError) and exc.name == "numpy":
            return None  # not installed
        # numpy's own message is a banner of advice with the cause on its "Original error
        # was:" line; another message's last line says most.
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        cause = next((line.split(":", 1)[1].strip() for line in lines
                      if line.startswith("Original error was:")), lines[-1] if lines else "")
        return "{}: {}".format(type(exc).__name__, cause)
    return None


def numpy_version(load: bool = True) -> Optional[str]:
    """The importable numpy's version, or None when there is none (``load``: or when it fails
    to import).

    ``load=False``: read from the metadata folder installed beside it (``numpy-2.4.6.dist-info``,
    or ``numpy-1.13.3.egg-info`` from Debian/Ubuntu packages) when there is exactly one, without
    importing it: that costs 0.06 s, a fifth of a compare that opens no array, and such a
    compare never needs numpy. Otherwise numpy is imported and asked.
    """
    import importlib.util

    try:
        spec = importlib.util.find_spec("numpy")
    except (ImportError, ValueError):
        spec = None
    if spec is None:
        return None
    if not load:
        version = _numpy_metadata_version(spec.submodule_search_locations or [])
        if version:
            return version
    try:
        import numpy
    except Exception:  # broken: _numpy_import_failure says how
        return None
    return str(getattr(numpy, "__version__", "0"))


def _numpy_metadata_version(locations: Any) -> Optional[str]:
    """numpy's version from the one metadata folder beside its package, or None."""
    for location in list(locations)[:1]:  # a regular package has one location
        folder = os.path.dirname(os.path.abspath(location))
        try:
            names = [name for name in os.listdir(folder) if name.startswith("numpy-")
                     and name.endswith((".dist-info", ".egg-info"))]
        except OSError:
            return None
        if len(names) == 1:  # numpy-VERSION[-pyX.Y].dist-info: versions hold no '-'
            return names[0].rsplit(".", 1)[0].split("-")[1]
    return None  # none (a source checkout), or several: numpy itself says


def split_list(values: Optional[List[str]]) -> Optional[List[str]]:
    """['a,b', 'c'] (repeated, comma-separated options) -> ['a', 'b', 'c']; None when empty."""
    if not values:
        return None
    return [item.strip() for value in values for item in value.split(",") if item.strip()]


def add_tolerance_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--atol", type=float, default=defaults.ATOL,
        help="absolute tolerance for float stages (default {})".format(defaults.ATOL),
    )
    parser.add_argument(
        "--rtol", type=float, default=defaults.RTOL,
        help="relative tolerance for float stages (default {})".format(defaults.RTOL),
    )
    parser.add_argument(
        "--tolerance", action="append", metavar="STAGE:ATOL[:RTOL]", default=[],
        help="per-stage tolerance, e.g. infer:1e-4:1e-4 (repeatable)",
    )


def add_report_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--json", metavar="FILE",
        help="write the JSON report (schema in docs/report-schema.md); '-' for stdout",
    )
    parser.add_argument(
        "--md", metavar="FILE",
        help="write the Markdown report (fits a CI job summary, e.g. $GITHUB_STEP_SUMMARY)",
    )
    parser.add_argument(
        "--html", metavar="FILE",
        help="write the self-contained HTML report (headline, side-by-side difference views)"
    )
    parser.add_argument(
        "--verbose", "-v", action="store_true",
        help="list every non-identical record in the terminal summary",
    )


def add_compare_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared by `compare` and `matrix` (which ends with a compare)."""
    parser.add_argument(
        "--reference", metavar="NAME",
        help="environment every other one is compared with (default: the first)",
    )
    add_tolerance_arguments(parser)
    add_report_arguments(parser)
    parser.add_argument(
        # Default None, not the number: `compare --golden` refuses a --heatmaps given at all.
        "--heatmaps", type=int, default=None, metavar="N",
        help="draw side-by-side difference views in the HTML report for the N worst divergent "
        "decoded images of each pair (default {}; the report says how many more diverge)".format(
            defaults.HEATMAPS),
    )
    parser.add_argument(
        "--jobs", "-j", type=int, default=None, metavar="N",
        help="compute differences on N processes (default: one per core)",
    )
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress line")
    # The help is spelled here: the parser is built on CPython 3.6 too (`capture`), where the
    # host-side compare package must not be imported.
    # Default None, not "any": `compare --golden` refuses a --fail-on that was given at all.
    parser.add_argument(
        "--fail-on", action="append", default=None, metavar="GATE",
        help="what makes the exit code 1: 'any' divergence (default); 'stage:S' a divergence "
        "at stage S or earlier (decode < preprocess < infer); 'top1' a changed top-1 class; "
        "'[STAGE:]STAT>VALUE' an abs-error statistic of an output over a threshold, STAT one "
        "of max, mean, p99 (e.g. infer:p99>0.01, decode:max>2). Repeatable: exit 1 when any "
        "of the gates fails. Input files that differ always fail; exit 2 when a gate's "
        "stages were not compared. Not with compare --golden, which fails on any change "
        "since the golden",
    )


def compare_options(args: argparse.Namespace) -> Dict[str, Any]:
    """Keyword arguments of edgeparity.compare.compare() from add_compare_arguments' options."""
    from ..errors import UsageError

    heatmaps = defaults.HEATMAPS if args.heatmaps is None else args.heatmaps
    if heatmaps < 0 or (args.jobs is not None and args.jobs < 1):
        raise UsageError("--heatmaps must be >= 0 and --jobs >= 1")
    return {"max_heatmaps": heatmaps, "jobs": args.jobs, "quiet": args.quiet,
            "want_heatmaps": bool(args.html)}


def fail_on_gates(args: argparse.Namespace) -> List["Gate"]:
    """The parsed --fail-on gates (``any`` when none was given), each once; a UsageError for a
    malformed one (before anything runs)."""
    from ..compare.gates import parse_gate
    from ..errors import UsageError

    gates = []
    for text in args.fail_on or ["any"]:
        try:
            gate = parse_gate(text)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if gate not in gates:
            gates.append(gate)
    return gates


def report_targets(args: argparse.Namespace) -> "Targets":
    """The reports asked for with add_report_arguments' options, each checked writable
    (``writable_targets``)."""
    from ..report.write import Targets

    return writable_targets(Targets(json=args.json, md=args.md, html=args.html,
                                    verbose=args.verbose))


def writable_targets(targets: "Targets") -> "Targets":
    """``targets``, once every report file of it is known to be writable: called before the
    work, so a report path that cannot be written costs seconds, not a compare or a matrix run
    (and no report is written while another one is refused)."""
    from ..atomic import check_writable
    from ..errors import UsageError
    from ..text import printable

    seen = {}  # type: Dict[str, str]
    for option, path in (("--json", targets.json), ("--md", targets.md),
                         ("--html", targets.html)):
        if not path or (path == "-" and option == "--json"):
            continue
        if path == "-":
            raise UsageError("{} -: only the JSON report goes to stdout (--json -); give {} a "
                             "file name".format(option, option))
        real = os.path.realpath(path)
        if real in seen:
            raise UsageError("{} and {} both name {}: give each report its own file".format(
                seen[real], option, printable(path)))
        seen[real] = option
        check_writable(path)
    return targets
