"""The golden gate's report (schema edgeparity.golden-report/1): terminal, Markdown, HTML."""

from typing import Any, Dict, List, Optional, Tuple

from .layout import colourize, field
from .words import num, short_list

# Markdown reports list at most this many records per environment (a GitHub job summary is
# capped at 1 MiB); the JSON report always has them all.
MARKDOWN_RECORD_LIMIT = 200


def update_command(directory: str, bundles: List[str], golden_name: Optional[str] = None
                   ) -> str:
    """The command that refreshes the goldens of ``bundles`` (shown in reports and errors);
    with ``golden_name``, the one golden DIR/NAME.json."""
    import shlex  # the command is shown to be run as it is: names with spaces quoted

    return "edgeparity golden update {} --dir {}{}".format(
        " ".join(shlex.quote(bundle) for bundle in bundles), shlex.quote(directory),
        " --golden-name " + shlex.quote(golden_name) if golden_name else "")


def _stage_text(summary: Dict[str, Any]) -> str:
    parts = []
    if summary["changed"]:
        origins = ", ".join("{} {}".format(summary[key], key.replace("_", " "))
                            for key in ("intrinsic", "inherited", "input_file_changed")
                            if summary[key])
        parts.append("{} changed ({}) on {}".format(summary["changed"], origins,
                                                    short_list(summary["images"], 4)))
    if summary["new"]:
        parts.append("{} new".format(summary["new"]))
    if summary["removed"]:
        parts.append("{} removed".format(summary["removed"]))
    text = "; ".join(parts)
    if summary["max_stats_delta"] is not None:
        text += "; stats moved by up to {}".format(num(summary["max_stats_delta"]))
        if summary["all_within_tolerance"]:
            text += " (within atol/rtol: float rounding, e.g. another CPU?)"
    return text


def _refresh(report: Dict[str, Any], env: Dict[str, Any]) -> Tuple[str, str]:
    """(words, command) that refresh this environment's golden; for a golden several bundles
    were checked against, from the one bundle it stands for (each refreshing it would undo
    the others)."""
    shared = env.get("golden_shared")
    if shared:
        return ("refresh the shared golden {} from the one bundle it stands for and commit "
                "it".format(env["golden"]),
                update_command(report["golden_dir"], ["BUNDLE"], shared))
    return ("refresh the golden and commit it", update_command(
        report["golden_dir"], [env["bundle_argument"]], env.get("golden_name")))


def _unchanged(env: Dict[str, Any]) -> str:
    """'identical', or 'unchanged within tolerance' when float outputs moved within it."""
    return "unchanged within tolerance" if env["counts"].get("within_tolerance") else "identical"


def _counts_text(env: Dict[str, Any]) -> str:
    counts = env["counts"]
    return "{} of {} records changed, {} new, {} removed{}".format(
        counts["changed"], counts["records"], counts["new"], counts["removed"],
        _tolerated_text(env, ", "))


def _tolerated_text(env: Dict[str, Any], lead: str) -> str:
    """', 12 float outputs within tolerance' (--float-tolerance), or ''."""
    count = env["counts"].get("within_tolerance")
    return "{}{} float outputs within tolerance".format(lead, count) if count else ""


def _mode_text(report: Dict[str, Any]) -> str:
    if report.get("mode") == "float_stats":
        return ("float outputs pass when min/max/mean/std moved within tolerance (statistics, "
                "not every element); other outputs by digest")
    return "exact comparison of output digests (atol/rtol only qualify float changes)"


def _record_delta(record: Dict[str, Any]) -> str:
    text = record["what"]
    if record.get("max_stats_delta") is not None:
        text += "; stats moved by up to {}".format(num(record["max_stats_delta"]))
        if record.get("stats_within_tolerance"):
            text += " (within tolerance)"
    if record.get("nonfinite"):
        text += "; non-finite values {} -> {}".format(record["nonfinite"]["golden"],
                                                      record["nonfinite"]["now"])
    if record.get("input_within_tolerance"):
        text += "; its input moved within tolerance"
    return text


def verdict_line(report: Dict[str, Any]) -> str:
    """The last line: 'edgeparity golden: CHANGED (1 of 2 environments changed)'."""
    envs = report["environments"]
    changed = sum(1 for env in envs if env["verdict"] == "changed")
    return "edgeparity golden: {} ({} of {} environments {})".format(
        report["verdict"].upper(), changed if changed else len(envs), len(envs),
        "changed" if changed else "unchanged")


