//! Fold enrichment of "active" SNPs (for example SNPs with non-zero weight in a prediction model)
//! in DNase peaks relative to all tested SNPs, pooled over genes: the point estimate
//! (Σa/ΣA)/(Σt/ΣT), a 95% percentile bootstrap interval over genes, a one-sided Fisher exact test
//! and a one-sided binomial test; and the paired-bootstrap difference in fold enrichment between
//! two methods on the same genes. The exact tests sum hypergeometric and binomial probabilities
//! computed with Loader's saddle-point method, term by term in log space, so they stay accurate
//! for counts of 10⁵ and more and for p-values down to the smallest normal f64. This module owns
//! only the arithmetic: it reads no files and keeps no state; its randomness comes from `seed`.

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;
use thiserror::Error;

/// Counts of SNPs for one gene.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GeneCounts {
    /// Active SNPs that lie in peaks (a).
    pub active_in: u64,
    /// Active SNPs (A).
    pub active: u64,
    /// Tested SNPs that lie in peaks (t).
    pub tested_in: u64,
    /// Tested SNPs (T); active SNPs are a subset of tested SNPs.
    pub tested: u64,
}

/// Enrichment of active SNPs in peaks, pooled over genes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Enrichment {
    /// (Σa/ΣA)/(Σt/ΣT).
    pub fold: f64,
    /// Lower end of the 95% percentile bootstrap interval over genes (type-7 quantile at 0.025).
    pub ci_lo: f64,
    /// Upper end of the 95% percentile bootstrap interval over genes (type-7 quantile at 0.975).
    pub ci_hi: f64,
    /// One-sided (enrichment) Fisher exact test on the pooled table
    /// [[Σa, ΣA − Σa], [Σt − Σa, (ΣT − ΣA) − (Σt − Σa)]] (active / not active × in / out of peaks),
    /// as `scipy.stats.fisher_exact(table, alternative='greater')`; 1 when a row or column is empty.
    pub p_fisher: f64,
    /// One-sided binomial test: P(X ≥ Σa) for X ~ Binomial(ΣA, Σt/ΣT), as
    /// `scipy.stats.binomtest(Σa, ΣA, Σt/ΣT, alternative='greater').pvalue`.
    pub p_binomial: f64,
    /// Number of genes.
    pub n_genes: usize,
    /// ΣA.
    pub n_active: u64,
    /// Bootstrap replicates in which the fold was defined (the drawn genes have at least one
    /// active SNP and one tested SNP in peaks); the interval is computed from these only.
    pub n_boot_used: usize,
}

/// Difference in fold enrichment between two methods, `a` minus `b`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Difference {
    /// fold(a) − fold(b).
    pub diff: f64,
    /// Lower end of the 95% paired percentile bootstrap interval over genes.
    pub ci_lo: f64,
    /// Upper end of the 95% paired percentile bootstrap interval over genes.
    pub ci_hi: f64,
    /// Bootstrap replicates in which both folds were defined.
    pub n_boot_used: usize,
}

/// Inputs on which the enrichment is undefined.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EnrichError {
    /// No genes were given.
    #[error("no genes: enrichment needs at least one gene")]
    NoGenes,
    /// The two methods were given different numbers of genes.
    #[error(
        "method a has {a} genes but method b has {b}: the paired bootstrap needs the same genes"
    )]
    LengthMismatch {
        /// Genes for method a.
        a: usize,
        /// Genes for method b.
        b: usize,
    },
    /// A gene's counts are not nested as a ≤ A ≤ T, a ≤ t ≤ T, t − a ≤ T − A.
    #[error("gene {gene}: counts {counts:?} violate {rule}")]
    InconsistentCounts {
        /// Index of the gene in the input slice.
        gene: usize,
        /// The offending counts.
        counts: GeneCounts,
        /// The violated inequality.
        rule: &'static str,
    },
    /// ΣA = 0: the active fraction in peaks is undefined.
    #[error("no active SNPs in any gene: fold enrichment is undefined")]
    NoActiveSnps,
    /// Σt = 0: the tested fraction in peaks is zero.
    #[error("no tested SNP lies in a peak: fold enrichment is undefined")]
    NoTestedInPeaks,
    /// The number of bootstrap replicates was zero.
    #[error("n_boot is 0: a bootstrap interval needs at least one replicate")]
    NoBootstrap,
}

