"""The built site as a reader sees it: every page in a real Chromium, offline, at two widths.

One session fixture serves the site on 127.0.0.1, loads every page at 1280 px and 390 px
(a desktop and a phone), waits for MathJax, inspects the rendered page and saves a full-page
screenshot of every chapter. Each test below then asserts one kind of defect over all pages,
so a failing run lists every page, width and offending item of that kind at once.
``report.json`` beside the screenshots holds the counts per kind and page.

Run it after the book is built: ``pytest tests/site`` (see tests/site/conftest.py for
SITE_DIR, SCREENSHOT_DIR, CHROMIUM and IMPLICIT_BIAS_SKIP_BROWSER).
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest

# With pytest-xdist, `--dist loadgroup` keeps these tests on one worker; under any other mode
# the crawl still runs once (see the `crawl` fixture).
pytestmark = pytest.mark.xdist_group("browser")

WIDTHS = (1280, 390)
HEIGHT = 900
CONCURRENCY = 2  # pages open at once: one per core of the 2-core machines
NAV_TIMEOUT_MS = 120_000  # per load and per screenshot: generous, a busy 2-core machine is slow
MATHJAX_TIMEOUT_MS = 120_000
MIN_DISPLAY_RATIO = 0.5  # an image shown below half its natural width cannot be read
MAX_EXAMPLES = 5  # items quoted per page and check in a failure message

# Pages served but not loaded, with the reason.
EXCLUDED_PAGES = {
    "search.html": "empty until a query is typed; the titles its results show are checked "
    "in searchindex.js by test_no_raw_tex",
    "prf-prf.html": "sphinx-proof's Proof Index: no page links to it, and it lists the labels "
    "(lem-2-2, ...) by design",
}

# Flags that work in a container as root, offline; playwright adds --headless and a fresh,
# empty temporary user-data-dir itself (it refuses --user-data-dir in args).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Offline: no host but 127.0.0.1 resolves. Requests are still *recorded* (page "request"
    # events fire before resolution), so test_no_external_requests names each one.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]

KINDS = {
    "external": "request to another host",
    "math": "math not typeset or MathJax error",
    "rawtex": "raw TeX outside math",
    "markup": "pipe table or literal directive/role markup",
    "refs": "reference without its number",
    "images": "image not loaded, bad alt text, or shrunk below half size",
    "overflow": "page wider than the viewport",
    "equations": "formula wider than its box (display: scrolls sideways or is cut off; "
                 "inline: runs past the right edge of its paragraph)",
    "console": "console error or page error",
    "links": "broken internal link, anchor or resource",
    "interactive": "interactive figure: not rendered, wrong first paint, control that changes "
                   "nothing, or wider than the viewport",
}

# An interactive figure's page (implicit_bias.interactive) may add this much HTML beyond BokehJS.
MAX_FIGURE_BYTES = 100_000
# Chapters that must embed at least one interactive figure (issue 22).
FIGURE_PAGES = ("book/adam_update_bounds.html", "book/adamw.html", "book/nsd_is_frank_wolfe.html",
                "book/check_your_run.html")

# Every interactive figure on the page: wait for BokehJS to render it, then return its controls'
# values, its data sources and the right edge of everything it drew (through shadow roots).
FIGURE_STATE_JS = r"""
async () => {
  const roots = [...document.querySelectorAll('.ib-interactive')];
  const t0 = performance.now();
  while (!(window.Bokeh && Bokeh.documents && Bokeh.documents.length >= roots.length &&
           roots.every(r => r.querySelector('[data-root-id]') && r.querySelector('[data-root-id]').children.length))) {
    if (performance.now() - t0 > 30000) return {error: 'BokehJS did not render ' + roots.length + ' figure(s)'};
    await new Promise(r => setTimeout(r, 100));
  }
  const right = el => {  // the largest right edge under el, shadow roots included
    let max = el.getBoundingClientRect().right;
    const kids = [...el.children, ...(el.shadowRoot ? el.shadowRoot.children : [])];
    for (const k of kids) if (k.getBoundingClientRect().width > 0) max = Math.max(max, right(k));
    return max;
  };
  return {figures: roots.map(root => {
    const id = root.querySelector('[data-root-id]').getAttribute('data-root-id');
    const doc = Bokeh.documents.find(d => d.roots().some(m => m.id === id));
    if (!doc) return {name: root.dataset.figure, error: 'no Bokeh document for root ' + id};
    const controls = {}, data = {};
    for (const m of doc.all_models) {
      if (m.title !== undefined && m.step !== undefined && m.value !== undefined) controls[m.title] = m.value;
      else if (m.labels !== undefined && m.active !== undefined) controls['norm'] = m.labels[m.active];
      else if (m.label !== undefined && typeof m.active === 'boolean') controls[m.label] = m.active;
      if (m.data !== undefined && m.name)
        data[m.name] = Object.fromEntries(Object.entries(m.data).map(([k, v]) => [k, Array.from(v)]));
    }
    return {name: root.dataset.figure, defaults: JSON.parse(root.dataset.defaults), controls, data,
            right: right(root), scroll: root.scrollWidth - root.clientWidth};
  })};
}
"""


def _data_differs(a: dict, b: dict, tol: float = 0.0) -> bool:
    """Whether two snapshots of a figure's data sources differ (beyond ``tol``, relative)."""
    if a.keys() != b.keys():
        return True
    for name in a:
        if a[name].keys() != b[name].keys():
            return True
        for col in a[name]:
            x, y = a[name][col], b[name][col]
            if len(x) != len(y):
                return True
            for u, v in zip(x, y):
                if u is None or v is None:
                    if u is not v:
                        return True
                elif abs(u - v) > tol * max(1.0, abs(v)):
                    return True
    return False


