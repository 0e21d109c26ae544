//! Convergence diagnostics for MCMC traces (MODEL.md §6 "Diagnostics", §7 tolerances): rank-normalized
//! split-R̂, bulk/tail/basic effective sample sizes (Vehtari, Gelman, Simpson, Carpenter & Bürkner 2021,
//! *Bayesian Analysis*), batch-means Monte Carlo standard errors, and the per-fit warning flags.
//! Slices in, numbers out: no I/O, no state. The estimators follow ArviZ 0.23 (`az.rhat(x,
//! method="rank")`, `az.ess(x, method="bulk" | "tail" | "mean")`) operation for operation, including
//! its edge cases: any NaN draw gives NaN; R̂ needs at least 2 chains and every ESS at least 4 draws
//! per chain, otherwise NaN; a constant input has R̂ = NaN (0/0 between- over within-chain variance)
//! and ESS equal to the number of draws left after splitting. Autocovariances use a radix-2 FFT,
//! so every ESS costs O(N log N).

use crate::stats::normal;

/// R̂ above this raises [`Flags::rhat`].
pub const RHAT_MAX: f64 = 1.01;
/// Bulk ESS below this raises [`Flags::ess`].
pub const ESS_BULK_MIN: f64 = 400.0;
/// A between-chain PIP difference above this raises [`Flags::pip_disagree`].
pub const PIP_DIFF_MAX: f64 = 0.1;

/// Draws per chain below which every ESS is NaN (as ArviZ).
const MIN_DRAWS: usize = 4;

/// Rank-normalized split-R̂: the larger of the bulk R̂ (split chains, pooled ranks mapped through Φ⁻¹)
/// and the tail R̂ (the same after folding the split draws about their pooled median), as ArviZ
/// `az.rhat(x, method="rank")`.
///
/// `chains` holds one slice per chain, all the same length. Returns NaN for fewer than 2 chains, fewer
/// than 4 draws per chain, any NaN draw, or a constant input (every draw equal). When only the folded
/// draws are constant (e.g. 0/1 draws, half of each) the tail R̂ is NaN and the bulk R̂ is returned,
/// as ArviZ's Python `max`. Chains that are each constant at different values give +∞ or a huge
/// finite value (rounding in the chain variances).
///
/// # Panics
/// If the chains differ in length.
pub fn rhat_rank(chains: &[&[f64]]) -> f64 {
    let Some(split) = SplitChains::new(chains, 2) else {
        return f64::NAN;
    };
    let bulk = rhat_basic(&split.with_values(z_scale(&split.values)));
    let med = median(&split.values);
    let folded: Vec<f64> = split.values.iter().map(|x| (x - med).abs()).collect();
    let tail = rhat_basic(&split.with_values(z_scale(&folded)));
    if tail > bulk {
        tail
    } else {
        bulk
    }
}

/// Bulk effective sample size: the ESS of the rank-normalized split chains, as ArviZ
/// `az.ess(x, method="bulk")`. NaN for fewer than 4 draws per chain or any NaN draw.
///
/// # Panics
/// If the chains differ in length.
pub fn ess_bulk(chains: &[&[f64]]) -> f64 {
    let Some(split) = SplitChains::new(chains, 1) else {
        return f64::NAN;
    };
    ess_of(&split.with_values(z_scale(&split.values)))
}

/// Tail effective sample size: the smaller of the split-chain ESS of the indicators I(x ≤ q₀.₀₅) and
/// I(x ≤ q₀.₉₅), where the quantiles are type-7 (linear interpolation) over all pooled draws, as ArviZ
/// `az.ess(x, method="tail")`. The ESS of I(x ≤ q₀.₉₅) equals that of its complement I(x > q₀.₉₅).
/// NaN for fewer than 4 draws per chain or any NaN draw.
///
/// # Panics
/// If the chains differ in length.
pub fn ess_tail(chains: &[&[f64]]) -> f64 {
    let Some(split) = SplitChains::new(chains, 1) else {
        return f64::NAN;
    };
    let mut pooled: Vec<f64> = chains.iter().flat_map(|c| c.iter().copied()).collect();
    pooled.sort_by(f64::total_cmp);
    let ess_below = |q: f64| {
        let cut = quantile_type7(&pooled, q);
        let ind = split
            .values
            .iter()
            .map(|&x| if x <= cut { 1.0 } else { 0.0 })
            .collect();
        ess_of(&split.with_values(ind))
    };
    let (low, high) = (ess_below(0.05), ess_below(0.95));
    if high < low {
        high
    } else {
        low
    }
}

