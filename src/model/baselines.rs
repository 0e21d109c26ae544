//! Baseline expression-prediction models that the Bayesian samplers are compared with: ridge /
//! GBLUP with the variance ratio estimated by REML, ridge at a fixed penalty, and glmnet's
//! Gaussian elastic net (a path, a single penalty, and K-fold cross-validation as PredictDB runs
//! it). Inputs are a dense column-major `n × p` design and a response, normally already projected
//! and scaled as in MODEL.md §1; coefficients come back on the scale of the inputs. Pure functions
//! of slices: no I/O, no logging, no randomness (cross-validation folds come from the caller).

use faer::prelude::*;
use faer::{Mat, MatRef, Side};

/// Eigenvalues of `K` at or below this fraction of the largest one count as zero in
/// [`ridge_reml`].
pub const EIGEN_REL_TOL: f64 = 1e-10;

/// Bounds of the REML search over `δ = σe²/σg²` in [`ridge_reml`]: `h² = 1/(1+δ)` ranges over
/// about `[1e-5, 1 − 1e-5]`.
pub const REML_DELTA_RANGE: (f64, f64) = (1e-5, 1e5);

/// Points of the coarse log-scale grid that brackets the REML maximum before Brent's method.
const REML_GRID: usize = 201;

/// Absolute tolerance on `ln δ` of the REML maximization.
const REML_XTOL: f64 = 1e-10;

/// `glmnet.control()$eps`: the smallest `lambda.min.ratio` the default sequence honours.
const GLMNET_EPS: f64 = 1e-6;
/// `glmnet.control()$big`: the "infinite" first penalty of a default path.
const GLMNET_BIG: f64 = 9.9e35;
/// `glmnet.control()$mnlam`: a default path never stops before this many penalties.
const GLMNET_MNLAM: usize = 5;
/// `glmnet.control()$fdev`: a default path stops when the fractional gain in R² falls below this.
const GLMNET_FDEV: f64 = 1e-5;
/// `glmnet.control()$devmax`: a default path stops when R² exceeds this.
const GLMNET_DEVMAX: f64 = 0.999;

/// Errors of the baseline fits.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BaselineError {
    /// An input slice does not have the length implied by the dimensions.
    #[error("{what} has {got} entries, expected {expected}")]
    ShapeMismatch {
        /// Which input.
        what: &'static str,
        /// Its length.
        got: usize,
        /// The length implied by `n` and `p`.
        expected: usize,
    },
    /// No samples or no predictors.
    #[error("empty design: n = {n}, p = {p}")]
    EmptyDesign {
        /// Samples.
        n: usize,
        /// Predictors.
        p: usize,
    },
    /// An input value is NaN or infinite.
    #[error("{what} has a non-finite value at index {index}")]
    NonFinite {
        /// Which input.
        what: &'static str,
        /// Position in the slice.
        index: usize,
    },
    /// An option or penalty is out of its valid range.
    #[error("{what} = {value} is out of range ({expected})")]
    InvalidOption {
        /// Which option.
        what: &'static str,
        /// Its value.
        value: f64,
        /// The valid range.
        expected: &'static str,
    },
    /// The response has no variation to fit (glmnet: "y is constant").
    #[error("response is constant (zero after centring, or all zero)")]
    ConstantResponse,
    /// Residual degrees of freedom must satisfy `1 <= n_eff <= n`.
    #[error("n_eff = {n_eff} is invalid for n = {n}")]
    InvalidNEff {
        /// The residual degrees of freedom passed in.
        n_eff: usize,
        /// Samples.
        n: usize,
    },
    /// `X` has more non-zero eigen-directions than residual degrees of freedom, so `X` cannot lie
    /// in the `n_eff`-dimensional complement of the covariates.
    #[error("rank of X ({rank}) exceeds n_eff = {n_eff}; were X and y projected on the same covariates?")]
    RankExceedsDf {
        /// Numerical rank of `X`.
        rank: usize,
        /// Residual degrees of freedom.
        n_eff: usize,
    },
    /// The ridge system is not positive definite (e.g. `λ = 0` with a rank-deficient `X`).
    #[error("ridge system is not positive definite at lambda = {lambda}")]
    NotPositiveDefinite {
        /// The penalty.
        lambda: f64,
    },
    /// The symmetric eigendecomposition did not converge.
    #[error("eigendecomposition did not converge")]
    EigenFailed,
    /// Coordinate descent used up `max_iter` passes.
    #[error("coordinate descent did not converge within {max_iter} passes (at lambda = {lambda})")]
    NotConverged {
        /// The pass budget.
        max_iter: usize,
        /// The penalty being fitted, on the response scale.
        lambda: f64,
    },
    /// A fold id is 0 (ids run from 1 to K).
    #[error("fold id of sample {sample} is 0; fold ids run from 1 to K")]
    ZeroFoldId {
        /// Sample index.
        sample: usize,
    },
    /// Fewer than 3 folds (cv.glmnet refuses them too).
    #[error("{folds} folds; cross-validation needs at least 3")]
    TooFewFolds {
        /// `K = max(foldid)`.
        folds: usize,
    },
    /// A fold id between 1 and K has no samples.
    #[error("fold {fold} has no samples")]
    EmptyFold {
        /// The empty fold.
        fold: usize,
    },
}

/// A ridge / GBLUP fit with the variance ratio estimated by REML ([`ridge_reml`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RidgeFit {
    /// BLUP of the effects, `(XᵀX + λI)⁻¹Xᵀy`, on the scale of the inputs.
    pub beta: Vec<f64>,
    /// The implied ridge penalty `λ = p·σe²/σg²`.
    pub lambda: f64,
    /// Residual variance.
    pub sigma_e2: f64,
    /// Genetic variance: the effects are `N(0, σg²/p)`, so `Var(Xb) = σg²·K` with `K = XXᵀ/p`.
    pub sigma_g2: f64,
    /// `σg²/(σg² + σe²)`; the proportion of variance explained because `tr(K)/n = 1` after
    /// MODEL.md §1 scaling.
    pub h2: f64,
    /// The maximized REML log-likelihood
    /// `−½[n_eff·ln 2π + ln|LᵀVL| + zᵀ(LᵀVL)⁻¹z]`, `z = Lᵀy`, `L` an orthonormal basis of the
    /// covariate complement (the `−½ln|CᵀC|` term of some conventions is not included).
    pub log_lik: f64,
}

/// Options of the glmnet-compatible elastic net ([`enet_path`], [`enet_fixed`], [`enet_cv`]).
#[derive(Debug, Clone, PartialEq)]
pub struct EnetOptions {
    /// Mixing parameter: 1 is the lasso, 0 is ridge (PredictDB: 0.5).
    pub alpha: f64,
    /// Length of the default penalty sequence (glmnet `nlambda`, 100); at least 3.
    pub n_lambda: usize,
    /// Smallest penalty as a fraction of the largest (glmnet `lambda.min.ratio`: 0.01 when
    /// `n < p`, else 1e-4). Values below 1e-6 act as 1e-6, as in glmnet.
    pub lambda_min_ratio: f64,
    /// Convergence threshold on the largest `xv_j·Δa_j²` of a pass, on glmnet's internal
    /// standardized scale (glmnet `thresh`, 1e-7).
    pub tol: f64,
    /// Budget of coordinate-descent passes over one whole path or fit (glmnet `maxit`, 1e5).
    pub max_iter: usize,
    /// Scale columns by their population standard deviation before penalizing (glmnet
    /// `standardize = TRUE`); coefficients are returned on the original scale either way.
    pub standardize: bool,
    /// Fit an unpenalized intercept (glmnet `intercept = TRUE`).
    pub intercept: bool,
}

