//! Exact rank reduction (MODEL.md §4.1): the processed design `X` (n×p, columns in C⊥) and
//! response `y` become `X̃` (r×p) and `ỹ` (r) with `X̃ᵀX̃ = XᵀX`, plus the orthogonal residual
//! `RSS⊥ = ‖y‖² − ‖ỹ‖²`, so every sweep runs on r = rank(X) "observations". The one-time
//! eigendecomposition is single-threaded with canonical eigenvector signs, for determinism.

use faer::dyn_stack::{MemBuffer, MemStack};
use faer::linalg::evd::{self_adjoint_evd, self_adjoint_evd_scratch, ComputeEigenvectors};
use faer::{Mat, Par};
use thiserror::Error;

/// Relative eigenvalue cut-off: keep λ_i > RANK_TOL · λ_max.
pub const RANK_TOL: f64 = 1e-10;

/// Errors of the reduction.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ReduceError {
    /// The eigendecomposition did not converge.
    #[error("eigendecomposition of the {dim}x{dim} Gram matrix did not converge")]
    Evd { dim: usize },
    /// X has no non-zero singular value.
    #[error("the design matrix has rank 0 (no usable SNP)")]
    RankZero,
}

/// The reduced problem.
#[derive(Debug, Clone)]
pub struct Reduced {
    /// Rank kept.
    pub r: usize,
    /// SNPs.
    pub p: usize,
    /// X̃, column-major r×p (column j contiguous).
    pub xt: Vec<f64>,
    /// ỹ (length r).
    pub yt: Vec<f64>,
    /// Eigenvalues λ_i of XᵀX (= of XXᵀ), descending, length r.
    pub lambda: Vec<f64>,
    /// d_i = λ_i / p: eigenvalues of K = XXᵀ/p.
    pub d: Vec<f64>,
    /// ‖y‖² − ‖ỹ‖².
    pub rss_perp: f64,
    /// ‖y‖².
    pub yy: f64,
}

impl Reduced {
    /// Column j of X̃.
    #[inline]
    pub fn col(&self, j: usize) -> &[f64] {
        &self.xt[j * self.r..(j + 1) * self.r]
    }
}

/// Symmetric eigendecomposition (ascending), single-threaded, signs canonicalized so the
/// largest-|·| entry of every eigenvector is positive (first such entry on ties).
fn eigh(a: &Mat<f64>) -> Result<(Vec<f64>, Mat<f64>), ReduceError> {
    let n = a.nrows();
    let mut s = faer::diag::Diag::<f64>::zeros(n);
    let mut u = Mat::<f64>::zeros(n, n);
    let par = Par::Seq;
    let mut buf = MemBuffer::new(self_adjoint_evd_scratch::<f64>(
        n,
        ComputeEigenvectors::Yes,
        par,
        Default::default(),
    ));
    self_adjoint_evd(
        a.as_ref(),
        s.as_mut(),
        Some(u.as_mut()),
        par,
        MemStack::new(&mut buf),
        Default::default(),
    )
    .map_err(|_| ReduceError::Evd { dim: n })?;
    for c in 0..n {
        let mut best = 0usize;
        let mut best_abs = -1.0f64;
        for i in 0..n {
            let v = u[(i, c)].abs();
            if v > best_abs {
                best_abs = v;
                best = i;
            }
        }
        if u[(best, c)] < 0.0 {
            for i in 0..n {
                u[(i, c)] = -u[(i, c)];
            }
        }
    }
    let vals = (0..n).map(|i| s[i]).collect();
    Ok((vals, u))
}

/// Reduces (X, y); `x` is column-major n×p.
pub fn reduce(x: &[f64], n: usize, p: usize, y: &[f64]) -> Result<Reduced, ReduceError> {
    assert_eq!(x.len(), n * p);
    assert_eq!(y.len(), n);
    let yy: f64 = y.iter().map(|v| v * v).sum();
    if p <= n {
        let g = Mat::<f64>::from_fn(p, p, |i, j| {
            dot(&x[i * n..(i + 1) * n], &x[j * n..(j + 1) * n])
        });
        let (vals, v) = eigh(&g)?;
        let lmax = vals.iter().cloned().fold(0.0, f64::max);
        if lmax <= 0.0 {
            return Err(ReduceError::RankZero);
        }
        let keep: Vec<usize> = (0..p)
            .rev()
            .filter(|&i| vals[i] > RANK_TOL * lmax)
            .collect();
        let r = keep.len();
        let xty: Vec<f64> = (0..p).map(|j| dot(&x[j * n..(j + 1) * n], y)).collect();
        let mut xt = vec![0.0; r * p];
        let mut yt = vec![0.0; r];
        let mut lambda = vec![0.0; r];
        for (a, &i) in keep.iter().enumerate() {
            let l = vals[i];
            lambda[a] = l;
            let sl = l.sqrt();
            let mut proj = 0.0;
            for j in 0..p {
                xt[j * r + a] = sl * v[(j, i)];
                proj += v[(j, i)] * xty[j];
            }
            yt[a] = proj / sl;
        }
        finish(r, p, xt, yt, lambda, yy)
    } else {
        let k = Mat::<f64>::from_fn(n, n, |i, j| {
            (0..p).map(|c| x[c * n + i] * x[c * n + j]).sum()
        });
        let (vals, u) = eigh(&k)?;
        let lmax = vals.iter().cloned().fold(0.0, f64::max);
        if lmax <= 0.0 {
            return Err(ReduceError::RankZero);
        }
        let keep: Vec<usize> = (0..n)
            .rev()
            .filter(|&i| vals[i] > RANK_TOL * lmax)
            .collect();
        let r = keep.len();
        let mut xt = vec![0.0; r * p];
        let mut yt = vec![0.0; r];
        let mut lambda = vec![0.0; r];
        for (a, &i) in keep.iter().enumerate() {
            lambda[a] = vals[i];
            let ui: Vec<f64> = (0..n).map(|s| u[(s, i)]).collect();
            yt[a] = dot(&ui, y);
            for j in 0..p {
                xt[j * r + a] = dot(&ui, &x[j * n..(j + 1) * n]);
            }
        }
        finish(r, p, xt, yt, lambda, yy)
    }
}