/// blake3 context of the bootstrap seed.
const BOOTSTRAP_CONTEXT: &str = "bsbslmm enrich bootstrap v1";
/// Quantiles of the two-sided 95% percentile interval.
const CI_PROBS: (f64, f64) = (0.025, 0.975);

/// Fold enrichment of active SNPs in peaks over `genes`, with a 95% percentile bootstrap interval
/// from `n_boot` resamples of genes (with replacement, deterministic given `seed`), a one-sided
/// Fisher exact test and a one-sided binomial test.
///
/// Replicates in which the fold is undefined are skipped and counted out of
/// [`Enrichment::n_boot_used`]; if none is defined the interval is NaN.
pub fn enrichment(
    genes: &[GeneCounts],
    n_boot: usize,
    seed: u64,
) -> Result<Enrichment, EnrichError> {
    if n_boot == 0 {
        return Err(EnrichError::NoBootstrap);
    }
    let total = pooled(genes)?;
    let fold = total.fold().ok_or_else(|| total.undefined())?;
    let mut reps: Vec<f64> = bootstrap(genes.len(), n_boot, seed)
        .filter_map(|idx| sum_at(genes, &idx).fold())
        .collect();
    let (ci_lo, ci_hi) = percentile_ci(&mut reps);
    Ok(Enrichment {
        fold,
        ci_lo,
        ci_hi,
        p_fisher: fisher_greater(&total),
        p_binomial: binomial_greater(&total),
        n_genes: genes.len(),
        n_active: total.active,
        n_boot_used: reps.len(),
    })
}

/// Difference fold(a) − fold(b) between two methods on the same genes (gene i of `a` and of `b`
/// are the same gene), with a 95% percentile interval from a paired bootstrap: each replicate
/// draws one set of gene indices and applies it to both methods. Uses the same draws as
/// [`enrichment`] with the same `n_boot` and `seed`.
pub fn enrichment_difference(
    a: &[GeneCounts],
    b: &[GeneCounts],
    n_boot: usize,
    seed: u64,
) -> Result<Difference, EnrichError> {
    if a.len() != b.len() {
        return Err(EnrichError::LengthMismatch {
            a: a.len(),
            b: b.len(),
        });
    }
    if n_boot == 0 {
        return Err(EnrichError::NoBootstrap);
    }
    let (ta, tb) = (pooled(a)?, pooled(b)?);
    let fa = ta.fold().ok_or_else(|| ta.undefined())?;
    let fb = tb.fold().ok_or_else(|| tb.undefined())?;
    let mut reps: Vec<f64> = bootstrap(a.len(), n_boot, seed)
        .filter_map(|idx| Some(sum_at(a, &idx).fold()? - sum_at(b, &idx).fold()?))
        .collect();
    let (ci_lo, ci_hi) = percentile_ci(&mut reps);
    Ok(Difference {
        diff: fa - fb,
        ci_lo,
        ci_hi,
        n_boot_used: reps.len(),
    })
}

impl GeneCounts {
    fn check(&self, gene: usize) -> Result<(), EnrichError> {
        let rule = if self.active_in > self.active {
            "active_in <= active"
        } else if self.active_in > self.tested_in {
            "active_in <= tested_in"
        } else if self.active > self.tested {
            "active <= tested"
        } else if self.tested_in > self.tested {
            "tested_in <= tested"
        } else if self.tested_in - self.active_in > self.tested - self.active {
            "tested_in - active_in <= tested - active"
        } else {
            return Ok(());
        };
        Err(EnrichError::InconsistentCounts {
            gene,
            counts: *self,
            rule,
        })
    }

    fn add(&mut self, g: &GeneCounts) {
        self.active_in += g.active_in;
        self.active += g.active;
        self.tested_in += g.tested_in;
        self.tested += g.tested;
    }

    fn fold(&self) -> Option<f64> {
        if self.active == 0 || self.tested_in == 0 {
            return None;
        }
        let active_rate = self.active_in as f64 / self.active as f64;
        let tested_rate = self.tested_in as f64 / self.tested as f64;
        Some(active_rate / tested_rate)
    }

