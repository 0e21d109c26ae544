//! Per-gene preprocessing (MODEL.md §1): SNP quality control, the nuisance projection and scaling
//! that turn raw training dosages and expression into the standardized design `(X, y)`, the
//! stored transform that maps test samples onto the same scale, and the per-SNP annotation
//! features. Every quantity is estimated on the training samples only. Pure functions of slices:
//! no I/O, no logging, no randomness.

/// Relative tolerance of the pivoted QR of the nuisance design: after normalizing every column
/// to unit norm, columns whose residual norm (orthogonal to the columns already chosen) is below
/// this value are aliased and dropped.
pub const QR_TOL: f64 = 1e-10;

/// SNPs with `s_j² = ‖x_j‖²/n` below this value (after the nuisance projection) are dropped.
pub const MIN_SCALE_SQ: f64 = 1e-8;

/// Expression counts as constant when `‖(I − H_C)e‖ <= ZERO_Y_TOL · ‖e‖` on the training samples.
pub const ZERO_Y_TOL: f64 = 1e-10;

/// Annotation columns whose standard deviation (denominator `p`) is below this value are dropped.
pub const MIN_ANNOTATION_SD: f64 = 1e-8;

/// Errors of [`build_design`].
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PreprocessError {
    /// An input slice does not have the length implied by the dimensions.
    #[error("{what} has {got} entries, expected {expected}")]
    ShapeMismatch {
        /// Which input.
        what: &'static str,
        /// Its length.
        got: usize,
        /// The length implied by `n_all`, `p` and `q0`.
        expected: usize,
    },
    /// A training index is not a sample.
    #[error("training index {index} is out of range for {n_all} samples")]
    SampleOutOfRange {
        /// The offending index.
        index: usize,
        /// Number of samples.
        n_all: usize,
    },
    /// Fewer training samples than nuisance columns plus one.
    #[error("n_eff = n - q = {n} - {q} < 1: too few training samples for the covariates")]
    TooFewSamples {
        /// Training samples.
        n: usize,
        /// Kept nuisance columns, intercept included.
        q: usize,
    },
    /// A training expression value is NaN or infinite.
    #[error("expression of sample {sample} is not finite ({value})")]
    NonFiniteExpression {
        /// Sample index (into `0..n_all`).
        sample: usize,
        /// The value.
        value: f64,
    },
    /// A training covariate value is NaN or infinite.
    #[error("covariate {covariate} of sample {sample} is not finite ({value})")]
    NonFiniteCovariate {
        /// Sample index (into `0..n_all`).
        sample: usize,
        /// Covariate column (0-based, intercept not counted).
        covariate: usize,
        /// The value.
        value: f64,
    },
    /// A training dosage is infinite (NaN means missing and is allowed).
    #[error("dosage of SNP {snp} in sample {sample} is infinite ({value})")]
    InfiniteDosage {
        /// SNP index (into `0..p`).
        snp: usize,
        /// Sample index (into `0..n_all`).
        sample: usize,
        /// The value.
        value: f32,
    },
    /// Expression is constant after covariate adjustment.
    #[error("expression has zero variance after covariate adjustment")]
    ZeroVarianceExpression,
}

/// SNP QC thresholds (MODEL.md §1.3).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct QcThresholds {
    /// Drop a SNP if its missing fraction is strictly above this (default 0.10).
    pub max_missing: f64,
    /// Drop a SNP if its minor-allele frequency is strictly below this (default 0.01).
    pub min_maf: f64,
    /// Drop a SNP if its minor-allele count is strictly below this (default 5).
    pub min_mac: f64,
}

impl Default for QcThresholds {
    fn default() -> Self {
        QcThresholds {
            max_missing: 0.10,
            min_maf: 0.01,
            min_mac: 5.0,
        }
    }
}

/// The QC decision for one SNP; the first failing rule of §1.3 wins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QcOutcome {
    /// Passes every rule.
    Keep,
    /// Missing fraction above `max_missing` (or no observed dosage at all).
    TooMuchMissing,
    /// MAF below `min_maf`.
    LowMaf,
    /// Minor-allele count below `min_mac`.
    LowMac,
    /// All observed dosages are equal (variance exactly 0).
    Monomorphic,
}

/// QC statistics of one SNP, computed over its observed dosages.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SnpQc {
    /// The decision.
    pub outcome: QcOutcome,
    /// Fraction of missing dosages (1 for an empty input).
    pub missing_rate: f64,
    /// `f̂ = Σ dosage / (2 n_obs)`, the alternative-allele frequency (NaN if nothing is observed).
    pub alt_freq: f64,
    /// `min(f̂, 1 − f̂)`.
    pub maf: f64,
    /// `min(Σ dosage, 2 n_obs − Σ dosage)`.
    pub mac: f64,
}

/// QC of one SNP's dosages (MODEL.md §1.3), rules in order: missing fraction `> max_missing`,
/// MAF `< min_maf`, MAC `< min_mac`, then zero variance. Non-finite dosages (NaN, ±∞) count as
/// missing; [`build_design`] rejects infinities separately. Missing values filled with the mean
/// do not change the variance test, so it is applied to the observed values.
pub fn snp_qc(dosage: &[f32], t: &QcThresholds) -> SnpQc {
    let n = dosage.len();
    let mut n_obs = 0usize;
    let mut sum = 0.0f64;
    let mut first: Option<f32> = None;
    let mut varies = false;
    for &d in dosage.iter().filter(|d| d.is_finite()) {
        n_obs += 1;
        sum += f64::from(d);
        match first {
            None => first = Some(d),
            Some(f) => varies |= f != d,
        }
    }
    let missing_rate = if n == 0 {
        1.0
    } else {
        (n - n_obs) as f64 / n as f64
    };
    let alt_freq = sum / (2.0 * n_obs as f64);
    let maf = alt_freq.min(1.0 - alt_freq);
    let mac = sum.min(2.0 * n_obs as f64 - sum);
    let outcome = if n_obs == 0 || missing_rate > t.max_missing {
        QcOutcome::TooMuchMissing
    } else if maf < t.min_maf {
        QcOutcome::LowMaf
    } else if mac < t.min_mac {
        QcOutcome::LowMac
    } else if !varies {
        QcOutcome::Monomorphic
    } else {
        QcOutcome::Keep
    };
    SnpQc {
        outcome,
        missing_rate,
        alt_freq,
        maf,
        mac,
    }
}

