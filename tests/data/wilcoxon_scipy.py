"""Regenerate wilcoxon_scipy.tsv: python3 tests/data/wilcoxon_scipy.py > tests/data/wilcoxon_scipy.tsv

Reference values for src/stats/wilcoxon.rs from scipy.stats.wilcoxon, plus an exact rational p-value
for exact cases (scipy's exact upper tail is 1 - cdf, which loses relative precision for tiny p).
"""
from fractions import Fraction
import numpy as np
import scipy
from scipy import stats

rng = np.random.default_rng(20240611)
rows = []


def fmt(v):
    return ",".join(repr(float(t)) for t in v)


def exact_rational(d, zero_method, alternative):
    """Exact sign-flip p-value over the (mid-)ranks of the nonzero differences, with Python integers."""
    d = np.asarray(d, dtype=float)
    d = d[~np.isnan(d)]
    if zero_method == "wilcox":
        d = d[d != 0]
    a = np.abs(d)
    ranks2 = [int(round(2 * r)) for r in stats.rankdata(a)]  # doubled mid-ranks, integers
    w = [r for r, v in zip(ranks2, d) if v != 0]
    obs = sum(r for r, v in zip(ranks2, d) if v > 0)
    counts = {0: 1}
    for wi in w:
        nxt = dict(counts)
        for s, c in counts.items():
            nxt[s + wi] = nxt.get(s + wi, 0) + c
        counts = nxt
    total = 2 ** len(w)
    ge = Fraction(sum(c for s, c in counts.items() if s >= obs), total)
    le = Fraction(sum(c for s, c in counts.items() if s <= obs), total)
    if alternative == "greater":
        return float(ge)
    if alternative == "less":
        return float(le)
    return float(min(Fraction(1), 2 * min(ge, le)))


def case(name, x, y, alternative="two-sided", zero_method="wilcox", correction=False, method="auto"):
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if method == "exact-perm":
        n = int(np.sum(~np.isnan(x - y)))
        smeth = stats.PermutationMethod(n_resamples=2 ** n)
    else:
        smeth = {"auto": "auto", "exact": "exact", "normal": "asymptotic"}[method]
    res = stats.wilcoxon(x, y, zero_method=zero_method, correction=correction,
                         alternative=alternative, method=smeth, nan_policy="omit")
    asy = stats.wilcoxon(x, y, zero_method=zero_method, correction=correction,
                         alternative=alternative, method="asymptotic", nan_policy="omit")
    if method == "normal":
        used = "normal"
    elif method in ("exact", "exact-perm"):
        used = "exact"
    else:
        # scipy 1.17 `_wilcoxon_nd` auto rule, checked against the two calls where they can differ
        d = (x - y)[~np.isnan(x - y)]
        nz = d[d != 0] if zero_method == "wilcox" else d
        ties = len(np.unique(np.abs(nz))) < len(nz)
        if len(d) > 50:
            used = "normal"
        elif not ties and not np.any(d == 0):
            used = "exact"
        else:
            used = "exact" if len(d) <= 13 else "normal"
        same = (np.isnan(res.pvalue) and np.isnan(asy.pvalue)) or res.pvalue == asy.pvalue
        assert same or used == "exact", name
    z = repr(float(asy.zstatistic)) if used == "normal" else "NA"
    exact = repr(exact_rational(x - y, zero_method, alternative)) if used == "exact" else "NA"
    rows.append([name, alternative, zero_method, str(correction).lower(), method, used,
                 repr(float(res.statistic)), repr(float(res.pvalue)), z, exact, fmt(x), fmt(y)])


ref = [0.952, -0.147, 1.022, 0.43, 0.62, 0.59, 0.49, -0.08, 0.01, -0.61]
zeros10 = np.zeros(10)
case("recipes_greater_auto", ref, zeros10, "greater")
case("recipes_twosided_auto", ref, zeros10)
case("recipes_less_auto", ref, zeros10, "less")
case("recipes_greater_normal", ref, zeros10, "greater", method="normal")
case("recipes_greater_normal_cc", ref, zeros10, "greater", correction=True, method="normal")
case("recipes_twosided_normal_cc", ref, zeros10, correction=True, method="normal")

case("n1_twosided", [2.0], [0.5])
case("n1_greater", [2.0], [0.5], "greater")
case("n1_less_neg", [-1.0], [0.5], "less")
case("n2_twosided", [1.0, -3.0], [0.0, 0.0])
case("n2_greater_normal", [1.0, 3.0], [0.0, 0.0], "greater", method="normal")
case("n3_greater", [1.5, 2.5, 0.25], [0.0, 0.0, 0.0], "greater")
case("n3_less_tie", [1.0, -1.0, 2.0], [0.0, 0.0, 0.0], "less")

x = rng.normal(0.4, 1.0, 20); y = rng.normal(0.0, 1.0, 20)
case("exact20_twosided", x, y)
case("exact20_greater", x, y, "greater")
case("exact20_less", x, y, "less")
x = rng.normal(1.5, 1.0, 30); y = np.zeros(30)
case("exact30_greater_tiny", x, y, "greater", method="exact")
x = rng.normal(0.3, 1.0, 50)
case("exact50_auto_twosided", x, np.zeros(50))
case("exact50_auto_less", x, np.zeros(50), "less")