    fn undefined(&self) -> EnrichError {
        if self.active == 0 {
            EnrichError::NoActiveSnps
        } else {
            EnrichError::NoTestedInPeaks
        }
    }
}

/// Validated sums over all genes.
fn pooled(genes: &[GeneCounts]) -> Result<GeneCounts, EnrichError> {
    if genes.is_empty() {
        return Err(EnrichError::NoGenes);
    }
    let mut total = GeneCounts::default();
    for (i, g) in genes.iter().enumerate() {
        g.check(i)?;
        total.add(g);
    }
    Ok(total)
}

fn sum_at(genes: &[GeneCounts], idx: &[usize]) -> GeneCounts {
    let mut total = GeneCounts::default();
    for &i in idx {
        total.add(&genes[i]);
    }
    total
}

/// `n_boot` resamples of `n` gene indices with replacement from the seeded ChaCha20 stream.
fn bootstrap(n: usize, n_boot: usize, seed: u64) -> impl Iterator<Item = Vec<usize>> {
    let key = blake3::derive_key(BOOTSTRAP_CONTEXT, &seed.to_le_bytes());
    let mut rng = ChaCha20Rng::from_seed(key);
    (0..n_boot).map(move |_| (0..n).map(|_| rng.random_range(0..n)).collect())
}

/// The 95% percentile interval of `reps` (sorted in place); NaN when empty.
fn percentile_ci(reps: &mut [f64]) -> (f64, f64) {
    if reps.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    reps.sort_by(f64::total_cmp);
    (quantile7(reps, CI_PROBS.0), quantile7(reps, CI_PROBS.1))
}

/// Type-7 (linear) quantile of sorted data, interpolated as numpy's `percentile` does.
fn quantile7(sorted: &[f64], q: f64) -> f64 {
    let h = (sorted.len() - 1) as f64 * q;
    let i = h.floor() as usize;
    let g = h - i as f64;
    let a = sorted[i];
    let Some(&b) = sorted.get(i + 1) else {
        return a;
    };
    if g >= 0.5 {
        b - (b - a) * (1.0 - g)
    } else {
        a + (b - a) * g
    }
}

/// P(X ≥ a) for X ~ Hypergeometric(population ΣT, ΣA draws, Σt successes): the one-sided Fisher
/// exact test; 1 when a row or column of the table is empty (as scipy).
fn fisher_greater(c: &GeneCounts) -> f64 {
    let (a, n_draw, k_succ, pop) = (c.active_in, c.active, c.tested_in, c.tested);
    if n_draw == pop || k_succ == pop || n_draw == 0 || k_succ == 0 {
        return 1.0;
    }
    let lo = (n_draw + k_succ).saturating_sub(pop);
    let hi = n_draw.min(k_succ);
    let mode = ((n_draw + 1) as f64 * (k_succ + 1) as f64 / (pop + 2) as f64).floor() as u64;
    let ln_pmf = |x: u64| ln_dhyper(x, k_succ, pop - k_succ, n_draw);
    upper_tail(a, lo, hi, mode, ln_pmf)
}

/// P(X ≥ a) for X ~ Binomial(ΣA, Σt/ΣT).
fn binomial_greater(c: &GeneCounts) -> f64 {
    let (k, n) = (c.active_in, c.active);
    let p = c.tested_in as f64 / c.tested as f64;
    let q = (c.tested - c.tested_in) as f64 / c.tested as f64;
    let mode = (((n + 1) as f64 * p).floor() as u64).min(n);
    let ln_pmf = |x: u64| ln_dbinom(x as f64, n as f64, p, q);
    upper_tail(k, 0, n, mode, ln_pmf)
}

/// P(X ≥ k) for a unimodal distribution on lo..=hi with mode `mode`, from its log pmf: the tail
/// beyond the mode is summed directly, otherwise one minus the lower tail below k.
fn upper_tail(k: u64, lo: u64, hi: u64, mode: u64, ln_pmf: impl Fn(u64) -> f64) -> f64 {
    if k <= lo {
        return 1.0;
    }
    if k > hi {
        return 0.0;
    }
    if k > mode {
        let (ln_first, rel) = tail_sum(ln_pmf(k), (k + 1..=hi).map(&ln_pmf));
        (ln_first + rel.ln()).exp().min(1.0)
    } else {
        let (ln_first, rel) = tail_sum(ln_pmf(k - 1), (lo..k - 1).rev().map(&ln_pmf));
        (1.0 - (ln_first + rel.ln()).exp()).max(0.0)
    }
}