/// Split-chain effective sample size of the raw draws (no rank normalization), Geyer's initial
/// positive and initial monotone sequence estimators, as ArviZ `az.ess(x, method="mean")`. This is the
/// ESS that goes with the MCSE of a posterior mean. NaN for fewer than 4 draws per chain or any NaN
/// draw.
///
/// # Panics
/// If the chains differ in length.
pub fn ess_basic(chains: &[&[f64]]) -> f64 {
    match SplitChains::new(chains, 1) {
        Some(split) => ess_of(&split),
        None => f64::NAN,
    }
}

/// Batch-means Monte Carlo standard error of the mean of one trace: the first
/// `n_batches · ⌊N / n_batches⌋` draws are cut into `n_batches` consecutive batches (the trailing
/// remainder is dropped, as ArviZ `_mc_error`), and the result is sd(batch means) / √n_batches with the
/// n−1 denominator (Flegal & Jones 2010; ArviZ's `_mc_error` uses n, smaller by √((b−1)/b)).
/// NaN if `n_batches < 2` or fewer draws than batches.
pub fn batch_means_mcse(draws: &[f64], n_batches: usize) -> f64 {
    if n_batches < 2 || draws.len() < n_batches {
        return f64::NAN;
    }
    let size = draws.len() / n_batches;
    let means: Vec<f64> = draws[..size * n_batches]
        .chunks_exact(size)
        .map(mean)
        .collect();
    (variance(&means, 1) / n_batches as f64).sqrt()
}

/// Warning flags for one fit (MODEL.md §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flags {
    /// R̂ > 1.01.
    pub rhat: bool,
    /// Bulk ESS < 400.
    pub ess: bool,
    /// Some SNP's PIP differs by more than 0.1 between two chains.
    pub pip_disagree: bool,
}

/// The flags for a fit's worst R̂, smallest bulk ESS and largest between-chain PIP difference.
/// A NaN argument raises no flag: a trace that is constant by construction has R̂ = NaN and must not
/// be flagged, so traces containing NaN draws have to be caught where they are produced.
pub fn flags(rhat: f64, ess_bulk: f64, max_pip_diff: f64) -> Flags {
    Flags {
        rhat: rhat > RHAT_MAX,
        ess: ess_bulk < ESS_BULK_MIN,
        pip_disagree: max_pip_diff > PIP_DIFF_MAX,
    }
}

/// max over SNPs j and chain pairs (c, c′) of |PIP_c,j − PIP_c′,j|, from one PIP vector per chain.
/// 0 for fewer than two chains or no SNPs; NaN if any PIP is NaN.
///
/// # Panics
/// If the vectors differ in length.
pub fn max_pip_disagreement(pip_per_chain: &[&[f64]]) -> f64 {
    let Some(first) = pip_per_chain.first() else {
        return 0.0;
    };
    let p = first.len();
    assert!(
        pip_per_chain.iter().all(|c| c.len() == p),
        "max_pip_disagreement: every chain needs {p} PIPs"
    );
    let mut worst = 0.0_f64;
    for j in 0..p {
        let mut lo = f64::INFINITY;
        let mut hi = f64::NEG_INFINITY;
        for c in pip_per_chain {
            let v = c[j];
            if v.is_nan() {
                return f64::NAN;
            }
            lo = lo.min(v);
            hi = hi.max(v);
        }
        worst = worst.max(hi - lo);
    }
    worst
}

