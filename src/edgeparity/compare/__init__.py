"""Compare bundles: verdicts per record, the first divergent stage, and its likely cause.

Vocabulary used throughout (and in the JSON report, see docs/report-schema.md):

- an *endpoint* is a bundle plus the pipeline it is read with (which implementation each stage
  uses); see ``endpoints``;
- a *pipeline walk* follows both endpoints' pipelines stage by stage for one image and stops at
  the *first divergent stage*;
- a later stage that differs is *inherited* when the same implementations agree on canonical
  inputs (identical bytes everywhere) and *intrinsic* when they differ there too.

Where to look: ``tolerances`` (how close is close enough), ``endpoints`` (what is compared),
``verdicts`` (how a verdict is decided), ``causes`` (why, and what to do), ``assemble`` (the
report dict), ``gates`` (what makes the exit code 1: ``--fail-on``). Nothing here prints or
renders: ``edgeparity.report`` draws the report.
"""

from .assemble import REPORT_SCHEMA, compare, exit_code
from .gates import Gate, GateResult, decide, evaluate, parse_gate
from .tolerances import Tolerances
from .verdicts import overall_verdict

__all__ = ["REPORT_SCHEMA", "Gate", "GateResult", "Tolerances", "compare", "decide", "evaluate",
           "exit_code", "overall_verdict", "parse_gate"]