impl EnetOptions {
    /// glmnet's defaults for an `n × p` design, with PredictDB's `alpha = 0.5`.
    pub fn glmnet_defaults(n: usize, p: usize) -> Self {
        Self {
            alpha: 0.5,
            n_lambda: 100,
            lambda_min_ratio: if n < p { 0.01 } else { 1e-4 },
            tol: 1e-7,
            max_iter: 100_000,
            standardize: true,
            intercept: true,
        }
    }
}

/// An elastic-net path ([`enet_path`]).
#[derive(Debug, Clone, PartialEq)]
pub struct EnetPath {
    /// Penalties, decreasing, on the response scale (glmnet's `fit$lambda`).
    pub lambda: Vec<f64>,
    /// Coefficients per penalty, each of length `p`, on the scale of the inputs.
    pub beta: Vec<Vec<f64>>,
    /// Intercept per penalty (0 when `intercept` is off).
    pub intercept: Vec<f64>,
}

/// A cross-validated elastic net ([`enet_cv`]).
#[derive(Debug, Clone, PartialEq)]
pub struct EnetCvFit {
    /// Penalties of the full-data default path, at which `cvm` and `cvsd` are evaluated.
    pub lambda: Vec<f64>,
    /// The largest penalty with the smallest `cvm` (cv.glmnet `lambda.min`).
    pub lambda_min: f64,
    /// The largest penalty with `cvm` within one `cvsd` of the minimum (cv.glmnet `lambda.1se`).
    pub lambda_1se: f64,
    /// Index of `lambda_min` in `lambda` (0-based).
    pub index_min: usize,
    /// Index of `lambda_1se` in `lambda` (0-based).
    pub index_1se: usize,
    /// Cross-validated mean squared error per penalty.
    pub cvm: Vec<f64>,
    /// Its standard error per penalty, computed as cv.glmnet does.
    pub cvsd: Vec<f64>,
    /// Full-data coefficients at `lambda_min`.
    pub beta: Vec<f64>,
    /// Full-data intercept at `lambda_min`.
    pub intercept: f64,
}

fn check_len(what: &'static str, got: usize, expected: usize) -> Result<(), BaselineError> {
    if got == expected {
        Ok(())
    } else {
        Err(BaselineError::ShapeMismatch {
            what,
            got,
            expected,
        })
    }
}

fn check_finite(what: &'static str, v: &[f64]) -> Result<(), BaselineError> {
    match v.iter().position(|a| !a.is_finite()) {
        Some(index) => Err(BaselineError::NonFinite { what, index }),
        None => Ok(()),
    }
}

fn check_design(x: &[f64], n: usize, p: usize, y: &[f64]) -> Result<(), BaselineError> {
    if n == 0 || p == 0 {
        return Err(BaselineError::EmptyDesign { n, p });
    }
    check_len("x", x.len(), n * p)?;
    check_len("y", y.len(), n)?;
    check_finite("x", x)?;
    check_finite("y", y)
}

fn invalid(what: &'static str, value: f64, expected: &'static str) -> BaselineError {
    BaselineError::InvalidOption {
        what,
        value,
        expected,
    }
}

use crate::model::reduce::dot;

/// Ridge regression at a fixed penalty: `β = (XᵀX + λI)⁻¹Xᵀy`, no intercept, no rescaling.
///
/// Solved by Cholesky on the `p × p` system when `p <= n`, otherwise on the `n × n` dual
/// system `β = Xᵀ(XXᵀ + λI)⁻¹y`. `λ = 0` is allowed when `XᵀX` is positive definite.
pub fn ridge_fixed(
    x: &[f64],
    n: usize,
    p: usize,
    y: &[f64],
    lambda: f64,
) -> Result<Vec<f64>, BaselineError> {
    check_design(x, n, p, y)?;
    if !(lambda.is_finite() && lambda >= 0.0) {
        return Err(invalid("lambda", lambda, "finite, >= 0"));
    }
    let xm = MatRef::from_column_major_slice(x, n, p);
    let yv = MatRef::from_column_major_slice(y, n, 1);
    let not_pd = || BaselineError::NotPositiveDefinite { lambda };
    let beta = if p <= n {
        let mut a: Mat<f64> = xm.transpose() * xm;
        for j in 0..p {
            a[(j, j)] += lambda;
        }
        let rhs: Mat<f64> = xm.transpose() * yv;
        a.llt(Side::Lower).map_err(|_| not_pd())?.solve(&rhs)
    } else {
        let mut a: Mat<f64> = xm * xm.transpose();
        for i in 0..n {
            a[(i, i)] += lambda;
        }
        let dual = a.llt(Side::Lower).map_err(|_| not_pd())?.solve(yv);
        xm.transpose() * &dual
    };
    Ok((0..p).map(|j| beta[(j, 0)]).collect())
}

/// Non-zero eigenvalues `k_i` of `K = XXᵀ/p` and the squared projections `(u_iᵀy)²` of `y` on
/// their eigenvectors.
fn kinship_spectrum(
    x: &[f64],
    n: usize,
    p: usize,
    y: &[f64],
) -> Result<(Vec<f64>, Vec<f64>), BaselineError> {
    let xm = MatRef::from_column_major_slice(x, n, p);
    let yv = MatRef::from_column_major_slice(y, n, 1);
    let pf = p as f64;
    let mut k = Vec::new();
    let mut w2 = Vec::new();
    if p < n {
        let gram: Mat<f64> = xm.transpose() * xm;
        let evd = gram
            .self_adjoint_eigen(Side::Lower)
            .map_err(|_| BaselineError::EigenFailed)?;
        let xty: Mat<f64> = xm.transpose() * yv;
        let (s, u) = (evd.S(), evd.U());
        let dmax = (0..p).map(|i| s[i]).fold(0.0, f64::max);
        for i in 0..p {
            let d = s[i];
            if d > EIGEN_REL_TOL * dmax {
                let proj: f64 = (0..p).map(|j| u[(j, i)] * xty[(j, 0)]).sum::<f64>() / d.sqrt();
                k.push(d / pf);
                w2.push(proj * proj);
            }
        }
    } else {
        let gram: Mat<f64> = xm * xm.transpose();
        let evd = gram
            .self_adjoint_eigen(Side::Lower)
            .map_err(|_| BaselineError::EigenFailed)?;
        let (s, u) = (evd.S(), evd.U());
        let dmax = (0..n).map(|i| s[i]).fold(0.0, f64::max);
        for i in 0..n {
            let d = s[i];
            if d > EIGEN_REL_TOL * dmax {
                let proj: f64 = (0..n).map(|j| u[(j, i)] * y[j]).sum();
                k.push(d / pf);
                w2.push(proj * proj);
            }
        }
    }
    Ok((k, w2))
}

