"""Make the HTML site self-contained and give each chapter its downloads.

* **MathJax offline.** Sphinx's default ``mathjax_path`` is a CDN, so an offline reader sees raw
  TeX. We ship MathJax 3 from the pinned PyPI package ``django-static-mathjax`` (plain files, no
  dependencies): the single-file ``tex-chtml-full.js`` component (all TeX extensions built in, so
  nothing is autoloaded) and its CommonHTML woff fonts, copied into ``_static/mathjax/``;
  ``_config.yml`` points ``mathjax_path`` there.
* **Notebooks.** Each executed chapter notebook that myst-nb wrote to ``jupyter_execute/`` is
  copied next to its Markdown source in ``_sources/``, where sphinx-book-theme's download menu
  links it (``ipynb_source``), so every chapter page offers its ``.ipynb`` and its ``.md``.
* **The book PDF.** ``make pdf`` builds it with Sphinx's LaTeX route and copies it to
  :data:`PDF_NAME` in the site; the download menu links it on every page, next to the browser's
  "print this page".
* **Interactive figures** (``implicit_bias.interactive``). BokehJS (``bokeh.min.js`` and
  ``bokeh-widgets.min.js`` of the installed ``bokeh``, the version that wrote the figures) is copied
  to ``_static/bokeh/`` and loaded, without ``defer``/``async`` (Bokeh's embed script would give
  up), only on the pages whose body holds a figure (``class="ib-interactive"``); a figure written
  by another Bokeh version is a build warning. In the downloadable notebooks such an output keeps
  its static PNG and text alternative only: without BokehJS, JupyterLab would show an empty box.
* **No dead scripts.** sphinx-thebe is pulled in by Jupyter Book although the book has no launch
  buttons; its inline configuration script is registered twice (``const THEBE_JS_URL`` declared
  twice is a console error on every page), and it would fetch thebe from a CDN. Its scripts are
  removed from every page.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from sphinx.util import logging

logger = logging.getLogger(__name__)

#: Where ``make pdf`` puts the book's PDF inside the HTML site (linked from every page).
PDF_NAME = "implicit-bias-adamw.pdf"

# The MathJax component the site loads and what it needs at run time.
_MATHJAX_FILES = ["tex-chtml-full.js"]
_MATHJAX_DIRS = ["output/chtml/fonts/woff-v2"]


def _mathjax_source() -> Path:
    """Folder of the MathJax 3 ES5 build inside the installed ``django-static-mathjax``."""
    try:
        import mathjax  # the import name of django-static-mathjax
    except ImportError as exc:  # pragma: no cover - a missing install is a build error
        raise RuntimeError("MathJax is not installed: run `make book` (it installs "
                           "django-static-mathjax from requirements.txt)") from exc
    return Path(mathjax.__file__).parent / "static" / "mathjax" / "es5"


def copy_mathjax(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    source = _mathjax_source()
    target = Path(app.outdir) / "_static" / "mathjax"
    target.mkdir(parents=True, exist_ok=True)
    for name in _MATHJAX_FILES:
        shutil.copy2(source / name, target / name)
    for name in _MATHJAX_DIRS:
        shutil.copytree(source / name, target / name, dirs_exist_ok=True)


_BOKEH_FILES = ["bokeh.min.js", "bokeh-widgets.min.js"]


def _bokeh():
    import bokeh

    return bokeh.__version__, Path(bokeh.__file__).parent / "server" / "static" / "js"


def _bokeh_static_name(name: str, version: str) -> str:
    return f"bokeh/{name.replace('.min.js', '')}-{version}.min.js"


def copy_bokeh(app, exception) -> None:
    if exception is not None or app.builder.format != "html":
        return
    version, source = _bokeh()
    target = Path(app.outdir) / "_static"
    (target / "bokeh").mkdir(parents=True, exist_ok=True)
    for name in _BOKEH_FILES:
        shutil.copy2(source / name, target / _bokeh_static_name(name, version))


_FIGURE_VERSION = re.compile(r'class="ib-interactive"[^>]*data-bokeh-version="([^"]+)"')


def bokeh_on_figure_pages(app, pagename, templatename, context, doctree) -> None:
    """Load BokehJS, in order and without defer, on the pages that embed a figure."""
    body = context.get("body") or ""
    versions = set(_FIGURE_VERSION.findall(body))
    if not versions:
        return
    version, _ = _bokeh()
    if versions != {version}:
        logger.warning(f"{pagename}: interactive figure written by Bokeh {sorted(versions)}, but the "
                       f"site serves BokehJS {version}: rebuild with the pinned bokeh")
    for priority, name in enumerate(_BOKEH_FILES):
        app.add_js_file(_bokeh_static_name(name, version), priority=450 + priority)


def _static_notebook_outputs(path: Path) -> None:
    """Drop ``text/html`` from interactive-figure outputs: the PNG twin and text remain."""
    import json

    nb = json.loads(path.read_text(encoding="utf-8"))
    changed = False
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            if out.get("metadata", {}).get("implicit_bias", {}).get("interactive") and \
                    "text/html" in out.get("data", {}):
                del out["data"]["text/html"]
                changed = True
    if changed:
        path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def copy_notebooks(app, exception) -> None:
    """Copy myst-nb's executed notebooks into ``_sources/`` beside the ``.md`` sources."""
    if exception is not None or app.builder.format != "html":
        return
    executed = Path(app.outdir).parent / "jupyter_execute"
    for docname in _notebook_docnames(app):
        notebook = executed / f"{docname}.ipynb"
        if not notebook.exists():
            logger.warning(f"executed notebook missing for {docname}: {notebook}")
            continue
        target = Path(app.outdir) / "_sources" / f"{docname}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(notebook, target)
        _static_notebook_outputs(target)


