//! The paired Wilcoxon signed-rank test with the semantics of `scipy.stats.wilcoxon` (scipy 1.17):
//! the same statistic, zero handling (`wilcox`, `pratt`, `zsplit`), tie and continuity corrections
//! and the same automatic choice between the exact null distribution and the normal approximation.
//! The exact null distribution is always the exact sign-flip distribution over the observed
//! (mid-)ranks, computed by dynamic programming over doubled ranks (which are integers), so it is
//! exact with ties and zeros and for any n. This module owns only the arithmetic of the test: it
//! reads no files and keeps no state; the normal distribution comes from [`crate::stats::normal`].

use thiserror::Error;

use crate::stats::normal;

/// The alternative hypothesis about the location of d = x − y.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Alternative {
    /// The distribution of d is not symmetric about zero (scipy `'two-sided'`).
    #[default]
    TwoSided,
    /// d tends to be positive (scipy `'greater'`).
    Greater,
    /// d tends to be negative (scipy `'less'`).
    Less,
}

/// How differences that are exactly zero enter the test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ZeroMethod {
    /// Drop zero differences before ranking (Wilcoxon's original rule; scipy's default).
    #[default]
    Wilcox,
    /// Rank zeros with the other differences but give them no sign; the normal approximation's
    /// mean and variance are adjusted for the zeros (Pratt 1959, Cureton 1967).
    Pratt,
    /// Rank zeros with the other differences and add half of their ranks to each of T+ and T−.
    Zsplit,
}

/// How the p-value is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Method {
    /// scipy 1.17's rule: more than 50 pairs (zeros included) → normal approximation; otherwise
    /// no ties and no zeros → exact; otherwise at most 13 pairs → exact; otherwise normal.
    #[default]
    Auto,
    /// The exact sign-flip null distribution over the observed (mid-)ranks. Without ties or zeros
    /// this is scipy's `method='exact'`; with them it is scipy's exhaustive permutation test
    /// (what scipy's `'auto'` runs for n ≤ 13), not scipy's `'exact'`, which rounds T+ and uses the
    /// tie-free distribution. Costs O(n³) time and O(n²) memory.
    Exact,
    /// The normal approximation with tie correction (scipy `'asymptotic'`).
    Normal,
}

/// Options of [`wilcoxon`]; the default is scipy's default call: two-sided, `wilcox` zeros, no
/// continuity correction, automatic method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WilcoxonOptions {
    /// The alternative hypothesis.
    pub alternative: Alternative,
    /// Treatment of zero differences.
    pub zero_method: ZeroMethod,
    /// Apply a continuity correction of 0.5 towards the mean of T+ in the normal approximation.
    pub correction: bool,
    /// Exact, normal or automatic choice.
    pub method: Method,
}

/// The outcome of [`wilcoxon`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WilcoxonResult {
    /// Pairs used: pairs where neither x nor y is NaN, zero differences included.
    pub n: usize,
    /// Pairs among the `n` whose difference is exactly zero.
    pub n_zero: usize,
    /// Pairs dropped because x or y (or x − y) is NaN.
    pub n_nan: usize,
    /// scipy's statistic: T+ for one-sided alternatives, min(T+, T−) for the two-sided one.
    pub statistic: f64,
    /// Sum of the ranks of positive differences (plus half the zero ranks under `Zsplit`).
    pub t_plus: f64,
    /// Sum of the ranks of negative differences (plus half the zero ranks under `Zsplit`).
    pub t_minus: f64,
    /// The z statistic when the normal approximation was used, continuity-corrected if asked for;
    /// as in scipy's `zstatistic` it is −|z| for the two-sided alternative.
    pub z: Option<f64>,
    /// The p-value. When every difference is zero the exact null distribution is a point mass and
    /// the p-value is 1 whatever the method asked for (scipy gives 1 through its exact paths and
    /// `zsplit`, NaN through the normal approximation under `wilcox` and `pratt`).
    pub p_value: f64,
    /// [`Method::Exact`] or [`Method::Normal`], never [`Method::Auto`].
    pub method_used: Method,
    /// Mean of the `n` differences x − y.
    pub mean_diff: f64,
    /// Median of the `n` differences x − y.
    pub median_diff: f64,
}