x = rng.normal(0.3, 1.0, 60); y = rng.normal(0.0, 1.0, 60)
case("normal60_twosided", x, y)
case("normal60_greater", x, y, "greater")
case("normal60_less_cc", x, y, "less", correction=True)
case("normal60_twosided_cc", x, y, correction=True)
case("normal60_exact_requested", x, y, method="exact")
case("normal60_swapped_twosided_cc", y, x, correction=True)
case("normal60_swapped_less_cc", y, x, "less", correction=True)

d = np.round(rng.normal(0.5, 1.0, 200), 1)
case("normal200_ties_twosided", d, np.zeros(200))
case("normal200_ties_greater_cc", d, np.zeros(200), "greater", correction=True)

d = np.array([1.0, -1.0, 2.0, 2.0, 3.0, -0.5, 0.5, 4.0, 2.0, 1.0])
case("ties10_auto_twosided", d, np.zeros(10))
case("ties10_auto_greater", d, np.zeros(10), "greater")
d = np.round(rng.normal(0.4, 1.0, 20), 0)
d[d == 0] = 1.0
case("ties20_auto_normal", d, np.zeros(20))
case("ties20_auto_normal_cc_less", d, np.zeros(20), "less", correction=True)
d16 = np.round(rng.normal(0.6, 1.0, 16), 1)
d16[d16 == 0] = 0.3
d16[3] = d16[5] = 0.7; d16[7] = -0.7
case("ties16_exact_perm_greater", d16, np.zeros(16), "greater", method="exact-perm")
case("ties16_exact_perm_twosided", d16, np.zeros(16), method="exact-perm")

dz = np.array([0.0, 1.2, -0.4, 0.0, 2.5, 0.9, -1.1, 3.0, 0.0, 1.7, 0.6, 0.8])
for zm in ("wilcox", "pratt", "zsplit"):
    case(f"zeros12_{zm}_auto_twosided", dz, np.zeros(12), zero_method=zm)
    case(f"zeros12_{zm}_auto_greater", dz, np.zeros(12), "greater", zero_method=zm)
dz25 = np.round(rng.normal(0.4, 1.0, 25), 1)
dz25[[1, 4, 9, 13, 20]] = 0.0
for zm in ("wilcox", "pratt", "zsplit"):
    case(f"zeros25_{zm}_auto_twosided", dz25, np.zeros(25), zero_method=zm)
    case(f"zeros25_{zm}_normal_cc_greater", dz25, np.zeros(25), "greater", correction=True, zero_method=zm, method="normal")
    case(f"zeros25_{zm}_negated_normal_cc_twosided", -dz25, np.zeros(25), correction=True, zero_method=zm, method="normal")
dz16 = d16.copy(); dz16[[0, 2, 11]] = 0.0
for zm in ("wilcox", "pratt", "zsplit"):
    case(f"zeros16_{zm}_exact_perm_less", dz16, np.zeros(16), "less", zero_method=zm, method="exact-perm")
dz60 = np.round(rng.normal(0.2, 1.0, 60), 1)
for zm in ("wilcox", "pratt", "zsplit"):
    case(f"zeros60_{zm}_auto_twosided_cc", dz60, np.zeros(60), correction=True, zero_method=zm)

for zm in ("wilcox", "pratt", "zsplit"):
    case(f"allzero5_{zm}_auto", np.ones(5), np.ones(5), zero_method=zm)
    case(f"allzero20_{zm}_auto", np.ones(20), np.ones(20), zero_method=zm)
case("allzero5_exact_greater", np.ones(5), np.ones(5), "greater", method="exact")

case("nan_dropped_greater", np.array([0.952, np.nan, 1.022, 0.43, 0.62, 0.59, 0.49, -0.08, 0.01, -0.61, -0.147, 3.0]),
     np.array([0.0] * 11 + [np.nan]), "greater")

# One-sided 'greater' without continuity correction, ties and zeros, normal approximation: the
# finalize stage's compare call above its exact threshold, under every zero method.
dz80 = np.round(rng.normal(0.05, 0.3, 80), 2)
dz80[[2, 11, 30, 57, 71]] = 0.0
for zm in ("wilcox", "pratt", "zsplit"):
    case(f"zeros80_{zm}_auto_greater", dz80, np.zeros(80), "greater", zero_method=zm)
    case(f"zeros80_{zm}_normal_less", dz80, np.zeros(80), "less", zero_method=zm, method="normal")

print(f"# scipy {scipy.__version__} numpy {np.__version__}; generated by tests/data/wilcoxon_scipy.py")
print("# call: scipy.stats.wilcoxon(x, y, zero_method=zm, correction=cc, alternative=alt, method=M, nan_policy='omit')")
print("# M: auto->'auto', exact->'exact', normal->'asymptotic', exact-perm->stats.PermutationMethod(n_resamples=2**n)")
print("# z: zstatistic of the same call with method='asymptotic' (scipy reports -|z| two-sided), NA unless used=normal")
print("# exact_p: exact sign-flip p over the nonzero mid-ranks with Python integers (fractions), NA unless used=exact")
print("\t".join(["id", "alternative", "zero_method", "correction", "method", "used", "statistic", "pvalue",
                 "z", "exact_p", "x", "y"]))
for r in rows:
    print("\t".join(r))