/// Σ exp(lᵢ − l₀) over a tail whose log terms `ln_first`, `rest` decrease, stopping once a term
/// no longer changes the sum; returns (l₀, the sum), with l₀ = −∞ for an impossible tail.
fn tail_sum(ln_first: f64, rest: impl Iterator<Item = f64>) -> (f64, f64) {
    if ln_first == f64::NEG_INFINITY {
        return (ln_first, 1.0);
    }
    let mut sum = 1.0;
    for l in rest {
        let term = (l - ln_first).exp();
        sum += term;
        if term < 1e-17 * sum {
            break;
        }
    }
    (ln_first, sum)
}

/// ln 2π.
const LN_2PI: f64 = 1.837_877_066_409_345_5;

/// Stirling's error ln n! − ln(√(2πn) (n/e)ⁿ) for integers 0..=15 (0 at n = 0), from
/// `Decimal(n!).ln() - (n + 1/2) ln n + n - ln(2π)/2` at 50 digits.
const STIRLERR_SMALL: [f64; 16] = [
    0.0,
    0.08106146679532726,
    0.0413406959554093,
    0.02767792568499834,
    0.020790672103765093,
    0.016644691189821193,
    0.013876128823070748,
    0.01189670994589177,
    0.010411265261972096,
    0.009255462182712733,
    0.00833056343336287,
    0.007573675487951841,
    0.00694284010720953,
    0.006408994188004207,
    0.0059513701127588475,
    0.005554733551962801,
];

/// Stirling's error at a non-negative integer n: the table up to 15, the asymptotic series above.
fn stirlerr(n: f64) -> f64 {
    const S0: f64 = 1.0 / 12.0;
    const S1: f64 = 1.0 / 360.0;
    const S2: f64 = 1.0 / 1260.0;
    const S3: f64 = 1.0 / 1680.0;
    const S4: f64 = 1.0 / 1188.0;
    if n <= 15.0 {
        return STIRLERR_SMALL[n as usize];
    }
    let nn = n * n;
    if n > 500.0 {
        (S0 - S1 / nn) / n
    } else if n > 80.0 {
        (S0 - (S1 - S2 / nn) / nn) / n
    } else if n > 35.0 {
        (S0 - (S1 - (S2 - S3 / nn) / nn) / nn) / n
    } else {
        (S0 - (S1 - (S2 - (S3 - S4 / nn) / nn) / nn) / nn) / n
    }
}

/// The deviance term x ln(x/m) + m − x, without cancellation when x is close to m.
fn bd0(x: f64, m: f64) -> f64 {
    if (x - m).abs() < 0.1 * (x + m) {
        let mut v = (x - m) / (x + m);
        let mut s = (x - m) * v;
        let mut ej = 2.0 * x * v;
        v *= v;
        for j in 1..1000 {
            ej *= v;
            let s1 = s + ej / (2 * j + 1) as f64;
            if s1 == s {
                return s1;
            }
            s = s1;
        }
        s
    } else {
        x * (x / m).ln() + m - x
    }
}

/// ln P(X = x) for X ~ Binomial(n, p), q = 1 − p given separately (Loader 2000).
fn ln_dbinom(x: f64, n: f64, p: f64, q: f64) -> f64 {
    if p == 0.0 {
        return if x == 0.0 { 0.0 } else { f64::NEG_INFINITY };
    }
    if q == 0.0 {
        return if x == n { 0.0 } else { f64::NEG_INFINITY };
    }
    if x < 0.0 || x > n {
        return f64::NEG_INFINITY;
    }
    if x == 0.0 {
        if n == 0.0 {
            return 0.0;
        }
        return if p < 0.1 {
            -bd0(n, n * q) - n * p
        } else {
            n * q.ln()
        };
    }
    if x == n {
        return if q < 0.1 {
            -bd0(n, n * p) - n * q
        } else {
            n * p.ln()
        };
    }
    let lc = stirlerr(n) - stirlerr(x) - stirlerr(n - x) - bd0(x, n * p) - bd0(n - x, n * q);
    let lf = LN_2PI + x.ln() + (-x / n).ln_1p();
    lc - 0.5 * lf
}