/// Inputs on which the test is undefined.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum WilcoxonError {
    /// x and y have different lengths.
    #[error("x has {x} values but y has {y}: a paired test needs one y per x")]
    LengthMismatch {
        /// Length of x.
        x: usize,
        /// Length of y.
        y: usize,
    },
    /// Nothing left to test once NaN pairs are dropped.
    #[error("no pairs to test: the input is empty or all {n_nan} pairs contain a NaN")]
    NoPairs {
        /// Pairs dropped for a NaN.
        n_nan: usize,
    },
}

/// Above this many pairs (zeros included) [`Method::Auto`] uses the normal approximation.
const AUTO_NORMAL_ABOVE: usize = 50;
/// With ties or zeros, [`Method::Auto`] stays exact up to this many pairs (scipy enumerates 2^13).
const AUTO_PERMUTATION_MAX: usize = 13;

/// Paired Wilcoxon signed-rank test of d = x − y against symmetry about zero.
///
/// Pairs in which x or y is NaN are dropped and counted in [`WilcoxonResult::n_nan`].
///
/// # Examples
/// ```
/// use bsbslmm::stats::wilcoxon::{wilcoxon, Alternative, WilcoxonOptions};
/// let x = [0.952, -0.147, 1.022, 0.43, 0.62, 0.59, 0.49, -0.08, 0.01, -0.61];
/// let y = [0.0; 10];
/// let opts = WilcoxonOptions { alternative: Alternative::Greater, ..Default::default() };
/// let r = wilcoxon(&x, &y, &opts).unwrap();
/// assert_eq!(r.statistic, 43.0);
/// assert!((r.p_value - 0.0654296875).abs() < 1e-15);
/// ```
pub fn wilcoxon(
    x: &[f64],
    y: &[f64],
    opts: &WilcoxonOptions,
) -> Result<WilcoxonResult, WilcoxonError> {
    if x.len() != y.len() {
        return Err(WilcoxonError::LengthMismatch {
            x: x.len(),
            y: y.len(),
        });
    }
    let d: Vec<f64> = x
        .iter()
        .zip(y)
        .map(|(a, b)| a - b)
        .filter(|v| !v.is_nan())
        .collect();
    let n_nan = x.len() - d.len();
    if d.is_empty() {
        return Err(WilcoxonError::NoPairs { n_nan });
    }
    let n = d.len();
    let n_zero = d.iter().filter(|&&v| v == 0.0).count();

    let ranked: Vec<f64> = match opts.zero_method {
        ZeroMethod::Wilcox => d.iter().copied().filter(|&v| v != 0.0).collect(),
        ZeroMethod::Pratt | ZeroMethod::Zsplit => d.clone(),
    };
    let ranks = SignedRanks::new(&ranked);
    let zero_half2 = match opts.zero_method {
        ZeroMethod::Zsplit => ranks.zero2 / 2,
        _ => 0,
    };
    let t_plus = (ranks.plus2 + zero_half2) as f64 / 2.0;
    let t_minus = (ranks.minus2 + zero_half2) as f64 / 2.0;
    let statistic = match opts.alternative {
        Alternative::TwoSided => t_plus.min(t_minus),
        Alternative::Greater | Alternative::Less => t_plus,
    };

    let method_used = match opts.method {
        Method::Exact => Method::Exact,
        Method::Normal => Method::Normal,
        Method::Auto if n > AUTO_NORMAL_ABOVE => Method::Normal,
        Method::Auto if !ranks.has_ties() && n_zero == 0 => Method::Exact,
        Method::Auto if n <= AUTO_PERMUTATION_MAX => Method::Exact,
        Method::Auto => Method::Normal,
    };

    let (p_value, z, method_used) = if ranks.nonzero_weights2.is_empty() {
        (1.0, None, Method::Exact)
    } else if method_used == Method::Exact {
        let (ge, le) = sign_flip_tails(&ranks.nonzero_weights2, ranks.plus2);
        (tail_p(opts.alternative, ge, le), None, Method::Exact)
    } else {
        let (p, z) = normal_approximation(&ranks, t_plus, opts);
        (p, Some(z), Method::Normal)
    };

    Ok(WilcoxonResult {
        n,
        n_zero,
        n_nan,
        statistic,
        t_plus,
        t_minus,
        z,
        p_value,
        method_used,
        mean_diff: d.iter().sum::<f64>() / n as f64,
        median_diff: median(d),
    })
}

