"""The interactive figures: the browser's maths (ibmath.js, run in Chromium) against the package,
and the figure builders (their outputs, first paints and argument checks).

The JS tests run in the site test's Chromium (the ``chromium_executable`` fixture of
tests/conftest.py: without one they fail, unless IMPLICIT_BIAS_SKIP_BROWSER=1 skips them).
"""

from __future__ import annotations

import base64
import html as html_module
import itertools
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from implicit_bias import bounds, interactive
from implicit_bias.adamw import run_adamw
from implicit_bias.norms import get_norm
from implicit_bias.steepest import frank_wolfe_lrs, run_frank_wolfe, run_nsd_wd

TOL = 1e-12  # float64: both sides do the same operations in the same order
BETAS = [(0.9, 0.999), (0.0, 0.5), (0.99, 0.99), (0.9, 0.95), (0.95, 0.9), (0.5, 0.9999)]
ADAMW_GRID = [  # (betas, weight_decay, lr, eps, bias_correction)
    (b, wd, lr, eps, bc)
    for b, wd, lr, eps, bc in itertools.product(BETAS, (0.5, 1.0, 3.0), (1e-3, 0.03, 0.3),
                                                (0.0, 1e-8, 0.1), (False, True))
    if wd * lr <= 1.0
]
STEPS = 150