fn finish(
    r: usize,
    p: usize,
    xt: Vec<f64>,
    yt: Vec<f64>,
    lambda: Vec<f64>,
    yy: f64,
) -> Result<Reduced, ReduceError> {
    let d = lambda.iter().map(|l| l / p as f64).collect();
    let rss_perp = (yy - yt.iter().map(|v| v * v).sum::<f64>()).max(0.0);
    Ok(Reduced {
        r,
        p,
        xt,
        yt,
        lambda,
        d,
        rss_perp,
        yy,
    })
}

/// Dot product with a fixed 4-accumulator order (deterministic, vectorizable).
#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 4];
    let chunks = n / 4;
    for c in 0..chunks {
        let i = 4 * c;
        acc[0] += a[i] * b[i];
        acc[1] += a[i + 1] * b[i + 1];
        acc[2] += a[i + 2] * b[i + 2];
        acc[3] += a[i + 3] * b[i + 3];
    }
    let mut tail = 0.0;
    for i in 4 * chunks..n {
        tail += a[i] * b[i];
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    fn random_design(n: usize, p: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
        let mut x = vec![0.0; n * p];
        for j in 0..p {
            for i in 0..n {
                let base: f64 = rng.random::<f64>() - 0.5;
                x[j * n + i] = if j > 0 && j % 3 == 0 {
                    0.8 * x[(j - 1) * n + i] + 0.2 * base
                } else {
                    base
                };
            }
        }
        let y = (0..n).map(|_| rng.random::<f64>() - 0.5).collect();
        (x, y)
    }

    fn check(n: usize, p: usize) {
        let (x, y) = random_design(n, p, (n * 1000 + p) as u64);
        let red = reduce(&x, n, p, &y).unwrap();
        assert_eq!(red.r, n.min(p));
        for a in 0..p {
            for b in 0..p {
                let full = dot(&x[a * n..(a + 1) * n], &x[b * n..(b + 1) * n]);
                let small = dot(red.col(a), red.col(b));
                assert!(
                    (full - small).abs() < 1e-8 * n as f64,
                    "{a},{b}: {full} vs {small}"
                );
            }
        }
        let xy_full: Vec<f64> = (0..p).map(|j| dot(&x[j * n..(j + 1) * n], &y)).collect();
        for j in 0..p {
            let small = dot(red.col(j), &red.yt);
            assert!((xy_full[j] - small).abs() < 1e-9 * n as f64, "Xᵀy[{j}]");
        }
        let yty: f64 = red.yt.iter().map(|v| v * v).sum();
        assert!((yty + red.rss_perp - y.iter().map(|v| v * v).sum::<f64>()).abs() < 1e-10);
        for w in red.lambda.windows(2) {
            assert!(w[0] >= w[1]);
        }
    }

    #[test]
    fn identities_hold_for_p_below_and_above_n() {
        check(30, 12);
        check(12, 30);
        check(20, 20);
    }

    #[test]
    fn rank_deficient_design_keeps_the_rank() {
        let n = 15;
        let (mut x, y) = random_design(n, 6, 3);
        let dup: Vec<f64> = x[..n].to_vec();
        x[5 * n..6 * n].copy_from_slice(&dup);
        let red = reduce(&x, n, 6, &y).unwrap();
        assert_eq!(red.r, 5);
        let full = dot(&x[..n], &x[5 * n..]);
        assert!((dot(red.col(0), red.col(5)) - full).abs() < 1e-9);
    }

    #[test]
    fn dot_matches_naive_sum() {
        let a: Vec<f64> = (0..37).map(|i| (i as f64).sin()).collect();
        let b: Vec<f64> = (0..37).map(|i| (i as f64 * 0.3).cos()).collect();
        let naive: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-12);
    }
}
