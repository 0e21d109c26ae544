//! Statistics of exported prediction models: the SNP covariance of reference dosages and the
//! pruning rule that decides which SNPs of a fitted model are exported. Pure functions only.

/// Mean-centred dosages: `p` rows of length `n` (row-major), a missing dosage (NaN) replaced by
/// its SNP's mean over the samples that have one (so it contributes zero after centring).
#[derive(Debug, Clone)]
pub struct Centred {
    pub p: usize,
    pub n: usize,
    data: Vec<f64>,
}

impl Centred {
    /// Centres `p × n` dosages (row-major).
    pub fn new(dosage: &[f32], p: usize, n: usize) -> Centred {
        debug_assert_eq!(dosage.len(), p * n);
        let mut data = vec![0.0f64; p * n];
        for j in 0..p {
            let row = &dosage[j * n..(j + 1) * n];
            let (sum, cnt) = row
                .iter()
                .filter(|v| v.is_finite())
                .fold((0.0f64, 0usize), |(s, c), &v| (s + v as f64, c + 1));
            let mean = if cnt > 0 { sum / cnt as f64 } else { 0.0 };
            for (c, &v) in data[j * n..(j + 1) * n].iter_mut().zip(row) {
                *c = if v.is_finite() { v as f64 - mean } else { 0.0 };
            }
        }
        Centred { p, n, data }
    }

    fn row(&self, j: usize) -> &[f64] {
        &self.data[j * self.n..(j + 1) * self.n]
    }

    fn denom(&self) -> f64 {
        (self.n.max(2) - 1) as f64
    }

    /// Covariance of SNPs `a` and `b` (denominator n − 1, as `numpy.cov`).
    pub fn cov(&self, a: usize, b: usize) -> f64 {
        self.row(a)
            .iter()
            .zip(self.row(b))
            .map(|(x, y)| x * y)
            .sum::<f64>()
            / self.denom()
    }

    /// The covariance matrix of the SNPs `idx` (row-major `k × k`, k = `idx.len()`).
    pub fn cov_matrix(&self, idx: &[usize]) -> Vec<f64> {
        let k = idx.len();
        let mut out = vec![0.0; k * k];
        for a in 0..k {
            for b in a..k {
                let v = self.cov(idx[a], idx[b]);
                out[a * k + b] = v;
                out[b * k + a] = v;
            }
        }
        out
    }

    /// Σ v for a vector of per-SNP coefficients (length p), without forming Σ.
    fn cov_times(&self, v: &[f64]) -> Vec<f64> {
        let mut pred = vec![0.0; self.n];
        for (j, &vj) in v.iter().enumerate() {
            if vj != 0.0 {
                for (s, x) in pred.iter_mut().zip(self.row(j)) {
                    *s += vj * x;
                }
            }
        }
        let d = self.denom();
        (0..self.p)
            .map(|j| {
                self.row(j)
                    .iter()
                    .zip(&pred)
                    .map(|(x, s)| x * s)
                    .sum::<f64>()
                    / d
            })
            .collect()
    }
}

/// Sample covariance (denominator n − 1, as `numpy.cov`) of `p` dosage rows of length `n`
/// (row-major `p × n`), missing dosages mean-imputed; returns the `p × p` matrix, row-major.
pub fn dosage_covariance(dosage: &[f32], p: usize, n: usize) -> Vec<f64> {
    let c = Centred::new(dosage, p, n);
    c.cov_matrix(&(0..p).collect::<Vec<_>>())
}

/// The SNPs of a model kept for export, by [`prune`].
#[derive(Debug, Clone, PartialEq)]
pub struct Pruned {
    /// Indices of the kept SNPs, ascending.
    pub keep: Vec<usize>,
    /// Correlation, in the reference genotypes, between the prediction of the kept SNPs (their
    /// weights unchanged) and the prediction of the full model; NaN when the full model predicts
    /// no variance.
    pub r: f64,
}