/// The standardized training design of one fit and the transform that produced it (MODEL.md §1.4–1.7).
#[derive(Clone, Debug, PartialEq)]
pub struct Design {
    /// Training samples.
    pub n: usize,
    /// Kept SNPs.
    pub p: usize,
    /// Kept nuisance columns (intercept included).
    pub q: usize,
    /// `n − q`.
    pub n_eff: usize,
    /// Column-major `n × p`: `(I − H_C)(G − 2f̂) / s_j`, so `‖x_j‖² = n`.
    pub x: Vec<f64>,
    /// `(I − H_C)e / sd_y`, so `‖y‖² = n_eff`.
    pub y: Vec<f64>,
    /// `2f̂_j`, the training mean dosage of each kept SNP (also the fill value for missing dosages).
    pub center: Vec<f64>,
    /// `s_j = ‖(I − H_C)(g_j − 2f̂_j)‖ / √n`.
    pub scale: Vec<f64>,
    /// `‖(I − H_C)e‖ / √n_eff`.
    pub sd_y: f64,
    /// Column-major `q × p`: `Γ = (CᵀC)⁻¹Cᵀ(G_train − 2f̂)`, rows in `cov_kept` order.
    pub gamma: Vec<f64>,
    /// `γ̂_C = (CᵀC)⁻¹Cᵀe` (length `q`, `cov_kept` order).
    pub gamma_y: Vec<f64>,
    /// Kept columns of `[1, covariates]`, ascending (0 = intercept, `t` = covariate `t − 1`).
    pub cov_kept: Vec<usize>,
    /// Input indices of the kept SNPs, ascending.
    pub snp_kept: Vec<usize>,
}

/// Thin QR of the kept nuisance columns, with what is needed to project and to regress.
struct Nuisance {
    n: usize,
    /// Kept columns of `[1, covariates]` in pivot order.
    pivots: Vec<usize>,
    /// Norm of each pivot column before normalization.
    norms: Vec<f64>,
    /// Column-major `n × q` orthonormal basis of the kept columns.
    q: Vec<f64>,
    /// Column-major `q × q` upper-triangular factor of the normalized kept columns.
    r: Vec<f64>,
    /// Position in `pivots` of the `i`-th smallest kept column.
    ascending: Vec<usize>,
}

impl Nuisance {
    /// Pivoted Householder QR of `[1, covariates]` restricted to `train`. Each column is first
    /// scaled to unit norm (all-zero columns are dropped); the intercept is taken first, then at
    /// each step the remaining column with the largest residual norm (ties: lowest index); the
    /// factorization stops when that norm is below [`QR_TOL`] (i.e. `|R_kk| < QR_TOL·|R_00|`,
    /// `R_00 = 1`) and every column not yet chosen is aliased.
    fn new(cov: &[f64], n_all: usize, q0: usize, train: &[usize]) -> Nuisance {
        let n = train.len();
        let m = q0 + 1;
        let mut a = vec![0.0; n * m];
        let mut norms0 = vec![0.0; m];
        for t in 0..m {
            let col = &mut a[t * n..(t + 1) * n];
            for (v, &i) in col.iter_mut().zip(train) {
                *v = if t == 0 {
                    1.0
                } else {
                    cov[(t - 1) * n_all + i]
                };
            }
            let norm = col.iter().map(|v| v * v).sum::<f64>().sqrt();
            norms0[t] = norm;
            if norm > 0.0 {
                col.iter_mut().for_each(|v| *v /= norm);
            }
        }
        let mut remaining: Vec<usize> = (0..m).filter(|&t| norms0[t] > 0.0).collect();
        let mut pivots = Vec::new();
        let mut reflectors: Vec<Vec<f64>> = Vec::new();
        let mut k = 0;
        while k < n && !remaining.is_empty() {
            let trailing = |t: usize| {
                a[t * n + k..(t + 1) * n]
                    .iter()
                    .map(|v| v * v)
                    .sum::<f64>()
                    .sqrt()
            };
            let (mut best_pos, mut best_norm) = (0, trailing(remaining[0]));
            if k > 0 {
                for (pos, &t) in remaining.iter().enumerate().skip(1) {
                    let norm = trailing(t);
                    if norm > best_norm {
                        (best_pos, best_norm) = (pos, norm);
                    }
                }
            }
            if best_norm < QR_TOL {
                break;
            }
            let piv = remaining.remove(best_pos);
            let col = &a[piv * n + k..(piv + 1) * n];
            let alpha = if col[0] >= 0.0 { -best_norm } else { best_norm };
            let mut v = col.to_vec();
            v[0] -= alpha;
            let vnorm_sq: f64 = v.iter().map(|x| x * x).sum();
            let vnorm = vnorm_sq.sqrt();
            v.iter_mut().for_each(|x| *x /= vnorm);
            for &t in std::iter::once(&piv).chain(remaining.iter()) {
                let c = &mut a[t * n + k..(t + 1) * n];
                let f = 2.0 * v.iter().zip(c.iter()).map(|(x, y)| x * y).sum::<f64>();
                c.iter_mut().zip(&v).for_each(|(y, x)| *y -= f * x);
            }
            reflectors.push(v);
            pivots.push(piv);
            k += 1;
        }
        let qn = pivots.len();
        let mut r = vec![0.0; qn * qn];
        for (c, &t) in pivots.iter().enumerate() {
            for row in 0..=c {
                r[c * qn + row] = a[t * n + row];
            }
        }
        let mut q = vec![0.0; n * qn];
        for c in 0..qn {
            let col = &mut q[c * n..(c + 1) * n];
            col[c] = 1.0;
            for (k, v) in reflectors.iter().enumerate().rev() {
                let seg = &mut col[k..];
                let f = 2.0 * v.iter().zip(seg.iter()).map(|(x, y)| x * y).sum::<f64>();
                seg.iter_mut().zip(v).for_each(|(y, x)| *y -= f * x);
            }
        }
        let norms = pivots.iter().map(|&t| norms0[t]).collect();
        let mut ascending: Vec<usize> = (0..qn).collect();
        ascending.sort_by_key(|&i| pivots[i]);
        Nuisance {
            n,
            pivots,
            norms,
            q,
            r,
            ascending,
        }
    }