/// Chains cut into halves: `2M` split chains of `len` draws each, stored chain after chain (the
/// middle draw of an odd-length chain is dropped).
struct SplitChains {
    values: Vec<f64>,
    len: usize,
}

impl SplitChains {
    /// None when ArviZ would return NaN: fewer than `min_chains` chains, fewer than 4 draws, any NaN.
    fn new(chains: &[&[f64]], min_chains: usize) -> Option<Self> {
        let n = chains.first().map_or(0, |c| c.len());
        assert!(
            chains.iter().all(|c| c.len() == n),
            "diagnostics: every chain needs {n} draws"
        );
        if chains.len() < min_chains.max(1)
            || n < MIN_DRAWS
            || chains.iter().any(|c| c.iter().any(|x| x.is_nan()))
        {
            return None;
        }
        let half = n / 2;
        let mut values = Vec::with_capacity(2 * half * chains.len());
        for c in chains {
            values.extend_from_slice(&c[..half]);
            values.extend_from_slice(&c[n - half..]);
        }
        Some(Self { values, len: half })
    }

    fn with_values(&self, values: Vec<f64>) -> Self {
        debug_assert_eq!(values.len(), self.values.len());
        Self {
            values,
            len: self.len,
        }
    }

    fn chains(&self) -> std::slice::ChunksExact<'_, f64> {
        self.values.chunks_exact(self.len)
    }

    fn n_chains(&self) -> usize {
        self.values.len() / self.len
    }
}

/// Classic R̂ of already split chains: √((B/W + n − 1) / n).
fn rhat_basic(split: &SplitChains) -> f64 {
    let n = split.len as f64;
    let means: Vec<f64> = split.chains().map(mean).collect();
    let within = split.chains().map(|c| variance(c, 1)).sum::<f64>() / split.n_chains() as f64;
    let between = n * variance(&means, 1);
    ((between / within + n - 1.0) / n).sqrt()
}

/// ESS of already split chains (ArviZ `_ess`): Geyer's initial positive sequence on paired
/// autocorrelations, then the initial monotone sequence, τ̂ bounded below by 1/log₁₀(total draws).
fn ess_of(split: &SplitChains) -> f64 {
    let total = split.values.len() as f64;
    let (lo, hi) = split
        .values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        });
    if hi - lo < 1e-15 {
        return total;
    }
    let n = split.len;
    let nf = n as f64;
    let m = split.n_chains() as f64;
    let mut acov_mean = vec![0.0; n];
    let mut means = Vec::with_capacity(split.n_chains());
    for c in split.chains() {
        for (a, v) in acov_mean.iter_mut().zip(autocov(c)) {
            *a += v / m;
        }
        means.push(mean(c));
    }
    let mean_var = acov_mean[0] * nf / (nf - 1.0);
    let mut var_plus = mean_var * (nf - 1.0) / nf;
    if split.n_chains() > 1 {
        var_plus += variance(&means, 1);
    }
    let rho = |lag: usize| 1.0 - (mean_var - acov_mean[lag]) / var_plus;

    let mut rho_hat = vec![0.0; n];
    let mut rho_even = 1.0;
    let mut rho_odd = rho(1);
    rho_hat[0] = rho_even;
    rho_hat[1] = rho_odd;
    let mut t = 1;
    while t + 3 < n && rho_even + rho_odd > 0.0 {
        rho_even = rho(t + 1);
        rho_odd = rho(t + 2);
        if rho_even + rho_odd >= 0.0 {
            rho_hat[t + 1] = rho_even;
            rho_hat[t + 2] = rho_odd;
        }
        t += 2;
    }
    // max_t = t − 2 may be −1; `kept` = max_t + 1 = t − 1 ≥ 0 is how many leading terms count twice.
    let kept = t - 1;
    if rho_even > 0.0 {
        rho_hat[kept] = rho_even;
    }
    let mut t = 1;
    while t + 3 <= kept {
        if rho_hat[t + 1] + rho_hat[t + 2] > rho_hat[t - 1] + rho_hat[t] {
            rho_hat[t + 1] = (rho_hat[t - 1] + rho_hat[t]) / 2.0;
            rho_hat[t + 2] = rho_hat[t + 1];
        }
        t += 2;
    }
    let tau = -1.0 + 2.0 * rho_hat[..kept].iter().sum::<f64>() + rho_hat[kept];
    if rho_hat.iter().any(|r| r.is_nan()) {
        return f64::NAN;
    }
    total / tau.max(1.0 / total.log10())
}

