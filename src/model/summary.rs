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
        assert!(
            j < self.p,
            "quantile: SNP {j} out of range for p = {}",
            self.p
        );
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
        lo.iter()
            .zip(&hi)
            .map(|(&l, &h)| l > 0.0 || h < 0.0)
            .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// tests/data/diagnostics/sparse_draws.txt, written by generate.py with numpy.
    struct Fixture {
        draws: SparseDraws,
        quantiles: Vec<(usize, f64, f64)>,
        stats: Vec<(String, Vec<f64>)>,
    }

    fn fixture() -> Fixture {
        let text = include_str!("../../tests/data/diagnostics/sparse_draws.txt");
        let mut draws = None;
        let mut quantiles = Vec::new();
        let mut stats = Vec::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (key, rest) = line.split_once(' ').unwrap_or((line, ""));
            match key {
                "p" => draws = Some(SparseDraws::new(rest.parse().unwrap())),
                "draw" => {
                    let (idx, val): (Vec<u32>, Vec<f32>) = rest
                        .split_whitespace()
                        .map(|e| {
                            let (j, v) = e.split_once(':').unwrap();
                            (j.parse::<u32>().unwrap(), v.parse::<f64>().unwrap() as f32)
                        })
                        .unzip();
                    draws.as_mut().unwrap().push_draw(&idx, &val);
                }
                "quantile" => {
                    let f: Vec<&str> = rest.split_whitespace().collect();
                    quantiles.push((
                        f[0].parse().unwrap(),
                        f[1].parse().unwrap(),
                        f[2].parse().unwrap(),
                    ));
                }
                _ => stats.push((
                    key.to_string(),
                    rest.split_whitespace()
                        .map(|v| v.parse().unwrap())
                        .collect(),
                )),
            }
        }
        Fixture {
            draws: draws.unwrap(),
            quantiles,
            stats,
        }
    }

    #[test]
    fn quantiles_and_moments_match_numpy_fixture() {
        let fx = fixture();
        assert_eq!(fx.draws.n_draws(), 257);
        assert_eq!(fx.quantiles.len(), 8 * 15);
        for &(j, q, want) in &fx.quantiles {
            assert_eq!(fx.draws.quantile(j, q), want, "SNP {j} q {q}");
        }
        let (lo, hi) = fx.draws.ci95();
        for j in 0..8 {
            let at = |q: f64| {
                fx.quantiles
                    .iter()
                    .find(|e| e.0 == j && e.1 == q)
                    .unwrap()
                    .2
            };
            assert_eq!(lo[j], at(0.025), "SNP {j} lower");
            assert_eq!(hi[j], at(0.975), "SNP {j} upper");
        }
        let mut worst = 0.0f64;
        for (key, want) in &fx.stats {
            let got = match key.as_str() {
                "mean" => fx.draws.mean(),
                "sd" => fx.draws.sd(),
                "pip" => fx.draws.pip(),
                "prob_positive" => fx.draws.prob_positive(),
                other => panic!("unknown fixture key {other}"),
            };
            for (g, w) in got.iter().zip(want) {
                let d = (g - w).abs() / w.abs().max(1e-300);
                assert!(d < 1e-12 || g == w, "{key}: {g} vs {w}");
                worst = worst.max(if g == w { 0.0 } else { d });
            }
        }
        println!("max rel diff vs numpy (mean, sd, pip, prob_positive): {worst:e}");
        let active = fx.draws.active();
        assert_eq!(
            active,
            vec![false, false, false, false, true, false, true, false]
        );
    }

    /// Order-statistic index ⌈qT⌉ − 1 for q = num/den, in integers.
    fn exact_index(t: usize, num: usize, den: usize) -> usize {
        (t * num).div_ceil(den).max(1) - 1
    }

    #[test]
    fn quantiles_match_dense_sorted_draws() {
        let mut rng = ChaCha8Rng::seed_from_u64(21);
        let probs = [
            (0, 1),
            (1, 40),
            (1, 20),
            (1, 10),
            (1, 4),
            (1, 2),
            (3, 4),
            (9, 10),
            (19, 20),
            (39, 40),
            (1, 1),
        ];
        for &(p, t, density) in &[(5, 1, 0.5), (7, 40, 0.9), (12, 333, 0.3), (4, 1000, 0.99)] {
            let mut store = SparseDraws::new(p);
            let mut dense = vec![vec![0.0f32; t]; p];
            for d in 0..t {
                let (mut idx, mut val) = (Vec::new(), Vec::new());
                for (j, col) in dense.iter_mut().enumerate() {
                    if rng.random::<f64>() < density * (j + 1) as f64 / p as f64 {
                        let v = (rng.random_range(-3..=8) as f32) * 0.25;
                        idx.push(j as u32);
                        val.push(v);
                        col[d] = v;
                    }
                }
                store.push_draw(&idx, &val);
            }
            let (lo, hi) = store.ci95();
            for (j, col) in dense.iter_mut().enumerate() {
                col.sort_by(|a, b| a.partial_cmp(b).unwrap());
                for &(num, den) in &probs {
                    let want = f64::from(col[exact_index(t, num, den)]);
                    let q = num as f64 / den as f64;
                    assert_eq!(store.quantile(j, q), want, "T={t} SNP {j} q={num}/{den}");
                }
                assert_eq!(lo[j], f64::from(col[exact_index(t, 1, 40)]));
                assert_eq!(hi[j], f64::from(col[exact_index(t, 39, 40)]));
            }
        }
    }

    fn store_of(t: usize, columns: &[Vec<f32>]) -> SparseDraws {
        let mut store = SparseDraws::new(columns.len());
        for d in 0..t {
            let (mut idx, mut val) = (Vec::new(), Vec::new());
            for (j, col) in columns.iter().enumerate() {
                if col[d] != 0.0 {
                    idx.push(j as u32);
                    val.push(col[d]);
                }
            }
            store.push_draw(&idx, &val);
        }
        store
    }

    /// `pos` positive draws, then `neg` negative ones, zeros for the rest of `t`.
    fn column(t: usize, pos: usize, neg: usize) -> Vec<f32> {
        (0..t)
            .map(|d| {
                if d < pos {
                    0.5 + d as f32 * 0.01
                } else if d < pos + neg {
                    -0.5 - d as f32 * 0.01
                } else {
                    0.0
                }
            })
            .collect()
    }

    #[test]
    fn active_means_pip_at_least_0975_with_sign_agreement() {
        let t = 40;
        let cases = [
            (40, 0, true),
            (39, 0, false),
            (0, 39, true),
            (0, 38, false),
            (39, 1, false),
            (1, 39, true),
            (20, 20, false),
            (0, 0, false),
        ];
        let columns: Vec<Vec<f32>> = cases.iter().map(|&(p, n, _)| column(t, p, n)).collect();
        let store = store_of(t, &columns);
        let active = store.active();
        let pip = store.pip();
        for (j, &(p, n, want)) in cases.iter().enumerate() {
            assert_eq!(active[j], want, "{p} positive and {n} negative of {t}");
            if active[j] {
                assert!(pip[j] >= 0.975);
            }
        }

        let mut rng = ChaCha8Rng::seed_from_u64(22);
        for t in [1usize, 7, 40, 199, 200, 401] {
            let lo_count = (t * 39) / 40;
            let columns: Vec<Vec<f32>> = (0..30)
                .map(|_| {
                    let pos = rng.random_range(lo_count.saturating_sub(2)..=t);
                    let neg = rng.random_range(0..=t - pos);
                    if rng.random::<bool>() {
                        column(t, pos, neg)
                    } else {
                        column(t, neg, pos)
                    }
                })
                .collect();
            let store = store_of(t, &columns);
            let (pip, pp, active) = (store.pip(), store.prob_positive(), store.active());
            for (j, col) in columns.iter().enumerate() {
                let pos = col.iter().filter(|&&v| v > 0.0).count();
                let neg = col.iter().filter(|&&v| v < 0.0).count();
                let want = 40 * pos > 39 * t || 40 * neg >= 39 * t;
                assert_eq!(active[j], want, "T={t}: {pos} positive, {neg} negative");
                assert_eq!(pip[j], (pos + neg) as f64 / t as f64);
                assert_eq!(pp[j], pos as f64 / t as f64);
                if active[j] {
                    assert!(pip[j] >= 0.975);
                }
            }
        }
    }

    #[test]
    fn empty_store_gives_nan() {
        let store = SparseDraws::new(3);
        assert_eq!(store.n_draws(), 0);
        assert!(store.quantile(1, 0.5).is_nan());
        assert!(store.pip()[0].is_nan() && store.mean()[2].is_nan() && store.sd()[1].is_nan());
        assert_eq!(store.active(), vec![false; 3]);
        let mut one = SparseDraws::new(2);
        one.push_draw(&[1], &[0.5]);
        assert_eq!(one.quantile(1, 0.0), 0.5);
        assert!(one.quantile(1, 1.5).is_nan());
        assert!(one.sd()[1].is_nan());
    }

    #[test]
    fn bytes_count_indices_values_and_offsets() {
        let mut store = SparseDraws::new(10);
        let offsets = std::mem::size_of::<usize>();
        assert_eq!(store.bytes(), offsets);
        store.push_draw(&[0, 3, 9], &[1.0, -2.0, 0.5]);
        store.push_draw(&[], &[]);
        store.push_draw(&[4], &[0.25]);
        assert_eq!(store.n_draws(), 3);
        assert_eq!(store.bytes(), 4 * 8 + 4 * offsets);
    }

    #[test]
    #[should_panic(expected = "strictly ascending")]
    fn unsorted_draw_panics() {
        SparseDraws::new(5).push_draw(&[3, 1], &[1.0, 2.0]);
    }

    #[test]
    #[should_panic(expected = "out of range")]
    fn out_of_range_index_panics() {
        SparseDraws::new(5).push_draw(&[1, 5], &[1.0, 2.0]);
    }

    #[test]
    fn thinning_is_smallest_power_of_two_that_fits() {
        let cap = 256 << 20;
        assert_eq!(thinning_for_cap(24_000, 100.0, cap), 1);
        assert_eq!(thinning_for_cap(24_000, 2_000.0, cap), 4);
        assert_eq!(thinning_for_cap(1_000, 1.0, 12_000), 1);
        assert_eq!(thinning_for_cap(1_000, 1.0, 11_999), 2);
        assert_eq!(thinning_for_cap(1_000, 1.0, 6_000), 2);
        assert_eq!(thinning_for_cap(1_000, 1.0, 5_999), 4);
        assert_eq!(thinning_for_cap(1_001, 1.0, 6_000), 4);
        assert_eq!(thinning_for_cap(0, 50.0, 0), 1);
        assert_eq!(thinning_for_cap(10, 0.0, 0), 1);
        assert_eq!(thinning_for_cap(10, 1.0, 0), 16);
    }
}