@pytest.fixture(scope="module")
def browser(chromium_executable):
    """One headless Chromium for the module (playwright's sync API allows one per thread)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=chromium_executable, headless=True,
                                     args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def js(browser):
    """Evaluate an expression in a blank Chromium page that has loaded ibmath.js."""
    page = browser.new_page()
    page.add_script_tag(content=interactive.LIBRARY)
    # Infinity and NaN do not survive JSON: send them as strings
    page.evaluate("""() => { window.enc = v => Array.isArray(v) ? v.map(enc) :
        (typeof v === 'number' && !isFinite(v) ? String(v) : v); }""")
    yield lambda expr, arg=None: _decode(page.evaluate(f"(a) => enc({expr})", arg))
    page.close()


def _decode(v):
    if isinstance(v, list):
        return [_decode(x) for x in v]
    return float(v) if isinstance(v, str) else v


def _close(js_value, py_value, what):
    a, b = np.asarray(js_value, dtype=float), np.asarray(py_value, dtype=float)
    assert a.shape == b.shape, f"{what}: shapes {a.shape} (JS) != {b.shape} (package)"
    same_special = (np.isnan(a) & np.isnan(b)) | (np.isinf(a) & (a == b))
    finite = np.isfinite(a) & np.isfinite(b)
    assert np.all(same_special | finite), f"{what}: JS {a} vs package {b} (inf/nan differ)"
    err = np.abs(a[finite] - b[finite]) / np.maximum(1.0, np.abs(b[finite]))
    assert err.size == 0 or err.max() <= TOL, (
        f"{what}: ibmath.js differs from the package by {err.max():.3e} > {TOL} (relative)")


def test_adamw_matches_run_adamw(js):
    grad = interactive.quadratic_grad()
    settings = [dict(beta1=b[0], beta2=b[1], weightDecay=wd, lr=lr, eps=eps, biasCorrection=bc)
                for b, wd, lr, eps, bc in ADAMW_GRID]
    out = js("""a.settings.map(o => IB.runAdamW(IB.quadraticGrad(a.H, a.C), [0.3, -0.2],
                new Array(a.steps).fill(o.lr), o))""",
             {"settings": settings, "steps": STEPS, "H": interactive.QUAD_HESSIAN,
              "C": interactive.QUAD_CENTER})
    assert len(out) == len(ADAMW_GRID) > 200, f"AdamW grid ran {len(out)} settings"
    for xs, (b, wd, lr, eps, bc) in zip(out, ADAMW_GRID):
        ref = run_adamw(grad, np.array([0.3, -0.2]), np.full(STEPS, lr), betas=b, eps=eps,
                        weight_decay=wd, bias_correction=bc).xs
        _close(xs, ref, f"AdamW iterates at betas={b}, wd={wd}, lr={lr}, eps={eps}, bc={bc}")


def test_bounds_match_package(js):
    betas = BETAS + [(0.9, 0.81), (0.95, 0.6), (0.3, 0.5)]  # beta1^2 >= beta2: no radius
    out = js("a.map(b => IB.maxUpdateSize(b[0], b[1]))", betas)
    _close(out, [bounds.max_update_size(b) for b in betas], "max_update_size M")
    assert math.isinf(out[len(BETAS)]), "M(0.9, 0.81) should be inf in the browser too"
    grid = [(b, lr, wd, lv) for b in BETAS if b[0] <= b[1]
            for lr, wd, lv in itertools.product((1e-4, 1e-3, 0.01), (0.1, 1.0, 4.0), (0.0, 10.0, 30.0))
            if lr * wd < 1 - b[0]]
    js_k = js("a.map(g => IB.growthConstant(g[0][0], g[0][1], g[1], g[2]))", grid)
    js_cap = js("a.map(g => IB.asymptoticBound(g[0][0], g[0][1], g[1], g[2], g[3]))", grid)
    _close(js_k, [bounds.growth_constant(b, lr, wd) for b, lr, wd, _ in grid], "growth_constant K")
    _close(js_cap, [float(bounds.asymptotic_iterate_bound(b, lr, wd, lv)) for b, lr, wd, lv in grid],
           "asymptotic_iterate_bound (Lemma 4.3)")


def test_steepest_direction_matches_norms(js):
    rng = np.random.default_rng(0)
    gs = [list(g) for g in rng.normal(size=(20, 2)) * 10.0 ** rng.uniform(-3, 3, size=(20, 1))]
    gs += [[0.0, 0.0], [1.0, -1.0], [-2.0, 2.0], [0.0, 3.0], [1e-200, -1e-201], [5.0, 0.0]]
    for name, p in (("l1", 1), ("l2", 2), ("linf", "Infinity")):
        out = js(f"a.map(g => IB.steepestDirection(g, {p}))", gs)
        _close(out, [get_norm(name).steepest_direction(np.array(g)) for g in gs],
               f"steepest direction of {name}")


@pytest.mark.parametrize("norm,p", [("l1", "1"), ("l2", "2"), ("linf", "Infinity")])
def test_nsd_and_frank_wolfe_match_steepest(js, norm, p):
    grad = interactive.quadratic_grad()
    for wd in (0.3, 1.0, 2.5):
        lrs = frank_wolfe_lrs(wd, 120)
        out = js(f"""[IB.runNsdWd(IB.quadraticGrad(a.H, a.C), [0.5, 0.1], IB.frankWolfeLrs(a.wd, 120), a.wd, {p}),
                      IB.runFrankWolfe(IB.quadraticGrad(a.H, a.C), [0.5, 0.1],
                                       IB.frankWolfeLrs(a.wd, 120).map(l => a.wd * l), 1 / a.wd, {p}),
                      IB.frankWolfeLrs(a.wd, 120)]""",
                 {"wd": wd, "H": interactive.QUAD_HESSIAN, "C": interactive.QUAD_CENTER})
        _close(out[2], lrs, f"frank_wolfe_lrs at wd={wd}")
        _close(out[0], run_nsd_wd(grad, np.array([0.5, 0.1]), lrs, weight_decay=wd, norm=norm).xs,
               f"NSD-WD iterates, {norm}, wd={wd}")
        _close(out[1], run_frank_wolfe(grad, np.array([0.5, 0.1]), wd * lrs, radius=1 / wd,
                                       norm=norm).xs, f"Frank-Wolfe iterates, {norm}, wd={wd}")


# ----------------------------------------------------------------------------- the builders
BUILDERS = [interactive.radius_explorer, interactive.adamw_playground, interactive.which_ball]


@pytest.mark.parametrize("builder", BUILDERS)
def test_builder_outputs(builder, monkeypatch):
    monkeypatch.setenv(interactive.BOKEH_SERVED_ENV, "1")  # as on the book's pages
    fig = builder()
    data, meta = fig._repr_mimebundle_()
    assert set(data) == {"text/html", "image/png", "text/plain"}, f"{fig}: mime types {set(data)}"
    assert meta == {"implicit_bias": {"interactive": fig.name}}, f"{fig}: metadata {meta}"
    html = data["text/html"]
    import bokeh

    assert f'data-bokeh-version="{bokeh.__version__}"' in html, f"{fig}: no Bokeh version on its root"
    assert "var IB = (function ()" in html and "runAdamW" in html, (
        f"{fig}: ibmath.js not inlined in its callbacks")
    assert "$" not in fig.alt and "\\beta" not in html and "\\lambda" not in html, (
        f"{fig}: TeX in labels (Bokeh would load a second MathJax)")
    assert "stretch_width" in html, f"{fig}: not sizing_mode='stretch_width'"
    assert len(html) < 60_000, f"{fig}: {len(html)} bytes of HTML (page budget 100 KB)"
    assert base64.b64decode(data["image/png"])[:8] == b"\x89PNG\r\n\x1a\n", f"{fig}: no PNG twin"
    assert html_module.escape(fig.alt) in html and data["text/plain"] == fig.alt, f"{fig}: text alternative missing"
    defaults = json.loads(html_module.unescape(html.split("data-defaults='")[1].split("'")[0]))
    assert defaults == fig.defaults, f"{fig}: data-defaults {defaults} != {fig.defaults}"


def test_outside_the_book_the_output_is_static_and_save_html_is_live(tmp_path, monkeypatch):
    """A notebook or script has no BokehJS: its output is the PNG and the text (never an empty
    Bokeh box), and save_html writes a page that carries BokehJS itself (offline)."""
    monkeypatch.delenv(interactive.BOKEH_SERVED_ENV, raising=False)
    fig = interactive.which_ball()
    data, _ = fig._repr_mimebundle_()
    assert set(data) == {"image/png", "text/plain"}, f"outside the book: mime types {set(data)}"
    page = fig.save_html(tmp_path / "ball.html").read_text(encoding="utf-8")
    import bokeh

    library = (Path(bokeh.__file__).parent / "server/static/js/bokeh.min.js").read_text(encoding="utf-8")
    assert library[-2000:] in page, "save_html did not inline BokehJS"
    assert not re.search(r'<script[^>]+src="https?://', page), "save_html loads a script from the network"
    assert html_module.escape(fig.alt) in page, "save_html lost the text alternative"


def test_save_html_page_renders_offline(tmp_path, browser):
    """The standalone page draws its figure in Chromium with no page error and no request out."""
    path = interactive.adamw_playground().save_html(tmp_path / "adamw.html")
    errors, outside = [], []
    page = browser.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
    page.goto(path.as_uri())
    drawn = """() => {  // canvases drawn, through nested shadow roots
        const count = root => [...root.querySelectorAll('*')].reduce((n, e) =>
            n + (e.tagName === 'CANVAS' && e.width > 0) + (e.shadowRoot ? count(e.shadowRoot) : 0), 0);
        return count(document); }"""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function(f"() => ({drawn})() > 0", timeout=30_000)
    except PlaywrightTimeout:
        pass  # reported by the assert on canvases below
    canvases = page.evaluate(drawn)
    page.close()
    assert not errors, f"save_html page errors: {errors}"
    assert not outside, f"save_html page requested {outside}"
    assert canvases > 0, "save_html page drew no canvas"


def test_radius_values_regions():
    r = interactive.radius_values(0.9, 0.999, 1.0, 1e-3, 10.0)
    assert r["box"] == 1.0 and abs(r["cap"] - math.sqrt(11.0)) < 1e-12, f"Lemma 4.3 cap at K = 1: {r}"
    assert abs(r["sharp"] - bounds.max_update_size((0.9, 0.999))) < 1e-15, f"M/λ: {r}"
    above = interactive.radius_values(0.93, 0.9, 2.0, 1e-3, 10.0)  # beta1 > beta2, beta1^2 < beta2
    assert math.isnan(above["cap"]) and math.isfinite(above["sharp"]), f"β1 > β2: only M/λ: {above}"
    none = interactive.radius_values(0.99, 0.9, 1.0, 1e-3, 10.0)
    assert math.isinf(none["sharp"]) and math.isnan(none["cap"]), f"β1² ≥ β2: no radius: {none}"
    equal = interactive.radius_values(0.99, 0.99, 1.0, 1e-3, 30.0)
    assert equal["cap"] == 1.0 and equal["K"] == 0.0, f"β1 = β2: the cap is exactly 1/λ: {equal}"


def test_first_paint_is_the_package_run():
    fig = interactive.adamw_playground()
    src = fig.layout.select_one({"name": "adamw-trajectory"})
    ref = run_adamw(interactive.quadratic_grad(), np.zeros(2), np.full(400, 0.01), betas=(0.9, 0.95),
                    eps=1e-8, weight_decay=1.0).xs
    assert np.array_equal(np.asarray(src.data["x"]), ref[:, 0]), "AdamW first paint != run_adamw"
    ball = interactive.which_ball("l1", 1.0)
    nsd = np.asarray(ball.layout.select_one({"name": "ball-nsd"}).data["x"])
    fw = np.asarray(ball.layout.select_one({"name": "ball-fw"}).data["x"])
    assert np.max(np.abs(nsd - fw)) < 1e-12, "Theorem 3.2: NSD-WD and Frank-Wolfe iterates differ"
    assert abs(abs(nsd[-1]) + abs(ball.layout.select_one({"name": "ball-nsd"}).data["y"][-1]) - 1.0) < 1e-2, (
        "NSD-WD with the l1 norm should end on the l1 ball of radius 1/λ = 1")


@pytest.mark.parametrize("call,name", [
    (lambda: interactive.radius_explorer(beta1=1.0), "beta1"),
    (lambda: interactive.radius_explorer(lr=1.0), "lr"),
    (lambda: interactive.radius_explorer(log_range=-1.0), "log_range"),
    (lambda: interactive.adamw_playground(weight_decay=10.0), "weight_decay"),
    (lambda: interactive.adamw_playground(steps=5), "steps"),
    (lambda: interactive.adamw_playground(bias_correction=1), "bias_correction"),
    (lambda: interactive.which_ball(norm="l3"), "norm"),
    (lambda: interactive.which_ball(weight_decay=0.1), "weight_decay"),
    (lambda: interactive.quadratic_grad(hessian=np.eye(3)), "hessian"),
])
def test_bad_arguments_name_the_parameter(call, name):
    with pytest.raises(ValueError, match=name):
        call()
