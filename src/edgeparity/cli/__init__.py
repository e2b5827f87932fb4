"""The ``edgeparity`` command line: the only package that knows argparse.

One module per command family registers its subcommands and holds their handlers:
``capture`` (probe, capture: run inside every environment, CPython 3.6), ``compare``,
``golden`` and ``export`` (the host side, CPython >= 3.9), ``matrix`` (build/run every
environment, compare).
Host-side packages are imported inside the handlers, so ``edgeparity capture`` on a Jetson never
imports them. Nothing imports this package.

Exit codes, everywhere: 0 parity holds, 1 a divergence was found, 2 usage or environment error,
130 interrupted (Ctrl-C, SIGTERM), 141 the reader of the output left (`| head`).
"""

import argparse
import io
import os
import sys
from typing import List, Optional

from .. import __version__
from ..errors import EXIT_ERROR, EXIT_INTERRUPTED, EXIT_READER_LEFT, UserError
from ..quick_exit import silence_streams_whose_reader_left
from ..text import printable
from .options import check_numpy, require_host

# Commands of the host side (CPython >= 3.9); the others also run on a Jetson's CPython 3.6.
HOST_COMMANDS = ("compare", "golden", "matrix", "image", "export")
# Commands that may finish without numpy (a compare whose digests all match never imports it):
# numpy's version is read from its metadata; the others import it to check it.
NUMPY_WHEN_NEEDED = ("compare", "golden", "matrix", "image")


# Which module registers each command. A command line naming one builds only that module's
# parsers (building the others cost 3 ms of every start, a Jetson's capture included);
# anything else (no command, --help, a typo) builds them all, so that help and "invalid
# choice" list every command.
COMMAND_MODULES = {"probe": "capture", "capture": "capture", "compare": "compare",
                   "verify": "compare", "merge": "compare", "golden": "golden",
                   "matrix": "matrix", "image": "image", "export": "export"}


def build_parser(command: Optional[str] = None) -> argparse.ArgumentParser:
    """The parser: of every command, or only of those in ``command``'s module."""
    parser = argparse.ArgumentParser(
        prog="edgeparity",
        description="Find where and why two environments (e.g. a cloud endpoint and a Jetson) "
        "disagree on the same input: capture decode -> preprocess -> infer outputs in each, "
        "then compare.",
        epilog="Exit codes: 0 parity, 1 divergence found, 2 usage or environment error, "
        "130 interrupted, 141 the output's reader left (| head).",
    )
    parser.add_argument("--version", action="version", version="edgeparity " + __version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    # Imported here, not at the top: `edgeparity.cli` is what the console script imports first.
    # None of them imports numpy (main() checks it once the command is known).
    from . import capture, compare, export, golden, image, matrix

    modules = (capture, compare, golden, matrix, image, export)  # the order help lists them in
    wanted = COMMAND_MODULES.get(str(command))
    for module in modules:
        if wanted is None or module.__name__.rsplit(".", 1)[1] == wanted:
            module.register(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    parser = build_parser(arguments[0] if arguments else None)
    args = parser.parse_args(arguments)
    if not getattr(args, "func", None):
        # `edgeparity golden` names no action: golden's help, with its actions; no command at
        # all: every command.
        commands = next(action for action in parser._actions
                        if isinstance(action, argparse._SubParsersAction)).choices
        (commands[args.command] if args.command else build_parser()).print_help()
        if args.command:
            actions = [action for action in commands[args.command]._actions
                       if isinstance(action, argparse._SubParsersAction)]
            sys.stderr.write("edgeparity: error: `edgeparity {}` needs an action: {}\n".format(
                args.command, ", ".join(actions[0].choices) if actions else "see above"))
        return EXIT_ERROR
    try:
        if args.command in HOST_COMMANDS:
            require_host(args.command)
        # A missing, broken or too old numpy is one sentence, not a traceback.
        problem = check_numpy(load=args.command not in NUMPY_WHEN_NEEDED)
        if problem:
            raise UserError(problem)
        return args.func(args)
    except UserError as exc:  # includes UsageError and BundleError
        sys.stderr.write("edgeparity: error: {}\n".format(printable(exc, multiline=True)))
        return EXIT_ERROR
    except KeyboardInterrupt as exc:
        sys.stderr.write("edgeparity: {}\n".format(printable(exc) or "interrupted"))
        return EXIT_INTERRUPTED
    except BrokenPipeError as exc:
        if silence_streams_whose_reader_left():
            # `edgeparity probe --json | head`: the reader left; nothing more to say. Not
            # exit 2: `verify B | head` would read as "damaged" under `set -o pipefail`.
            return EXIT_READER_LEFT
        # A pipe of edgeparity's own: an error like any other.
        sys.stderr.write("edgeparity: error: {}\n".format(printable(exc.strerror or exc)))
        return EXIT_ERROR
    except OSError as exc:
        where = "{}: ".format(printable(exc.filename)) if exc.filename else ""
        sys.stderr.write("edgeparity: error: {}{}\n".format(
            where, printable(exc.strerror or exc)))
        return EXIT_ERROR
    except Exception:
        # numpy read from its metadata, broken when a command first needed it: one sentence.
        problem = check_numpy(load=True)
        if problem:
            sys.stderr.write("edgeparity: error: {}\n".format(problem))
            return EXIT_ERROR
        # A bug. Exit 2, not Python's default 1, which would read as "divergence found".
        import traceback

        traceback.print_exc()
        sys.stderr.write("edgeparity: internal error (a bug in edgeparity: please report it with "
                         "the traceback above)\n")
        return EXIT_ERROR


def _standard_streams_that_write_everything() -> None:
    """Under ``python -u`` / PYTHONUNBUFFERED (CI, containers) stdout writes straight to its
    file, and a short write (the reader of a pipe left midway) loses the rest of the output
    without an error: exit 1 for a cut-off report. A line-buffered writer over the same file
    descriptor writes everything or raises, and still shows each line at once. A stream that
    is closed (`>&-`) writes to /dev/null instead of failing every command that prints."""
    for name in ("stdout", "stderr"):
        if getattr(sys, name) is None:
            setattr(sys, name, open(os.devnull, "w"))
    stream = sys.stdout
    if isinstance(getattr(stream, "buffer", None), io.FileIO):
        # Its own FileIO, not closing the descriptor: sys.__stdout__ stays usable.
        raw = io.FileIO(stream.fileno(), "w", closefd=False)
        sys.stdout = io.TextIOWrapper(io.BufferedWriter(raw), encoding=stream.encoding,
                                      errors=stream.errors, line_buffering=True)


def run() -> None:
    """The process entry point (the `edgeparity` script, ``python -m edgeparity``): ``main``,
    then the exit, without freeing the parsed bundles a compare held (``quick_exit``)."""
    from .. import quick_exit

    _standard_streams_that_write_everything()
    quick_exit.arm()
    try:
        code = main()
    except SystemExit as exc:  # argparse: --help, --version, a usage error
        if exc.code is not None and not isinstance(exc.code, int):
            raise
        code = exc.code or 0
    quick_exit.exit_process(quick_exit.flush_standard_streams(code))


if __name__ == "__main__":
    run()