    fn dim(&self) -> usize {
        self.pivots.len()
    }

    /// Replaces `v` by `(I − H_C)v` and returns `(CᵀC)⁻¹Cᵀv` in ascending kept-column order.
    fn project_out(&self, v: &mut [f64]) -> Vec<f64> {
        let (n, qn) = (self.n, self.dim());
        let qtv: Vec<f64> = (0..qn)
            .map(|c| {
                self.q[c * n..(c + 1) * n]
                    .iter()
                    .zip(v.iter())
                    .map(|(a, b)| a * b)
                    .sum()
            })
            .collect();
        for (c, &coef) in qtv.iter().enumerate() {
            v.iter_mut()
                .zip(&self.q[c * n..(c + 1) * n])
                .for_each(|(y, x)| *y -= coef * x);
        }
        let mut z = qtv;
        for row in (0..qn).rev() {
            let tail: f64 = ((row + 1)..qn)
                .map(|col| self.r[col * qn + row] * z[col])
                .sum();
            z[row] = (z[row] - tail) / self.r[row * qn + row];
        }
        self.ascending
            .iter()
            .map(|&i| z[i] / self.norms[i])
            .collect()
    }
}

fn check_len(what: &'static str, got: usize, expected: usize) -> Result<(), PreprocessError> {
    if got == expected {
        Ok(())
    } else {
        Err(PreprocessError::ShapeMismatch {
            what,
            got,
            expected,
        })
    }
}

/// Builds the standardized training design of one fit (MODEL.md §1.4–1.6).
///
/// `g` is column-major `n_all × p` dosages (NaN = missing), `e` the expression of all `n_all`
/// samples, `cov` column-major `n_all × q0` covariates *without* the intercept (it is added as
/// column 0), and `train` the training samples (indices into `0..n_all`). SNP QC (§1.3) is the
/// caller's job; here each SNP's missing training dosages are filled with its training mean
/// `2f̂_j`, SNPs with no observed training dosage or with `s_j² <` [`MIN_SCALE_SQ`] after the
/// projection are dropped, and aliased covariates are removed by the pivoted QR described at
/// [`QR_TOL`] (intercept first, then largest residual norm of the unit-normalized columns).
pub fn build_design(
    g: &[f32],
    n_all: usize,
    p: usize,
    e: &[f64],
    cov: &[f64],
    q0: usize,
    train: &[usize],
) -> Result<Design, PreprocessError> {
    check_len("dosage matrix", g.len(), n_all * p)?;
    check_len("expression", e.len(), n_all)?;
    check_len("covariate matrix", cov.len(), n_all * q0)?;
    if let Some(&index) = train.iter().find(|&&i| i >= n_all) {
        return Err(PreprocessError::SampleOutOfRange { index, n_all });
    }
    for &i in train {
        if !e[i].is_finite() {
            return Err(PreprocessError::NonFiniteExpression {
                sample: i,
                value: e[i],
            });
        }
        for t in 0..q0 {
            let value = cov[t * n_all + i];
            if !value.is_finite() {
                return Err(PreprocessError::NonFiniteCovariate {
                    sample: i,
                    covariate: t,
                    value,
                });
            }
        }
    }
    for snp in 0..p {
        for &i in train {
            let value = g[snp * n_all + i];
            if value.is_infinite() {
                return Err(PreprocessError::InfiniteDosage {
                    snp,
                    sample: i,
                    value,
                });
            }
        }
    }

    let n = train.len();
    let nuisance = Nuisance::new(cov, n_all, q0, train);
    let q = nuisance.dim();
    if n <= q || n == 0 {
        return Err(PreprocessError::TooFewSamples { n, q });
    }
    let n_eff = n - q;

    let e_train: Vec<f64> = train.iter().map(|&i| e[i]).collect();
    let e_norm = e_train.iter().map(|v| v * v).sum::<f64>().sqrt();
    let mut y = e_train;
    let gamma_y = nuisance.project_out(&mut y);
    let y_norm = y.iter().map(|v| v * v).sum::<f64>().sqrt();
    if y_norm <= ZERO_Y_TOL * e_norm || y_norm == 0.0 {
        return Err(PreprocessError::ZeroVarianceExpression);
    }
    let sd_y = y_norm / (n_eff as f64).sqrt();
    y.iter_mut().for_each(|v| *v /= sd_y);

    let mut x = Vec::new();
    let (mut center, mut scale, mut gamma, mut snp_kept) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut col = vec![0.0; n];
    for snp in 0..p {
        let dose = &g[snp * n_all..(snp + 1) * n_all];
        let (sum, count) = train
            .iter()
            .map(|&i| dose[i])
            .filter(|d| !d.is_nan())
            .fold((0.0f64, 0usize), |(s, c), d| (s + f64::from(d), c + 1));
        if count == 0 {
            continue;
        }
        let mean = sum / count as f64;
        for (v, &i) in col.iter_mut().zip(train) {
            let d = dose[i];
            *v = if d.is_nan() { 0.0 } else { f64::from(d) - mean };
        }
        let coef = nuisance.project_out(&mut col);
        let s = (col.iter().map(|v| v * v).sum::<f64>() / n as f64).sqrt();
        if s * s < MIN_SCALE_SQ {
            continue;
        }
        x.extend(col.iter().map(|v| v / s));
        center.push(mean);
        scale.push(s);
        gamma.extend(coef);
        snp_kept.push(snp);
    }
    let mut cov_kept = nuisance.pivots.clone();
    cov_kept.sort_unstable();
    Ok(Design {
        n,
        p: snp_kept.len(),
        q,
        n_eff,
        x,
        y,
        center,
        scale,
        sd_y,
        gamma,
        gamma_y,
        cov_kept,
        snp_kept,
    })
}

