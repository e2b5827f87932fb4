#!/usr/bin/env python3
"""Build dist/edgeparity.pyz: edgeparity as one file that needs only CPython >= 3.6 and numpy.

    python3 tools/build_zipapp.py [--out dist/edgeparity.pyz]     # what `make zipapp` runs

The archive holds src/edgeparity (code, the demo model, the canonical inputs) and
tools/zipapp_main.py as its __main__.py; copy it to a device and run
``python3 edgeparity.pyz capture ...``. It is built with the standard library's ``zipapp``
from an archive whose entries are sorted and carry a fixed date (SOURCE_DATE_EPOCH, else
1980-01-01) and mode, so the same source gives the same bytes on any day and in any checkout
(the compressed bytes come from zlib: the same zlib, the same archive).
"""

import argparse
import hashlib
import os
import shutil
import stat
import sys
import tempfile
import time
import zipapp
import zipfile
from typing import List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "src", "edgeparity")
MAIN = os.path.join(ROOT, "tools", "zipapp_main.py")
DEFAULT_OUT = os.path.join(ROOT, "dist", "edgeparity.pyz")
# The shebang lets `./edgeparity.pyz` work; `python3 edgeparity.pyz` does not need it.
INTERPRETER = "/usr/bin/env python3"
# zip stores local time with 2-second resolution from 1980 on; 1980-01-01 00:00:00 is its zero.
ZIP_EPOCH = 315532800


def source_files() -> List[str]:
    """Every file of the package, relative to src/, in a stable order (no caches)."""
    found = []
    for folder, dirs, files in os.walk(PACKAGE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if not name.endswith((".pyc", ".pyo")):
                found.append(os.path.relpath(os.path.join(folder, name), os.path.dirname(PACKAGE)))
    return sorted(found)


def build(out: str, epoch: Optional[int] = None) -> str:
    """Write the zipapp to ``out``; returns its sha256."""
    if epoch is None:
        epoch = int(os.environ.get("SOURCE_DATE_EPOCH") or ZIP_EPOCH)
    # zip dates are calendar fields without a zone: take them in UTC, never the local zone.
    stamp = time.gmtime(max(epoch, ZIP_EPOCH))[:6]
    # Staged next to ``out``, so the final rename is atomic (same file system): an interrupted
    # build leaves no half-written .pyz where a user would pick it up.
    parent = os.path.dirname(os.path.abspath(out))
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".edgeparity-pyz-", dir=parent)
    try:
        # zipapp.create_archive walks a folder in the file system's order and stores each
        # file's mtime and mode, so the entries are written here (sorted, fixed date and
        # mode) and zipapp adds the shebang to that archive.
        plain = os.path.join(staging, "plain.zip")
        entries = [(relative, os.path.join(os.path.dirname(PACKAGE), relative))
                   for relative in source_files()] + [("__main__.py", MAIN)]
        with zipfile.ZipFile(plain, "w") as archive:
            for name, path in sorted(entries):
                info = zipfile.ZipInfo(name.replace(os.sep, "/"), date_time=stamp)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = (stat.S_IFREG | 0o644) << 16
                info.create_system = 3  # Unix, whatever builds it
                with open(path, "rb") as handle:
                    archive.writestr(info, handle.read())
        partial = os.path.join(staging, "edgeparity.pyz")
        zipapp.create_archive(plain, partial, interpreter=INTERPRETER)
        os.chmod(partial, 0o755)
        os.replace(partial, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    with open(out, "rb") as handle:
        return hashlib.sha256(handle.read()).hexdigest()


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=DEFAULT_OUT, help="where to write (default dist/)")
    options = parser.parse_args(argv)
    digest = build(options.out)
    print("{}  {} ({} bytes)".format(digest, options.out, os.path.getsize(options.out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