/// P(T+ ≥ t) under the tie-free null distribution of the signed-rank statistic for n pairs
/// (ranks 1..n, each sign + with probability 1/2), by dynamic programming over the 2^n sign
/// patterns. Non-integer `t` is rounded up; NaN gives NaN.
pub fn signed_rank_exact_sf(n: usize, t: f64) -> f64 {
    if t.is_nan() {
        return f64::NAN;
    }
    let max = (n * (n + 1) / 2) as f64;
    if t <= 0.0 {
        return 1.0;
    }
    if t > max {
        return 0.0;
    }
    let weights: Vec<u64> = (1..=n as u64).collect();
    sign_flip_tails(&weights, t.ceil() as u64).0
}

/// Doubled (mid-)ranks of |v|, which are integers, summed by sign, plus the tie structure.
struct SignedRanks {
    /// Number of ranked values (zeros included under Pratt and Zsplit).
    count: usize,
    /// Number of ranked values that are zero.
    n_zero: usize,
    /// Sizes of the groups of equal |v|, in increasing order of |v|.
    tie_groups: Vec<usize>,
    /// 2 × sum of ranks of positive values.
    plus2: u64,
    /// 2 × sum of ranks of negative values.
    minus2: u64,
    /// 2 × sum of ranks of zero values.
    zero2: u64,
    /// 2 × rank of every non-zero value: the weights whose signs flip under the null.
    nonzero_weights2: Vec<u64>,
}

impl SignedRanks {
    fn new(values: &[f64]) -> Self {
        let abs: Vec<f64> = values.iter().map(|v| v.abs()).collect();
        let mut order: Vec<usize> = (0..values.len()).collect();
        order.sort_by(|&i, &j| abs[i].total_cmp(&abs[j]));
        let mut ranks = SignedRanks {
            count: values.len(),
            n_zero: 0,
            tie_groups: Vec::new(),
            plus2: 0,
            minus2: 0,
            zero2: 0,
            nonzero_weights2: Vec::with_capacity(values.len()),
        };
        let mut start = 0;
        while start < order.len() {
            let mut end = start + 1;
            while end < order.len() && abs[order[end]] == abs[order[start]] {
                end += 1;
            }
            let rank2 = (start + 1 + end) as u64;
            for &i in &order[start..end] {
                let v = values[i];
                if v > 0.0 {
                    ranks.plus2 += rank2;
                } else if v < 0.0 {
                    ranks.minus2 += rank2;
                } else {
                    ranks.zero2 += rank2;
                    ranks.n_zero += 1;
                }
                if v != 0.0 {
                    ranks.nonzero_weights2.push(rank2);
                }
            }
            ranks.tie_groups.push(end - start);
            start = end;
        }
        ranks
    }

    fn has_ties(&self) -> bool {
        self.tie_groups.iter().any(|&t| t > 1)
    }
}

/// (P(S ≥ observed), P(S ≤ observed)) for S = Σ bᵢ wᵢ with independent fair bits bᵢ.
fn sign_flip_tails(weights: &[u64], observed: u64) -> (f64, f64) {
    let g = weights.iter().fold(0, |acc, &w| gcd(acc, w)).max(1);
    let observed = observed / g;
    let total: u64 = weights.iter().map(|w| w / g).sum();
    let mut dist = vec![0.0f64; total as usize + 1];
    dist[0] = 1.0;
    let mut reach = 0usize;
    for w in weights.iter().map(|w| (w / g) as usize) {
        reach += w;
        for s in (0..=reach).rev() {
            let shifted = if s >= w { dist[s - w] } else { 0.0 };
            dist[s] = 0.5 * (dist[s] + shifted);
        }
    }
    let obs = observed as usize;
    let ge: f64 = dist[obs.min(dist.len())..].iter().rev().sum();
    let le: f64 = dist[..=obs.min(total as usize)].iter().sum();
    (ge.min(1.0), le.min(1.0))
}

