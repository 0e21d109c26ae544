"""Derive the polynomial coefficients of `vmath::probit_log_odds` (src/model/vmath.rs):

    python3 scripts/probit_log_odds_coeffs.py          # prints the Rust constants and the fit errors

f(x) = log Φ(x) − log Φ(−x) is odd; for a = |x| it is computed in two pieces split at a = SPLIT:

  A, a < SPLIT:   f(a) = a · P_A(u),  u = 2a²/SPLIT² − 1 ∈ [−1, 1)
                  (f(a)/a is an even, smooth function of a: a polynomial in a² is accurate down to
                  a = 0, where f → 0, with no cancellation)
  B, a ≥ SPLIT:   f(a) = a²/2 + ½ ln 2π + ln(a (1 − t)) − h(a),  t = Φ(−a) = e^(h − a²/2) / (a √2π)
                  h(a) = ln(a R(a)) with R(a) = Φ(−a)/φ(a) the Mills ratio, h = P_B(v),
                  v = 2 SPLIT²/a² − 1 ∈ (−1, 1]: h is a smooth bounded function of 1/a² on
                  [0, 1/SPLIT²] (h → 0 as a → ∞), so one piece covers a up to infinity.

Each P is the Chebyshev interpolant (degree n, n + 1 Chebyshev nodes) of the target function
computed with mpmath at 50 digits, converted to monomials in the normalized variable at full
precision and then rounded to f64. The degree is the smallest whose error (truncation and
coefficient rounding, measured in high precision on a dense grid) is below TARGET relative to f
(for piece A: relative to f(a)/a; for piece B: absolute error of h over f(SPLIT), the smallest f
in the piece). The float evaluation error of the Rust code is measured separately by the test
against mpmath reference values (tests/data/probit_log_odds_mpmath.py).
"""
import mpmath as mp

mp.mp.dps = 50
SPLIT = mp.mpf("3.25")
TARGET = mp.mpf("1e-16")
SQRT2 = mp.sqrt(2)


def log_odds(a):
    a = mp.mpf(a)
    return mp.log(mp.erfc(-a / SQRT2)) - mp.log(mp.erfc(a / SQRT2))


def target_a(s):
    """f(a)/a as a function of s = a²."""
    if s == 0:
        return 2 * mp.sqrt(2 / mp.pi)
    a = mp.sqrt(s)
    return log_odds(a) / a


def target_b(y):
    """h(a) = ln(a R(a)) as a function of y = 1/a²."""
    if y == 0:
        return mp.mpf(0)
    a = 1 / mp.sqrt(y)
    return mp.log(a * mp.sqrt(mp.pi / 2) * mp.exp(a * a / 2) * mp.erfc(a / SQRT2))


def chebyshev_interpolant(g, lo, hi, n):
    """Coefficients c_0..c_n of Σ c_k T_k(u) interpolating g((lo+hi)/2 + (hi−lo)/2·u)."""
    m = n + 1
    theta = [mp.pi * (k + mp.mpf(1) / 2) / m for k in range(m)]
    vals = [g((hi + lo) / 2 + (hi - lo) / 2 * mp.cos(t)) for t in theta]
    c = []
    for j in range(m):
        s = mp.fsum(v * mp.cos(j * t) for v, t in zip(vals, theta))
        c.append(2 * s / m if j else s / m)
    return c


def to_monomial(c):
    """Σ c_k T_k(u) as Σ b_i u^i (exact recurrence T_{k+1} = 2u T_k − T_{k−1})."""
    t_prev, t_cur = [mp.mpf(1)], [mp.mpf(0), mp.mpf(1)]
    basis = [t_prev, t_cur]
    for _ in range(2, len(c)):
        nxt = [mp.mpf(0)] + [2 * x for x in t_cur]
        for i, x in enumerate(t_prev):
            nxt[i] -= x
        t_prev, t_cur = t_cur, nxt
        basis.append(t_cur)
    b = [mp.mpf(0)] * len(c)
    for ck, tk in zip(c, basis):
        for i, x in enumerate(tk):
            b[i] += ck * x
    return b


def horner(b, u):
    r = mp.mpf(0)
    for x in reversed(b):
        r = r * u + x
    return r


def fit(g, lo, hi, scale, grid=600):
    """Smallest-degree interpolant meeting TARGET; returns (f64 coefficients, degree, max error)."""
    us = [mp.cos(mp.pi * (i + mp.mpf(1) / 3) / grid) for i in range(grid)] + [mp.mpf(-1), mp.mpf(1)]
    ref = [(u, g((hi + lo) / 2 + (hi - lo) / 2 * u)) for u in us]
    for n in range(8, 40):
        b = [float(x) for x in to_monomial(chebyshev_interpolant(g, lo, hi, n))]
        bm = [mp.mpf(x) for x in b]
        err = max(abs(horner(bm, u) - v) / scale(v) for u, v in ref)
        if err < TARGET:
            return b, n, err
    raise SystemExit("no degree below 40 meets the target")


def rust_array(name, b):
    body = "\n".join(f"    {x!r}," for x in b)
    return f"const {name}: [f64; {len(b)}] = [\n{body}\n];"


def main():
    f_split = log_odds(SPLIT)
    a_coef, a_deg, a_err = fit(target_a, mp.mpf(0), SPLIT**2, lambda v: abs(v))
    b_coef, b_deg, b_err = fit(target_b, mp.mpf(0), 1 / SPLIT**2, lambda v: f_split)
    print(f"// mpmath {mp.__version__}, {mp.mp.dps} digits; SPLIT = {SPLIT}")
    print(f"// piece A: degree {a_deg}, max relative error of f(a)/a {float(a_err):.2e}")
    print(f"// piece B: degree {b_deg}, max error of h over f(SPLIT) {float(b_err):.2e}")
    print(rust_array("PROBIT_A", a_coef))
    print(rust_array("PROBIT_B", b_coef))


if __name__ == "__main__":
    import argparse

    argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args()  # no options: --help prints the derivation above
    main()
