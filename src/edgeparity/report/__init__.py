"""Draw reports: terminal summary, Markdown, self-contained HTML, JSON.

Every renderer reads a report dict only (docs/report-schema.md, and the golden gate's report);
none computes anything new, so the outputs cannot disagree. Nothing here imports ``compare`` or
``golden``. ``words`` (shared wording), ``compare`` and ``html`` (a comparison), ``golden`` (the
golden gate), ``write`` (which outputs go where: ``Targets``, ``write_compare_reports``,
``write_golden_reports``).
"""