/// Applies a design's stored training transform to the samples `test` (MODEL.md §1.7), with the
/// same input layout as [`build_design`]: `x_ij = (g_ij − 2f̂_j − C_iΓ_j)/s_j` (missing dosages
/// filled with `2f̂_j`) and `y_i = (e_i − C_iγ̂_C)/sd_y`. Returns `(x_test, y_test)`, `x_test`
/// column-major `|test| × d.p`. Samples missing expression or covariates must have been dropped
/// (§1.1); such values propagate as NaN.
///
/// # Panics
/// If a slice length disagrees with `n_all`, `p`, `q0`, or an index is out of range.
#[allow(clippy::too_many_arguments)]
pub fn transform_test(
    d: &Design,
    g: &[f32],
    n_all: usize,
    p: usize,
    e: &[f64],
    cov: &[f64],
    q0: usize,
    test: &[usize],
) -> (Vec<f64>, Vec<f64>) {
    assert_eq!(g.len(), n_all * p, "dosage matrix shape");
    assert_eq!(e.len(), n_all, "expression length");
    assert_eq!(cov.len(), n_all * q0, "covariate matrix shape");
    let c_row = |i: usize, col: usize| {
        if col == 0 {
            1.0
        } else {
            cov[(col - 1) * n_all + i]
        }
    };
    let nt = test.len();
    let mut x = vec![0.0; nt * d.p];
    for (j, &snp) in d.snp_kept.iter().enumerate() {
        let dose = &g[snp * n_all..(snp + 1) * n_all];
        let gam = &d.gamma[j * d.q..(j + 1) * d.q];
        for (r, &i) in test.iter().enumerate() {
            let raw = dose[i];
            let mut v = if raw.is_nan() {
                0.0
            } else {
                f64::from(raw) - d.center[j]
            };
            for (&col, &gc) in d.cov_kept.iter().zip(gam) {
                v -= c_row(i, col) * gc;
            }
            x[j * nt + r] = v / d.scale[j];
        }
    }
    let y = test
        .iter()
        .map(|&i| {
            let fit: f64 = d
                .cov_kept
                .iter()
                .zip(&d.gamma_y)
                .map(|(&col, &gc)| c_row(i, col) * gc)
                .sum();
            (e[i] - fit) / d.sd_y
        })
        .collect();
    (x, y)
}

/// How distance to the TSS enters the annotation (MODEL.md §1.8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TssFeature {
    /// One column `ℓ_j = log10(1 + |d_j|/1000)`, z-scored.
    Log,
    /// Four 0/1 indicators: `|d| < 500`, `[500, 2k)`, `[2k, 8k)`, `[8k, 32k)` bp (≥ 32 kb is the reference).
    Bins,
}

/// Which annotation columns to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AnnotationSpec {
    /// The TSS-distance feature.
    pub tss: TssFeature,
    /// Add `sign(d_j)·ℓ_j`, z-scored.
    pub signed: bool,
    /// Add a 0/1 peak-overlap column (not standardized).
    pub peak: bool,
}

/// Per-SNP annotation matrix of one gene.
#[derive(Clone, Debug, PartialEq)]
pub struct Annotations {
    /// Column names, in column order.
    pub names: Vec<String>,
    /// Number of columns.
    pub k: usize,
    /// Column-major `p × k`.
    pub values: Vec<f64>,
}

/// Mean and standard deviation with denominator `len`.
fn mean_sd(v: &[f64]) -> (f64, f64) {
    let len = v.len() as f64;
    let mean = v.iter().sum::<f64>() / len;
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / len;
    (mean, var.sqrt())
}