async def _figure_after(page, i: int, before: dict, timeout_s: float = 5.0) -> dict:
    """Figure ``i``'s state once its controls differ from ``before`` (the callback that redraws
    the data runs on that change), or as it stands after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        state = (await page.evaluate(FIGURE_STATE_JS))["figures"][i]
        if state["controls"] != before["controls"] or time.monotonic() > deadline:
            return state
        await page.wait_for_timeout(50)


async def check_figures(page, crawl: Crawl, page_rel: str, width: int) -> None:
    """Each figure: first paint at its stated defaults, fits the viewport, every control changes
    the plotted data, and moving it back restores the first paint (so the first paint, computed
    by the package, is what the browser's ibmath.js computes at the defaults)."""
    def fail(name, item):
        crawl.add("interactive", page_rel, width, f"{name}: {item}")

    state = await page.evaluate(FIGURE_STATE_JS)
    if "error" in state:
        return fail("page", state["error"])
    crawl.figures[f"{page_rel}@{width}"] = [f.get("name") for f in state["figures"]]
    for i, fig in enumerate(state["figures"]):
        name = fig["name"]
        if "error" in fig:
            fail(name, fig["error"])
            continue
        for key, value in fig["defaults"].items():
            shown = fig["controls"].get(key)
            if shown is None or (shown != value if isinstance(value, (str, bool)) else abs(shown - value) > 1e-9):
                fail(name, f"first paint shows {key} = {shown!r}, the prose's default is {value!r}")
        if fig["right"] > width + 0.5 or fig["scroll"] > 0:
            fail(name, f"drawn up to {fig['right']:.0f} px (viewport {width}), scrolls {fig['scroll']} px")
        root = page.locator(".ib-interactive").nth(i)
        moves = [(f"slider {k}", root.locator(".noUi-handle").nth(k))
                 for k in range(await root.locator(".noUi-handle").count())]
        moves += [(f"radio {k}", root.locator("input[type=radio]").nth(k))
                  for k in range(await root.locator("input[type=radio]").count())]
        moves += [(f"checkbox {k}", root.locator("input[type=checkbox]").nth(k))
                  for k in range(await root.locator("input[type=checkbox]").count())]
        if not moves:
            fail(name, "no controls found")
        for label, control in moves:
            before = (await page.evaluate(FIGURE_STATE_JS))["figures"][i]
            if label.startswith("slider"):
                await control.focus()
                key, back = "ArrowRight", "ArrowLeft"
                await page.keyboard.press(key)
                moved = await _figure_after(page, i, before, timeout_s=1.0)
                if moved["controls"] == before["controls"]:  # at the end of its range
                    key, back = back, key
                    await page.keyboard.press(key)
                    moved = await _figure_after(page, i, before)
            else:
                if label.startswith("radio") and await control.is_checked():
                    continue  # the checked radio: choosing it again changes nothing
                checked = await root.locator("input[type=radio]:checked").element_handle() \
                    if label.startswith("radio") else None
                await control.click()
                moved = await _figure_after(page, i, before)
            if moved["controls"] == before["controls"]:
                fail(name, f"{label}: the keyboard/click did not change its value")
                continue
            if not _data_differs(moved["data"], before["data"]):
                fail(name, f"{label}: moving it changed no plotted data ({moved['controls']})")
            if label.startswith("slider"):
                await page.keyboard.press(back)
            elif checked is not None:
                await checked.click()
            else:
                await control.click()
            after = await _figure_after(page, i, moved)
            if _data_differs(after["data"], before["data"], tol=1e-9):
                fail(name, f"{label}: moved back, the data differs from the first paint "
                           "(ibmath.js disagrees with the package at the defaults?)")

# A TeX command, a sub/superscript group, or a $...$ pair outside MathJax.
RAW_TEX = r"\\[A-Za-z]{2,}|[_^]\{|\$[^$\s][^$]*\$"
KIND_WORDS = (
    "lemma|theorem|definition|corollary|remark|proposition|figure|fig|table|equation|eq|"
    "algorithm|assumption|example|section|chapter|appendix|proof"
)
LABEL_PREFIXES = "thm|lem|def|prop|cor|alg|eq|fig|tbl|tab|ch|asm|rem|sec|app|prf|ex"

# Runs in the page after MathJax has finished; returns lists of offending items per kind.
INSPECT_JS = r"""
({rawTex, kindWords, labelPrefixes, minRatio}) => {
  const out = {math: [], rawtex: [], markup: [], refs: [], images: [], overflow: [], equations: [], links: []};
  const RAW = new RegExp(rawTex);
  const KIND = new RegExp('^(' + kindWords + ')s?\\.?$', 'i');
  const LABEL_IN_TEXT = new RegExp('\\((' + labelPrefixes + ')-[\\w.-]+\\)');  // "(eq-kkt-residual)"
  const LABEL = new RegExp('^\\(?(' + labelPrefixes + ')-[\\w.-]+\\)?$');  // kebab-case labels (STYLE §3)
  const CODE = 'pre, code, kbd, samp, script, style, noscript, textarea, template';
  const MATHY = 'mjx-container, mjx-assistive-mml, svg, math, .math';
  const short = s => { s = s.replace(/\s+/g, ' ').trim(); return s.length > 100 ? s.slice(0, 97) + '...' : s; };
  // text without its math (typeset math reads as its MathML characters, e.g. '|x|')
  const plainText = a => {
    const copy = a.cloneNode(true);
    copy.querySelectorAll(MATHY).forEach(m => m.remove());
    return copy.textContent.replace(/\s+/g, ' ').trim();
  };
  // the text around a match, so the offending part is always shown
  const around = (text, re) => {
    text = text.replace(/\s+/g, ' ');
    const m = text.match(re);
    if (!m) return short(text);
    const from = Math.max(0, m.index - 40), to = Math.min(text.length, m.index + m[0].length + 50);
    return (from > 0 ? '...' : '') + text.slice(from, to).trim() + (to < text.length ? '...' : '');
  };
  const visible = el => el.checkVisibility({checkVisibilityCSS: true});

  // -- math: .math elements MathJax did not typeset, MathJax errors, leftover delimiters
  const untypeset = [...document.querySelectorAll('.math')].filter(e => !e.querySelector('mjx-container'));
  for (const e of untypeset) out.math.push('not typeset: ' + short(e.textContent));
  for (const e of document.querySelectorAll('mjx-math mjx-merror, mjx-math [data-mjx-error]'))
    out.math.push('MathJax error: ' + short(e.getAttribute('data-mjx-error') || e.textContent));
  // an undefined macro is typeset as its name in red (MathJax's noundefined extension)
  for (const e of document.querySelectorAll('mjx-assistive-mml mtext[mathcolor="red"]'))
    out.math.push('undefined macro: ' + short(e.textContent));

  // -- visible text nodes outside code blocks and math
  const FENCE = /`{3,}\s*\{[\w:-]+\}|\{(prf:[a-z]+|ref|numref|eq|doc|cite[a-z:]*|glue[a-z:]*|code-cell|admonition|figure|list-table|toctree|eval-rst|math)\}`/;
  const DELIM = /\\\(|\\\[|\$\$/;
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const el = n.parentElement;
    if (!el || !n.nodeValue.trim()) continue;
    if (el.closest('pre, script, style, noscript, textarea, template') || el.closest(MATHY) || !visible(el)) continue;
    texts.push([n.nodeValue, el]);
  }
  // pipe tables: a paragraph that starts with '|', or a '|---' row anywhere
  const pipeBlocks = new Set();
  const addPipe = block => {
    if (pipeBlocks.has(block)) return;
    pipeBlocks.add(block);
    out.markup.push('pipe table: ' + short(block.innerText));
  };
  for (const p of document.querySelectorAll('p'))
    if (!p.closest(CODE) && visible(p) && /^\|/.test(plainText(p))) addPipe(p);
  for (const [text, el] of texts)
    if (!el.closest(CODE) && /\|\s*:?-{3,}/.test(text))
      addPipe(el.closest('p, li, dd, dt, td, th, div, h1, h2, h3, h4, h5, h6') || el);
  const inPipe = el => [...pipeBlocks].some(b => b.contains(el));
  for (const [text, el] of texts) {
    // A directive fence or MyST role left as text (inline code too: a broken fence shows as
    // inline code spans).
    if (FENCE.test(text)) out.markup.push('literal markup: ' + around(text, FENCE));
    if (el.closest(CODE) || inPipe(el)) continue;  // a pipe table's TeX is reported with the table
    const delim = text.match(DELIM);
    if (delim) out.math.push('delimiter ' + delim[0] + ' in text: ' + around(text, DELIM));
    else if (RAW.test(text) && !el.closest('a')) out.rawtex.push('in text: ' + around(text, RAW));  // links: below
    if (!el.closest('a') && LABEL_IN_TEXT.test(text)) out.refs.push('raw label in text: ' + around(text, LABEL_IN_TEXT));
  }

  // -- raw TeX where MathJax never runs: the title, link texts (sidebar too), tooltips.
  // References in the content are checked below (with their numbers); math in a link is fine.
  const NAV = 'nav, .bd-sidebar-primary, .bd-sidebar-secondary, .bd-header, .header-article, .prev-next-area, .bd-footer';
  const isContentRef = a => {
    try { return new URL(a.getAttribute('href'), location.href).origin === location.origin && !a.closest(NAV); }
    catch (e) { return false; }
  };
  if (RAW.test(document.title)) out.rawtex.push('<title>: ' + around(document.title, RAW));
  const seenLinks = new Set();
  for (const a of document.querySelectorAll('a')) {
    if (a.closest(MATHY) || (a.hasAttribute('href') && isContentRef(a))) continue;
    const text = plainText(a);
    if (text && RAW.test(text) && !seenLinks.has(text)) {
      seenLinks.add(text);
      out.rawtex.push('link text: ' + around(text, RAW));
    }
  }
  for (const e of document.querySelectorAll('[title]')) {
    if (e.closest(MATHY)) continue;  // MathJax's own error tooltips are reported with the math
    const t = e.getAttribute('title');
    if (t && RAW.test(t)) out.rawtex.push('tooltip: ' + around(t, RAW));
  }

  // -- references without their number, and every internal link for the link check
  const links = new Map();
  for (const a of document.querySelectorAll('a[href]')) {
    let url;
    try { url = new URL(a.getAttribute('href'), location.href); } catch (e) { continue; }
    if (url.origin !== location.origin) continue;
    const text = plainText(a);
    if (!links.has(url.href)) links.set(url.href, text);
    if (a.closest(NAV)) continue;
    if (KIND.test(text)) out.refs.push('bare "' + text + '" -> ' + url.hash);
    else if (LABEL.test(text)) out.refs.push('raw label "' + text + '" -> ' + url.hash);
    else if (RAW.test(text)) out.refs.push('TeX in reference "' + around(text, RAW) + '"');
  }
  out.links = [...links].map(([href, text]) => ({href, text}));
  // a label shown as inline code where a reference was meant ("book label `lem-2-2`")
  for (const c of document.querySelectorAll('code')) {
    if (c.closest('pre, a') || !visible(c)) continue;
    const text = c.textContent.trim();
    if (LABEL.test(text)) out.refs.push('label as code "' + text + '" (not a link)');
  }

  // -- images
  for (const img of document.images) {
    const src = img.currentSrc || img.src;
    const file = decodeURIComponent(src.split(/[?#]/)[0].split('/').pop());
    const stem = file.replace(/\.[^.]*$/, '');
    if (!img.complete || img.naturalWidth === 0) { out.images.push('not loaded: ' + file); continue; }
    if (!visible(img)) continue;
    const alt = (img.getAttribute('alt') || '').trim();
    if (!alt) out.images.push('no alt text: ' + file);
    else if (alt === file || alt === stem || /\.(png|jpe?g|gif|svg|webp)$/i.test(alt))
      out.images.push('file name as alt text "' + short(alt) + '": ' + file);
    const shown = img.getBoundingClientRect().width;
    if (shown < minRatio * img.naturalWidth)
      out.images.push(`shown at ${Math.round(shown)} px of ${img.naturalWidth} px natural: ${file}`);
  }

  // -- display equations wider than their box (they scroll sideways, or are cut off)
  const texOf = c => {
    try { return MathJax.startup.document.getMathItemsWithin(c)[0].math; } catch (e) { return c.textContent; }
  };
  for (const box of document.querySelectorAll('div.math')) {
    const c = box.querySelector('mjx-container'), m = c && c.querySelector('mjx-math');
    if (!m || !visible(box)) continue;
    const over = m.getBoundingClientRect().width - box.clientWidth;
    if (over > 2) out.equations.push(`+${Math.round(over)} px: ` + short(texOf(c)));
  }

  // -- inline formulas running past the right edge of their paragraph (MathJax does not break
  //    inline math, so a long one is cut off on a phone); skipped inside boxes that scroll
  for (const c of document.querySelectorAll('mjx-container:not([display="true"])')) {
    if (!visible(c) || c.closest('div.math')) continue;
    let scrolls = false;
    for (let p = c.parentElement; p && p !== document.body; p = p.parentElement) {
      const ox = getComputedStyle(p).overflowX;
      if (ox === 'auto' || ox === 'scroll') { scrolls = true; break; }
    }
    if (scrolls) continue;
    let block = c.parentElement;
    while (block && getComputedStyle(block).display.startsWith('inline')) block = block.parentElement;
    if (!block) continue;
    const over = c.getBoundingClientRect().right - block.getBoundingClientRect().right;
    if (over > 2) out.equations.push(`inline, +${Math.round(over)} px: ` + short(texOf(c)));
  }

  // -- sideways scrolling: the page, and the outermost elements that stick out
  const W = window.innerWidth, SW = document.documentElement.scrollWidth;
  if (SW > W) {
    const clipped = e => {  // inside a scrolling/clipping box, or fixed: not the page's overflow
      for (let p = e; p && p !== document.documentElement; p = p.parentElement) {
        const st = getComputedStyle(p);
        if (st.position === 'fixed' || (p !== e && st.overflowX !== 'visible')) return true;
      }
      return false;
    };
    const culprits = [...document.body.querySelectorAll('*')].filter(e => {
      const r = e.getBoundingClientRect();
      if (r.width === 0 || r.right <= W + 0.5 || !visible(e)) return false;
      const pr = e.parentElement.getBoundingClientRect();
      return pr.right <= W + 0.5 && !clipped(e);
    });
    const describe = e => e.tagName.toLowerCase() + (e.className && typeof e.className === 'string'
      ? '.' + e.className.trim().split(/\s+/).slice(0, 2).join('.') : '') + ' "' + short(e.textContent).slice(0, 50) + '"';
    out.overflow.push(`scrollWidth ${SW} > ${W} (+${SW - W} px)` +
      (culprits.length ? '; sticking out: ' + culprits.slice(0, 3).map(describe).join('; ') : ''));
  }
  return out;
}
"""

WAIT_MATHJAX_JS = r"""
async (timeoutMs) => {
  const hasMath = !!document.querySelector('.math, mjx-container');
  const hasScript = [...document.scripts].some(s => /mathjax/i.test(s.src));
  if (!hasMath && !hasScript) return 'none';
  const t0 = performance.now();
  while (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) {
    if (performance.now() - t0 > 2000) return hasMath ? 'MathJax did not load' : 'none';
    await new Promise(r => setTimeout(r, 50));
  }
  let timer;
  const late = new Promise(r => { timer = setTimeout(() => r('MathJax timed out'), timeoutMs); });
  const result = await Promise.race([
    MathJax.startup.promise.then(() => 'done', e => 'MathJax failed: ' + e), late]);
  clearTimeout(timer);
  if (result === 'done' && document.fonts) await document.fonts.ready;
  return result;
}
"""


@dataclass
class Crawl:
    """What the crawl found: failures[kind] = [(page, width or None, item)], and more."""

    pages: list[str]
    failures: dict = field(default_factory=lambda: defaultdict(list))
    screenshots: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    page_seconds: dict = field(default_factory=dict)
    page_phases: dict = field(default_factory=dict)
    figures: dict = field(default_factory=dict)  # "page@width" -> names of the figures checked

    def add(self, kind, page, width, item):
        self.failures[kind].append((page, width, item))

    def report(self, kind) -> str:
        """Per page: how many at each width, then the first few items, each with its widths."""
        per_page = defaultdict(dict)  # page -> {item: [widths]}
        for page, width, item in self.failures[kind]:
            per_page[page].setdefault(item, []).append(width)
        lines = [f"{len(self.failures[kind])} x {KINDS[kind]} on {len(per_page)} page(s):"]
        for page in sorted(per_page):
            items = per_page[page]
            per_width = defaultdict(int)
            for widths in items.values():
                for w in widths:
                    per_width[w] += 1
            order = sorted(per_width, key=lambda w: -(w or 0))
            counts = ", ".join(f"{per_width[w]} at {w}px" if w else f"{per_width[w]} in its links" for w in order)
            lines.append(f"  {page}: {counts}")
            for item, widths in list(items.items())[:MAX_EXAMPLES]:
                distinct = sorted({w for w in widths if w}, reverse=True)
                at = f"[{'/'.join(map(str, distinct))}] " if distinct else ""
                times = f" (x{len(widths) // max(len(distinct), 1)})" if len(widths) > max(len(distinct), 1) else ""
                lines.append(f"      {at}{item}{times}")
            if len(items) > MAX_EXAMPLES:
                lines.append(f"      ... and {len(items) - MAX_EXAMPLES} more")
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps({"pages": self.pages, "failures": self.failures, "seconds": self.seconds,
                           "screenshots": [str(p) for p in self.screenshots],
                           "figures": self.figures})

    @classmethod
    def from_json(cls, text: str) -> Crawl:
        data = json.loads(text)
        crawl = cls(pages=data["pages"], seconds=data["seconds"],
                    screenshots=[Path(p) for p in data["screenshots"]], figures=data["figures"])
        for kind, items in data["failures"].items():
            crawl.failures[kind] = [tuple(item) for item in items]
        return crawl

    def counts(self) -> dict:
        table = {}
        for kind, items in self.failures.items():
            per_page = defaultdict(int)
            for page, width, _ in items:
                per_page[f"{page}@{width}" if width else page] += 1
            table[kind] = {
                "total": len(items),
                "per_page": dict(sorted(per_page.items())),
                "items": [{"page": p, "width": w, "item": i} for p, w, i in items],
            }
        return table


def discover_pages(site_dir: Path) -> list[str]:
    pages = sorted(p.relative_to(site_dir).as_posix() for p in site_dir.glob("*.html"))
    pages += sorted(p.relative_to(site_dir).as_posix() for p in site_dir.glob("book/*.html"))
    return [p for p in pages if p not in EXCLUDED_PAGES]


def is_chapter(page: str) -> bool:
    return page.startswith("book/")


def redirect_target(path: Path) -> str | None:
    """The target of a <meta http-equiv="refresh"> page (Jupyter Book's root index.html)."""
    m = re.search(r'<meta[^>]+http-equiv="refresh"[^>]+content="\d+;\s*url=([^"]+)"', path.read_text(errors="replace"), re.I)
    return html.unescape(m.group(1)) if m else None


_ids_cache: dict[Path, set[str]] = {}


def ids_of(path: Path) -> set[str]:
    if path not in _ids_cache:
        text = path.read_text(errors="replace")
        _ids_cache[path] = {html.unescape(m) for m in re.findall(r'\b(?:id|name)="([^"]*)"', text)}
    return _ids_cache[path]


def check_link(site_dir: Path, base: str, href: str) -> str | None:
    """None if an internal href resolves to a file (and its #fragment to an id), else why not."""
    parts = urlsplit(href)
    rel = unquote(parts.path[len(urlsplit(base).path):]) if parts.path.startswith(urlsplit(base).path) else None
    if rel is None:
        return f"outside the site: {href}"
    target = site_dir / rel
    if rel == "" or rel.endswith("/") or target.is_dir():
        target = target / "index.html"
    if not target.is_file():
        return f"missing file: {rel or '/'}"
    fragment = unquote(parts.fragment)
    if fragment and target.suffix == ".html" and fragment not in ids_of(target):
        return f"missing anchor: {rel}#{fragment}"
    return None


def searchindex_titles(site_dir: Path) -> list[str]:
    path = site_dir / "searchindex.js"
    if not path.is_file():
        return []
    m = re.search(r'"titles"\s*:\s*(\[.*?\])\s*[,}]', path.read_text(errors="replace"), re.S)
    try:
        return json.loads(m.group(1)) if m else []
    except json.JSONDecodeError:
        return []


async def visit(browser, crawl: Crawl, site_dir, base, page_rel, width, shots, sem):
    async with sem:
        # A fresh context per page: each page is a reader's first visit (empty storage and
        # cache), and the result does not depend on the order of the pages.
        t0 = time.perf_counter()
        context = await browser.new_context(viewport={"width": width, "height": HEIGHT})
        page = await context.new_page()
        host = urlsplit(base).netloc

        def on_request(request):
            parts = urlsplit(request.url)
            if parts.scheme in ("http", "https", "ws", "wss") and parts.netloc != host:
                crawl.add("external", page_rel, width, request.url)

        def on_response(response):
            if urlsplit(response.url).netloc == host and response.status >= 400:
                crawl.add("links", page_rel, width, f"HTTP {response.status}: {response.url[len(base):]}")

        def on_console(msg):
            if msg.type == "error":
                url = (msg.location or {}).get("url", "")
                if "ERR_NAME_NOT_RESOLVED" in msg.text and url and urlsplit(url).netloc != host:
                    return  # a blocked external request: reported under "external"
                if "Failed to load resource" in msg.text and urlsplit(url).netloc == host:
                    return  # a local 404: reported under "links" with its URL
                crawl.add("console", page_rel, width, f"console: {msg.text[:300]}")

        page.on("request", on_request)
        page.on("response", on_response)
        page.on("console", on_console)
        page.on("pageerror", lambda err: crawl.add("console", page_rel, width, f"page error: {str(err)[:300]}"))
        try:
            phases = {}

            def lap(name, start=[t0]):  # noqa: B006 - a running clock
                now = time.perf_counter()
                phases[name] = round(now - start[0], 2)
                start[0] = now

            await page.goto(base + page_rel, wait_until="load", timeout=NAV_TIMEOUT_MS)
            lap("load")
            state = await page.evaluate(WAIT_MATHJAX_JS, MATHJAX_TIMEOUT_MS)
            lap("mathjax")
            if state not in ("done", "none"):
                crawl.add("math", page_rel, width, state)
            found = await page.evaluate(
                INSPECT_JS,
                {"rawTex": RAW_TEX, "kindWords": KIND_WORDS, "labelPrefixes": LABEL_PREFIXES,
                 "minRatio": MIN_DISPLAY_RATIO},
            )
            lap("inspect")
            if await page.locator(".ib-interactive").count():
                await check_figures(page, crawl, page_rel, width)
                lap("figures")
            for kind in ("math", "rawtex", "markup", "refs", "images", "overflow", "equations"):
                for item in found[kind]:
                    crawl.add(kind, page_rel, width, item)
            if width == WIDTHS[0]:  # links do not depend on the width
                for link in found["links"]:
                    why = check_link(site_dir, base, link["href"])
                    if why:
                        crawl.add("links", page_rel, None, f'{why} (link "{link["text"][:60]}")')
            if is_chapter(page_rel):
                shot = shots / f"{Path(page_rel).stem}-{width}.png"
                await page.screenshot(path=str(shot), full_page=True, timeout=NAV_TIMEOUT_MS)
                crawl.screenshots.append(shot)
                lap("screenshot")
            crawl.page_phases[f"{page_rel}@{width}"] = phases
        except Exception as err:  # a page that cannot be loaded or inspected is a failure of its own
            crawl.add("console", page_rel, width, f"could not load/inspect: {type(err).__name__}: {err}"[:400])
        finally:
            await context.close()
            crawl.page_seconds[f"{page_rel}@{width}"] = round(time.perf_counter() - t0, 1)


async def run_crawl(executable, site_dir: Path, base: str, shots: Path) -> Crawl:
    from playwright.async_api import async_playwright

    pages = discover_pages(site_dir)
    crawl = Crawl(pages=pages)
    t0 = time.perf_counter()
    browser_pages = []
    for page_rel in pages:
        target = redirect_target(site_dir / page_rel)
        if target is None:
            browser_pages.append(page_rel)
        else:  # a redirect page has nothing to render: its target must exist
            why = check_link(site_dir, base, urljoin(base + page_rel, target))
            if why:
                crawl.add("links", page_rel, None, f"redirect: {why}")
    for title in searchindex_titles(site_dir):
        if re.search(RAW_TEX, title):
            crawl.add("rawtex", "searchindex.js", None, f"page title in search results: {title}")

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            sem = asyncio.Semaphore(CONCURRENCY)
            await asyncio.gather(*(
                visit(browser, crawl, site_dir, base, page_rel, w, shots, sem)
                for page_rel in browser_pages for w in WIDTHS
            ))
        finally:
            await browser.close()
    crawl.seconds = time.perf_counter() - t0
    return crawl


@pytest.fixture(scope="module")
def crawl(chromium_executable, site_dir, site_url, screenshot_dir, tmp_path_factory) -> Crawl:
    """The crawl, run once per pytest run: under pytest-xdist the first worker to get here runs
    it and the others read its result (whatever the --dist mode spreads these tests over)."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return _crawl_and_report(chromium_executable, site_dir, site_url, screenshot_dir)
    from filelock import FileLock

    shared = tmp_path_factory.getbasetemp().parent / "browser-crawl.json"  # one per xdist run
    with FileLock(str(shared) + ".lock"):
        if shared.is_file():
            return Crawl.from_json(shared.read_text())
        result = _crawl_and_report(chromium_executable, site_dir, site_url, screenshot_dir)
        shared.write_text(result.to_json())
        return result


def _crawl_and_report(chromium_executable, site_dir, site_url, screenshot_dir) -> Crawl:
    for old in screenshot_dir.glob("*.png"):
        old.unlink()
    result = asyncio.run(run_crawl(chromium_executable, site_dir, site_url, screenshot_dir))
    summary = {
        "site": str(site_dir),
        "chromium": chromium_executable,
        "seconds": round(result.seconds, 1),
        "page_seconds": result.page_seconds,
        "page_phases": result.page_phases,
        "pages": result.pages,
        "figures": result.figures,
        "excluded": EXCLUDED_PAGES,
        "failures": result.counts(),
    }
    (screenshot_dir / "report.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False))
    return result


def _assert_none(crawl: Crawl, kind: str):
    if crawl.failures[kind]:
        pytest.fail(crawl.report(kind), pytrace=False)


def test_pages_found(crawl):
    chapters = [p for p in crawl.pages if is_chapter(p)]
    assert chapters, f"no book/*.html pages in the site (pages: {crawl.pages})"


def test_no_external_requests(crawl):
    _assert_none(crawl, "external")


def test_math_typeset(crawl):
    _assert_none(crawl, "math")


def test_no_raw_tex(crawl):
    _assert_none(crawl, "rawtex")


def test_no_pipe_tables_or_literal_markup(crawl):
    _assert_none(crawl, "markup")


def test_references_numbered(crawl):
    _assert_none(crawl, "refs")


def test_images_load_and_read(crawl):
    _assert_none(crawl, "images")


def test_no_sideways_scrolling(crawl):
    _assert_none(crawl, "overflow")


def test_formulas_fit(crawl):
    _assert_none(crawl, "equations")


def test_no_console_errors(crawl):
    _assert_none(crawl, "console")


def test_internal_links_and_anchors(crawl):
    _assert_none(crawl, "links")


def test_screenshots_saved(crawl, screenshot_dir):
    expected = {f"{Path(p).stem}-{w}.png" for p in crawl.pages if is_chapter(p) for w in WIDTHS}
    expected -= {f"{Path(p).stem}-{w}.png" for kind in ("console",) for p, w, item in crawl.failures[kind]
                 if item.startswith("could not load")}
    missing = sorted(name for name in expected if not (screenshot_dir / name).is_file())
    assert not missing, f"screenshots not written to {screenshot_dir}: {missing}"


def test_interactive_figures(crawl):
    """Issue 22: the figure pages embed their figures, and every control works at both widths."""
    missing = [f"{p}@{w}" for p in FIGURE_PAGES for w in WIDTHS
               if p in crawl.pages and not crawl.figures.get(f"{p}@{w}")]
    assert not missing, f"no interactive figure checked on {missing} (checked: {crawl.figures})"
    _assert_none(crawl, "interactive")


def test_figure_page_weight(site_dir):
    """Each interactive figure adds less than MAX_FIGURE_BYTES of HTML to its page; BokehJS is
    served once from _static, only to pages with a figure, in the version that wrote them."""
    import bokeh

    heavy, wrong = [], []
    for page in discover_pages(site_dir):
        text = (site_dir / page).read_text(errors="replace")
        figures = text.count('class="ib-interactive"')
        loads = f"bokeh/bokeh-{bokeh.__version__}.min.js" in text
        if figures != 0 and not loads or figures == 0 and "bokeh/bokeh-" in text:
            wrong.append(f"{page}: {figures} figure(s), BokehJS {bokeh.__version__} loaded: {loads}")
        for chunk in text.split('<div class="ib-interactive"')[1:]:
            size = len(chunk.split('<p class="ib-alt">')[0].encode())
            if size > MAX_FIGURE_BYTES:
                heavy.append(f"{page}: a figure of {size / 1000:.1f} KB")
    assert not wrong, "BokehJS on the wrong pages: " + "; ".join(wrong)
    assert not heavy, f"figures above {MAX_FIGURE_BYTES / 1000:.0f} KB: " + "; ".join(heavy)
    assert re.search(r'<script src="[^"]*bokeh-' + re.escape(bokeh.__version__) + r'\.min\.js[^"]*"></script>',
                     (site_dir / FIGURE_PAGES[0]).read_text()), "BokehJS loaded with defer/async or not at all"