/// Minimizes `f` on `[a, b]` by Brent's method (golden section with parabolic steps), to
/// absolute tolerance `xtol`. Deterministic.
fn brent_min(f: impl Fn(f64) -> f64, mut a: f64, mut b: f64, xtol: f64) -> f64 {
    let golden = 0.5 * (3.0 - 5f64.sqrt());
    let mut x = a + golden * (b - a);
    let (mut w, mut v) = (x, x);
    let mut fx = f(x);
    let (mut fw, mut fv) = (fx, fx);
    let (mut d, mut e) = (0.0f64, 0.0f64);
    for _ in 0..500 {
        let m = 0.5 * (a + b);
        let tol1 = f64::EPSILON.sqrt() * x.abs() + xtol / 3.0;
        let tol2 = 2.0 * tol1;
        if (x - m).abs() <= tol2 - 0.5 * (b - a) {
            break;
        }
        let mut golden_step = true;
        if e.abs() > tol1 {
            let r = (x - w) * (fx - fv);
            let mut q = (x - v) * (fx - fw);
            let mut pp = (x - v) * q - (x - w) * r;
            q = 2.0 * (q - r);
            if q > 0.0 {
                pp = -pp;
            }
            q = q.abs();
            if pp.abs() < (0.5 * q * e).abs() && pp > q * (a - x) && pp < q * (b - x) {
                e = d;
                d = pp / q;
                let u = x + d;
                if u - a < tol2 || b - u < tol2 {
                    d = if x < m { tol1 } else { -tol1 };
                }
                golden_step = false;
            }
        }
        if golden_step {
            e = if x < m { b - x } else { a - x };
            d = golden * e;
        }
        let u = if d.abs() >= tol1 {
            x + d
        } else if d > 0.0 {
            x + tol1
        } else {
            x - tol1
        };
        let fu = f(u);
        if fu <= fx {
            if u < x {
                b = x;
            } else {
                a = x;
            }
            (v, fv, w, fw, x, fx) = (w, fw, x, fx, u, fu);
        } else {
            if u < x {
                a = u;
            } else {
                b = u;
            }
            if fu <= fw || w == x {
                (v, fv, w, fw) = (w, fw, u, fu);
            } else if fu <= fv || v == x || v == w {
                (v, fv) = (u, fu);
            }
        }
    }
    x
}

/// Ridge / GBLUP with the variance ratio by REML.
///
/// Model: `y = Xb + e`, `b ~ N(0, σg²/p·I)`, `e ~ N(0, σe²I)` on the `n_eff`-dimensional
/// complement of the covariates (which `x` and `y` must already be projected onto, MODEL.md §1),
/// so `V = σg²K + σe²I` with `K = XXᵀ/p`. From the eigendecomposition of `XXᵀ` (or `XᵀX` when
/// `p < n`), `σg²` is profiled out and the REML log-likelihood is maximized over `ln δ`,
/// `δ = σe²/σg²`, within [`REML_DELTA_RANGE`]: a 201-point grid brackets the maximum, then
/// Brent's method refines it. `n_eff` (samples minus projected covariates) is the REML degrees of
/// freedom; the `n_eff − rank(X)` null directions of `K` contribute `ln δ` each. Returns the BLUP
/// `β = (XᵀX + λI)⁻¹Xᵀy` with `λ = p·δ`.
pub fn ridge_reml(
    x: &[f64],
    n: usize,
    p: usize,
    y: &[f64],
    n_eff: usize,
) -> Result<RidgeFit, BaselineError> {
    check_design(x, n, p, y)?;
    if n_eff == 0 || n_eff > n {
        return Err(BaselineError::InvalidNEff { n_eff, n });
    }
    let yy = dot(y, y);
    if yy == 0.0 {
        return Err(BaselineError::ConstantResponse);
    }
    let (k, w2) = kinship_spectrum(x, n, p, y)?;
    let rank = k.len();
    if rank > n_eff {
        return Err(BaselineError::RankExceedsDf { rank, n_eff });
    }
    let rest = (yy - w2.iter().sum::<f64>()).max(0.0);
    let nf = n_eff as f64;
    let null_dirs = (n_eff - rank) as f64;
    let quad = |delta: f64| -> f64 {
        k.iter()
            .zip(&w2)
            .map(|(ki, wi)| wi / (ki + delta))
            .sum::<f64>()
            + rest / delta
    };
    let log_lik = |t: f64| -> f64 {
        let delta = t.exp();
        let logdet = k.iter().map(|ki| (ki + delta).ln()).sum::<f64>() + null_dirs * t;
        -0.5 * (nf * (2.0 * std::f64::consts::PI * quad(delta) / nf).ln() + logdet + nf)
    };
    let (lo, hi) = (REML_DELTA_RANGE.0.ln(), REML_DELTA_RANGE.1.ln());
    let step = (hi - lo) / (REML_GRID - 1) as f64;
    let grid_t = |i: usize| lo + step * i as f64;
    let best = (0..REML_GRID)
        .map(|i| (i, log_lik(grid_t(i))))
        .fold(
            (0, f64::NEG_INFINITY),
            |acc, c| if c.1 > acc.1 { c } else { acc },
        )
        .0;
    let a = grid_t(best.saturating_sub(1));
    let b = grid_t((best + 1).min(REML_GRID - 1));
    let t = brent_min(|t| -log_lik(t), a, b, REML_XTOL);
    let delta = t.exp();
    let sigma_g2 = quad(delta) / nf;
    let sigma_e2 = delta * sigma_g2;
    let lambda = delta * p as f64;
    let beta = ridge_fixed(x, n, p, y, lambda)?;
    Ok(RidgeFit {
        beta,
        lambda,
        sigma_e2,
        sigma_g2,
        h2: sigma_g2 / (sigma_g2 + sigma_e2),
        log_lik: log_lik(t),
    })
}

/// The design and response on glmnet's internal scale: centred (with an intercept), weighted by
/// `1/√n`, columns divided by their population sd (with `standardize`), response divided by its
/// norm `ys`, so that `Σ y² = 1`.
struct Standardized {
    n: usize,
    p: usize,
    /// Column-major internal design.
    x: Vec<f64>,
    /// `xⱼᵀy` on the internal scale.
    g: Vec<f64>,
    /// Column means (0 without intercept).
    xm: Vec<f64>,
    /// Column scales (1 without `standardize`).
    xs: Vec<f64>,
    /// Squared norms of the internal columns.
    xv: Vec<f64>,
    /// Response mean (0 without intercept).
    ym: f64,
    /// Response scale.
    ys: f64,
    /// Columns that are not constant (glmnet `ju`); the others stay at 0.
    ju: Vec<bool>,
}

