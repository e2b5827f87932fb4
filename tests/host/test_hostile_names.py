"""Names are data: hostile file names across two real environments (IJG vs libjpeg-turbo).

HTML, Markdown pipes, newlines, terminal escape sequences and bytes that are not UTF-8 in file
names must give the real verdict (exit 1), keep the Markdown tables intact, render inert in
HTML, and never reach the terminal as control sequences.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import SAMPLES, run_capture, tox_python

HOSTILE = [
    "<img src=x onerror=alert(1)>.jpg",
    "pipe|in|name.jpg",
    "new\nline.jpg",
    "\x1b]0;pwned\x07title.jpg",
    "\x1b[31mred.jpg",
]
NOT_UTF8 = b"caf\xe9.jpg"


@pytest.fixture(scope="module")
def hostile_bundles(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    images = folder / "images"
    images.mkdir()
    for name in HOSTILE:
        shutil.copy(os.path.join(SAMPLES, "photo-420.jpg"), str(images / name))
    with open(os.path.join(os.fsencode(str(images)), NOT_UTF8), "wb") as handle:
        with open(os.path.join(SAMPLES, "photo-422.jpg"), "rb") as source:
            handle.write(source.read())
    # Environments: the IJG libjpeg 9d wheel and this interpreter's libjpeg-turbo.
    cloud = tox_python("cloud-mxnet")
    extra = ["--impl", "pillow"]
    bundles = {}
    for name, python in (("cloud", cloud), ("here", sys.executable)):
        out = folder / name
        env = dict(os.environ, PYTHONPATH=os.path.join(os.path.dirname(SAMPLES), "src"))
        command = [python, "-m", "edgeparity", "capture", "--images", str(images), "--out",
                   str(out), "--name", "<b>" + name + "|</b>", "--quiet"] + extra
        result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=env)
        assert result.returncode == 0, result.stderr.decode(errors="replace")
        bundles[name] = str(out)
    return bundles


def test_hostile_names_report_the_real_divergence_inertly(hostile_bundles, tmp_path):
    md, html, js = (str(tmp_path / n) for n in ("r.md", "r.html", "r.json"))
    result = subprocess.run(
        [sys.executable, "-m", "edgeparity", "compare", hostile_bundles["cloud"],
         hostile_bundles["here"], "--md", md, "--html", html, "--json", js, "-v"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=dict(os.environ, PYTHONPATH=os.path.join(os.path.dirname(SAMPLES), "src")))
    out = result.stdout + result.stderr
    assert result.returncode == 1, out.decode(errors="replace")  # IJG vs turbo: divergence
    assert b"\x1b" not in out and b"\x07" not in out
    assert b"Traceback" not in out
    with open(md, encoding="utf-8") as handle:
        markdown = handle.read()
    assert "<img" not in markdown and "<b>" not in markdown
    header = None
    for line in markdown.splitlines():
        if not line.startswith("|"):
            header = None
            continue
        # every table row has as many unescaped cell separators as its header
        cells = line.replace("\\|", "").count("|")
        if header is None:
            header = cells
        assert cells == header, line
    assert "caf\\\\xe9.jpg" in markdown or "caf\\xe9.jpg" in markdown
    with open(html, encoding="utf-8") as handle:
        page = handle.read()
    assert "<img src=x" not in page and "&lt;img src=x" in page
    assert "\x1b" not in page
    with open(js, encoding="utf-8") as handle:
        report = json.load(handle)
    images = {w["image"] for w in report["pairs"][0]["images"]}
    assert "new\nline.jpg" in images  # the JSON keeps every name as captured
    assert os.fsdecode(NOT_UTF8) in images


def test_a_bundle_path_with_an_at_sign_can_be_compared(hostile_bundles, tmp_path):
    odd = str(tmp_path / "at@home")
    shutil.copytree(hostile_bundles["here"], odd)
    from edgeparity import cli, errors

    assert cli.main(["compare", odd, hostile_bundles["here"], "-q"]) == errors.EXIT_PARITY
    assert cli.main(["compare", odd + "@decode=pillow", hostile_bundles["here"], "-q"]) == \
        errors.EXIT_PARITY


def test_unreadable_on_both_sides_is_never_parity(tmp_path):
    pytest.importorskip("PIL")
    images = tmp_path / "images"
    images.mkdir()
    os.mkfifo(str(images / "fifo.jpg"))
    shutil.copy(os.path.join(SAMPLES, "photo-444.jpg"), str(images / "ok.jpg"))
    a = run_capture(sys.executable, tmp_path / "a", "a", "decode=pillow",
                    extra=["--images", str(images), "--impl", "pillow"])
    b = run_capture(sys.executable, tmp_path / "b", "b", "decode=pillow",
                    extra=["--images", str(images), "--impl", "pillow"])
    from edgeparity import cli, errors

    report = str(tmp_path / "r.json")
    assert cli.main(["compare", a, b, "--json", report, "-q"]) == errors.EXIT_ERROR
    with open(report) as handle:
        pair = json.load(handle)["pairs"][0]
    assert pair["unreadable_on_both_sides"] == ["fifo.jpg"]
    assert pair["verdict"] == "incomplete"


def _dumped(report):
    """The report as the JSON report holds it: what ``safe_strings`` may check instead."""
    from edgeparity.report.write import json_numbers

    return json.dumps(json_numbers(report), default=str)


@pytest.mark.parametrize("given_json", [False, True], ids=["own-check", "json-report-text"])
@pytest.mark.parametrize("name", ["a\x1b]0;x\x07.jpg", "b\x85.jpg", "c\udcff.jpg", "d\n.jpg",
                                  "e\x7f.jpg", "f\\\x01.jpg", "g\t.jpg", "h\x9f.jpg",
                                  "i\b.jpg", "j\f.jpg", "k\r.jpg", "l\x00.jpg", "m\ud800.jpg",
                                  "n\udbff.jpg", "o\x1f.jpg"])
def test_safe_strings_escapes_every_unprintable_name_wherever_it_sits(name, given_json):
    from edgeparity.report.words import safe_strings
    from edgeparity.text import printable

    report = {"pairs": [{"images": [{"image": name, "n": 1.5}]}], name: [name, 2]}
    shown = safe_strings(report, ascii_json=_dumped(report) if given_json else None)
    assert shown["pairs"][0]["images"][0]["image"] == printable(name) != name
    assert shown[printable(name)] == [printable(name), 2]


@pytest.mark.parametrize("given_json", [False, True], ids=["own-check", "json-report-text"])
def test_safe_strings_returns_a_clean_report_as_it_is(given_json):
    from edgeparity.report.words import safe_strings

    # Escaped backslashes followed by what looks like an escape are no escape.
    report = {"pairs": [{"image": "写真 \\ \"quoted\" \\u0001 \\n \u2028.jpg",
                         "inf": float("inf")}]}
    assert safe_strings(report, ascii_json=_dumped(report) if given_json else None) is report


@pytest.mark.parametrize("given_json", [False, True], ids=["own-check", "json-report-text"])
def test_safe_strings_keeps_names_outside_the_basic_plane(given_json):
    # JSON writes them as surrogate pairs: a false alarm at most, never a changed name.
    from edgeparity.report.words import safe_strings

    report = {"pairs": [{"image": "\U0001f600 \U00020000.jpg"}]}
    assert safe_strings(report, ascii_json=_dumped(report) if given_json else None) == report


def test_safe_strings_checks_for_itself_when_the_json_text_is_not_ascii():
    # Only ASCII JSON shows every control character as an escape; other text is not trusted.
    from edgeparity.report.words import safe_strings
    from edgeparity.text import printable

    report = {"image": "b\x85.jpg"}
    shown = safe_strings(report, ascii_json=json.dumps(report, ensure_ascii=False))
    assert shown == {"image": printable("b\x85.jpg")}


def test_safe_strings_escapes_names_in_tuples_and_odd_values():
    """Strings inside tuples are escaped too (they were returned as they were); a value that
    is neither text, a number, a bool nor None has the report rebuilt, never trusted."""
    from edgeparity.report.words import safe_strings
    from edgeparity.text import printable

    name = "a\x1b]0;x\x07.jpg"
    shown = safe_strings({"pairs": [{"names": (name, "ok"), "n": 2}], "k": [None, True, 1.5]})
    assert shown["pairs"][0]["names"] == (printable(name), "ok")
    odd = {"pairs": [{"value": object()}]}
    assert safe_strings(odd) is not odd and safe_strings(odd) == odd
    clean = {"pairs": [{"names": ("\u00a0no-break \u2028 separator", 1)}], "x": [None, False]}
    assert safe_strings(clean) is clean