def terminal(report: Dict[str, Any], verbose: bool = False, width: int = 100,
             colour: bool = False) -> str:
    """The golden gate's summary for a terminal or a CI log: the verdict last (as compare's,
    and as pytest and tox end), every line at most ``width`` columns except the whole record
    keys of ``verbose`` (a cut key names no record)."""
    lines = []  # type: List[str]

    def add(prefix: str, text: str, indent: int = 4) -> None:
        lines.extend(field(prefix, text, width, indent))

    add("", "goldens: {}; atol={} rtol={}".format(
        report["golden_dir"], report["tolerances"]["atol"], report["tolerances"]["rtol"]), 2)
    if report.get("mode") == "float_stats":
        add("  mode: ", _mode_text(report))
    for env in report["environments"]:
        lines.append("")
        if env["verdict"] == "unchanged":
            add("", "{}  vs  {}: unchanged ({} records{})".format(
                env["name"], env["golden"], env["counts"]["records"],
                _tolerated_text(env, "; ")), 2)
        else:
            add("", "{}  vs  {}: CHANGED, {}".format(env["name"], env["golden"],
                                                     _counts_text(env)), 2)
        if env["inputs_changed"]:
            add("  ! ", "input files changed since the golden: " +
                short_list(env["inputs_changed"]))
        for label in ("inputs_new", "inputs_removed"):
            if env[label]:
                add("  ! ", "{} inputs: {}".format(label.split("_")[1], short_list(env[label])))
        if env["first_changed_stage"]:
            add("  ", "first changed stage: {}".format(env["first_changed_stage"]))
        for summary in env["stages"]:
            add("    ", "{:<10} {:<12} {}".format(summary["stage"], summary["impl"],
                                                 _stage_text(summary)), 8)
        for change in env["provenance_changes"]:
            add("  {}: ".format("why" if env["verdict"] == "changed" else "note"),
                change["text"])
        if verbose:
            for record in env["changed"]:
                # The whole key, never wrapped: a cut key names no record (-v is for finding
                # them).
                lines.append("    changed  {:<60} {:<18} {}".format(
                    record["key"], record["origin"], _record_delta(record)))
            for label in ("new", "removed"):
                for record in env[label]:
                    lines.append("    {:<8} {:<60} {}".format(label, record["key"],
                                                             record["output"]))
        if env["verdict"] == "changed":
            add("  do: ", "if this change is intended, {}:  {}".format(*_refresh(report, env)))
        elif env["provenance_changes"]:
            add("  ", "every output is {}; `golden update` would record the new "
                "provenance".format(_unchanged(env)))
    lines.append("")
    add("", verdict_line(report), 2)
    if colour:
        lines = colourize(lines, "DIVERGENCE" if report["verdict"] == "changed" else "PARITY")
    return "\n".join(lines)


def _cell(text: Any) -> str:
    # A '|' inside a table cell ends the cell in GitHub Markdown, even inside backticks.
    return str(text).replace("|", "\\|")


def markdown(report: Dict[str, Any]) -> str:
    changed = report["verdict"] == "changed"
    out = ["## {} edgeparity golden gate: {}".format("❌" if changed else "✅", report["verdict"]),
           "",
           "Goldens: `{}` · {} · atol={} rtol={}".format(
               report["golden_dir"], _mode_text(report), report["tolerances"]["atol"],
               report["tolerances"]["rtol"]),
           "",
           "| environment | verdict | records | changed | new | removed | first changed stage |",
           "|---|---|---|---|---|---|---|"]
    for env in report["environments"]:
        counts = env["counts"]
        out.append("| {} | {} | {} | {} | {} | {} | {} |".format(
            env["name"], "❌ changed" if env["verdict"] == "changed" else "✅ unchanged",
            counts["records"], counts["changed"], counts["new"], counts["removed"],
            env["first_changed_stage"] or "—"))
    for env in report["environments"]:
        if env["verdict"] == "unchanged" and not env["provenance_changes"]:
            continue
        out += ["", "### {}".format(env["name"]), ""]
        if env["inputs_changed"]:
            out += ["Input files changed since the golden: {}.".format(
                ", ".join("`{}`".format(name) for name in env["inputs_changed"])), ""]
        if env["stages"]:
            out += ["| stage | implementation | changed | new | removed | origin | images | "
                    "largest stats change |", "|---|---|---|---|---|---|---|---|"]
            for summary in env["stages"]:
                origins = ", ".join("{} {}".format(summary[key], key.replace("_", " "))
                                    for key in ("intrinsic", "inherited", "input_file_changed")
                                    if summary[key]) or "—"
                out.append("| {} | {} | {} | {} | {} | {} | {} | {} |".format(
                    summary["stage"], summary["impl"], summary["changed"], summary["new"],
                    summary["removed"], origins, _cell(short_list(summary["images"], 4)) or "—",
                    num(summary["max_stats_delta"]) if summary["max_stats_delta"] is not None
                    else "—"))
        if env["provenance_changes"]:
            out += ["", "**Why** (provenance changed since the golden)" if env["verdict"] ==
                    "changed" else "**Note**: outputs {}, provenance changed".format(
                        _unchanged(env)), ""]
            out += ["- " + change["text"] for change in env["provenance_changes"]]
        rows = env["changed"]
        if rows or env["new"] or env["removed"]:
            total = len(rows) + len(env["new"]) + len(env["removed"])
            out += ["", "<details><summary>Records ({})</summary>".format(total), "",
                    "| record | change | origin | golden | now |", "|---|---|---|---|---|"]
            shown = 0
            for record in rows:
                if shown >= MARKDOWN_RECORD_LIMIT:
                    break
                out.append("| `{}` | {} | {} | `{}` | `{}` |".format(
                    _cell(record["key"]), _cell(_record_delta(record)), record["origin"],
                    _cell(record["golden"]), _cell(record["now"])))
                shown += 1
            for label in ("new", "removed"):
                for record in env[label]:
                    if shown >= MARKDOWN_RECORD_LIMIT:
                        break
                    out.append("| `{}` | {} | — | {} | {} |".format(
                        _cell(record["key"]), label,
                        "—" if label == "new" else "`{}`".format(_cell(record["output"])),
                        "`{}`".format(_cell(record["output"])) if label == "new" else "—"))
                    shown += 1
            if total > shown:
                out.append("")
                out.append("{} more in the JSON report.".format(total - shown))
            out += ["", "</details>"]
        if env["verdict"] == "changed":
            out += ["", "If this change is intended, {}: `{}`".format(*_refresh(report, env))]
    out.append("")
    return "\n".join(out)


def html_page(report: Dict[str, Any]) -> str:
    # The gate has no pixels to show; the HTML report is the Markdown in a <pre>.
    import html  # here: every compare imports this module, few write a golden HTML page

    return ("<!doctype html><meta charset='utf-8'><title>edgeparity golden gate</title>"
            "<pre>{}</pre>\n".format(html.escape(markdown(report))))