impl Standardized {
    fn new(
        x: &[f64],
        n: usize,
        p: usize,
        y: &[f64],
        standardize: bool,
        intercept: bool,
    ) -> Result<Self, BaselineError> {
        let v = (1.0 / n as f64).sqrt();
        let nf = n as f64;
        let mut xi = x.to_vec();
        let mut xm = vec![0.0; p];
        let mut xs = vec![1.0; p];
        let mut xv = vec![0.0; p];
        let mut ju = vec![false; p];
        for j in 0..p {
            let col = &mut xi[j * n..(j + 1) * n];
            ju[j] = col.iter().any(|&a| a != col[0]);
            if !ju[j] {
                continue;
            }
            if intercept {
                xm[j] = col.iter().sum::<f64>() / nf;
                col.iter_mut().for_each(|a| *a = v * (*a - xm[j]));
                xv[j] = dot(col, col);
                if standardize {
                    xs[j] = xv[j].sqrt();
                    col.iter_mut().for_each(|a| *a /= xs[j]);
                    xv[j] = 1.0;
                }
            } else {
                col.iter_mut().for_each(|a| *a *= v);
                xv[j] = dot(col, col);
                if standardize {
                    let mean_sq = (col.iter().sum::<f64>() * v).powi(2);
                    let vc = xv[j] - mean_sq;
                    xs[j] = vc.sqrt();
                    col.iter_mut().for_each(|a| *a /= xs[j]);
                    xv[j] = 1.0 + mean_sq / vc;
                }
            }
        }
        let ym = if intercept {
            y.iter().sum::<f64>() / nf
        } else {
            0.0
        };
        let mut yi: Vec<f64> = y.iter().map(|a| v * (a - ym)).collect();
        let ys = dot(&yi, &yi).sqrt();
        if ys == 0.0 {
            return Err(BaselineError::ConstantResponse);
        }
        yi.iter_mut().for_each(|a| *a /= ys);
        let g = (0..p)
            .map(|j| {
                if ju[j] {
                    dot(&xi[j * n..(j + 1) * n], &yi)
                } else {
                    0.0
                }
            })
            .collect();
        Ok(Self {
            n,
            p,
            x: xi,
            g,
            xm,
            xs,
            xv,
            ym,
            ys,
            ju,
        })
    }

    fn col(&self, j: usize) -> &[f64] {
        &self.x[j * self.n..(j + 1) * self.n]
    }

    /// Intercept and coefficients on the input scale from internal coefficients `a`.
    fn unscale(&self, a: &[f64], intercept: bool) -> (f64, Vec<f64>) {
        let beta: Vec<f64> = (0..self.p)
            .map(|j| {
                if self.ju[j] {
                    self.ys * a[j] / self.xs[j]
                } else {
                    0.0
                }
            })
            .collect();
        let a0 = if intercept {
            self.ym - dot(&beta, &self.xm)
        } else {
            0.0
        };
        (a0, beta)
    }
}

/// Covariance-update coordinate descent on the internal scale, with warm starts carried from one
/// penalty to the next.
struct CovarianceSolver<'a> {
    s: &'a Standardized,
    /// Current internal coefficients.
    a: Vec<f64>,
    /// Current gradient `xⱼᵀ(y − Xa)`.
    g: Vec<f64>,
    /// Variables that have ever been non-zero, in order of entry.
    active: Vec<usize>,
    /// `cache[l][j] = xⱼᵀx_{active[l]}`.
    cache: Vec<Vec<f64>>,
    /// Position of a variable in `active`.
    slot: Vec<Option<usize>>,
    /// Fraction of the (internal) response sum of squares explained.
    rsq: f64,
    /// Passes used so far.
    passes: usize,
    /// An active-set pass has run at some penalty; later penalties then start with active-set
    /// passes, as glmnet does.
    warm: bool,
}

impl<'a> CovarianceSolver<'a> {
    fn new(s: &'a Standardized) -> Self {
        Self {
            s,
            a: vec![0.0; s.p],
            g: s.g.clone(),
            active: Vec::new(),
            cache: Vec::new(),
            slot: vec![None; s.p],
            rsq: 0.0,
            passes: 0,
            warm: false,
        }
    }

    /// One coordinate update of variable `k`; returns `xv_k·Δa_k²`.
    fn update(&mut self, k: usize, ab: f64, dem: f64) -> f64 {
        let ak = self.a[k];
        let xvk = self.s.xv[k];
        let u = self.g[k] + ak * xvk;
        let v = u.abs() - ab;
        let new = if v > 0.0 {
            v.copysign(u) / (xvk + dem)
        } else {
            0.0
        };
        if new == ak {
            return 0.0;
        }
        self.a[k] = new;
        let l = match self.slot[k] {
            Some(l) => l,
            None => {
                let xk = self.s.col(k);
                let c: Vec<f64> = (0..self.s.p)
                    .map(|j| {
                        if j == k {
                            xvk
                        } else if !self.s.ju[j] {
                            0.0
                        } else if let Some(lj) = self.slot[j] {
                            self.cache[lj][k]
                        } else {
                            dot(self.s.col(j), xk)
                        }
                    })
                    .collect();
                self.cache.push(c);
                self.active.push(k);
                self.slot[k] = Some(self.active.len() - 1);
                self.active.len() - 1
            }
        };
        let del = new - ak;
        self.rsq += del * (2.0 * self.g[k] - del * xvk);
        for (gj, cj) in self.g.iter_mut().zip(&self.cache[l]) {
            *gj -= cj * del;
        }
        xvk * del * del
    }

    /// One pass over the active set; returns the largest `xv_k·Δa_k²`.
    fn active_pass(&mut self, ab: f64, dem: f64) -> f64 {
        let mut dlx = 0.0f64;
        for l in 0..self.active.len() {
            let k = self.active[l];
            dlx = dlx.max(self.update(k, ab, dem));
        }
        dlx
    }

    /// Passes over the active set until one changes nothing beyond `tol`.
    fn active_fit(
        &mut self,
        ab: f64,
        dem: f64,
        opts: &EnetOptions,
        lam: f64,
    ) -> Result<(), BaselineError> {
        self.warm = true;
        loop {
            self.tick(opts, lam)?;
            if self.active_pass(ab, dem) < opts.tol {
                return Ok(());
            }
        }
    }

    fn tick(&mut self, opts: &EnetOptions, lam: f64) -> Result<(), BaselineError> {
        self.passes += 1;
        if self.passes > opts.max_iter {
            Err(BaselineError::NotConverged {
                max_iter: opts.max_iter,
                lambda: lam,
            })
        } else {
            Ok(())
        }
    }

    /// Solves at internal penalty `alm` (`lam` on the response scale) in glmnet's pass order
    /// (`glmnetpp` `ElnetPointGaussianBase::fit`): active-set passes first once warm, then full
    /// passes until one changes nothing beyond `tol`, with active-set passes to convergence in
    /// between. Same order, same iterates: even at glmnet's loose default threshold the results
    /// match glmnet's, not just its converged solution.
    fn solve(&mut self, alm: f64, opts: &EnetOptions, lam: f64) -> Result<(), BaselineError> {
        let ab = alm * opts.alpha;
        let dem = alm * (1.0 - opts.alpha);
        if self.warm {
            self.active_fit(ab, dem, opts, lam)?;
        }
        loop {
            self.tick(opts, lam)?;
            let mut dlx = 0.0f64;
            for k in 0..self.s.p {
                if self.s.ju[k] {
                    dlx = dlx.max(self.update(k, ab, dem));
                }
            }
            if dlx < opts.tol {
                return Ok(());
            }
            self.active_fit(ab, dem, opts, lam)?;
        }
    }
}

/// Which penalties to fit.
enum Penalties<'a> {
    /// glmnet's default sequence, with its early-stopping rules.
    Default,
    /// User penalties on the response scale, in decreasing order; no early stopping.
    User(&'a [f64]),
}

