#!/usr/bin/env python3
"""Lock an image's Python requirements with hashes, and download its wheelhouse.

Each image folder holds ``requirements*.in`` (what we ask for) and the generated
``requirements*.lock`` (every package, transitively, pinned with ``==`` and its sha256 hashes for
the image's platform). The Dockerfiles install with ``pip install --require-hashes --no-index``
from a wheelhouse on the host, because containers here cannot reach PyPI over HTTPS and a
Jetson may be air-gapped.

The target is declared in the ``.in`` file's header, e.g.::

    # lock-python: 3.9          CPython version inside the image
    # lock-arch: aarch64        x86_64 | aarch64
    # lock-glibc: 2.31          the image's glibc: newest manylinux tag accepted
    # lock-sdists: Pillow       packages whose sdist is locked too (built from source)

Usage::

    scripts/lock.py lock docker/jetson-dlr/requirements.in      # rewrite requirements.lock
    scripts/lock.py download docker/jetson-dlr/requirements.lock wheelhouse/jetson-dlr

``lock`` must run under a CPython of the target version (environment markers such as
``python_version < "3.11"`` are evaluated by the running interpreter): pass it with --python.
``download`` works with any pip and verifies every file against the lock's hashes.

Environment: PIP_INDEX_URL (default https://pypi.org/simple). Local pip configuration
(find-links, extra indexes) is ignored so the hashes always describe files of that index.
"""

import argparse
import hashlib
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

HEADER_KEYS = ("lock-python", "lock-arch", "lock-glibc", "lock-sdists")


def read_header(in_file: Path) -> Dict[str, str]:
    """The ``# lock-*:`` settings at the top of a requirements .in file."""
    header = {}
    for line in in_file.read_text().splitlines():
        match = re.match(r"#\s*(lock-[a-z]+):\s*(.*?)\s*$", line)
        if match and match.group(1) in HEADER_KEYS:
            header[match.group(1)] = match.group(2)
    missing = [key for key in HEADER_KEYS[:3] if key not in header]
    if missing:
        sys.exit("lock: {} lacks header line(s) {}".format(in_file, ", ".join(missing)))
    return header


def platform_args(header: Dict[str, str]) -> List[str]:
    """pip --platform flags for every manylinux tag the image's glibc can load.

    pip does not expand a manylinux_2_31 tag to older ones, so we list them all: wheels are
    tagged anywhere from manylinux1 (glibc 2.5) to manylinux_2_28.
    """
    arch = header["lock-arch"]
    newest = int(header["lock-glibc"].split(".")[1])
    tags = ["manylinux_2_{}_{}".format(minor, arch) for minor in range(newest, 4, -1)]
    tags += ["manylinux2014_" + arch]
    if arch == "x86_64":
        tags += ["manylinux2010_x86_64", "manylinux1_x86_64"]
    args = []
    for tag in tags:
        args += ["--platform", tag]
    return args + [
        "--python-version",
        header["lock-python"],
        "--implementation",
        "cp",
    ]


def pip(python: str, args: List[str]) -> None:
    """Run pip isolated from local config, against the configured index."""
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple")
    command = [python, "-m", "pip", "--isolated", "--disable-pip-version-check"]
    command += args[:1] + ["--index-url", index] + args[1:]
    print("+ " + " ".join(command), file=sys.stderr)
    subprocess.run(command, check=True)


def name_and_version(filename: str) -> tuple:
    """Distribution name (normalized) and version from a wheel or sdist file name."""
    if filename.endswith(".whl"):
        name, version = filename.split("-")[:2]
    else:
        match = re.match(r"(.+)-([0-9][^-]*)\.(tar\.gz|zip|tar\.bz2)$", filename)
        if not match:
            raise SystemExit("lock: cannot parse sdist name {}".format(filename))
        name, version = match.group(1), match.group(2)
    return re.sub(r"[-_.]+", "-", name).lower(), version