def _notebook_docnames(app) -> list[str]:
    """Documents that myst-nb read as notebooks (they have code cells to execute)."""
    return sorted(doc for doc, meta in app.env.metadata.items()
                  if "kernelspec" in meta or "jupytext" in meta)


def page_downloads(app, pagename, templatename, context, doctree) -> None:
    """Runs before sphinx-book-theme builds its header buttons: offer the page's notebook."""
    if pagename in _notebook_docnames(app):
        context["ipynb_source"] = f"{pagename}.ipynb"
    # pydata-sphinx-theme writes `mode = localStorage.mode || default_mode` into every page and
    # logs "Got invalid theme mode" (a console error) on a first visit when default_mode is empty.
    if not context.get("default_mode"):
        context["default_mode"] = "auto"
    # Drop sphinx-thebe's scripts (see the module docstring).
    # In place: sphinx.ext.mathjax appends MathJax to this same list later in this event.
    scripts = context.get("script_files")
    if scripts is not None:
        scripts[:] = [s for s in scripts if not _is_thebe(s)]


def _is_thebe(script) -> bool:
    filename = str(getattr(script, "filename", script) or "")
    body = str(getattr(script, "attributes", {}).get("body", ""))
    return "thebe" in filename or "THEBE" in body


def whole_book_pdf(app, pagename, templatename, context, doctree) -> None:
    """Runs after sphinx-book-theme: link the book's PDF, rename the print button."""
    pathto = context["pathto"]
    for button in context.get("header_buttons", []):
        if button.get("label") != "download-buttons":
            continue
        for item in button["buttons"]:
            if item.get("label") == "download-pdf-button":
                item["text"] = "print page"
                item["tooltip"] = "Print this page (or save it as PDF)"
        button["buttons"].append({
            "type": "link", "url": pathto(PDF_NAME, 1), "text": "book .pdf",
            "tooltip": "The whole book as one PDF", "icon": "fas fa-book",
            "label": "download-book-pdf-button",
        })


def describe_figures(app, doctree, docname) -> None:
    """Every image gets a text alternative: a figure's caption, or the cell's ``image: alt``.

    myst-nb leaves ``alt`` empty, so browsers fall back to the hashed file name. A figure whose
    caption states its claim is described by that caption; an image with neither a caption nor an
    explicit ``alt`` is a build warning (``-W`` makes it an error).
    """
    from docutils import nodes

    for image in doctree.findall(nodes.image):
        if image.get("alt"):
            continue
        figure = image.parent if isinstance(image.parent, nodes.figure) else None
        captions = list(figure.findall(nodes.caption)) if figure is not None else []
        if captions:
            image["alt"] = " ".join(captions[0].astext().split())
        else:
            logger.warning(f"image without a caption or alt text: {image.get('uri')}",
                           location=image)


_BOOK_LABEL = re.compile(r"^(?:(lem|thm|def|cor|rem|alg|exa|ex|prop|conj|ass)|(ch|sec)|(eq))-[a-z0-9][a-z0-9-]*$")


def link_book_labels(app, doctree) -> None:
    """Turn a docstring's ``lem-2-2`` (a book label written as code) into a link to that result.

    Package docstrings name the book's labels so that ``help()`` readers can find the derivation;
    on the API page a label is a reference ("Lemma 2.2", the chapter's title, an equation number),
    and an unknown label fails the build like any broken reference.
    """
    from docutils import nodes
    from sphinx import addnodes

    for literal in list(doctree.findall(nodes.literal)):
        label = literal.astext()
        m = _BOOK_LABEL.match(label)
        if not m or isinstance(literal.parent, (addnodes.pending_xref, nodes.reference)):
            continue
        domain, reftype = (("prf", "ref") if m.group(1) else
                           ("std", "ref") if m.group(2) else ("math", "eq"))
        xref = addnodes.pending_xref("", refdomain=domain, reftype=reftype, reftarget=label,
                                     refexplicit=False, refwarn=True, refdoc=app.env.docname)
        xref += nodes.inline(label, label)
        literal.replace_self(xref)


def setup(app):
    from implicit_bias.interactive import BOKEH_SERVED_ENV

    # the pages serve BokehJS, so the figures' outputs may carry their live HTML; the notebook
    # kernels inherit this variable
    os.environ[BOKEH_SERVED_ENV] = "1"
    app.connect("doctree-read", link_book_labels)
    app.connect("doctree-resolved", describe_figures)
    app.connect("build-finished", copy_mathjax)
    app.connect("build-finished", copy_notebooks)
    app.connect("build-finished", copy_bokeh)
    app.connect("html-page-context", bokeh_on_figure_pages, priority=500)
    app.connect("html-page-context", page_downloads, priority=400)
    app.connect("html-page-context", whole_book_pdf, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
