//! Posterior summaries of the sparse SNP effects (MODEL.md §6 "SNP effects" and "Memory bound"): a
//! memory-bound store of the kept draws of β (per draw, the active SNP indices as u32 and their
//! effects as f32) and the exact summaries computed from it over all T pooled draws with the zeros of
//! inactive draws included but never materialized: PIP, mean, sd, P(β > 0), type-1 (inverse-ECDF)
//! quantiles, the 95% CI and the "active SNP" call. Also the power-of-two thinning rule that keeps
//! the store under its cap. In-memory only: writing the summaries belongs to `io`.

/// Projected bytes per (draw, active SNP) for the memory bound: 8 stored (u32 index + f32 value) plus
/// 4 transient while [`SparseDraws::ci95`] groups the values by SNP.
pub const BYTES_PER_ENTRY: usize = 12;

/// Sparse store of draws: for each kept draw, the active SNP indices (u32) and their effects (f32).
/// A SNP absent from a draw has β = 0 and δ = 0 in that draw.
#[derive(Debug, Clone, PartialEq)]
pub struct SparseDraws {
    p: usize,
    starts: Vec<usize>,
    idx: Vec<u32>,
    val: Vec<f32>,
}

impl SparseDraws {
    /// An empty store for `p` SNPs.
    ///
    /// # Panics
    /// If `p` does not fit a u32 index.
    pub fn new(p: usize) -> Self {
        assert!(
            p <= u32::MAX as usize + 1,
            "SparseDraws: {p} SNPs do not fit u32 indices"
        );
        Self {
            p,
            starts: vec![0],
            idx: Vec::new(),
            val: Vec::new(),
        }
    }

    /// Number of SNPs.
    pub fn p(&self) -> usize {
        self.p
    }

    /// Appends one draw: the active SNPs `idx` (strictly ascending, each < p) and their effects `val`.
    ///
    /// # Panics
    /// If the lengths differ, `idx` is not strictly ascending, or an index is ≥ p.
    pub fn push_draw(&mut self, idx: &[u32], val: &[f32]) {
        assert_eq!(
            idx.len(),
            val.len(),
            "push_draw: {} indices but {} values",
            idx.len(),
            val.len()
        );
        assert!(
            idx.windows(2).all(|w| w[0] < w[1]),
            "push_draw: indices must be strictly ascending"
        );
        if let Some(&last) = idx.last() {
            assert!(
                (last as usize) < self.p,
                "push_draw: SNP index {last} out of range for p = {}",
                self.p
            );
        }
        self.idx.extend_from_slice(idx);
        self.val.extend_from_slice(val);
        self.starts.push(self.idx.len());
    }

    /// Number of draws stored (T).
    pub fn n_draws(&self) -> usize {
        self.starts.len() - 1
    }

    /// Bytes held by the stored draws: 4 per index, 4 per value and one `usize` offset per draw.
    pub fn bytes(&self) -> usize {
        4 * self.idx.len() + 4 * self.val.len() + std::mem::size_of::<usize>() * self.starts.len()
    }

    /// Type-1 (inverse ECDF) quantile of β_j over all T draws, zeros included, computed without
    /// materializing the zeros: the k-th smallest draw with k = ⌈qT⌉ (k ≥ 1), evaluated with the same
    /// floating-point steps as numpy `np.quantile(b, q, method="inverted_cdf")`. NaN when there are no
    /// draws or q is not in [0, 1].
    ///
    /// # Panics
    /// If `j` ≥ p.
    pub fn quantile(&self, j: usize, q: f64) -> f64 {
        assert!(j < self.p, "quantile: SNP {j} out of range for p = {}", self.p);
        let mut values: Vec<f32> = (0..self.n_draws())
            .filter_map(|d| {
                let (idx, val) = self.draw(d);
                idx.binary_search(&(j as u32)).ok().map(|k| val[k])
            })
            .collect();
        values.sort_by(f32::total_cmp);
        quantile_with_zeros(&values, self.n_draws(), q)
    }

    /// Posterior inclusion probability per SNP: the fraction of draws in which it is stored. NaN for
    /// every SNP when there are no draws.
    pub fn pip(&self) -> Vec<f64> {
        let t = self.n_draws() as f64;
        let mut count = vec![0usize; self.p];
        for &j in &self.idx {
            count[j as usize] += 1;
        }
        count.into_iter().map(|c| c as f64 / t).collect()
    }

    /// Posterior mean of β_j over all draws, zeros included (so E[β_j | δ_j = 1] = mean / PIP).
    /// NaN when there are no draws.
    pub fn mean(&self) -> Vec<f64> {
        let t = self.n_draws() as f64;
        let mut sum = vec![0.0f64; self.p];
        for (&j, &v) in self.idx.iter().zip(&self.val) {
            sum[j as usize] += f64::from(v);
        }
        sum.into_iter().map(|s| s / t).collect()
    }