def lock(in_file: Path, python: str) -> Path:
    header = read_header(in_file)
    running = subprocess.run(
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
        stdout=subprocess.PIPE, universal_newlines=True, check=True,
    ).stdout.strip()
    if running != header["lock-python"]:
        sys.exit("lock: {} targets CPython {} but --python {} is {}; pass a {} interpreter "
                 "(markers are evaluated by it)".format(in_file, header["lock-python"], python,
                                                        running, header["lock-python"]))
    lock_file = in_file.with_suffix(".lock")
    sdists = [name for name in header.get("lock-sdists", "").replace(",", " ").split() if name]
    with tempfile.TemporaryDirectory() as tmp:
        # Resolve the whole tree for the target platform, wheels only.
        pip(python, ["download", "-q", "-d", tmp, "--only-binary=:all:", "-r", str(in_file)]
            + platform_args(header))
        # Packages built from source in some variant of the image: lock their sdist too.
        for name in sdists:
            pinned = [line.strip() for line in in_file.read_text().splitlines()
                      if re.match(re.escape(name) + r"\s*==", line.strip(), re.I)]
            if not pinned:
                sys.exit("lock: {} listed in lock-sdists but not pinned with == in {}".format(
                    name, in_file))
            pip(python, ["download", "-q", "-d", tmp, "--no-deps", "--no-binary=:all:",
                         pinned[0]])
        hashes = {}  # type: Dict[str, Dict[str, List[str]]]
        for path in sorted(Path(tmp).iterdir()):
            name, version = name_and_version(path.name)
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            hashes.setdefault(name, {}).setdefault(version, []).append(digest)

    lines = [
        "# Generated by scripts/lock.py from {} -- do not edit; re-run:".format(in_file.name),
        "#   scripts/lock.py lock {}".format(in_file),
        "# Target: CPython {lock-python}, {lock-arch}, glibc {lock-glibc}.".format(**header),
        "",
    ]
    for name in sorted(hashes):
        versions = hashes[name]
        if len(versions) != 1:
            sys.exit("lock: {} resolved to several versions {}".format(name, sorted(versions)))
        version, digests = next(iter(versions.items()))
        lines.append("{}=={} \\".format(name, version))
        lines += ["    --hash=sha256:{}{}".format(d, " \\" if i < len(digests) - 1 else "")
                  for i, d in enumerate(sorted(digests))]
    lock_file.write_text("\n".join(lines) + "\n")
    print("lock: wrote {} ({} packages)".format(lock_file, len(hashes)), file=sys.stderr)
    return lock_file


def download(lock_file: Path, wheelhouse: Path, python: str) -> None:
    """Fetch every file of ``lock_file`` into ``wheelhouse``; pip checks each hash."""
    in_file = lock_file.with_suffix(".in")
    header = read_header(in_file)
    sdists = {re.sub(r"[-_.]+", "-", name).lower()
              for name in header.get("lock-sdists", "").replace(",", " ").split() if name}
    wheelhouse.mkdir(parents=True, exist_ok=True)
    pip(python, ["download", "-q", "-d", str(wheelhouse), "--no-deps", "--require-hashes",
                 "--only-binary=:all:", "-r", str(lock_file)] + platform_args(header))
    if not sdists:
        return
    # The sdist entries again, as a lock of their own, downloaded as source.
    blocks = re.split(r"\n(?=\S)", lock_file.read_text())
    chosen = [block for block in blocks if block.split("==")[0].strip() in sdists]
    with tempfile.NamedTemporaryFile("w", suffix=".lock", delete=False) as handle:
        handle.write("\n".join(chosen) + "\n")
    try:
        pip(python, ["download", "-q", "-d", str(wheelhouse), "--no-deps", "--require-hashes",
                     "--no-binary=:all:", "-r", handle.name])
    finally:
        os.unlink(handle.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    lock_parser = sub.add_parser("lock", help="resolve a requirements .in into its .lock")
    lock_parser.add_argument("in_file", type=Path)
    lock_parser.add_argument("--python", default=sys.executable,
                             help="CPython of the image's version, with pip (default: this one)")
    download_parser = sub.add_parser("download", help="download a .lock into a wheelhouse")
    download_parser.add_argument("lock_file", type=Path)
    download_parser.add_argument("wheelhouse", type=Path)
    download_parser.add_argument("--python", default=sys.executable)
    args = parser.parse_args()
    try:
        if args.command == "lock":
            lock(args.in_file, args.python)
        else:
            download(args.lock_file, args.wheelhouse, args.python)
    except subprocess.CalledProcessError as exc:
        sys.exit("lock: pip failed (exit {}); see its output above".format(exc.returncode))


if __name__ == "__main__":
    main()