fn check_enet_options(opts: &EnetOptions) -> Result<(), BaselineError> {
    if !(0.0..=1.0).contains(&opts.alpha) {
        return Err(invalid("alpha", opts.alpha, "in [0, 1]"));
    }
    if !(opts.tol > 0.0 && opts.tol.is_finite()) {
        return Err(invalid("tol", opts.tol, "finite, > 0"));
    }
    if opts.max_iter == 0 {
        return Err(invalid("max_iter", 0.0, ">= 1"));
    }
    Ok(())
}

/// Runs the path on prepared data; returns internal penalties and internal coefficients.
fn run_path(
    s: &Standardized,
    pen: Penalties<'_>,
    opts: &EnetOptions,
) -> Result<(Vec<f64>, Vec<Vec<f64>>), BaselineError> {
    let mut solver = CovarianceSolver::new(s);
    let mut alms = Vec::new();
    let mut coefs = Vec::new();
    match pen {
        Penalties::User(lams) => {
            for &lam in lams {
                solver.solve(lam / s.ys, opts, lam)?;
                alms.push(lam / s.ys);
                coefs.push(solver.a.clone());
            }
        }
        Penalties::Default => {
            let nlam = opts.n_lambda;
            let alf = opts
                .lambda_min_ratio
                .max(GLMNET_EPS)
                .powf(1.0 / (nlam as f64 - 1.0));
            let mnl = GLMNET_MNLAM.min(nlam);
            let mut alm = 0.0;
            for m in 0..nlam {
                if m == 0 {
                    alm = GLMNET_BIG;
                } else if m == 1 {
                    let gmax = (0..s.p)
                        .filter(|&j| s.ju[j])
                        .map(|j| s.g[j].abs())
                        .fold(0.0, f64::max);
                    alm = gmax / opts.alpha.max(1e-3) * alf;
                } else {
                    alm *= alf;
                }
                let rsq0 = solver.rsq;
                solver.solve(alm, opts, alm * s.ys)?;
                alms.push(alm);
                coefs.push(solver.a.clone());
                if m + 1 < mnl {
                    continue;
                }
                let rsq = solver.rsq;
                let gain = if rsq == 0.0 {
                    f64::INFINITY
                } else {
                    (rsq - rsq0) / rsq
                };
                if gain < GLMNET_FDEV || rsq > GLMNET_DEVMAX {
                    break;
                }
            }
        }
    }
    Ok((alms, coefs))
}

/// glmnet's Gaussian elastic net along glmnet's default penalty sequence.
///
/// glmnet minimizes, on its internal scale (response divided by its population sd `ys`, see
/// below), `1/(2n)Σ(y − a − xβ)² + λ[(1−α)/2‖β‖² + α‖β‖₁]` by cyclic coordinate descent with
/// covariance updates and warm starts; this reproduces it, including its conventions:
/// - the response is centred (with an intercept) and divided by `ys = √(Σ(y−ȳ)²/n)` (without an
///   intercept, `ys = √(Σy²/n)` and `ȳ = 0`), penalties are divided by `ys` for the fit and the
///   returned `lambda` is on the response scale. For `α < 1` this means the ridge part acts as
///   `λ(1−α)/(2·ys)‖β‖²` on the response scale, exactly as in glmnet;
/// - with `standardize`, columns are divided by their population sd (denominator `n`);
///   constant columns are left out (coefficient 0);
/// - `λ_max = max_j |x̃ⱼᵀỹ|/(n·max(α, 10⁻³))` on the internal scale, the sequence is
///   `λ_max·r^{m/(nλ−1)}` with `r = max(lambda_min_ratio, 10⁻⁶)`, and the first entry is
///   reported as glmnet's `fix.lam` does (`λ₂²/λ₃`);
/// - the path stops early, once at least 5 penalties are fitted, when R² grows by less than a
///   fraction 10⁻⁵ or exceeds 0.999 (`glmnet.control()` `fdev`, `devmax`).
pub fn enet_path(
    x: &[f64],
    n: usize,
    p: usize,
    y: &[f64],
    opts: &EnetOptions,
) -> Result<EnetPath, BaselineError> {
    check_design(x, n, p, y)?;
    check_enet_options(opts)?;
    if opts.n_lambda < 3 {
        return Err(invalid("n_lambda", opts.n_lambda as f64, ">= 3"));
    }
    if !(opts.lambda_min_ratio > 0.0 && opts.lambda_min_ratio < 1.0) {
        return Err(invalid(
            "lambda_min_ratio",
            opts.lambda_min_ratio,
            "in (0, 1)",
        ));
    }
    let s = Standardized::new(x, n, p, y, opts.standardize, opts.intercept)?;
    let (alms, coefs) = run_path(&s, Penalties::Default, opts)?;
    let mut lambda: Vec<f64> = alms.iter().map(|a| a * s.ys).collect();
    if lambda.len() > 2 {
        lambda[0] = (2.0 * lambda[1].ln() - lambda[2].ln()).exp();
    }
    let (intercept, beta) = coefs.iter().map(|a| s.unscale(a, opts.intercept)).unzip();
    Ok(EnetPath {
        lambda,
        beta,
        intercept,
    })
}

fn enet_user(
    x: &[f64],
    n: usize,
    p: usize,
    y: &[f64],
    lambdas: &[f64],
    opts: &EnetOptions,
) -> Result<Vec<(f64, Vec<f64>)>, BaselineError> {
    let s = Standardized::new(x, n, p, y, opts.standardize, opts.intercept)?;
    let (_, coefs) = run_path(&s, Penalties::User(lambdas), opts)?;
    Ok(coefs.iter().map(|a| s.unscale(a, opts.intercept)).collect())
}

/// glmnet's Gaussian elastic net at one penalty `lambda` (response scale, as glmnet's
/// `lambda =` argument), fitted from zero. Returns `(intercept, β)`. Conventions as in
/// [`enet_path`]; `n_lambda` and `lambda_min_ratio` are not used.
pub fn enet_fixed(
    x: &[f64],
    n: usize,
    p: usize,
    y: &[f64],
    lambda: f64,
    opts: &EnetOptions,
) -> Result<(f64, Vec<f64>), BaselineError> {
    check_design(x, n, p, y)?;
    check_enet_options(opts)?;
    if !(lambda.is_finite() && lambda >= 0.0) {
        return Err(invalid("lambda", lambda, "finite, >= 0"));
    }
    let mut fits = enet_user(x, n, p, y, &[lambda], opts)?;
    Ok(fits.remove(0))
}

