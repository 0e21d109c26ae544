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
/// than 4 draws per chain, any NaN draw, or a constant input (every draw equal). Chains that are each
/// constant at different values give +∞ or a huge finite value (rounding in the chain variances).
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
    if bulk.is_nan() || tail.is_nan() {
        f64::NAN
    } else {
        bulk.max(tail)
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
    ess_below(0.05).min(ess_below(0.95))
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
