"""`edgeparity export`: a captured output (or the difference of two) as a PNG or .npy file."""

import argparse
from typing import Any

from ..errors import EXIT_PARITY, UsageError
from ..text import printable


def register(sub: Any) -> None:
    p = sub.add_parser(
        "export",
        help="write a captured output (or the difference of two bundles') as PNG or .npy",
        description="Write one captured output as a file: decoded images as PNG (exactly the "
        "captured pixels) or any output as .npy. BUNDLE may carry a pipeline like in compare "
        "(cloud@decode=mxnet); the output is --image at --stage along it, or --key. With --diff "
        "OTHER, write OTHER's output minus BUNDLE's: .npy (signed) or, for decoded images, a "
        "PNG in the HTML report's colours (--levels: grey, the largest channel difference).",
    )
    p.add_argument("bundle", metavar="BUNDLE[@STAGE=IMPL,...]")
    p.add_argument("--image", metavar="NAME", help="input image name, as in the bundle")
    p.add_argument("--stage", default="decode", choices=("decode", "preprocess", "infer"),
                   help="stage whose output to write (default decode)")
    p.add_argument("--key", metavar="RECORD_KEY",
                   help="a record key instead (IMAGE|CHAIN, see --list): also isolated and "
                   "probe runs")
    p.add_argument("--out", metavar="FILE", help="file to write: .png or .npy")
    p.add_argument("--diff", metavar="OTHER[@STAGE=IMPL,...]",
                   help="write the difference OTHER - BUNDLE of the same output")
    p.add_argument("--levels", action="store_true",
                   help="with --diff and .png: grey levels (exact) instead of colours")
    p.add_argument("--list", action="store_true",
                   help="list the bundle's records (of --image, if given) and exit")
    p.set_defaults(func=run_export)


def run_export(args: argparse.Namespace) -> int:
    from .. import export
    from ..bundle import BundleError

    try:
        # Both sides together, as compare fills in the stages no pipeline names.
        endpoint, *others = export.open_endpoints([args.bundle] + ([args.diff] if args.diff
                                                                    else []))
        if args.list:
            for line in export.listing(endpoint.bundle, args.image):
                print(printable(line))
            return EXIT_PARITY
        if not args.out:
            raise ValueError("--out FILE is needed (.png or .npy)")
        key, array = export.output_array(endpoint, args.image, args.stage, args.key)
        if args.diff:
            other = others[0]
            other_key, other_array = export.output_array(other, args.image, args.stage,
                                                         args.key)
            data = export.difference_file(array, other_array, args.out, args.levels)
            what = "{} minus {}".format(_where(other, other_key), _where(endpoint, key))
        else:
            data = export.encode(array, args.out)
            what = _where(endpoint, key)
        export.write_bytes(args.out, data)
    except (ValueError, BundleError) as exc:
        raise UsageError(str(exc)) from None
    print("wrote {}: {}".format(printable(args.out), printable(what)))
    image = endpoint.bundle.records[key]["image"]
    if export.cut_short(endpoint.bundle, image):
        print("note: {}: {}".format(printable(image), export.CUT_SHORT))
    return EXIT_PARITY


def _where(endpoint: Any, key: str) -> str:
    return "{} of {}".format(key, endpoint.bundle.name)