/// K-fold cross-validated elastic net as PredictDB runs it (`cv.glmnet(x, y, alpha = 0.5,
/// foldid = ..., type.measure = "mse")`, coefficients at `lambda.min`).
///
/// `foldid[i]` in `1..=K` assigns sample `i` to a fold (`K >= 3`, every fold non-empty). The
/// default path is fitted on all samples ([`enet_path`]); each fold's training samples are then
/// fitted at exactly those penalties, which is cv.glmnet with `lambda =` that path. (Without
/// `lambda =`, cv.glmnet fits each fold on its own default sequence and interpolates
/// predictions onto the full-data penalties, so its numbers differ slightly.) `cvm` is the mean
/// held-out squared error; `cvsd` is cv.glmnet's: per-fold means weighted by fold size, when
/// `n/K >= 3`, otherwise per sample (cv.glmnet's `grouped = FALSE` fallback).
pub fn enet_cv(
    x: &[f64],
    n: usize,
    p: usize,
    y: &[f64],
    foldid: &[u8],
    opts: &EnetOptions,
) -> Result<EnetCvFit, BaselineError> {
    check_design(x, n, p, y)?;
    check_len("foldid", foldid.len(), n)?;
    if let Some(sample) = foldid.iter().position(|&f| f == 0) {
        return Err(BaselineError::ZeroFoldId { sample });
    }
    let folds = foldid.iter().copied().max().unwrap_or(0) as usize;
    if folds < 3 {
        return Err(BaselineError::TooFewFolds { folds });
    }
    let mut fold_size = vec![0usize; folds];
    for &f in foldid {
        fold_size[f as usize - 1] += 1;
    }
    if let Some(k) = fold_size.iter().position(|&c| c == 0) {
        return Err(BaselineError::EmptyFold { fold: k + 1 });
    }
    let full = enet_path(x, n, p, y, opts)?;
    let nlam = full.lambda.len();
    let mut err = vec![vec![0.0; nlam]; n];
    for fold in 1..=folds {
        let train: Vec<usize> = (0..n).filter(|&i| foldid[i] as usize != fold).collect();
        let nt = train.len();
        let mut xt = Vec::with_capacity(nt * p);
        for j in 0..p {
            xt.extend(train.iter().map(|&i| x[j * n + i]));
        }
        let yt: Vec<f64> = train.iter().map(|&i| y[i]).collect();
        let fits = enet_user(&xt, nt, p, &yt, &full.lambda, opts)?;
        for i in (0..n).filter(|&i| foldid[i] as usize == fold) {
            for (l, (a0, beta)) in fits.iter().enumerate() {
                let pred = a0 + (0..p).map(|j| x[j * n + i] * beta[j]).sum::<f64>();
                err[i][l] = (y[i] - pred).powi(2);
            }
        }
    }
    let grouped = n as f64 / folds as f64 >= 3.0;
    let mut cvm = vec![0.0; nlam];
    let mut cvsd = vec![0.0; nlam];
    for l in 0..nlam {
        let (units, weights): (Vec<f64>, Vec<f64>) = if grouped {
            (1..=folds)
                .map(|fold| {
                    let e: f64 = (0..n)
                        .filter(|&i| foldid[i] as usize == fold)
                        .map(|i| err[i][l])
                        .sum();
                    let w = fold_size[fold - 1] as f64;
                    (e / w, w)
                })
                .unzip()
        } else {
            (0..n).map(|i| (err[i][l], 1.0)).unzip()
        };
        let wsum: f64 = weights.iter().sum();
        let m = dot(&units, &weights) / wsum;
        let var = units
            .iter()
            .zip(&weights)
            .map(|(u, w)| w * (u - m).powi(2))
            .sum::<f64>()
            / wsum;
        cvm[l] = m;
        cvsd[l] = (var / (units.len() as f64 - 1.0)).sqrt();
    }
    let cvmin = cvm.iter().copied().fold(f64::INFINITY, f64::min);
    let index_min = cvm.iter().position(|&c| c <= cvmin).unwrap_or(0);
    let semin = cvm[index_min] + cvsd[index_min];
    let index_1se = cvm.iter().position(|&c| c <= semin).unwrap_or(0);
    Ok(EnetCvFit {
        lambda_min: full.lambda[index_min],
        lambda_1se: full.lambda[index_1se],
        index_min,
        index_1se,
        beta: full.beta[index_min].clone(),
        intercept: full.intercept[index_min],
        lambda: full.lambda,
        cvm,
        cvsd,
    })
}

#[cfg(test)]
mod tests {
    //! Reference values come from R 4.2.2 / glmnet 4.1.6 (`tests/data/baselines/make_fixtures.R`;
    //! each fixture names its exact R call in its header).

    use super::*;

    /// A fixture table: header names and numeric rows.
    struct Table {
        header: Vec<String>,
        rows: Vec<Vec<f64>>,
    }

    impl Table {
        fn parse(text: &str) -> Self {
            let mut lines = text
                .lines()
                .filter(|l| !l.starts_with('#') && !l.is_empty());
            let header = lines
                .next()
                .unwrap()
                .split('\t')
                .map(String::from)
                .collect();
            let rows = lines
                .map(|l| l.split('\t').map(|v| v.parse().unwrap()).collect())
                .collect();
            Self { header, rows }
        }

        fn col(&self, name: &str) -> Vec<f64> {
            let j = self.header.iter().position(|h| h == name).unwrap();
            self.rows.iter().map(|r| r[j]).collect()
        }

        /// Columns `first..` of every row, as a column-major matrix.
        fn matrix_from(&self, first: usize) -> (Vec<f64>, usize, usize) {
            let n = self.rows.len();
            let p = self.header.len() - first;
            let mut m = Vec::with_capacity(n * p);
            for j in first..self.header.len() {
                m.extend(self.rows.iter().map(|r| r[j]));
            }
            (m, n, p)
        }
    }

    macro_rules! fixture {
        ($name:literal) => {
            Table::parse(include_str!(concat!("../../tests/data/baselines/", $name)))
        };
    }

    struct EnetCase {
        x: Vec<f64>,
        y: Vec<f64>,
        foldid: Vec<u8>,
        n: usize,
        p: usize,
        fixed: Table,
        path: Table,
        cv: Table,
        cvopt: Table,
    }

    fn enet_case(data: Table, fixed: Table, path: Table, cv: Table, cvopt: Table) -> EnetCase {
        let (x, n, p) = data.matrix_from(2);
        EnetCase {
            x,
            y: data.col("y"),
            foldid: data.col("foldid").iter().map(|&f| f as u8).collect(),
            n,
            p,
            fixed,
            path,
            cv,
            cvopt,
        }
    }

    fn case_a() -> EnetCase {
        enet_case(
            fixture!("enet_a_data.tsv"),
            fixture!("enet_a_fixed.tsv"),
            fixture!("enet_a_path.tsv"),
            fixture!("enet_a_cv.tsv"),
            fixture!("enet_a_cvopt.tsv"),
        )
    }

    fn case_b() -> EnetCase {
        enet_case(
            fixture!("enet_b_data.tsv"),
            fixture!("enet_b_fixed.tsv"),
            fixture!("enet_b_path.tsv"),
            fixture!("enet_b_cv.tsv"),
            fixture!("enet_b_cvopt.tsv"),
        )
    }

    fn case_c() -> EnetCase {
        enet_case(
            fixture!("enet_c_data.tsv"),
            fixture!("enet_c_fixed.tsv"),
            fixture!("enet_c_path.tsv"),
            fixture!("enet_c_cv.tsv"),
            fixture!("enet_c_cvopt.tsv"),
        )
    }

    /// glmnet defaults with a convergence threshold tighter than the fixtures' `thresh = 1e-14`.
    fn tight(n: usize, p: usize) -> EnetOptions {
        EnetOptions {
            tol: 1e-20,
            max_iter: 10_000_000,
            ..EnetOptions::glmnet_defaults(n, p)
        }
    }

    fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(u, v)| (u - v).abs())
            .fold(0.0, f64::max)
    }

    fn rel(a: &[f64], b: &[f64]) -> f64 {
        assert_eq!(a.len(), b.len());
        a.iter()
            .zip(b)
            .map(|(u, v)| ((u - v) / v).abs())
            .fold(0.0, f64::max)
    }

    /// `[intercept, b1..bp]` of a fixture row.
    fn coefs(row: &[f64]) -> &[f64] {
        &row[1..]
    }

    fn ours(a0: f64, beta: &[f64]) -> Vec<f64> {
        std::iter::once(a0).chain(beta.iter().copied()).collect()
    }

    fn check_fixed(c: &EnetCase, opts: &EnetOptions, name: &str) -> f64 {
        let mut worst = 0.0f64;
        for row in &c.fixed.rows {
            let (a0, beta) = enet_fixed(&c.x, c.n, c.p, &c.y, row[0], opts).unwrap();
            worst = worst.max(max_abs_diff(&ours(a0, &beta), coefs(row)));
        }
        eprintln!("{name}: fixed-lambda max |coef diff| vs glmnet = {worst:.3e}");
        assert!(worst < 1e-6, "{name}: {worst}");
        worst
    }

    fn check_path(c: &EnetCase, opts: &EnetOptions, name: &str) {
        let fit = enet_path(&c.x, c.n, c.p, &c.y, opts).unwrap();
        let lam = c.path.col("lambda");
        assert_eq!(fit.lambda.len(), lam.len(), "{name}: path length");
        let rel = rel(&fit.lambda, &lam);
        let mut worst = 0.0f64;
        for (m, row) in c.path.rows.iter().enumerate() {
            worst = worst.max(max_abs_diff(
                &ours(fit.intercept[m], &fit.beta[m]),
                coefs(row),
            ));
        }
        eprintln!(
            "{name}: path lambda max rel diff = {rel:.3e}, path max |coef diff| = {worst:.3e}"
        );
        assert!(rel < 1e-10, "{name}: lambda {rel}");
        assert!(worst < 1e-6, "{name}: path coefs {worst}");
    }

    fn check_cv(c: &EnetCase, opts: &EnetOptions, name: &str) {
        let fit = enet_cv(&c.x, c.n, c.p, &c.y, &c.foldid, opts).unwrap();
        let (cvm, cvsd) = (c.cv.col("cvm"), c.cv.col("cvsd"));
        assert_eq!(fit.cvm.len(), cvm.len());
        let (rm, rs) = (rel(&fit.cvm, &cvm), rel(&fit.cvsd, &cvsd));
        let opt = &c.cvopt.rows[0];
        let beta_diff = max_abs_diff(&ours(fit.intercept, &fit.beta), &opt[4..]);
        eprintln!(
            "{name}: cvm max rel diff = {rm:.3e}, cvsd max rel diff = {rs:.3e}, \
             coef at lambda.min max |diff| = {beta_diff:.3e}"
        );
        assert!(rm < 1e-4 && rs < 1e-4, "{name}: cvm {rm} cvsd {rs}");
        assert_eq!(
            fit.index_min + 1,
            opt[2] as usize,
            "{name}: lambda.min index"
        );
        assert_eq!(
            fit.index_1se + 1,
            opt[3] as usize,
            "{name}: lambda.1se index"
        );
        assert!(((fit.lambda_min - opt[0]) / opt[0]).abs() < 1e-10);
        assert!(((fit.lambda_1se - opt[1]) / opt[1]).abs() < 1e-10);
        assert!(beta_diff < 1e-6, "{name}: {beta_diff}");
    }

    #[test]
    fn enet_fixed_matches_glmnet() {
        for (c, name) in [(case_a(), "a"), (case_b(), "b"), (case_c(), "c")] {
            check_fixed(&c, &tight(c.n, c.p), name);
        }
    }

    #[test]
    fn enet_default_path_matches_glmnet() {
        for (c, name) in [(case_a(), "a"), (case_b(), "b"), (case_c(), "c")] {
            check_path(&c, &tight(c.n, c.p), name);
        }
    }

    #[test]
    fn enet_cv_matches_cv_glmnet() {
        for (c, name) in [(case_a(), "a"), (case_b(), "b"), (case_c(), "c")] {
            check_cv(&c, &tight(c.n, c.p), name);
        }
    }

    #[test]
    fn enet_without_standardize_or_intercept_matches_glmnet() {
        let data = fixture!("enet_a_pre_data.tsv");
        let (x, n, p) = data.matrix_from(1);
        let c = EnetCase {
            x,
            y: data.col("y"),
            foldid: Vec::new(),
            n,
            p,
            fixed: fixture!("enet_a_pre_fixed_raw.tsv"),
            path: fixture!("enet_a_pre_path_raw.tsv"),
            cv: Table {
                header: Vec::new(),
                rows: Vec::new(),
            },
            cvopt: Table {
                header: Vec::new(),
                rows: Vec::new(),
            },
        };
        let opts = EnetOptions {
            standardize: false,
            intercept: false,
            ..tight(n, p)
        };
        check_fixed(&c, &opts, "a_pre");
        check_path(&c, &opts, "a_pre");
    }

    #[test]
    fn enet_default_tol_follows_glmnet_iterates() {
        // At glmnet's default thresh = 1e-7 the correlated block of case (c) is far from converged
        // (glmnet itself is ~7e-3 away from its converged answer); the same pass order gives the
        // same unconverged iterate.
        let c = case_c();
        let reference = fixture!("enet_c_fixed_default_thresh.tsv");
        let opts = EnetOptions::glmnet_defaults(c.n, c.p);
        let mut worst = 0.0f64;
        for row in &reference.rows[..1] {
            let (a0, beta) = enet_fixed(&c.x, c.n, c.p, &c.y, row[0], &opts).unwrap();
            worst = worst.max(max_abs_diff(&ours(a0, &beta), coefs(row)));
        }
        eprintln!("c: default-thresh max |coef diff| vs glmnet default thresh = {worst:.3e}");
        assert!(worst < 1e-10, "{worst}");
    }

    #[test]
    fn enet_cv_at_default_tol_reproduces_cv_glmnet() {
        let c = case_c();
        let reference = fixture!("enet_c_cv_default_thresh.tsv");
        let fit = enet_cv(
            &c.x,
            c.n,
            c.p,
            &c.y,
            &c.foldid,
            &EnetOptions::glmnet_defaults(c.n, c.p),
        )
        .unwrap();
        let lam = reference.col("lambda");
        assert_eq!(fit.lambda.len(), lam.len());
        let (rl, rm) = (rel(&fit.lambda, &lam), rel(&fit.cvm, &reference.col("cvm")));
        eprintln!("c: default-thresh lambda max rel diff = {rl:.3e}, cvm max rel diff = {rm:.3e}");
        assert!(rl < 1e-10 && rm < 1e-8, "{rl} {rm}");
        assert!(rel(&fit.cvsd, &reference.col("cvsd")) < 1e-8);
        // 1-based indices 32 and 18 in the fixture header.
        assert_eq!((fit.index_min, fit.index_1se), (31, 17));
    }

    struct RidgeCase {
        x: Vec<f64>,
        y: Vec<f64>,
        n: usize,
        p: usize,
        fixed: Table,
        reml: Table,
    }

    fn ridge_case(data: Table, fixed: Table, reml: Table) -> RidgeCase {
        let (x, n, p) = data.matrix_from(1);
        RidgeCase {
            x,
            y: data.col("y"),
            n,
            p,
            fixed,
            reml,
        }
    }

    fn ridge_cases() -> [(RidgeCase, &'static str); 2] {
        [
            (
                ridge_case(
                    fixture!("ridge_a_data.tsv"),
                    fixture!("ridge_a_fixed.tsv"),
                    fixture!("ridge_a_reml.tsv"),
                ),
                "p < n",
            ),
            (
                ridge_case(
                    fixture!("ridge_b_data.tsv"),
                    fixture!("ridge_b_fixed.tsv"),
                    fixture!("ridge_b_reml.tsv"),
                ),
                "p > n",
            ),
        ]
    }

    #[test]
    fn ridge_fixed_matches_r_solve() {
        for (c, name) in ridge_cases() {
            let mut worst = 0.0f64;
            for row in &c.fixed.rows {
                let beta = ridge_fixed(&c.x, c.n, c.p, &c.y, row[0]).unwrap();
                worst = worst.max(max_abs_diff(&beta, &row[1..]));
            }
            eprintln!("ridge_fixed {name}: max |coef diff| vs R solve() = {worst:.3e}");
            assert!(worst < 1e-10, "{name}: {worst}");
        }
    }

    #[test]
    fn ridge_reml_matches_r_reml() {
        for (c, name) in ridge_cases() {
            let r = &c.reml;
            let n_eff = r.col("n_eff")[0] as usize;
            let fit = ridge_reml(&c.x, c.n, c.p, &c.y, n_eff).unwrap();
            let want = |k: &str| r.col(k)[0];
            let h2 = (fit.h2 - want("h2")).abs();
            let rel = |a: f64, k: &str| ((a - want(k)) / want(k)).abs();
            let beta = max_abs_diff(&fit.beta, &r.rows[0][6..]);
            eprintln!(
                "ridge_reml {name}: |h2 diff| = {h2:.3e}, rel sg2 {:.3e}, rel se2 {:.3e}, \
                 loglik {:.15} (R {:.15}), max |coef diff| {beta:.3e}",
                rel(fit.sigma_g2, "sigma_g2"),
                rel(fit.sigma_e2, "sigma_e2"),
                fit.log_lik,
                want("log_lik")
            );
            assert!(h2 < 1e-6, "{name}: h2 {h2}");
            assert!(rel(fit.sigma_g2, "sigma_g2") < 1e-5);
            assert!(rel(fit.sigma_e2, "sigma_e2") < 1e-5);
            assert!(rel(fit.lambda, "lambda") < 1e-5);
            assert!((fit.log_lik - want("log_lik")).abs() < 1e-8);
            assert!(beta < 1e-6, "{name}: beta {beta}");
        }
    }

    #[test]
    fn ridge_reml_without_signal_stops_at_the_h2_floor() {
        // One predictor, y orthogonal to it: the REML optimum is at δ → ∞ (h² → 0), so the
        // search stops at the upper end of the bracket.
        let x = [1.0, -1.0, 1.0, -1.0];
        let y = [1.0, 1.0, -1.0, -1.0];
        let fit = ridge_reml(&x, 4, 1, &y, 4).unwrap();
        assert!(fit.h2 < 1e-4, "{}", fit.h2);
        assert!(fit.beta[0].abs() < 1e-12);
    }

    #[test]
    fn errors_are_typed() {
        let x = [1.0, 2.0, 3.0, 4.0, 5.0, 7.0];
        let y = [1.0, 0.0, 2.0];
        let o = EnetOptions::glmnet_defaults(3, 2);
        assert_eq!(
            ridge_fixed(&x, 3, 3, &y, 1.0),
            Err(BaselineError::ShapeMismatch {
                what: "x",
                got: 6,
                expected: 9
            })
        );
        assert_eq!(
            ridge_fixed(&x, 0, 2, &y, 1.0),
            Err(BaselineError::EmptyDesign { n: 0, p: 2 })
        );
        assert_eq!(
            ridge_fixed(&x, 3, 2, &[1.0, f64::NAN, 0.0], 1.0),
            Err(BaselineError::NonFinite {
                what: "y",
                index: 1
            })
        );
        assert!(matches!(
            ridge_fixed(&x, 3, 2, &y, -1.0),
            Err(BaselineError::InvalidOption { what: "lambda", .. })
        ));
        assert_eq!(
            ridge_fixed(&[1.0, 1.0, 1.0, 1.0, 1.0, 1.0], 3, 2, &y, 0.0),
            Err(BaselineError::NotPositiveDefinite { lambda: 0.0 })
        );
        assert_eq!(
            ridge_reml(&x, 3, 2, &y, 4),
            Err(BaselineError::InvalidNEff { n_eff: 4, n: 3 })
        );
        assert_eq!(
            ridge_reml(&x, 3, 2, &y, 1),
            Err(BaselineError::RankExceedsDf { rank: 2, n_eff: 1 })
        );
        assert_eq!(
            ridge_reml(&x, 3, 2, &[0.0; 3], 2),
            Err(BaselineError::ConstantResponse)
        );
        assert_eq!(
            enet_fixed(&x, 3, 2, &[2.0; 3], 0.1, &o),
            Err(BaselineError::ConstantResponse)
        );
        assert!(matches!(
            enet_path(
                &x,
                3,
                2,
                &y,
                &EnetOptions {
                    alpha: 1.5,
                    ..o.clone()
                }
            ),
            Err(BaselineError::InvalidOption { what: "alpha", .. })
        ));
        assert!(matches!(
            enet_path(
                &x,
                3,
                2,
                &y,
                &EnetOptions {
                    n_lambda: 2,
                    ..o.clone()
                }
            ),
            Err(BaselineError::InvalidOption {
                what: "n_lambda",
                ..
            })
        ));
        assert!(matches!(
            enet_fixed(
                &x,
                3,
                2,
                &y,
                1e-3,
                &EnetOptions {
                    tol: 1e-30,
                    max_iter: 1,
                    ..o.clone()
                }
            ),
            Err(BaselineError::NotConverged { max_iter: 1, .. })
        ));
        assert_eq!(
            enet_cv(&x, 3, 2, &y, &[1, 0, 2], &o),
            Err(BaselineError::ZeroFoldId { sample: 1 })
        );
        assert_eq!(
            enet_cv(&x, 3, 2, &y, &[1, 2, 2], &o),
            Err(BaselineError::TooFewFolds { folds: 2 })
        );
        assert_eq!(
            enet_cv(&x, 3, 2, &y, &[1, 4, 3], &o),
            Err(BaselineError::EmptyFold { fold: 2 })
        );
        assert!(matches!(
            enet_cv(&x, 3, 2, &y, &[1, 2], &o),
            Err(BaselineError::ShapeMismatch { what: "foldid", .. })
        ));
    }

    #[test]
    fn constant_columns_get_zero_coefficients() {
        let c = case_a();
        let mut x = c.x.clone();
        x[..c.n].iter_mut().for_each(|v| *v = 2.5);
        let (_, beta) = enet_fixed(&x, c.n, c.p, &c.y, 0.05, &tight(c.n, c.p)).unwrap();
        assert_eq!(beta[0], 0.0);
        assert!(beta[1..].iter().any(|&b| b != 0.0));
    }
}
