"""The golden gate for CI: fingerprints of bundles, committed, and checked against new bundles.

``fingerprint`` (what a golden keeps, its file form), ``check`` (the gate: what moved since the
golden, as a report dict), ``update`` (write goldens). Nothing here prints or renders:
``edgeparity.report.golden`` draws the gate's report.
"""

from .check import GOLDEN_REPORT_SCHEMA, check, check_bundles
from .fingerprint import GOLDEN_SCHEMA, dumps, fingerprint, load
from .update import update

__all__ = ["GOLDEN_REPORT_SCHEMA", "GOLDEN_SCHEMA", "check", "check_bundles", "dumps",
           "fingerprint", "load", "update"]