/// The p-value for an alternative from the two tail probabilities of the statistic.
fn tail_p(alternative: Alternative, ge: f64, le: f64) -> f64 {
    match alternative {
        Alternative::Greater => ge,
        Alternative::Less => le,
        Alternative::TwoSided => (2.0 * ge.min(le)).min(1.0),
    }
}

/// scipy's normal approximation: (p-value, reported z).
fn normal_approximation(ranks: &SignedRanks, t_plus: f64, opts: &WilcoxonOptions) -> (f64, f64) {
    let m = ranks.count as f64;
    let mut mean = m * (m + 1.0) * 0.25;
    let mut var24 = m * (m + 1.0) * (2.0 * m + 1.0);
    let mut groups: &[usize] = &ranks.tie_groups;
    if opts.zero_method == ZeroMethod::Pratt && ranks.n_zero > 0 {
        let z0 = ranks.n_zero as f64;
        mean -= z0 * (z0 + 1.0) * 0.25;
        var24 -= z0 * (z0 + 1.0) * (2.0 * z0 + 1.0);
        groups = &groups[1..];
    }
    let tie_correction: f64 = groups
        .iter()
        .map(|&t| {
            let t = t as f64;
            t * t * t - t
        })
        .sum();
    let se = ((var24 - tie_correction / 2.0) / 24.0).sqrt();
    let mut z = (t_plus - mean) / se;
    if opts.correction {
        let sign = match opts.alternative {
            Alternative::Greater => 1.0,
            Alternative::Less => -1.0,
            Alternative::TwoSided if z > 0.0 => 1.0,
            Alternative::TwoSided if z < 0.0 => -1.0,
            Alternative::TwoSided => 0.0,
        };
        z -= sign * 0.5 / se;
    }
    match opts.alternative {
        Alternative::Greater => (normal::sf(z), z),
        Alternative::Less => (normal::cdf(z), z),
        Alternative::TwoSided => (2.0 * normal::sf(z.abs()), -z.abs()),
    }
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let k = v.len() / 2;
    if v.len() % 2 == 1 {
        v[k]
    } else {
        0.5 * (v[k - 1] + v[k])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// scipy 1.17.1 reference values; see the header of the file and `wilcoxon_scipy.py`.
    const FIXTURE: &str = include_str!("../../tests/data/wilcoxon_scipy.tsv");

    struct Case {
        id: String,
        opts: WilcoxonOptions,
        used: Method,
        statistic: f64,
        p: f64,
        z: Option<f64>,
        exact_p: Option<f64>,
        x: Vec<f64>,
        y: Vec<f64>,
    }

    fn num(s: &str) -> Option<f64> {
        (s != "NA").then(|| s.parse().unwrap())
    }

    fn nums(s: &str) -> Vec<f64> {
        s.split(',').map(|v| v.parse().unwrap()).collect()
    }

    fn cases() -> Vec<Case> {
        let mut lines = FIXTURE.lines().filter(|l| !l.starts_with('#'));
        let header: Vec<&str> = lines.next().unwrap().split('\t').collect();
        assert_eq!(header[0], "id");
        lines
            .map(|line| {
                let f: Vec<&str> = line.split('\t').collect();
                assert_eq!(f.len(), 12, "{line}");
                let method = |s: &str| match s {
                    "auto" => Method::Auto,
                    "exact" | "exact-perm" => Method::Exact,
                    "normal" => Method::Normal,
                    other => panic!("method {other}"),
                };
                Case {
                    id: f[0].to_string(),
                    opts: WilcoxonOptions {
                        alternative: match f[1] {
                            "two-sided" => Alternative::TwoSided,
                            "greater" => Alternative::Greater,
                            "less" => Alternative::Less,
                            other => panic!("alternative {other}"),
                        },
                        zero_method: match f[2] {
                            "wilcox" => ZeroMethod::Wilcox,
                            "pratt" => ZeroMethod::Pratt,
                            "zsplit" => ZeroMethod::Zsplit,
                            other => panic!("zero_method {other}"),
                        },
                        correction: f[3] == "true",
                        method: method(f[4]),
                    },
                    used: method(f[5]),
                    statistic: f[6].parse().unwrap(),
                    p: f[7].parse().unwrap(),
                    z: num(f[8]),
                    exact_p: num(f[9]),
                    x: nums(f[10]),
                    y: nums(f[11]),
                }
            })
            .collect()
    }

    fn rel(a: f64, b: f64) -> f64 {
        if a == b {
            0.0
        } else {
            ((a - b) / b).abs()
        }
    }

    #[test]
    fn fixture_has_the_required_coverage() {
        let cases = cases();
        assert!(cases.len() >= 25);
        for prefix in [
            "recipes_", "n1_", "n2_", "n3_", "ties", "zeros", "allzero", "nan_",
        ] {
            assert!(cases.iter().any(|c| c.id.starts_with(prefix)), "{prefix}");
        }
    }

    #[test]
    fn matches_scipy_on_every_fixture_case() {
        for c in cases() {
            let r = wilcoxon(&c.x, &c.y, &c.opts).unwrap();
            let id = &c.id;
            assert_eq!(r.statistic, c.statistic, "{id}: statistic");
            assert_eq!(r.n + r.n_nan, c.x.len(), "{id}");
            if r.n_zero == r.n {
                assert_eq!(r.p_value, 1.0, "{id}: all-zero p");
                assert_eq!(r.method_used, Method::Exact, "{id}");
                assert!(c.p == 1.0 || c.p.is_nan(), "{id}: scipy p {}", c.p);
                continue;
            }
            assert_eq!(r.method_used, c.used, "{id}: method");
            match c.used {
                Method::Exact => {
                    assert!(r.z.is_none(), "{id}");
                    let exact = c.exact_p.unwrap();
                    assert!(
                        rel(r.p_value, exact) < 1e-12,
                        "{id}: {} vs exact {exact}",
                        r.p_value
                    );
                    assert!(
                        rel(r.p_value, c.p) < 1e-10,
                        "{id}: {} vs scipy {}",
                        r.p_value,
                        c.p
                    );
                }
                _ => {
                    let z = r.z.unwrap();
                    assert!(rel(z, c.z.unwrap()) < 1e-12, "{id}: z {z} vs {:?}", c.z);
                    assert!(
                        rel(r.p_value, c.p) < 1e-10,
                        "{id}: {} vs scipy {}",
                        r.p_value,
                        c.p
                    );
                }
            }
        }
    }

    #[test]
    fn recipes_reference_values() {
        let x = [
            0.952, -0.147, 1.022, 0.43, 0.62, 0.59, 0.49, -0.08, 0.01, -0.61,
        ];
        let y = [0.0; 10];
        let greater = |method, correction| WilcoxonOptions {
            alternative: Alternative::Greater,
            method,
            correction,
            ..Default::default()
        };
        let r = wilcoxon(&x, &y, &greater(Method::Auto, false)).unwrap();
        assert_eq!((r.t_plus, r.t_minus, r.statistic), (43.0, 12.0, 43.0));
        assert!((r.p_value - 0.0654297).abs() < 5e-8);
        let r = wilcoxon(&x, &y, &greater(Method::Normal, false)).unwrap();
        assert!((r.p_value - 0.0570642).abs() < 5e-8);
        assert!((r.z.unwrap() - 1.57991).abs() < 5e-6);
        let r = wilcoxon(&x, &y, &greater(Method::Normal, true)).unwrap();
        assert!((r.p_value - 0.0631395).abs() < 5e-8);
        let r = wilcoxon(&x, &y, &WilcoxonOptions::default()).unwrap();
        assert_eq!(r.statistic, 12.0);
        assert_eq!(r.p_value, 0.130859375);
    }

    #[test]
    fn counts_and_location_summaries() {
        let x = [1.0, f64::NAN, 3.0, 2.0, 5.0, 0.5];
        let y = [0.0, 0.0, 3.0, f64::NAN, 1.0, 1.0];
        let r = wilcoxon(&x, &y, &WilcoxonOptions::default()).unwrap();
        assert_eq!((r.n, r.n_zero, r.n_nan), (4, 1, 2));
        assert_eq!(r.mean_diff, (1.0 + 0.0 + 4.0 - 0.5) / 4.0);
        assert_eq!(r.median_diff, 0.5 * (0.0 + 1.0));
    }

    /// scipy 1.17.1 `wilcoxon(np.ones(20), np.ones(20), method='asymptotic')` gives NaN (se = 0);
    /// this module reports the degenerate exact p-value 1 instead, for every zero method.
    #[test]
    fn all_zero_differences_give_p_one_even_when_normal_is_asked_for() {
        for zero_method in [ZeroMethod::Wilcox, ZeroMethod::Pratt, ZeroMethod::Zsplit] {
            let opts = WilcoxonOptions {
                method: Method::Normal,
                zero_method,
                ..Default::default()
            };
            let r = wilcoxon(&[1.0; 20], &[1.0; 20], &opts).unwrap();
            assert_eq!((r.p_value, r.z, r.method_used), (1.0, None, Method::Exact));
            assert_eq!(
                (r.n, r.n_zero, r.t_plus, r.t_minus),
                (20, 20, r.statistic, r.statistic)
            );
        }
    }

    #[test]
    fn errors_name_the_problem() {
        let opts = WilcoxonOptions::default();
        assert_eq!(
            wilcoxon(&[1.0, 2.0], &[1.0], &opts),
            Err(WilcoxonError::LengthMismatch { x: 2, y: 1 })
        );
        assert_eq!(
            wilcoxon(&[], &[], &opts),
            Err(WilcoxonError::NoPairs { n_nan: 0 })
        );
        assert_eq!(
            wilcoxon(&[f64::NAN, 1.0], &[0.0, f64::NAN], &opts),
            Err(WilcoxonError::NoPairs { n_nan: 2 })
        );
    }

    #[test]
    fn default_options_are_scipys() {
        let o = WilcoxonOptions::default();
        assert_eq!(o.alternative, Alternative::TwoSided);
        assert_eq!(o.zero_method, ZeroMethod::Wilcox);
        assert!(!o.correction);
        assert_eq!(o.method, Method::Auto);
    }

    /// scipy 1.17.1: `scipy.stats._hypotests._get_wilcoxon_distr(10)[t:].sum()` is 0.1162109375
    /// (119/1024) at t = 40, 0.0419921875 (43/1024) at t = 45 and 0.7841796875 (803/1024) at t = 20.
    #[test]
    fn exact_sf_reference_values() {
        assert_eq!(signed_rank_exact_sf(10, 40.0), 0.1162109375);
        assert_eq!(signed_rank_exact_sf(10, 45.0), 0.0419921875);
        assert_eq!(signed_rank_exact_sf(10, 44.5), 0.0419921875);
        assert_eq!(signed_rank_exact_sf(10, 20.0), 0.7841796875);
        assert_eq!(signed_rank_exact_sf(10, 0.0), 1.0);
        assert_eq!(signed_rank_exact_sf(10, 55.0), 1.0 / 1024.0);
        assert_eq!(signed_rank_exact_sf(10, 55.5), 0.0);
        assert_eq!(signed_rank_exact_sf(0, 0.0), 1.0);
        assert!(signed_rank_exact_sf(3, f64::NAN).is_nan());
    }

    #[test]
    fn exact_sf_agrees_with_brute_force_enumeration() {
        for n in 1..=12usize {
            let mut counts = vec![0u64; n * (n + 1) / 2 + 1];
            for pattern in 0u32..(1 << n) {
                let s: usize = (0..n)
                    .filter(|i| pattern >> i & 1 == 1)
                    .map(|i| i + 1)
                    .sum();
                counts[s] += 1;
            }
            for t in 0..counts.len() {
                let ge: u64 = counts[t..].iter().sum();
                let expected = ge as f64 / (1u64 << n) as f64;
                assert_eq!(signed_rank_exact_sf(n, t as f64), expected, "n={n} t={t}");
            }
        }
    }
}