/// Annotation features of the gene's retained SNPs (MODEL.md §1.8), columns in this order: the
/// TSS feature (`tss_log`, or `tss_lt500`, `tss_500_2k`, `tss_2k_8k`, `tss_8k_32k`), then
/// `tss_signed_log` if `spec.signed`, then `peak` if `spec.peak`, then the `extra` columns under
/// their own names. With `d_j = (pos_j − tss)·(±1 by strand)` and `ℓ_j = log10(1 + |d_j|/1000)`:
/// z-scored columns use denominator `p` and are dropped when their SD is below
/// [`MIN_ANNOTATION_SD`]; bins and the peak column are 0/1 and dropped when constant; extra
/// columns have NaN replaced by the column mean (of the non-NaN values) before z-scoring. With
/// `p = 0` there are no columns.
///
/// # Panics
/// If `spec.peak` is set without `in_peak`, or `in_peak` or an extra column has a length other than `p`.
pub fn annotation_features(
    pos: &[u64],
    tss: u64,
    plus_strand: bool,
    in_peak: Option<&[bool]>,
    extra: &[(String, Vec<f64>)],
    spec: &AnnotationSpec,
) -> Annotations {
    let p = pos.len();
    let mut names = Vec::new();
    let mut values = Vec::new();
    if p == 0 {
        return Annotations {
            names,
            k: 0,
            values,
        };
    }
    let strand = if plus_strand { 1.0 } else { -1.0 };
    let d: Vec<f64> = pos
        .iter()
        .map(|&x| (x as f64 - tss as f64) * strand)
        .collect();
    let ell: Vec<f64> = d
        .iter()
        .map(|di| (1.0 + di.abs() / 1000.0).log10())
        .collect();

    let push_z = |name: &str, col: Vec<f64>, names: &mut Vec<String>, values: &mut Vec<f64>| {
        let (mean, sd) = mean_sd(&col);
        if sd >= MIN_ANNOTATION_SD {
            names.push(name.to_string());
            values.extend(col.iter().map(|v| (v - mean) / sd));
        }
    };
    let push_01 = |name: &str, col: Vec<f64>, names: &mut Vec<String>, values: &mut Vec<f64>| {
        if col.iter().any(|&v| v != col[0]) {
            names.push(name.to_string());
            values.extend(col);
        }
    };

    match spec.tss {
        TssFeature::Log => push_z("tss_log", ell.clone(), &mut names, &mut values),
        TssFeature::Bins => {
            let bins: [(&str, f64, f64); 4] = [
                ("tss_lt500", 0.0, 500.0),
                ("tss_500_2k", 500.0, 2000.0),
                ("tss_2k_8k", 2000.0, 8000.0),
                ("tss_8k_32k", 8000.0, 32000.0),
            ];
            for (name, lo, hi) in bins {
                let col = d
                    .iter()
                    .map(|di| f64::from(u8::from(di.abs() >= lo && di.abs() < hi)))
                    .collect();
                push_01(name, col, &mut names, &mut values);
            }
        }
    }
    if spec.signed {
        let col = d
            .iter()
            .zip(&ell)
            .map(|(di, l)| if *di == 0.0 { 0.0 } else { di.signum() * l })
            .collect();
        push_z("tss_signed_log", col, &mut names, &mut values);
    }
    if spec.peak {
        let peak = in_peak.expect("peak annotation requested without peak overlaps");
        assert_eq!(peak.len(), p, "peak overlap length");
        push_01(
            "peak",
            peak.iter().map(|&b| f64::from(u8::from(b))).collect(),
            &mut names,
            &mut values,
        );
    }
    for (name, col) in extra {
        assert_eq!(col.len(), p, "extra annotation {name} length");
        let observed: Vec<f64> = col.iter().copied().filter(|v| !v.is_nan()).collect();
        if observed.is_empty() {
            continue;
        }
        let fill = observed.iter().sum::<f64>() / observed.len() as f64;
        let filled = col
            .iter()
            .map(|&v| if v.is_nan() { fill } else { v })
            .collect();
        push_z(name, filled, &mut names, &mut values);
    }
    let k = names.len();
    Annotations { names, k, values }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NAN: f32 = f32::NAN;

    /// The numpy reference case: 8 samples, 3 SNPs (two with a missing dosage), 2 covariates,
    /// training samples all but sample 4.
    struct Case {
        g: Vec<f32>,
        e: Vec<f64>,
        cov: Vec<f64>,
    }

    fn case() -> Case {
        let g = vec![
            0.0, 1.0, 2.0, 1.0, 0.0, 2.0, 1.0, NAN, //
            2.0, 2.0, 1.0, 0.0, 1.0, NAN, 0.0, 1.0, //
            1.0, 0.0, 0.0, 1.0, 2.0, 0.0, 1.0, 1.0,
        ];
        let e = vec![0.3, 1.5, -0.2, 2.2, 0.9, -1.1, 0.4, 1.8];
        let cov = vec![
            0.5, -1.2, 0.3, 2.0, -0.7, 1.1, -0.4, 0.9, //
            1.0, 0.0, 2.0, 1.0, 3.0, 0.0, 1.0, 2.0,
        ];
        Case { g, e, cov }
    }

    const TRAIN: [usize; 7] = [0, 1, 2, 3, 5, 6, 7];

    fn assert_close(got: &[f64], want: &[f64], tol: f64, what: &str) {
        assert_eq!(got.len(), want.len(), "{what}: length");
        for (i, (a, b)) in got.iter().zip(want).enumerate() {
            assert!((a - b).abs() <= tol, "{what}[{i}]: {a} vs {b}");
        }
    }

    /// Columns `[1, cov...]` restricted to `rows`, as a list of columns.
    fn nuisance_columns(cov: &[f64], n_all: usize, q0: usize, rows: &[usize]) -> Vec<Vec<f64>> {
        let mut cols = vec![vec![1.0; rows.len()]];
        for t in 0..q0 {
            cols.push(rows.iter().map(|&i| cov[t * n_all + i]).collect());
        }
        cols
    }

    fn dot(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    // Reference values from numpy 2.4.6 (/tmp script): C = [1, cov1, cov2][train]; per SNP the
    // observed training mean m, gc = g − m with NaN -> 0, coef = solve(CᵀC, Cᵀgc), r = gc − C coef,
    // s = ‖r‖/√n, x = r/s; likewise y with sd_y = ‖r_y‖/√(n − 3); test row (g_4 − m − C_4 coef)/s.
    const REF_X: [f64; 21] = [
        -1.852742916190223,
        -0.03733541706886053,
        1.3118448975828776,
        -0.44996470853938064,
        1.2689852043392396,
        -0.16059194981115463,
        -0.08019511031249843,
        1.5216901030800527,
        0.47558330369949453,
        0.13993972535573257,
        -0.7479628321819324,
        0.09705781708152963,
        -1.9190095124601683,
        0.4327013954252916,
        0.9636070232668973,
        -0.30967337559078106,
        -1.719826725304817,
        0.4870317634291373,
        -1.040422107342013,
        1.2495521791695534,
        0.3697312423720233,
    ];
    const REF_SCALE: [f64; 3] = [0.6314581666276556, 0.6663208216316638, 0.43856031546251584];
    const REF_CENTER: [f64; 3] = [1.1666666666666667, 1.0, 0.5714285714285714];
    const REF_GAMMA: [f64; 9] = [
        -0.0517275168048289,
        0.07613616320771356,
        0.016922413624159777,
        0.29296254923863835,
        -0.3251219942383444,
        -0.14433535187253807,
        -0.26841252110227354,
        0.13933799753071902,
        0.2047151508025163,
    ];
    const REF_GAMMA_Y: [f64; 3] = [
        0.3932565112587452,
        0.051031806690575734,
        0.28341466282556294,
    ];
    const REF_SD_Y: f64 = 1.4163491924597833;
    const REF_Y: [f64; 7] = [
        -0.2839603959042861,
        0.8246424419824775,
        -0.8298768306392906,
        1.0034709096463843,
        -1.093933266504385,
        -0.18092886469828248,
        0.5605860061173832,
    ];
    const REF_X_TEST: [f64; 3] = [-1.761654429825214, -0.13138099057672492, 2.691477212872774];
    const REF_Y_TEST: f64 = -0.21730392242996968;

    #[test]
    fn design_matches_numpy_reference() {
        let c = case();
        let d = build_design(&c.g, 8, 3, &c.e, &c.cov, 2, &TRAIN).unwrap();
        assert_eq!((d.n, d.p, d.q, d.n_eff), (7, 3, 3, 4));
        assert_eq!(d.cov_kept, vec![0, 1, 2]);
        assert_eq!(d.snp_kept, vec![0, 1, 2]);
        assert_close(&d.x, &REF_X, 1e-12, "x");
        assert_close(&d.y, &REF_Y, 1e-12, "y");
        assert_close(&d.scale, &REF_SCALE, 1e-12, "scale");
        assert_close(&d.center, &REF_CENTER, 1e-12, "center");
        assert_close(&d.gamma, &REF_GAMMA, 1e-12, "gamma");
        assert_close(&d.gamma_y, &REF_GAMMA_Y, 1e-12, "gamma_y");
        assert!((d.sd_y - REF_SD_Y).abs() < 1e-12);
        let (xt, yt) = transform_test(&d, &c.g, 8, 3, &c.e, &c.cov, 2, &[4]);
        assert_close(&xt, &REF_X_TEST, 1e-12, "x_test");
        assert_close(&yt, &[REF_Y_TEST], 1e-12, "y_test");
    }

    #[test]
    fn design_is_orthogonal_to_covariates_and_normalized() {
        let (n_all, p, q0) = (60, 12, 4);
        let g: Vec<f32> = (0..n_all * p)
            .map(|k| {
                if k % 37 == 5 {
                    NAN
                } else {
                    ((k * 7 + k / 13) % 3) as f32
                }
            })
            .collect();
        let e: Vec<f64> = (0..n_all)
            .map(|i| (i as f64 * 0.37).sin() + 0.1 * i as f64)
            .collect();
        let cov: Vec<f64> = (0..n_all * q0)
            .map(|k| ((k * k) as f64 * 0.013).cos() * (1.0 + (k % 5) as f64))
            .collect();
        let train: Vec<usize> = (0..n_all).filter(|i| i % 6 != 0).collect();
        let d = build_design(&g, n_all, p, &e, &cov, q0, &train).unwrap();
        let n = train.len();
        assert_eq!((d.n, d.q, d.n_eff, d.p), (n, 5, n - 5, p));
        let cols = nuisance_columns(&cov, n_all, q0, &train);
        for j in 0..d.p {
            let xj = &d.x[j * n..(j + 1) * n];
            assert!((dot(xj, xj) - n as f64).abs() < 1e-9);
            for c in &cols {
                assert!(dot(c, xj).abs() < 1e-9 * n as f64, "Cᵀx_{j}");
            }
        }
        assert!((dot(&d.y, &d.y) - d.n_eff as f64).abs() < 1e-9);
        for c in &cols {
            assert!(dot(c, &d.y).abs() < 1e-9 * n as f64);
        }
        let (xt, yt) = transform_test(&d, &g, n_all, p, &e, &cov, q0, &train);
        assert_close(&xt, &d.x, 1e-10, "x via transform_test");
        assert_close(&yt, &d.y, 1e-10, "y via transform_test");
    }

    #[test]
    fn aliased_covariates_are_dropped() {
        let c = case();
        let mut cov = c.cov.clone();
        cov.extend_from_slice(&c.cov[..8]);
        cov.extend_from_slice(&[5.0; 8]);
        cov.extend_from_slice(&[0.0; 8]);
        let d = build_design(&c.g, 8, 3, &c.e, &cov, 5, &TRAIN).unwrap();
        assert_eq!(d.q, 3);
        assert_eq!(d.cov_kept, vec![0, 1, 2]);
        assert_eq!(d.n_eff, 4);
        assert_close(&d.x, &REF_X, 1e-10, "x");
        assert_close(&d.y, &REF_Y, 1e-10, "y");
        assert_close(&d.gamma, &REF_GAMMA, 1e-10, "gamma");
        let (xt, yt) = transform_test(&d, &c.g, 8, 3, &c.e, &cov, 5, &[4]);
        assert_close(&xt, &REF_X_TEST, 1e-10, "x_test");
        assert_close(&yt, &[REF_Y_TEST], 1e-10, "y_test");
    }

    #[test]
    fn hand_case_n4_p1_with_missing() {
        // g = [0, NaN, 2, 1] (mean 1, filled -> [-1, 0, 1, 0], ‖·‖² = 2, s = 1/√2),
        // e = [1, 2, 3, 6] (mean 3, resid [-2, -1, 0, 3], ‖·‖² = 14, n_eff = 3, sd_y = √(14/3)).
        let g = [0.0, NAN, 2.0, 1.0];
        let e = [1.0, 2.0, 3.0, 6.0];
        let d = build_design(&g, 4, 1, &e, &[], 0, &[0, 1, 2, 3]).unwrap();
        let r2 = 2f64.sqrt();
        assert_eq!((d.n, d.p, d.q, d.n_eff), (4, 1, 1, 3));
        assert_close(&d.x, &[-r2, 0.0, r2, 0.0], 1e-14, "x");
        assert_close(&d.center, &[1.0], 1e-15, "center");
        assert_close(&d.scale, &[1.0 / r2], 1e-15, "scale");
        assert_close(&d.gamma, &[0.0], 1e-15, "gamma");
        assert_close(&d.gamma_y, &[3.0], 1e-14, "gamma_y");
        let sd = (14.0f64 / 3.0).sqrt();
        assert!((d.sd_y - sd).abs() < 1e-14);
        assert_close(&d.y, &[-2.0 / sd, -1.0 / sd, 0.0, 3.0 / sd], 1e-14, "y");
    }

    #[test]
    fn missing_dosage_gets_training_mean() {
        // Sample 3 is missing; training mean of observed [0, 2, 2] is 4/3. After the intercept-only
        // projection the filled entry is 0 (up to rounding); the test sample 4 (missing) maps to 0 too.
        let g = [0.0, 2.0, 2.0, NAN, NAN];
        let e = [1.0, 0.0, 2.0, 5.0, 1.0];
        let d = build_design(&g, 5, 1, &e, &[], 0, &[0, 1, 2, 3]).unwrap();
        assert!((d.center[0] - 4.0 / 3.0).abs() < 1e-15);
        assert!(d.x[3].abs() < 1e-14);
        let (xt, _) = transform_test(&d, &g, 5, 1, &e, &[], 0, &[4]);
        assert!(xt[0].abs() < 1e-14);
    }

    #[test]
    fn degenerate_snps_are_dropped() {
        // SNP 0 constant, SNP 1 all missing in training, SNP 2 equal to the covariate, SNP 3 fine.
        let cov = [1.0, 0.0, 1.0, 0.0, 1.0, 1.0];
        let g = [
            1.0, 1.0, 1.0, 1.0, 1.0, 0.0, //
            NAN, NAN, NAN, NAN, NAN, 1.0, //
            1.0, 0.0, 1.0, 0.0, 1.0, 2.0, //
            0.0, 1.0, 1.0, 2.0, 0.0, 0.0,
        ];
        let e = [0.5, 1.0, -0.3, 0.2, 0.9, 0.0];
        let d = build_design(&g, 6, 4, &e, &cov, 1, &[0, 1, 2, 3, 4]).unwrap();
        assert_eq!(d.snp_kept, vec![3]);
        assert_eq!(d.p, 1);
        assert_eq!(d.x.len(), 5);
        assert_eq!(d.gamma.len(), 2);
    }

    #[test]
    fn errors_name_the_culprit() {
        let c = case();
        let mut e = c.e.clone();
        e[5] = f64::NAN;
        assert!(matches!(
            build_design(&c.g, 8, 3, &e, &c.cov, 2, &TRAIN),
            Err(PreprocessError::NonFiniteExpression { sample: 5, .. })
        ));
        assert!(build_design(&c.g, 8, 3, &e, &c.cov, 2, &[0, 1, 2, 3]).is_ok());
        let mut cov = c.cov.clone();
        cov[8 + 2] = f64::INFINITY;
        assert_eq!(
            build_design(&c.g, 8, 3, &c.e, &cov, 2, &TRAIN),
            Err(PreprocessError::NonFiniteCovariate {
                sample: 2,
                covariate: 1,
                value: f64::INFINITY
            })
        );
        let mut g = c.g.clone();
        g[16 + 6] = f32::NEG_INFINITY;
        assert_eq!(
            build_design(&g, 8, 3, &c.e, &c.cov, 2, &TRAIN),
            Err(PreprocessError::InfiniteDosage {
                snp: 2,
                sample: 6,
                value: f32::NEG_INFINITY
            })
        );
        assert_eq!(
            build_design(&c.g, 8, 3, &c.e, &c.cov, 2, &[0, 1, 2]),
            Err(PreprocessError::TooFewSamples { n: 3, q: 3 })
        );
        assert_eq!(
            build_design(&c.g, 8, 3, &c.e, &c.cov, 2, &[]),
            Err(PreprocessError::TooFewSamples { n: 0, q: 0 })
        );
        let flat = [2.0; 8];
        assert_eq!(
            build_design(&c.g, 8, 3, &flat, &c.cov, 2, &TRAIN),
            Err(PreprocessError::ZeroVarianceExpression)
        );
        let on_cov: Vec<f64> = c.cov[..8].iter().map(|v| 3.0 - 2.0 * v).collect();
        assert_eq!(
            build_design(&c.g, 8, 3, &on_cov, &c.cov, 2, &TRAIN),
            Err(PreprocessError::ZeroVarianceExpression)
        );
        assert_eq!(
            build_design(&c.g, 8, 3, &c.e, &c.cov, 2, &[0, 8]),
            Err(PreprocessError::SampleOutOfRange { index: 8, n_all: 8 })
        );
        assert_eq!(
            build_design(&c.g[..20], 8, 3, &c.e, &c.cov, 2, &TRAIN),
            Err(PreprocessError::ShapeMismatch {
                what: "dosage matrix",
                got: 20,
                expected: 24
            })
        );
    }

    #[test]
    fn qc_rules_in_order() {
        let t = QcThresholds::default();
        assert_eq!(
            t,
            QcThresholds {
                max_missing: 0.10,
                min_maf: 0.01,
                min_mac: 5.0
            }
        );
        // 2 of 10 missing (20% > 10%), even though it would otherwise pass.
        let mut d = [0.0, 1.0, 2.0, 1.0, 0.0, 1.0, 2.0, 1.0, NAN, NAN];
        let r = snp_qc(&d, &t);
        assert_eq!(r.outcome, QcOutcome::TooMuchMissing);
        assert!((r.missing_rate - 0.2).abs() < 1e-15);
        // 1 of 10 missing is allowed (10% is not > 10%): sum 8 over 9 observed, f = 8/18.
        d[9] = 0.0;
        let r = snp_qc(&d, &t);
        assert_eq!(r.outcome, QcOutcome::Keep);
        assert!((r.alt_freq - 8.0 / 18.0).abs() < 1e-15);
        assert!((r.maf - 8.0 / 18.0).abs() < 1e-15);
        assert_eq!(r.mac, 8.0);
        // 200 samples, one het: f = 1/400 < 0.01.
        let mut rare = vec![0.0f32; 200];
        rare[0] = 1.0;
        let r = snp_qc(&rare, &t);
        assert_eq!((r.outcome, r.mac), (QcOutcome::LowMaf, 1.0));
        // 100 samples, alt count 196: f = 0.98, MAF 0.02 passes, MAC = 200 − 196 = 4 < 5.
        let mut common = vec![2.0f32; 100];
        common[0] = 0.0;
        common[1] = 0.0;
        let r = snp_qc(&common, &t);
        assert_eq!(r.outcome, QcOutcome::LowMac);
        assert!((r.maf - 0.02).abs() < 1e-12 && r.mac == 4.0);
        // All heterozygous: MAF 0.5, MAC 20, variance 0.
        let r = snp_qc(&[1.0f32; 20], &t);
        assert_eq!(
            (r.outcome, r.maf, r.mac),
            (QcOutcome::Monomorphic, 0.5, 20.0)
        );
        // Monomorphic reference is caught by MAF first under the defaults, by the variance rule when
        // the frequency thresholds are off.
        assert_eq!(snp_qc(&[0.0f32; 20], &t).outcome, QcOutcome::LowMaf);
        let off = QcThresholds {
            max_missing: 1.0,
            min_maf: 0.0,
            min_mac: 0.0,
        };
        assert_eq!(snp_qc(&[0.0f32; 20], &off).outcome, QcOutcome::Monomorphic);
        assert_eq!(snp_qc(&[NAN; 4], &off).outcome, QcOutcome::TooMuchMissing);
        assert_eq!(snp_qc(&[], &off).outcome, QcOutcome::TooMuchMissing);
    }

    fn column<'a>(a: &'a Annotations, name: &str) -> &'a [f64] {
        let c = a
            .names
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("no column {name}"));
        let p = a.values.len() / a.k;
        &a.values[c * p..(c + 1) * p]
    }

    #[test]
    fn log_and_signed_annotations_by_hand() {
        // TSS 10_000, + strand: d = [-9000, 0, 999_000, 9000]; ℓ = log10(1 + |d|/1000) = [1, 0, 3, 1].
        // ℓ: mean 1.25, sd² = (0.0625 + 1.5625 + 3.0625 + 0.0625)/4 = 1.1875.
        // sign·ℓ = [-1, 0, 3, 1]: mean 0.75, sd² = (3.0625 + 0.5625 + 5.0625 + 0.0625)/4 = 2.1875.
        let pos = [1_000, 10_000, 1_009_000, 19_000];
        let spec = AnnotationSpec {
            tss: TssFeature::Log,
            signed: true,
            peak: false,
        };
        let a = annotation_features(&pos, 10_000, true, None, &[], &spec);
        assert_eq!(a.names, vec!["tss_log", "tss_signed_log"]);
        assert_eq!(a.k, 2);
        let s = 1.1875f64.sqrt();
        assert_close(
            column(&a, "tss_log"),
            &[-0.25 / s, -1.25 / s, 1.75 / s, -0.25 / s],
            1e-12,
            "log",
        );
        let s = 2.1875f64.sqrt();
        assert_close(
            column(&a, "tss_signed_log"),
            &[-1.75 / s, -0.75 / s, 2.25 / s, 0.25 / s],
            1e-12,
            "signed",
        );
        // Minus strand flips the sign of d: sign·ℓ = [1, 0, -3, -1], mean -0.75.
        let m = annotation_features(&pos, 10_000, false, None, &[], &spec);
        assert_close(
            column(&m, "tss_log"),
            column(&a, "tss_log"),
            0.0,
            "log unchanged",
        );
        assert_close(
            column(&m, "tss_signed_log"),
            &[1.75 / s, 0.75 / s, -2.25 / s, -0.25 / s],
            1e-12,
            "signed minus",
        );
        // All SNPs at the same distance: the log column is constant and dropped.
        let flat = annotation_features(&[5_000, 5_000], 1_000, true, None, &[], &spec);
        assert_eq!((flat.k, flat.values.len()), (0, 0));
    }

    #[test]
    fn bins_boundaries_and_strand() {
        let tss = 100_000u64;
        let offsets: [i64; 9] = [499, 500, -1999, 2000, 7999, -8000, 31_999, 32_000, -500_000];
        let pos: Vec<u64> = offsets.iter().map(|o| (tss as i64 + o) as u64).collect();
        let spec = AnnotationSpec {
            tss: TssFeature::Bins,
            signed: false,
            peak: false,
        };
        for plus in [true, false] {
            let a = annotation_features(&pos, tss, plus, None, &[], &spec);
            assert_eq!(
                a.names,
                vec!["tss_lt500", "tss_500_2k", "tss_2k_8k", "tss_8k_32k"]
            );
            assert_eq!(
                column(&a, "tss_lt500"),
                &[1., 0., 0., 0., 0., 0., 0., 0., 0.]
            );
            assert_eq!(
                column(&a, "tss_500_2k"),
                &[0., 1., 1., 0., 0., 0., 0., 0., 0.]
            );
            assert_eq!(
                column(&a, "tss_2k_8k"),
                &[0., 0., 0., 1., 1., 0., 0., 0., 0.]
            );
            assert_eq!(
                column(&a, "tss_8k_32k"),
                &[0., 0., 0., 0., 0., 1., 1., 0., 0.]
            );
        }
        // Only the first two bins are populated: the constant ones are dropped.
        let a = annotation_features(&[100_000, 101_000, 100_100], tss, true, None, &[], &spec);
        assert_eq!(a.names, vec!["tss_lt500", "tss_500_2k"]);
        assert_eq!(a.values, vec![1., 0., 1., 0., 1., 0.]);
    }

    #[test]
    fn peak_and_extra_columns() {
        let pos = [100, 200, 300, 400];
        let spec = AnnotationSpec {
            tss: TssFeature::Log,
            signed: false,
            peak: true,
        };
        let extra = vec![
            ("cons".to_string(), vec![1.0, f64::NAN, 3.0, 2.0]),
            ("flat".to_string(), vec![4.0, 4.0, f64::NAN, 4.0]),
        ];
        let a = annotation_features(
            &pos,
            1_000_000,
            true,
            Some(&[true, false, false, true]),
            &extra,
            &spec,
        );
        assert_eq!(a.names, vec!["tss_log", "peak", "cons"]);
        assert_eq!(column(&a, "peak"), &[1.0, 0.0, 0.0, 1.0]);
        // cons: NaN -> mean 2, [1, 2, 3, 2]: mean 2, sd² = 0.5.
        let s = 0.5f64.sqrt();
        assert_close(
            column(&a, "cons"),
            &[-1.0 / s, 0.0, 1.0 / s, 0.0],
            1e-12,
            "cons",
        );
        let none = annotation_features(&pos, 1_000_000, true, Some(&[true; 4]), &[], &spec);
        assert_eq!(none.names, vec!["tss_log"]);
        let empty = annotation_features(&[], 0, true, Some(&[]), &extra[..0], &spec);
        assert_eq!(empty.k, 0);
    }
}
