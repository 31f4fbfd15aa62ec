// The browser-side maths of the book's interactive figures (implicit_bias.interactive), in one
// place. Every function mirrors one of the package, operation for operation, in float64:
//   runAdamW            implicit_bias.adamw.run_adamw (Algorithm 1, optional bias correction)
//   maxUpdateSize       implicit_bias.bounds.max_update_size (M, prop-max-adam-update)
//   growthConstant      implicit_bias.bounds.growth_constant (K of Lemma 4.3)
//   asymptoticBound     implicit_bias.bounds.asymptotic_iterate_bound (Lemma 4.3, large t)
//   steepestDirection   implicit_bias.norms.LpNorm.steepest_direction (l1, l2, linf)
//   runNsdWd            implicit_bias.steepest.run_nsd_wd (Eq. 1)
//   runFrankWolfe       implicit_bias.steepest.run_frank_wolfe (Algorithm 2)
//   frankWolfeLrs       implicit_bias.steepest.frank_wolfe_lrs (Theorem 3.5's 2/(lambda (t+1)))
// tests/test_interactive.py runs this file in Chromium and matches each function to the package
// to 1e-12 on a grid of settings. Plain ES2017, no dependencies; it defines one global, IB.
var IB = (function () {
  "use strict";

  function adamDirection(m, v, eps) {  // m / (sqrt(v) + eps), 0/0 := 0
    var denom = Math.sqrt(v) + eps;
    return denom > 0 ? m / denom : 0.0;
  }

  // AdamW on grad(x) (x an array), constant or per-step learning rates; returns xs[0..T].
  function runAdamW(grad, x0, lrs, o) {
    var b1 = o.beta1, b2 = o.beta2, eps = o.eps, wd = o.weightDecay, bc = !!o.biasCorrection;
    var d = x0.length, x = x0.slice(), m = new Array(d).fill(0.0), v = new Array(d).fill(0.0);
    var xs = [x.slice()];
    for (var t = 1; t <= lrs.length; t++) {
      var lr = lrs[t - 1], decay = 1.0 - lr * wd, g = grad(x), next = new Array(d);
      var c1 = 1.0 - Math.pow(b1, t), c2 = 1.0 - Math.pow(b2, t);
      for (var i = 0; i < d; i++) {
        m[i] = b1 * m[i] + (1.0 - b1) * g[i];
        v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
        var delta = bc ? adamDirection(m[i] / c1, v[i] / c2, eps) : adamDirection(m[i], v[i], eps);
        next[i] = decay * x[i] - lr * delta;
      }
      x = next;
      xs.push(x.slice());
    }
    return xs;
  }

  function maxUpdateSize(b1, b2) {  // sup_T M_T; Infinity for beta1^2 >= beta2
    var r = b1 === 0.0 ? 0.0 : b1 * b1 / b2;
    var lead = (1.0 - b1) * (1.0 - b1) / (1.0 - b2);
    return r < 1.0 ? Math.sqrt(lead / (1.0 - r)) : Infinity;
  }

  function kappa(b1, b2) { return (b2 - b1) / (1.0 - b2); }

  // K of Lemma 4.3; NaN where the large-t form does not exist (lr * wd >= 1 - beta1).
  function growthConstant(b1, b2, lr, wd) {
    var q = 1.0 - lr * wd, kap = kappa(b1, b2);
    if (kap === 0.0) return 0.0;
    if (q <= b1) return NaN;
    return kap * lr * wd / (q - b1);
  }

  function asymptoticBound(b1, b2, lr, wd, logRange) {
    return Math.sqrt(1.0 + growthConstant(b1, b2, lr, wd) * logRange) / wd;
  }

  // p is 1, 2 or Infinity; ties of l1 go to the first index, g = 0 gives 0 (norms.LpNorm).
  function steepestDirection(g, p) {
    var d = g.length, i, a = g.map(Math.abs), scale = Math.max.apply(null, a);
    var out = new Array(d).fill(0.0);
    if (scale === 0.0) return out;
    if (p === Infinity) return g.map(Math.sign);
    if (p === 1) {
      var j = 0;
      for (i = 1; i < d; i++) if (a[i] > a[j]) j = i;
      out[j] = Math.sign(g[j]);
      return out;
    }
    var w = g.map(function (gi, k) { return Math.sign(gi) * (a[k] / scale); });  // q - 1 = 1
    var wa = w.map(Math.abs), ws = Math.max.apply(null, wa), ss = 0.0;
    for (i = 0; i < d; i++) ss += (wa[i] / ws) * (wa[i] / ws);
    var nrm = ws * Math.sqrt(ss);
    return w.map(function (wi) { return wi / nrm; });
  }

  function runNsdWd(grad, x0, lrs, wd, p) {
    var x = x0.slice(), xs = [x.slice()];
    for (var t = 0; t < lrs.length; t++) {
      var decay = 1.0 - lrs[t] * wd, dir = steepestDirection(grad(x), p);
      x = x.map(function (xi, i) { return decay * xi - lrs[t] * dir[i]; });
      xs.push(x.slice());
    }
    return xs;
  }

  function runFrankWolfe(grad, x0, gammas, radius, p) {
    var x = x0.slice(), xs = [x.slice()];
    for (var t = 0; t < gammas.length; t++) {
      var dir = steepestDirection(grad(x), p), gam = gammas[t];
      x = x.map(function (xi, i) { return (1.0 - gam) * xi + gam * (-radius * dir[i]); });
      xs.push(x.slice());
    }
    return xs;
  }

  function frankWolfeLrs(wd, steps) {
    var out = [];
    for (var t = 1; t <= steps; t++) out.push(2.0 / (wd * (t + 1.0)));
    return out;
  }

  // The gradient of the figures' 2-D quadratic L(x) = (x - c)^T H (x - c) / 2, H symmetric.
  function quadraticGrad(h, c) {
    return function (x) {
      var d0 = x[0] - c[0], d1 = x[1] - c[1];
      return [h[0][0] * d0 + h[0][1] * d1, h[1][0] * d0 + h[1][1] * d1];
    };
  }

  function normInf(x) { return Math.max.apply(null, x.map(Math.abs)); }

  return {
    adamDirection: adamDirection, runAdamW: runAdamW, maxUpdateSize: maxUpdateSize,
    kappa: kappa, growthConstant: growthConstant, asymptoticBound: asymptoticBound,
    steepestDirection: steepestDirection, runNsdWd: runNsdWd, runFrankWolfe: runFrankWolfe,
    frankWolfeLrs: frankWolfeLrs, quadraticGrad: quadraticGrad, normInf: normInf,
  };
})();