/// ln P(X = x) for X ~ Hypergeometric with `r` successes and `b` failures in the urn and `n`
/// draws, as a ratio of binomial probabilities at p = n/(r + b) (Loader 2000).
fn ln_dhyper(x: u64, r: u64, b: u64, n: u64) -> f64 {
    let total = (r + b) as f64;
    let p = n as f64 / total;
    let q = (r + b - n) as f64 / total;
    let (x, r, b, n) = (x as f64, r as f64, b as f64, n as f64);
    ln_dbinom(x, r, p, q) + ln_dbinom(n - x, b, p, q) - ln_dbinom(n, total, p, q)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// scipy 1.17.1 reference p-values; see the header of the file and `enrich_scipy.py`.
    const FIXTURE: &str = include_str!("../../tests/data/enrich_scipy.tsv");

    fn rel(a: f64, b: f64) -> f64 {
        if a == b {
            0.0
        } else {
            ((a - b) / b).abs()
        }
    }

    fn counts(active_in: u64, active: u64, tested_in: u64, tested: u64) -> GeneCounts {
        GeneCounts {
            active_in,
            active,
            tested_in,
            tested,
        }
    }

    /// (table, scipy p_fisher, scipy p_binom, exact p_fisher, exact p_binom) per fixture row.
    fn fixture() -> Vec<(GeneCounts, [f64; 4])> {
        let mut lines = FIXTURE.lines().filter(|l| !l.starts_with('#'));
        assert!(lines.next().unwrap().starts_with("a\tA\tt\tT"));
        lines
            .map(|line| {
                let f: Vec<&str> = line.split('\t').collect();
                assert_eq!(f.len(), 8, "{line}");
                let u = |i: usize| f[i].parse::<u64>().unwrap();
                let p = |i: usize| f[i].parse::<f64>().unwrap();
                (counts(u(0), u(1), u(2), u(3)), [p(4), p(5), p(6), p(7)])
            })
            .collect()
    }

    /// Against exact rational tails to 1e-12; against scipy to 2e-10, because scipy (Boost) is
    /// itself off by up to 1e-10 relative on the tables with ΣT ≥ 4·10⁵ (see the fixture).
    #[test]
    fn exact_tests_match_scipy_and_exact_rationals() {
        let rows = fixture();
        assert!(rows.len() >= 15);
        assert!(rows
            .iter()
            .any(|r| r.0.tested >= 100_000 && r.1[2] < 1e-100));
        for (c, [pf, pb, pf_exact, pb_exact]) in rows {
            let (f, b) = (fisher_greater(&c), binomial_greater(&c));
            assert!(
                rel(f, pf_exact) < 1e-12,
                "{c:?}: fisher {f} vs exact {pf_exact}"
            );
            assert!(
                rel(b, pb_exact) < 1e-12,
                "{c:?}: binomial {b} vs exact {pb_exact}"
            );
            assert!(rel(f, pf) < 2e-10, "{c:?}: fisher {f} vs scipy {pf}");
            assert!(rel(b, pb) < 2e-10, "{c:?}: binomial {b} vs scipy {pb}");
        }
    }

    #[test]
    fn pooled_tests_and_fold_on_split_genes() {
        let genes = [counts(100, 600, 6000, 60000), counts(80, 400, 4000, 40000)];
        let e = enrichment(&genes, 200, 1).unwrap();
        assert_eq!(e.fold, (180.0 / 1000.0) / (10000.0 / 100000.0));
        assert!(rel(e.p_fisher, 7.298260358090553e-15) < 1e-12);
        assert!(rel(e.p_binomial, 1.0464103870562928e-14) < 1e-12);
        assert_eq!((e.n_genes, e.n_active, e.n_boot_used), (2, 1000, 200));
    }

    /// Three genes with folds 0.5, 1.5 and 3.0; all 27 ordered resamples, each with probability
    /// 1/27, and numpy 2.4.6 on them:
    /// `np.percentile([fold(genes[list(i)]) for i in itertools.product(range(3), repeat=3)], [2.5, 97.5])`
    /// = [0.825, 2.7291666666666656] (type 7, numpy's default `method='linear'`).
    fn three_genes() -> [GeneCounts; 3] {
        [
            counts(1, 10, 20, 100),
            counts(6, 20, 40, 200),
            counts(15, 25, 30, 150),
        ]
    }

    #[test]
    fn percentile_of_the_complete_bootstrap_enumeration_matches_numpy() {
        let g = three_genes();
        let mut all = Vec::new();
        for i in 0..3 {
            for j in 0..3 {
                for k in 0..3 {
                    all.push(sum_at(&g, &[i, j, k]).fold().unwrap());
                }
            }
        }
        let (lo, hi) = percentile_ci(&mut all);
        assert!(rel(lo, 0.825) < 1e-14, "{lo}");
        assert!(rel(hi, 2.7291666666666656) < 1e-14, "{hi}");
    }

    /// Each unordered resample {i, j, k} has probability (number of orderings)/27; the bootstrap
    /// frequencies over 54000 replicates must lie within 5 binomial standard deviations, and the
    /// interval ends are then the folds of the resamples {0, 0, 0} and {2, 2, 2} (each a 1/27 > 2.5%
    /// atom), which numpy's enumeration above gives as 0.5 and 2.9999999999999996.
    #[test]
    fn bootstrap_draws_follow_the_multinomial_resampling_law() {
        let g = three_genes();
        let n_boot = 54_000;
        let mut freq = std::collections::HashMap::new();
        for mut idx in bootstrap(3, n_boot, 7) {
            idx.sort_unstable();
            *freq.entry(idx).or_insert(0usize) += 1;
        }
        assert_eq!(freq.len(), 10);
        for (idx, &count) in &freq {
            let distinct = {
                let mut d = idx.clone();
                d.dedup();
                d.len()
            };
            let p = [0.0, 1.0, 3.0, 6.0][distinct] / 27.0;
            let expected = p * n_boot as f64;
            let sd = (n_boot as f64 * p * (1.0 - p)).sqrt();
            assert!(
                (count as f64 - expected).abs() < 5.0 * sd,
                "{idx:?}: {count} vs {expected}"
            );
        }
        let e = enrichment(&g, n_boot, 7).unwrap();
        assert_eq!((e.ci_lo, e.ci_hi), (0.5, 2.9999999999999996));
    }

    #[test]
    fn bootstrap_is_deterministic_given_the_seed() {
        let g = many_genes(10, 1);
        let a = enrichment(&g, 500, 42).unwrap();
        assert_eq!(a, enrichment(&g, 500, 42).unwrap());
        let b = enrichment(&g, 500, 43).unwrap();
        assert_eq!(a.fold, b.fold);
        assert_ne!((a.ci_lo, a.ci_hi), (b.ci_lo, b.ci_hi));
        let draws: Vec<Vec<usize>> = bootstrap(5, 3, 42).collect();
        assert_eq!(draws, bootstrap(5, 3, 42).collect::<Vec<_>>());
        assert_ne!(draws, bootstrap(5, 3, 43).collect::<Vec<_>>());
    }

    #[test]
    fn identical_genes_collapse_the_interval_to_the_point() {
        let g = vec![counts(3, 7, 11, 97); 40];
        let e = enrichment(&g, 300, 5).unwrap();
        assert_eq!((e.ci_lo, e.ci_hi), (e.fold, e.fold));
        let d = enrichment_difference(&g, &g, 300, 5).unwrap();
        assert_eq!((d.diff, d.ci_lo, d.ci_hi), (0.0, 0.0, 0.0));
    }

    /// 300 genes with uneven counts from a fixed generator; the interval holds the estimate.
    fn many_genes(seed: u64, boost: u64) -> Vec<GeneCounts> {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        (0..300)
            .map(|_| {
                let tested = rng.random_range(50..2000u64);
                let tested_in = rng.random_range(0..tested / 5);
                let active = rng.random_range(0..30u64).min(tested);
                let active_in = rng.random_range(
                    0..=(active.min(tested_in) / 2 + boost).min(active.min(tested_in)),
                );
                counts(active_in, active, tested_in, tested)
            })
            .collect()
    }

    #[test]
    fn interval_contains_the_estimate() {
        let g = many_genes(11, 2);
        let e = enrichment(&g, 2000, 3).unwrap();
        assert!(e.ci_lo < e.fold && e.fold < e.ci_hi, "{e:?}");
        assert!(e.n_boot_used == 2000);
    }

    /// When every gene of method b has the same rates, fold(b) is the same in every replicate, so
    /// the paired interval is method a's interval shifted by fold(b).
    #[test]
    fn paired_difference_uses_the_same_draws_as_enrichment() {
        let a = many_genes(12, 3);
        let b: Vec<GeneCounts> = (0..a.len() as u64)
            .map(|i| counts(i + 1, 2 * (i + 1), 4 * (i + 1), 40 * (i + 1)))
            .collect();
        let ea = enrichment(&a, 1000, 9).unwrap();
        let eb = enrichment(&b, 1000, 9).unwrap();
        assert_eq!((eb.ci_lo, eb.ci_hi), (eb.fold, eb.fold));
        let d = enrichment_difference(&a, &b, 1000, 9).unwrap();
        assert_eq!(d.diff, ea.fold - eb.fold);
        assert!((d.ci_lo - (ea.ci_lo - eb.fold)).abs() < 1e-12);
        assert!((d.ci_hi - (ea.ci_hi - eb.fold)).abs() < 1e-12);
    }

    /// The paired bootstrap applies one draw to both methods: a method against itself differs by
    /// exactly zero in every replicate, however heterogeneous the genes.
    #[test]
    fn a_method_against_itself_has_a_zero_width_interval() {
        let a = many_genes(13, 2);
        assert!(enrichment(&a, 500, 4).unwrap().ci_hi > enrichment(&a, 500, 4).unwrap().ci_lo);
        let d = enrichment_difference(&a, &a, 500, 4).unwrap();
        assert_eq!(
            (d.diff, d.ci_lo, d.ci_hi, d.n_boot_used),
            (0.0, 0.0, 0.0, 500)
        );
    }

    #[test]
    fn undefined_replicates_are_skipped() {
        let g = [counts(2, 5, 10, 100), counts(0, 0, 5, 50)];
        let e = enrichment(&g, 1000, 1).unwrap();
        assert!(
            e.n_boot_used < 1000 && e.n_boot_used > 600,
            "{}",
            e.n_boot_used
        );
        assert_eq!((e.ci_lo, e.ci_hi), (2.0 / 5.0 / 0.1, 2.0 / 5.0 / 0.1));
    }

    #[test]
    fn errors_name_the_problem() {
        assert_eq!(enrichment(&[], 10, 0), Err(EnrichError::NoGenes));
        let ok = counts(1, 2, 3, 10);
        assert_eq!(enrichment(&[ok], 0, 0), Err(EnrichError::NoBootstrap));
        assert_eq!(
            enrichment(&[counts(0, 0, 3, 10)], 10, 0),
            Err(EnrichError::NoActiveSnps)
        );
        assert_eq!(
            enrichment(&[counts(0, 2, 0, 10)], 10, 0),
            Err(EnrichError::NoTestedInPeaks)
        );
        assert_eq!(
            enrichment_difference(&[ok], &[ok, ok], 10, 0),
            Err(EnrichError::LengthMismatch { a: 1, b: 2 })
        );
        let bad = [
            (counts(3, 2, 5, 10), "active_in <= active"),
            (counts(3, 4, 2, 10), "active_in <= tested_in"),
            (counts(0, 11, 2, 10), "active <= tested"),
            (counts(0, 1, 11, 10), "tested_in <= tested"),
            (
                counts(0, 8, 5, 10),
                "tested_in - active_in <= tested - active",
            ),
        ];
        for (c, rule) in bad {
            assert_eq!(
                enrichment(&[ok, c], 10, 0),
                Err(EnrichError::InconsistentCounts {
                    gene: 1,
                    counts: c,
                    rule
                })
            );
        }
    }
}