/// Biased (divide by n) autocovariance at lags 0..n of one series, via a zero-padded FFT.
fn autocov(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    let size = (2 * n).next_power_of_two();
    let mu = mean(x);
    let mut re = vec![0.0; size];
    let mut im = vec![0.0; size];
    for (r, v) in re.iter_mut().zip(x) {
        *r = v - mu;
    }
    fft(&mut re, &mut im, false);
    for (r, i) in re.iter_mut().zip(im.iter_mut()) {
        *r = *r * *r + *i * *i;
        *i = 0.0;
    }
    fft(&mut re, &mut im, true);
    let scale = 1.0 / (size as f64 * n as f64);
    re.truncate(n);
    re.iter_mut().for_each(|r| *r *= scale);
    re
}

/// In-place iterative radix-2 complex FFT (unnormalized; `inverse` flips the sign of the exponent).
/// The length must be a power of two.
fn fft(re: &mut [f64], im: &mut [f64], inverse: bool) {
    let n = re.len();
    debug_assert!(n.is_power_of_two() && im.len() == n);
    let mut j = 0;
    for i in 1..n {
        let mut bit = n >> 1;
        while j & bit != 0 {
            j ^= bit;
            bit >>= 1;
        }
        j |= bit;
        if i < j {
            re.swap(i, j);
            im.swap(i, j);
        }
    }
    let sign = if inverse { 1.0 } else { -1.0 };
    let mut len = 2;
    while len <= n {
        let half = len / 2;
        let step = sign * 2.0 * std::f64::consts::PI / len as f64;
        for k in 0..half {
            let (s, c) = (step * k as f64).sin_cos();
            for start in (0..n).step_by(len) {
                let (a, b) = (start + k, start + k + half);
                let tr = re[b] * c - im[b] * s;
                let ti = re[b] * s + im[b] * c;
                re[b] = re[a] - tr;
                im[b] = im[a] - ti;
                re[a] += tr;
                im[a] += ti;
            }
        }
        len <<= 1;
    }
}

/// Rank normalization: average ranks r over all values (ties share their mean rank), then
/// Φ⁻¹((r − 3/8) / (S + 1/4)) (Blom 1958).
fn z_scale(values: &[f64]) -> Vec<f64> {
    let s = values.len();
    let mut order: Vec<usize> = (0..s).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut z = vec![0.0; s];
    let denom = s as f64 + 0.25;
    let mut start = 0;
    while start < s {
        let mut end = start + 1;
        while end < s && values[order[end]] == values[order[start]] {
            end += 1;
        }
        let rank = (start + end + 1) as f64 / 2.0;
        let zi = normal::quantile((rank - 0.375) / denom);
        for &i in &order[start..end] {
            z[i] = zi;
        }
        start = end;
    }
    z
}

/// Median with the two middle values averaged for an even count.
fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Type-7 quantile of sorted values (at least two), with the floating-point operations of scipy's
/// `mquantiles(alphap=1, betap=1)` that ArviZ calls, so that ties at the cut compare the same way.
fn quantile_type7(sorted: &[f64], q: f64) -> f64 {
    let n = sorted.len() as f64;
    let m = 1.0 - q;
    let aleph = n * q + m;
    let k = aleph.clamp(1.0, n - 1.0).floor();
    let gamma = (aleph - k).clamp(0.0, 1.0);
    let k = k as usize;
    (1.0 - gamma) * sorted[k - 1] + gamma * sorted[k]
}

