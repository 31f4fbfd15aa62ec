"""Copy a built site and put back, on purpose, one defect of each kind test_browser.py checks.

    python tests/site/break_site.py _build/html /tmp/broken-site
    SITE_DIR=/tmp/broken-site SCREENSHOT_DIR=/tmp/broken-shots pytest tests/site/test_browser.py

Every test of test_browser.py (but test_pages_found and test_screenshots_saved) must then
fail, naming the page and item listed below; `--compare` prints which injected defects the
run's report.json shows that a report of the intact site does not:

    python tests/site/break_site.py --compare _build/screenshots/report.json /tmp/broken-shots/report.json

Each defect goes into a different chapter, so the report shows which check caught which one.
A tool for checking the checks by hand; no test imports it.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path

PIPE_TABLE = "<p>| norm | gap |\n|---|---|\n| l1 | 0.5 |</p>"


def _first(pattern, text, what):
    m = re.search(pattern, text, re.S)
    if not m:
        raise SystemExit(f"cannot inject {what}: no match for {pattern!r}")
    return m


def _sub_once(pattern, repl, text, what):
    _first(pattern, text, what)
    return re.sub(pattern, repl, text, count=1, flags=re.S)


def _after_first_paragraph(text, snippet, what):
    m = _first(r'<article[^>]*>.*?</p>', text, what)
    return text[: m.end()] + snippet + text[m.end():]


# name -> (page, what it does, function on the page's HTML); the check that must catch it.
DEFECTS = {
    "mathjax-path": ("book/intro.html", "math: MathJax script points at a missing file",
                     lambda t: _sub_once(r'(<script[^>]+src=")[^"]*mathjax[^"]*(")', r"\1../_static/no-mathjax/tex.js\2", t, "mathjax-path")),
    "cdn": ("book/steepest_descent.html", "external: a script from a CDN",
            lambda t: t.replace("</head>", '<script src="https://cdn.jsdelivr.net/npm/x@1/x.js"></script></head>', 1)),
    "table": ("book/convex_rate.html", "markup: a table shown as pipe text",
              lambda t: _sub_once(r"<table.*?</table>", PIPE_TABLE, t, "table")),
    "fence": ("book/adamw.html", "markup: a literal directive fence",
              lambda t: _after_first_paragraph(t, '<p>```{prf:proof} (of <code class="docutils literal notranslate">'
                                                  '<span class="pre">{prf:ref}</span></code>)</p>', "fence")),
    "raw-tex": ("book/kkt_points.html", "rawtex: TeX in the page title",
                lambda t: _sub_once(r"<title>", r"<title>\\ell_\\infty ", t, "title")),
    "bare-ref": ("book/nsd_is_frank_wolfe.html", "refs: a reference reading just 'Lemma'",
                 lambda t: _after_first_paragraph(t, '<p>By <a class="reference internal" href="#">Lemma</a>.</p>', "bare-ref")),
    "fig-size": ("book/synthetic_quadratic.html", "images: a figure at a quarter of its size",
                 lambda t: _sub_once(r"<img ", '<img style="width:25%" ', t, "fig-size")),
    "alt": ("book/ptb_experiment.html", "images: a file name as alt text",
            lambda t: _sub_once(r'<img alt="[^"]*"', '<img alt="figure.png"', t, "alt")),
    "wide": ("book/adam_update_bounds.html", "overflow: an element 900 px wide",
             lambda t: _after_first_paragraph(t, '<div style="width:900px">a long unbreakable line</div>', "wide")),
    "equation": ("book/api.html", "equations: a display equation far wider than the column",
                 lambda t: _after_first_paragraph(t, '<div class="math notranslate nohighlight">\\[' + '+'.join(
                     f"x_{{{i}}}^2" for i in range(60)) + '\\]</div>', "equation")),
    "console": ("book/bibliography.html", "console: a script error",
                lambda t: t.replace("</body>", "<script>undefinedFunctionOfTheBook()</script></body>", 1)),
    "anchor": ("book/intro.html", "links: a link to a missing anchor and a missing page",
               lambda t: _after_first_paragraph(t, '<p><a href="steepest_descent.html#no-such-anchor">x</a> '
                                                   '<a href="no_such_page.html">y</a></p>', "anchor")),
}


def break_site(src: Path, dst: Path) -> None:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    for name, (page, what, edit) in DEFECTS.items():
        path = dst / page
        path.write_text(edit(path.read_text()))
        print(f"{name:13s} {page:32s} {what}")


def compare(intact: Path, broken: Path) -> int:
    """Print, per check, the items in the broken site's report that the intact one lacks."""
    a = json.loads(intact.read_text())["failures"]
    b = json.loads(broken.read_text())["failures"]
    key = lambda d: (d["page"], d["width"] or 0, d["item"])  # noqa: E731
    for kind, entry in sorted(b.items()):
        new = sorted({key(d) for d in entry["items"]} - {key(d) for d in a.get(kind, {}).get("items", [])})
        print(f"{kind}: {len(new)} new")
        for page, width, item in new[:8]:
            print(f"    {page} @{width}: {item[:150]}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--compare"]:
        sys.exit(compare(Path(sys.argv[2]), Path(sys.argv[3])))
    break_site(Path(sys.argv[1]), Path(sys.argv[2]))