/// The pruning rule of the export: SNPs with a non-zero weight are ranked by |w_l|·σ_l (their
/// contribution to the predicted expression's standard deviation, ignoring LD) and added in that
/// order until the pruned prediction correlates with the full prediction at `min_r` or more in
/// the reference genotypes, or `max_snps` SNPs are kept. The correlation is
/// w_Sᵀ Σ w / √(w_Sᵀ Σ w_S · wᵀ Σ w), updated in O(p·n) per added SNP, so Σ over all p cis
/// SNPs is never formed. A model whose full prediction has no variance keeps no SNP.
pub fn prune(w: &[f64], x: &Centred, min_r: f64, max_snps: usize) -> Pruned {
    let p = w.len();
    debug_assert_eq!(x.p, p);
    let sigma_w = x.cov_times(w);
    let total: f64 = w.iter().zip(&sigma_w).map(|(a, b)| a * b).sum();
    if total.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return Pruned {
            keep: Vec::new(),
            r: f64::NAN,
        };
    }
    let var: Vec<f64> = (0..p).map(|j| x.cov(j, j).max(0.0)).collect();
    let mut order: Vec<usize> = (0..p).filter(|&j| w[j] != 0.0).collect();
    let score = |j: usize| w[j].abs() * var[j].sqrt();
    order.sort_by(|&a, &b| score(b).total_cmp(&score(a)).then(a.cmp(&b)));
    // pred_s = X_S w_S (centred), kept per sample; w_Sᵀ Σ w_S = |pred_s|² / (n − 1).
    let mut pred_s = vec![0.0f64; x.n];
    let mut cross = 0.0; // w_Sᵀ Σ w
    let mut keep = Vec::new();
    let mut r = 0.0;
    for &l in &order {
        if keep.len() >= max_snps {
            break;
        }
        for (s, v) in pred_s.iter_mut().zip(x.row(l)) {
            *s += w[l] * v;
        }
        cross += w[l] * sigma_w[l];
        let var_s = pred_s.iter().map(|s| s * s).sum::<f64>() / x.denom();
        keep.push(l);
        r = if var_s > 0.0 {
            (cross / (var_s * total).sqrt()).min(1.0)
        } else {
            0.0
        };
        if r >= min_r {
            break;
        }
    }
    keep.sort_unstable();
    Pruned { keep, r }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn covariance_matches_numpy_cov_with_mean_imputation() {
        // numpy: np.cov([[0,1,2,1],[2,1,0,1]]) = [[2/3,-2/3],[-2/3,2/3]]
        let d = [0.0f32, 1.0, 2.0, 1.0, 2.0, 1.0, 0.0, 1.0];
        let c = dosage_covariance(&d, 2, 4);
        let t = 2.0 / 3.0;
        for (a, b) in c.iter().zip(&[t, -t, -t, t]) {
            assert!((a - b).abs() < 1e-15, "{c:?}");
        }
        // A missing value becomes the row mean (1.0) and adds nothing to the sum of squares.
        let d = [0.0f32, f32::NAN, 2.0, 1.0];
        let c = dosage_covariance(&d, 1, 4);
        assert!((c[0] - 2.0 / 3.0).abs() < 1e-15, "{c:?}");
    }

    /// Dosages whose covariance is a multiple of the identity: rows of ±1 patterns that are
    /// mutually orthogonal (Hadamard rows without the constant one), n = 8, variance 8/7.
    fn orthogonal(p: usize) -> Vec<f32> {
        let h = |i: usize, j: usize| {
            if (i & j).count_ones().is_multiple_of(2) {
                1.0f32
            } else {
                -1.0
            }
        };
        (0..p)
            .flat_map(|i| (0..8).map(move |j| 1.0 + h(i + 1, j)))
            .collect()
    }

    #[test]
    fn prune_keeps_what_is_needed_and_reports_r() {
        // Independent SNPs with equal variance: r of the top-k set = sqrt(sum_k w² / sum w²).
        let w = [0.1, 3.0, 0.0, -1.0, 0.2];
        let x = Centred::new(&orthogonal(5), 5, 8);
        assert!((x.cov(0, 1)).abs() < 1e-12 && (x.cov(2, 2) - 8.0 / 7.0).abs() < 1e-12);
        let total: f64 = w.iter().map(|x| x * x).sum();
        let pr = prune(&w, &x, 0.99, 10);
        assert_eq!(pr.keep, vec![1, 3]);
        assert!((pr.r - ((9.0 + 1.0) / total).sqrt()).abs() < 1e-12);
        // min_r = 1 keeps every non-zero weight and never the zero one.
        let all = prune(&w, &x, 1.0, 10);
        assert_eq!(all.keep, vec![0, 1, 3, 4]);
        assert!((all.r - 1.0).abs() < 1e-12);
        // The cap wins over the correlation target.
        let capped = prune(&w, &x, 1.0, 1);
        assert_eq!(capped.keep, vec![1]);
        assert!((capped.r - (9.0 / total).sqrt()).abs() < 1e-12);
        // No predicted variance: nothing kept.
        let none = prune(&[0.0, 0.0], &Centred::new(&orthogonal(2), 2, 8), 0.9, 10);
        assert!(none.keep.is_empty() && none.r.is_nan());
    }

    #[test]
    fn prune_accounts_for_ld() {
        // Two identical SNPs with equal weights: either one predicts the same expression up to
        // scale, so r = 1 after the first.
        let d = [0.0f32, 1.0, 2.0, 1.0, 0.0, 1.0, 2.0, 1.0];
        let pr = prune(&[1.0, 1.0], &Centred::new(&d, 2, 4), 0.999, 10);
        assert_eq!(pr.keep.len(), 1);
        assert!((pr.r - 1.0).abs() < 1e-12);
    }
}