fn mean(x: &[f64]) -> f64 {
    x.iter().sum::<f64>() / x.len() as f64
}

/// Two-pass variance with denominator n − ddof.
fn variance(x: &[f64], ddof: usize) -> f64 {
    let mu = mean(x);
    x.iter().map(|v| (v - mu) * (v - mu)).sum::<f64>() / (x.len() - ddof) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use rand_distr::StandardNormal;

    /// One fixture of tests/data/diagnostics/ (written by generate.py with ArviZ).
    struct Case {
        name: &'static str,
        chains: Vec<Vec<f64>>,
        rhat_rank: f64,
        ess_bulk: f64,
        ess_tail: f64,
        ess_mean: f64,
        mcse_bm: Vec<(usize, f64)>,
    }

    fn parse(name: &'static str, text: &str) -> Case {
        let mut case = Case {
            name,
            chains: Vec::new(),
            rhat_rank: f64::NAN,
            ess_bulk: f64::NAN,
            ess_tail: f64::NAN,
            ess_mean: f64::NAN,
            mcse_bm: Vec::new(),
        };
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let mut fields = line.split_whitespace();
            let key = fields.next().unwrap();
            let nums: Vec<f64> = fields.map(|f| f.parse().unwrap()).collect();
            match key {
                "rhat_rank" => case.rhat_rank = nums[0],
                "ess_bulk" => case.ess_bulk = nums[0],
                "ess_tail" => case.ess_tail = nums[0],
                "ess_mean" => case.ess_mean = nums[0],
                "mcse_bm" => case.mcse_bm.push((nums[0] as usize, nums[1])),
                "chain" => case.chains.push(nums),
                other => panic!("{name}: unknown fixture key {other}"),
            }
        }
        case
    }

    macro_rules! fixture {
        ($name:literal) => {
            parse(
                $name,
                include_str!(concat!("../../tests/data/diagnostics/", $name, ".txt")),
            )
        };
    }

    fn cases() -> Vec<Case> {
        vec![
            fixture!("iid"),
            fixture!("ar1"),
            fixture!("shifted"),
            fixture!("cauchy_odd"),
            fixture!("indicator"),
            fixture!("indicator_rare0"),
            fixture!("counts"),
            fixture!("scale_tail"),
            fixture!("short"),
            fixture!("single"),
            fixture!("constant"),
            fixture!("balanced01"),
        ]
    }

    fn refs(chains: &[Vec<f64>]) -> Vec<&[f64]> {
        chains.iter().map(Vec::as_slice).collect()
    }

    fn rel_diff(got: f64, want: f64) -> f64 {
        if got.is_nan() && want.is_nan() {
            0.0
        } else {
            ((got - want) / want).abs()
        }
    }

    #[test]
    fn rhat_and_ess_match_arviz_fixtures() {
        let mut worst = [0.0f64; 4];
        for case in cases() {
            let c = refs(&case.chains);
            let pairs = [
                ("rhat_rank", rhat_rank(&c), case.rhat_rank),
                ("ess_bulk", ess_bulk(&c), case.ess_bulk),
                ("ess_tail", ess_tail(&c), case.ess_tail),
                ("ess_basic", ess_basic(&c), case.ess_mean),
            ];
            for (k, (what, got, want)) in pairs.into_iter().enumerate() {
                let d = rel_diff(got, want);
                assert!(
                    d < 1e-12,
                    "{}: {what} = {got}, ArviZ {want} (rel diff {d:e})",
                    case.name
                );
                worst[k] = worst[k].max(d);
            }
        }
        println!(
            "max rel diff vs ArviZ: rhat {:e}, bulk {:e}, tail {:e}, basic {:e}",
            worst[0], worst[1], worst[2], worst[3]
        );
    }

    #[test]
    fn batch_means_mcse_matches_numpy_fixtures() {
        let mut n = 0;
        for case in cases() {
            for &(b, want) in &case.mcse_bm {
                let got = batch_means_mcse(&case.chains[0], b);
                let d = rel_diff(got, want);
                assert!(d < 1e-12, "{} b={b}: {got} vs {want} ({d:e})", case.name);
                n += 1;
            }
        }
        assert_eq!(n, 5);
    }

    #[test]
    fn fixtures_span_the_flag_thresholds() {
        let by_name = |n: &str| cases().into_iter().find(|c| c.name == n).unwrap();
        let shifted = by_name("shifted");
        assert!(rhat_rank(&refs(&shifted.chains)) > RHAT_MAX);
        let scale = by_name("scale_tail");
        let c = refs(&scale.chains);
        assert!(
            rhat_rank(&c) > 1.1,
            "only the folded (tail) R-hat sees a scale difference"
        );
        assert!(ess_tail(&c) < 100.0 && ess_bulk(&c) > 1000.0);
        let iid = by_name("iid");
        assert!(rhat_rank(&refs(&iid.chains)) < RHAT_MAX);
    }

    fn normals(rng: &mut ChaCha8Rng, n: usize) -> Vec<f64> {
        (0..n).map(|_| rng.sample(StandardNormal)).collect()
    }

    fn ar1(rng: &mut ChaCha8Rng, n: usize, phi: f64) -> Vec<f64> {
        let mut x = Vec::with_capacity(n);
        let mut prev: f64 = rng.sample::<f64, _>(StandardNormal) / (1.0 - phi * phi).sqrt();
        for _ in 0..n {
            x.push(prev);
            prev = phi * prev + rng.sample::<f64, _>(StandardNormal);
        }
        x
    }

    #[test]
    fn ess_of_iid_draws_is_close_to_n() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let chains: Vec<Vec<f64>> = (0..4).map(|_| normals(&mut rng, 10_000)).collect();
        let c = refs(&chains);
        let n = 40_000.0;
        for (what, ess) in [
            ("bulk", ess_bulk(&c)),
            ("tail", ess_tail(&c)),
            ("basic", ess_basic(&c)),
        ] {
            assert!((ess / n - 1.0).abs() < 0.05, "{what} ESS {ess} vs N = {n}");
        }
        let r = rhat_rank(&c);
        assert!((r - 1.0).abs() < 0.005, "R-hat of iid chains {r}");
    }

    #[test]
    fn ess_of_ar1_matches_closed_form() {
        let phi = 0.9;
        let mut rng = ChaCha8Rng::seed_from_u64(12);
        let chains: Vec<Vec<f64>> = (0..4).map(|_| ar1(&mut rng, 10_000, phi)).collect();
        let c = refs(&chains);
        let expected = 40_000.0 * (1.0 - phi) / (1.0 + phi);
        for (what, ess) in [("bulk", ess_bulk(&c)), ("basic", ess_basic(&c))] {
            assert!(
                (ess / expected - 1.0).abs() < 0.15,
                "{what} ESS {ess} vs {expected}"
            );
        }
    }

    #[test]
    fn batch_means_mcse_matches_closed_forms() {
        let mut rng = ChaCha8Rng::seed_from_u64(13);
        let iid = normals(&mut rng, 100_000);
        let want = 1.0 / (100_000f64).sqrt();
        let got = batch_means_mcse(&iid, 100);
        assert!((got / want - 1.0).abs() < 0.25, "iid MCSE {got} vs {want}");
        let phi = 0.9;
        let x = ar1(&mut rng, 200_000, phi);
        let want = (1.0 / ((1.0 - phi) * (1.0 - phi)) / 200_000.0).sqrt();
        let got = batch_means_mcse(&x, 100);
        assert!(
            (got / want - 1.0).abs() < 0.25,
            "AR(1) MCSE {got} vs {want}"
        );
        assert!(batch_means_mcse(&x, 1).is_nan());
        assert!(batch_means_mcse(&x[..3], 4).is_nan());
    }

    #[test]
    fn edge_cases_follow_arviz() {
        let constant = [[2.5; 9]; 3];
        let c: Vec<&[f64]> = constant.iter().map(|x| x.as_slice()).collect();
        assert!(rhat_rank(&c).is_nan());
        assert_eq!(ess_bulk(&c), 24.0);
        assert_eq!(ess_tail(&c), 24.0);
        assert_eq!(ess_basic(&c), 24.0);

        let levels: Vec<Vec<f64>> = (0..3).map(|k| vec![k as f64; 10]).collect();
        let r = rhat_rank(&refs(&levels));
        assert!(r > 1e6, "chains stuck at different values: R-hat {r}");

        let short = [[0.1, 0.5, 0.2], [0.3, 0.4, 0.0]];
        let c: Vec<&[f64]> = short.iter().map(|x| x.as_slice()).collect();
        assert!(rhat_rank(&c).is_nan() && ess_bulk(&c).is_nan() && ess_tail(&c).is_nan());

        let one = [0.3, 0.1, 0.7, 0.2, 0.9, 0.4];
        assert!(rhat_rank(&[&one]).is_nan());
        assert!(ess_basic(&[&one]).is_finite());
        assert!(rhat_rank(&[]).is_nan() && ess_bulk(&[]).is_nan());

        let with_nan = [0.3, 0.1, f64::NAN, 0.2, 0.9];
        assert!(rhat_rank(&[&one[..5], &with_nan]).is_nan());
        assert!(ess_bulk(&[&with_nan]).is_nan());
    }

    #[test]
    #[should_panic(expected = "every chain needs")]
    fn unequal_chains_panic() {
        rhat_rank(&[&[0.0, 1.0, 2.0, 3.0], &[0.0, 1.0, 2.0]]);
    }

    #[test]
    fn flags_use_strict_thresholds_and_ignore_nan() {
        assert_eq!(flags(1.01, 400.0, 0.1), Flags::default());
        assert_eq!(
            flags(1.0101, 399.9, 0.1001),
            Flags {
                rhat: true,
                ess: true,
                pip_disagree: true
            }
        );
        assert_eq!(flags(f64::NAN, f64::NAN, f64::NAN), Flags::default());
    }

    #[test]
    fn pip_disagreement_is_largest_pairwise_gap() {
        let a = [0.1, 0.5, 0.9];
        let b = [0.15, 0.3, 0.95];
        let c = [0.1, 0.45, 0.9];
        assert!((max_pip_disagreement(&[&a, &b, &c]) - 0.2).abs() < 1e-15);
        assert_eq!(max_pip_disagreement(&[&a]), 0.0);
        assert_eq!(max_pip_disagreement(&[]), 0.0);
        assert!(max_pip_disagreement(&[&a, &[0.1, f64::NAN, 0.9]]).is_nan());
    }

    #[test]
    fn fft_autocovariance_matches_direct_sums() {
        let mut rng = ChaCha8Rng::seed_from_u64(14);
        for n in [1, 2, 3, 17, 64, 100] {
            let x: Vec<f64> = (0..n).map(|_| rng.random::<f64>() * 4.0 - 1.0).collect();
            let mu = x.iter().sum::<f64>() / n as f64;
            let fast = autocov(&x);
            for lag in 0..n {
                let direct = (0..n - lag)
                    .map(|i| (x[i] - mu) * (x[i + lag] - mu))
                    .sum::<f64>()
                    / n as f64;
                assert!((fast[lag] - direct).abs() < 1e-12, "n={n} lag={lag}");
            }
        }
    }

    #[test]
    fn rank_normalization_averages_ties() {
        // scipy 1.17.1: stats.norm.ppf((stats.rankdata(x) - 0.375) / (len(x) + 0.25))
        let x = [3.0, 1.0, 3.0, 2.0, -0.5, 3.0];
        let want = [
            0.643345405392917,
            -0.643345405392917,
            0.643345405392917,
            -0.20189347914185088,
            -1.2815515655446004,
            0.643345405392917,
        ];
        for (g, w) in z_scale(&x).iter().zip(want) {
            assert!((g - w).abs() < 1e-14 * w.abs().max(1.0), "{g} vs {w}");
        }
    }
}