    /// Posterior standard deviation of β_j over all draws, zeros included, with the T − 1 denominator
    /// (two-pass, so no cancellation). NaN when there are fewer than two draws.
    pub fn sd(&self) -> Vec<f64> {
        let t = self.n_draws();
        let mean = self.mean();
        let mut count = vec![0usize; self.p];
        let mut ss = vec![0.0f64; self.p];
        for (&j, &v) in self.idx.iter().zip(&self.val) {
            let j = j as usize;
            let d = f64::from(v) - mean[j];
            ss[j] += d * d;
            count[j] += 1;
        }
        (0..self.p)
            .map(|j| {
                let zeros = (t - count[j]) as f64;
                ((ss[j] + zeros * mean[j] * mean[j]) / (t as f64 - 1.0)).sqrt()
            })
            .collect()
    }

    /// Type-1 quantiles q₀.₀₂₅ and q₀.₉₇₅ of β_j over all draws, zeros included, per SNP (see
    /// [`SparseDraws::quantile`]). NaN when there are no draws.
    pub fn ci95(&self) -> (Vec<f64>, Vec<f64>) {
        let t = self.n_draws();
        let mut starts = vec![0usize; self.p + 1];
        for &j in &self.idx {
            starts[j as usize + 1] += 1;
        }
        for j in 0..self.p {
            starts[j + 1] += starts[j];
        }
        let mut fill = starts.clone();
        let mut by_snp = vec![0.0f32; self.idx.len()];
        for (&j, &v) in self.idx.iter().zip(&self.val) {
            let slot = &mut fill[j as usize];
            by_snp[*slot] = v;
            *slot += 1;
        }
        let mut lo = Vec::with_capacity(self.p);
        let mut hi = Vec::with_capacity(self.p);
        for j in 0..self.p {
            let values = &mut by_snp[starts[j]..starts[j + 1]];
            values.sort_by(f32::total_cmp);
            lo.push(quantile_with_zeros(values, t, 0.025));
            hi.push(quantile_with_zeros(values, t, 0.975));
        }
        (lo, hi)
    }

    /// The "active SNP" call per SNP: q₀.₀₂₅ > 0 or q₀.₉₇₅ < 0. Because of the point mass at 0 this
    /// means, exactly, that more than 97.5% of the draws have β_j > 0 or at least 97.5% have β_j < 0
    /// (the type-1 quantile makes the two sides differ at the boundary); either way PIP_j ≥ 0.975 with
    /// sign agreement. False for every SNP when there are no draws.
    pub fn active(&self) -> Vec<bool> {
        let (lo, hi) = self.ci95();
        lo.iter().zip(&hi).map(|(&l, &h)| l > 0.0 || h < 0.0).collect()
    }

    /// P(β_j > 0) per SNP: the fraction of draws with a strictly positive effect. NaN when there are
    /// no draws.
    pub fn prob_positive(&self) -> Vec<f64> {
        let t = self.n_draws() as f64;
        let mut count = vec![0usize; self.p];
        for (&j, &v) in self.idx.iter().zip(&self.val) {
            if v > 0.0 {
                count[j as usize] += 1;
            }
        }
        count.into_iter().map(|c| c as f64 / t).collect()
    }

    fn draw(&self, d: usize) -> (&[u32], &[f32]) {
        let range = self.starts[d]..self.starts[d + 1];
        (&self.idx[range.clone()], &self.val[range])
    }
}

/// MODEL.md §6 memory bound: the smallest power-of-two thinning so that the projected size of `n_kept`
/// draws with mean `mean_active` active SNPs (12 bytes per (draw, active SNP)) fits `cap_bytes`.
/// Thinning by k keeps ⌈n_kept / k⌉ draws. If not even one draw fits, returns the smallest power of
/// two ≥ `n_kept`, which keeps a single draw.
///
/// # Panics
/// If `mean_active` is negative or not finite.
pub fn thinning_for_cap(n_kept: usize, mean_active: f64, cap_bytes: usize) -> usize {
    assert!(
        mean_active.is_finite() && mean_active >= 0.0,
        "thinning_for_cap: mean active count must be finite and ≥ 0, got {mean_active}"
    );
    let mut thin = 1usize;
    loop {
        let draws = n_kept.div_ceil(thin);
        let projected = draws as f64 * mean_active * BYTES_PER_ENTRY as f64;
        if projected <= cap_bytes as f64 || draws <= 1 {
            return thin;
        }
        thin *= 2;
    }
}

/// Type-1 quantile of `t` draws made of the ascending `sorted` stored values plus `t − len` implicit
/// zeros.
fn quantile_with_zeros(sorted: &[f32], t: usize, q: f64) -> f64 {
    if t == 0 || !(0.0..=1.0).contains(&q) {
        return f64::NAN;
    }
    let implicit = t - sorted.len();
    let k = type1_index(t, q);
    let non_positive = sorted.partition_point(|&v| v <= 0.0);
    if k < non_positive + implicit {
        let negative = sorted.partition_point(|&v| v < 0.0);
        if k < negative {
            f64::from(sorted[k])
        } else {
            0.0
        }
    } else {
        f64::from(sorted[k - implicit])
    }
}

/// 0-based order statistic of the type-1 quantile of `t` values, as numpy's "inverted_cdf":
/// v = tq − 1, take ⌊v⌋ when v is whole and ⌊v⌋ + 1 otherwise, clipped to [0, t − 1].
fn type1_index(t: usize, q: f64) -> usize {
    let v = t as f64 * q - 1.0;
    let f = v.floor();
    let k = if v - f == 0.0 { f } else { f + 1.0 };
    (k.max(0.0) as usize).min(t - 1)
}
