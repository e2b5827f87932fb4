"""`golden update`: write each bundle's golden, saying how much moved since the previous one."""

import os
from typing import Any, Dict, List, Optional, Tuple

from ..bundle import load as load_bundle
from ..compare.tolerances import Tolerances
from ..report.write import write_file
from .check import check
from .fingerprint import check_name, dumps, fingerprint, golden_path, load


def update(bundle_paths: List[str], directory: str, golden_name: Optional[str] = None
           ) -> List[Tuple[str, Dict[str, Any], Dict[str, int]]]:
    """Write DIR/<name>.json for each bundle (``golden_name``: DIR/NAME.json for one bundle,
    the golden `golden check --golden-name NAME` checks other environments against).

    Returns (path, golden, counts of changes against the previous golden or {}) per bundle.
    Raises ValueError/BundleError for user errors, before writing anything.
    """
    if golden_name is not None:
        check_name(golden_name, "--golden-name")
    if golden_name and len(bundle_paths) != 1:
        raise ValueError("--golden-name {} writes one golden: give one bundle (got {})".format(
            golden_name, len(bundle_paths)))
    prepared = []
    for path in bundle_paths:
        current = load_bundle(path)
        name = golden_name or current.name
        check_name(name, path)
        golden = fingerprint(current)
        golden["name"] = name
        prepared.append((golden_path(directory, name), golden))
    names = [golden["name"] for _, golden in prepared]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError("several bundles are named {}: each environment needs its own name "
                         "(capture with --name).".format(", ".join(duplicates)))
    written = []
    for target, golden in prepared:
        previous = None
        if os.path.exists(target):
            try:
                previous = load(target, "")
            except ValueError:
                previous = None  # a broken golden is simply replaced
        counts = check(previous, golden, Tolerances())["counts"] if previous else {}
        write_file(target, dumps(golden))
        written.append((target, golden, counts))
    return written
