//! Exact rank reduction (MODEL.md §4.1): the processed design `X` (n×p, columns in C⊥) and
//! response `y` become `X̃` (r×p) and `ỹ` (r) with `X̃ᵀX̃ = XᵀX`, plus the orthogonal residual
//! `RSS⊥ = ‖y‖² − ‖ỹ‖²`, so every sweep runs on r = rank(X) "observations". The one-time
//! eigendecomposition is single-threaded with canonical eigenvector signs, for determinism.

#![allow(clippy::needless_range_loop)] // index loops mirror the algebra of MODEL.md

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
    /// X̃, column-major r×p (column j contiguous). With the opt-in single precision
    /// ([`Reduced::round_to_single`]) it holds X̃ rounded to f32 (each element within 2⁻²⁴ of its
    /// own size), still in f64: every use (scores, Grams, residuals, weights) sees the same
    /// rounded values, so the samplers are exact for that X̃.
    pub xt: Vec<f64>,
    /// The same X̃ in f32 (exactly the values of `xt`), for the block-score kernel, which
    /// streams X̃ once per sweep and so moves half the bytes; empty unless `xt` was rounded.
    pub xt32: Vec<f32>,
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
    /// Rounds X̃ to single precision and fills `xt32` (see `xt`).
    pub fn round_to_single(&mut self) {
        self.xt32 = self.xt.iter().map(|&v| v as f32).collect();
        for (v, &s) in self.xt.iter_mut().zip(&self.xt32) {
            *v = f64::from(s);
        }
    }

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

/// Reduces (X, y); `x` is column-major n×p. X̃ is kept in f64; [`Reduced::round_to_single`]
/// is the opt-in single-precision storage (MODEL.md §5).
pub fn reduce(x: &[f64], n: usize, p: usize, y: &[f64]) -> Result<Reduced, ReduceError> {
    assert_eq!(x.len(), n * p);
    assert_eq!(y.len(), n);
    let yy: f64 = y.iter().map(|v| v * v).sum();
    if p <= n {
        // p ≤ n: the eigendecomposition (p³) dominates, so the fixed-order dot keeps this
        // branch's bits independent of faer's runtime SIMD dispatch.
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
        // K = XXᵀ (n²p) and X̃ = UᵀX (rnp) dominate a fit's set-up. Both use the fixed-order dot
        // kernel on contiguous rows, four at a time (not faer's matmul: it picks AVX-512 or AVX2
        // at run time, so its bits would differ between cluster nodes).
        let k = gram_rows(x, n, p);
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
        // The kept eigenvectors as contiguous rows (r × n).
        let mut uk = vec![0.0; r * n];
        for (a, &i) in keep.iter().enumerate() {
            lambda[a] = vals[i];
            for s in 0..n {
                uk[a * n + s] = u[(s, i)];
            }
            yt[a] = dot(&uk[a * n..(a + 1) * n], y);
        }
        // X̃_j = U_keepᵀ x_j: column j of X̃ is contiguous (r × p, column-major).
        for (xj, out) in x.chunks_exact(n).zip(xt.chunks_exact_mut(r)) {
            dots_into(&uk, n, 0, out, xj);
        }
        finish(r, p, xt, yt, lambda, yy)
    }
}

/// K = XXᵀ (n × n) for a column-major n × p `x`: rows copied to contiguous storage, then
/// K_ij = dot(row_i, row_j) with the fixed-order kernel (four j at a time), lower triangle
/// mirrored, so every entry has the same bits on every machine.
fn gram_rows(x: &[f64], n: usize, p: usize) -> Mat<f64> {
    let mut rows = vec![0.0; n * p];
    for c in 0..p {
        for (i, &v) in x[c * n..(c + 1) * n].iter().enumerate() {
            rows[i * p + c] = v;
        }
    }
    let mut k = Mat::<f64>::zeros(n, n);
    let mut ki = vec![0.0; n];
    for i in 0..n {
        dots_into(&rows, p, 0, &mut ki[..=i], &rows[i * p..(i + 1) * p]);
        for (j, &v) in ki[..=i].iter().enumerate() {
            k[(i, j)] = v;
            k[(j, i)] = v;
        }
    }
    k
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
        xt32: Vec::new(),
        yt,
        lambda,
        d,
        rss_perp,
        yy,
    })
}

/// Lanes of the dot-product kernels: a fixed summation order (element i goes to lane i mod 8,
/// accumulated with fused multiply-adds, lanes combined by a fixed tree), so [`dot`] and [`dot4`]
/// agree bit for bit. Eight lanes are two AVX2 registers per column: [`dot4`] keeps its eight
/// accumulators in registers (sixteen lanes spilled), which is what the block-score step needs.
const LANES: usize = 8;

#[inline(always)]
fn reduce_lanes(acc: &[f64; LANES]) -> f64 {
    acc.iter().sum()
}

/// Dot product with the fixed lane order of [`LANES`] (deterministic, vectorizable). `mul_add` is
/// exactly rounded on every platform (one instruction under `target-cpu=x86-64-v3`, a correctly
/// rounded software `fma` elsewhere), so results do not depend on the machine.
#[inline]
pub fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    dot_k([&a[..n]], &b[..n])[0]
}

/// K dot products against one shared vector `r`, loading `r` once per chunk; each result is
/// bit-identical to [`dot`] of that column.
fn dot_k<const K: usize>(cols: [&[f64]; K], r: &[f64]) -> [f64; K] {
    let n = r.len();
    let mut acc = [[0.0f64; LANES]; K];
    let body = n - n % LANES;
    let mut i = 0;
    while i < body {
        let rr = &r[i..i + LANES];
        for k in 0..K {
            let x = &cols[k][i..i + LANES];
            for l in 0..LANES {
                acc[k][l] = x[l].mul_add(rr[l], acc[k][l]);
            }
        }
        i += LANES;
    }
    for i in body..n {
        for k in 0..K {
            acc[k][i - body] = cols[k][i].mul_add(r[i], acc[k][i - body]);
        }
    }
    let mut out = [0.0; K];
    for k in 0..K {
        out[k] = reduce_lanes(&acc[k]);
    }
    out
}

/// Four dot products against one shared vector `r` (see [`dot_k`]).
#[inline]
pub fn dot4(c0: &[f64], c1: &[f64], c2: &[f64], c3: &[f64], r: &[f64]) -> [f64; 4] {
    dot_k([c0, c1, c2, c3], r)
}

/// `out[t] = rows[(first + t)·len .. (first + t + 1)·len] · v`: dot products of consecutive
/// length-`len` slices of a flat matrix with one shared vector, four at a time (each result is
/// bit-identical to its own [`dot`]).
#[inline(always)]
fn dots_into(rows: &[f64], len: usize, first: usize, out: &mut [f64], v: &[f64]) {
    let row = |t: usize| &rows[(first + t) * len..(first + t + 1) * len];
    let m = out.len();
    let mut t = 0;
    while t + 4 <= m {
        let s = dot_k([row(t), row(t + 1), row(t + 2), row(t + 3)], v);
        out[t..t + 4].copy_from_slice(&s);
        t += 4;
    }
    while t < m {
        out[t] = dot_k([row(t)], v)[0];
        t += 1;
    }
}

/// Scores `out[l] = X̃[:, start+l]ᵀ r` for a contiguous column panel (the block-score step).
#[inline]
pub fn panel_scores(red: &Reduced, start: usize, out: &mut [f64], r: &[f64]) {
    #[cfg(target_arch = "x86_64")]
    if x86::enabled() {
        x86::panel_multi(&red.xt, &red.xt32, red.r, start, [out], [r]);
        return;
    }
    dots_into(&red.xt, red.r, start, out, r);
}

/// One column against R vectors, loading the column once per chunk; each result is
/// bit-identical to [`dot`] of the column with that vector (same lanes, same fused order).
#[inline(always)]
fn dot_r<const R: usize>(col: &[f64], rs: [&[f64]; R]) -> [f64; R] {
    let n = col.len();
    let mut acc = [[0.0f64; LANES]; R];
    let body = n - n % LANES;
    let mut i = 0;
    while i < body {
        let x = &col[i..i + LANES];
        for k in 0..R {
            let rr = &rs[k][i..i + LANES];
            for l in 0..LANES {
                acc[k][l] = x[l].mul_add(rr[l], acc[k][l]);
            }
        }
        i += LANES;
    }
    for i in body..n {
        for k in 0..R {
            acc[k][i - body] = col[i].mul_add(rs[k][i], acc[k][i - body]);
        }
    }
    let mut out = [0.0; R];
    for k in 0..R {
        out[k] = reduce_lanes(&acc[k]);
    }
    out
}

/// The block-score step of R chains in lockstep: `outs[k][l] = X̃[:, start+l]ᵀ rs[k]` in one
/// pass over the column panel, so chains that share a design read it once (the step is
/// memory-bound for one chain). Each score is bit-identical to [`panel_scores`]' for its chain.
pub fn panel_scores_multi<const R: usize>(
    red: &Reduced,
    start: usize,
    outs: [&mut [f64]; R],
    rs: [&[f64]; R],
) {
    let m = outs.iter().map(|o| o.len()).min().unwrap_or(0);
    debug_assert!(outs.iter().all(|o| o.len() == m), "panels of one length");
    debug_assert!(rs.iter().all(|v| v.len() == red.r), "residuals of length r");
    let rs = rs.map(|v| &v[..red.r]);
    #[cfg(target_arch = "x86_64")]
    if x86::enabled() {
        x86::panel_multi(&red.xt, &red.xt32, red.r, start, outs, rs);
        return;
    }
    panel_scores_multi_portable(red, start, outs, rs);
}

/// [`panel_scores_multi`] without the AVX-512 kernel (the reference the fast path must equal).
fn panel_scores_multi_portable<const R: usize>(
    red: &Reduced,
    start: usize,
    outs: [&mut [f64]; R],
    rs: [&[f64]; R],
) {
    let m = outs.iter().map(|o| o.len()).min().unwrap_or(0);
    for l in 0..m {
        let s = dot_r(red.col(start + l), rs);
        for k in 0..R {
            outs[k][l] = s[k];
        }
    }
}

/// The block-score kernel with AVX-512 where the CPU has it, chosen once per process at run time.
///
/// It is bit-identical to the portable kernel, so the choice never changes a result: lane `l` of
/// a column's accumulator still sums the products of elements `i ≡ l (mod 8)` in ascending `i`
/// with fused multiply-adds (one 8-lane `zmm` register is exactly the two `ymm` halves of the
/// portable code), the tail goes to the same lanes in the same order (one masked fused
/// multiply-add), and the lanes are combined in [`reduce_lanes`]'s order (eight accumulators
/// transposed and added as vectors, not lane by lane). It reads X̃ in f64 by default, or from the
/// f32 copy when the method opted in to single precision ([`Reduced::round_to_single`]: exact
/// values of the rounded f64 X̃, half the bytes). What changes is register blocking: AVX-512's 32
/// registers hold the accumulators of four columns × four residuals, so each residual chunk is
/// loaded once per four columns instead of once per column (the portable kernel is load-bound
/// at about half the fused multiply-add rate). `BSBSLMM_NO_AVX512=1` forces the portable kernel.
#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use super::LANES;
    use std::arch::x86_64::{
        __m512d, __m512i, __mmask8, _mm256_loadu_ps, _mm512_add_pd, _mm512_cvtps_pd,
        _mm512_fmadd_pd, _mm512_loadu_pd, _mm512_mask3_fmadd_pd, _mm512_maskz_loadu_pd,
        _mm512_permutex2var_pd, _mm512_set1_pd, _mm512_setr_epi64, _mm512_setzero_pd,
        _mm512_shuffle_f64x2, _mm512_storeu_pd, _mm512_unpackhi_pd, _mm512_unpacklo_pd,
    };
    use std::sync::OnceLock;

    /// Columns per register block.
    const C: usize = 4;

    /// Whether the AVX-512 kernel runs (CPU support, not disabled by `BSBSLMM_NO_AVX512`).
    pub(crate) fn enabled() -> bool {
        static ON: OnceLock<bool> = OnceLock::new();
        *ON.get_or_init(|| {
            std::is_x86_feature_detected!("avx512f")
                && std::env::var_os("BSBSLMM_NO_AVX512").is_none_or(|v| v.is_empty() || v == "0")
        })
    }

    /// `outs[k][l] = X̃[:, start+l]ᵀ rs[k]` for the panel of `outs[k].len()` columns of the
    /// column-major `xt` (r rows). Panics (before any unchecked access) on short inputs.
    pub(super) fn panel_multi<const R: usize>(
        xt: &[f64],
        xt32: &[f32],
        r: usize,
        start: usize,
        outs: [&mut [f64]; R],
        rs: [&[f64]; R],
    ) {
        assert!(enabled(), "AVX-512 kernel called on a CPU without it");
        let m = outs.iter().map(|o| o.len()).min().unwrap_or(0);
        assert!((start + m) * r <= xt.len(), "panel outside X̃");
        assert!(
            xt32.is_empty() || xt32.len() == xt.len(),
            "X̃ in f32 and f64"
        );
        assert!(rs.iter().all(|v| v.len() >= r), "residual shorter than r");
        if xt32.is_empty() {
            panel_blocks::<false, R>(xt, xt32, r, start, m, outs, rs);
        } else {
            panel_blocks::<true, R>(xt, xt32, r, start, m, outs, rs);
        }
    }

    /// [`panel_multi`]'s loop over register blocks; `F32`: read the body from `xt32`.
    #[inline(always)]
    fn panel_blocks<const F32: bool, const R: usize>(
        xt: &[f64],
        xt32: &[f32],
        r: usize,
        start: usize,
        m: usize,
        mut outs: [&mut [f64]; R],
        rs: [&[f64]; R],
    ) {
        let mut l = 0;
        while l < m {
            let take = C.min(m - l);
            let j0 = start + l;
            // SAFETY: the CPU has AVX-512F (`enabled`), and `panel_multi`'s asserts keep
            // columns j0..j0+take (each r long) inside `xt` and, if `F32`, `xt32` (same length)
            // and every residual at least r long.
            unsafe {
                match take {
                    4 => put(&mut outs, l, block::<F32, 4, R>(xt, xt32, r, j0, rs)),
                    3 => put(&mut outs, l, block::<F32, 3, R>(xt, xt32, r, j0, rs)),
                    2 => put(&mut outs, l, block::<F32, 2, R>(xt, xt32, r, j0, rs)),
                    _ => put(&mut outs, l, block::<F32, 1, R>(xt, xt32, r, j0, rs)),
                }
            }
            l += take;
        }
    }

    /// `outs[k][l + c] = s[c][k]`: one register block's scores into the panels.
    #[inline(always)]
    fn put<const N: usize, const R: usize>(outs: &mut [&mut [f64]; R], l: usize, s: [[f64; R]; N]) {
        for (c, sc) in s.iter().enumerate() {
            for (o, &v) in outs.iter_mut().zip(sc) {
                o[l + c] = v;
            }
        }
    }

    /// 8 × 8 transpose: lane l of output t is lane t of input l.
    #[inline]
    #[target_feature(enable = "avx512f")]
    fn transpose8(r: &[__m512d; 8]) -> [__m512d; 8] {
        // Pairs: [r0₀ r1₀ r0₂ r1₂ r0₄ r1₄ r0₆ r1₆] and [r0₁ r1₁ …].
        let a: [__m512d; 8] = std::array::from_fn(|i| {
            let (x, y) = (r[i & !1], r[i | 1]);
            if i % 2 == 0 {
                _mm512_unpacklo_pd(x, y)
            } else {
                _mm512_unpackhi_pd(x, y)
            }
        });
        // Quads: lanes {0,1} and {4,5} (or {2,3} and {6,7}) of two pair vectors.
        let lo = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
        let hi = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
        let quad = |x: __m512d, y: __m512d, idx: __m512i| _mm512_permutex2var_pd(x, idx, y);
        let b = [
            quad(a[0], a[2], lo),
            quad(a[1], a[3], lo),
            quad(a[0], a[2], hi),
            quad(a[1], a[3], hi),
            quad(a[4], a[6], lo),
            quad(a[5], a[7], lo),
            quad(a[4], a[6], hi),
            quad(a[5], a[7], hi),
        ];
        // Halves: 256-bit lower (or upper) halves of a quad vector of rows 0–3 and one of 4–7.
        std::array::from_fn(|t| {
            let (x, y) = (b[t % 4], b[t % 4 + 4]);
            if t < 4 {
                _mm512_shuffle_f64x2::<0b01_00_01_00>(x, y)
            } else {
                _mm512_shuffle_f64x2::<0b11_10_11_10>(x, y)
            }
        })
    }

    /// Scores of columns `j0..j0+N` against the R residuals.
    ///
    /// # Safety
    /// AVX-512F must be available, `(j0 + N) · r ≤ xt.len()`, `xt32.len() = xt.len()` if `F32`,
    /// and every `rs[k].len() ≥ r`.
    #[target_feature(enable = "avx512f")]
    unsafe fn block<const F32: bool, const N: usize, const R: usize>(
        xt: &[f64],
        xt32: &[f32],
        r: usize,
        j0: usize,
        rs: [&[f64]; R],
    ) -> [[f64; R]; N] {
        let body = r - r % LANES;
        let xp: [*const f64; N] = std::array::from_fn(|c| unsafe { xt.as_ptr().add((j0 + c) * r) });
        let rp: [*const f64; R] = rs.map(|v| v.as_ptr());
        let mut acc: [[__m512d; R]; N] = [[_mm512_setzero_pd(); R]; N];
        // With `F32` the body reads X̃ in f32 (half the bytes; converting to f64 is exact, so the
        // products are those of the f64 copy); the tail always reads the f64 copy.
        let xq: [*const f32; N] = std::array::from_fn(|c| {
            if F32 {
                unsafe { xt32.as_ptr().add((j0 + c) * r) }
            } else {
                std::ptr::null()
            }
        });
        let mut i = 0;
        while i < body {
            let x: [__m512d; N] = std::array::from_fn(|c| unsafe {
                if F32 {
                    _mm512_cvtps_pd(_mm256_loadu_ps(xq[c].add(i)))
                } else {
                    _mm512_loadu_pd(xp[c].add(i))
                }
            });
            for k in 0..R {
                let v = unsafe { _mm512_loadu_pd(rp[k].add(i)) };
                for c in 0..N {
                    acc[c][k] = _mm512_fmadd_pd(x[c], v, acc[c][k]);
                }
            }
            i += LANES;
        }
        // The tail rows go into lanes 0..r−body with one masked fused multiply-add per
        // accumulator (the other lanes are left as they are), as the portable kernel adds them.
        let tail = r - body;
        if tail > 0 {
            let mask: __mmask8 = (1u8 << tail) - 1;
            let x: [__m512d; N] =
                std::array::from_fn(|c| unsafe { _mm512_maskz_loadu_pd(mask, xp[c].add(body)) });
            for k in 0..R {
                let v = unsafe { _mm512_maskz_loadu_pd(mask, rp[k].add(body)) };
                for c in 0..N {
                    acc[c][k] = _mm512_mask3_fmadd_pd(x[c], v, acc[c][k], mask);
                }
            }
        }
        // `reduce_lanes` adds a register's eight lanes one after another. Eight accumulators
        // at a time are transposed so that vector t holds lane t of each, and the eight vectors
        // are added in the same order: lane q of the sum is accumulator q's serial sum.
        let init = _mm512_set1_pd(std::iter::empty::<f64>().sum::<f64>());
        let mut flat = [_mm512_setzero_pd(); 16];
        for c in 0..N {
            for k in 0..R {
                flat[c * R + k] = acc[c][k];
            }
        }
        let mut sums = [0.0f64; 16];
        for g in 0..(N * R).div_ceil(LANES) {
            let rows: &[__m512d; 8] = flat[g * 8..g * 8 + 8].try_into().expect("8 rows");
            let t = transpose8(rows);
            let mut s = _mm512_add_pd(init, t[0]);
            for v in &t[1..] {
                s = _mm512_add_pd(s, *v);
            }
            unsafe { _mm512_storeu_pd(sums[g * 8..].as_mut_ptr(), s) };
        }
        let mut out = [[0.0; R]; N];
        for c in 0..N {
            for k in 0..R {
                out[c][k] = sums[c * R + k];
            }
        }
        out
    }
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
    fn reduce_rounds_xt_to_single_precision_and_nothing_else() {
        let (x, y) = random_design(40, 25, 5);
        let exact = reduce(&x, 40, 25, &y).unwrap();
        assert!(exact.xt32.is_empty(), "f64 unless opted in");
        let mut red = exact.clone();
        red.round_to_single();
        assert_eq!(red.xt32.len(), red.xt.len());
        for ((&v, &s), &e) in red.xt.iter().zip(&red.xt32).zip(&exact.xt) {
            assert_eq!(v, f64::from(s), "xt and xt32 hold the same values");
            assert_eq!(s, e as f32, "round to nearest single");
            assert!((v - e).abs() <= e.abs() * 2f64.powi(-24), "{v} vs {e}");
        }
        assert_eq!(
            (red.yt.clone(), red.lambda.clone()),
            (exact.yt, exact.lambda)
        );
        assert_eq!(red.rss_perp.to_bits(), exact.rss_perp.to_bits());
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
    fn dot4_is_bit_identical_to_dot() {
        for n in [1usize, 15, 16, 17, 37, 381] {
            let cols: Vec<Vec<f64>> = (0..4)
                .map(|c| (0..n).map(|i| ((i * 7 + c * 3) as f64).sin()).collect())
                .collect();
            let r: Vec<f64> = (0..n).map(|i| (i as f64 * 0.37).cos()).collect();
            let four = dot4(&cols[0], &cols[1], &cols[2], &cols[3], &r);
            for c in 0..4 {
                assert_eq!(
                    four[c].to_bits(),
                    dot(&cols[c], &r).to_bits(),
                    "n={n} c={c}"
                );
            }
        }
    }

    /// A `Reduced` holding only X̃ (r × p), for the score-kernel tests; `single`: rounded to
    /// single precision with the f32 copy (the opt-in storage).
    fn design_only(xt: Vec<f64>, r: usize, p: usize, single: bool) -> Reduced {
        let mut red = Reduced {
            r,
            p,
            xt,
            xt32: Vec::new(),
            yt: vec![0.0; r],
            lambda: vec![1.0; r],
            d: vec![1.0; r],
            rss_perp: 0.0,
            yy: 0.0,
        };
        if single {
            red.round_to_single();
        }
        red
    }

    /// The lockstep score kernel, for 2, 3 and 4 residuals, gives every score bit for bit as
    /// [`dot`] does (lengths around the 8-lane chunk and a realistic rank).
    #[test]
    fn panel_scores_multi_is_bit_identical_to_dot() {
        fn check<const R: usize>(n: usize, single: bool) {
            let p = 6;
            let xt: Vec<f64> = (0..n * p).map(|i| ((i * 7 + 3) as f64).sin()).collect();
            let red = design_only(xt, n, p, single);
            let rs: Vec<Vec<f64>> = (0..R)
                .map(|k| (0..n).map(|i| ((i + 11 * k) as f64 * 0.37).cos()).collect())
                .collect();
            let (start, m) = (1, 5);
            let mut outs = vec![vec![0.0; m]; R];
            {
                let mut it = outs.iter_mut();
                let o: [&mut [f64]; R] = std::array::from_fn(|_| &mut it.next().unwrap()[..]);
                let r: [&[f64]; R] = std::array::from_fn(|k| &rs[k][..]);
                panel_scores_multi(&red, start, o, r);
            }
            for k in 0..R {
                for l in 0..m {
                    assert_eq!(
                        outs[k][l].to_bits(),
                        dot(red.col(start + l), &rs[k]).to_bits(),
                        "R={R} n={n} residual {k} column {l}"
                    );
                }
            }
        }
        for n in [1usize, 7, 8, 9, 45, 381] {
            for single in [false, true] {
                check::<2>(n, single);
                check::<3>(n, single);
                check::<4>(n, single);
            }
        }
    }

    /// The AVX-512 score kernel equals the portable one bit for bit, reading X̃ in f64 and from
    /// the f32 copy: random panels of 1–11 columns at odd starts, 1–4 residuals, ranks around
    /// the 8-lane chunk and realistic ones, values over several orders of magnitude. On a CPU without AVX-512 it checks nothing and
    /// says so.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx512_score_kernel_is_bit_identical_to_the_portable_one() {
        use rand::{RngExt, SeedableRng};
        if !x86::enabled() {
            eprintln!("no AVX-512 on this CPU (or BSBSLMM_NO_AVX512 set): nothing to compare");
            return;
        }
        fn check<const R: usize>(rng: &mut rand_chacha::ChaCha20Rng, n: usize, single: bool) {
            let p = 23;
            let val = |rng: &mut rand_chacha::ChaCha20Rng| {
                (rng.random::<f64>() - 0.5) * 10f64.powi(rng.random_range(-3..4))
            };
            let xt: Vec<f64> = (0..n * p).map(|_| val(rng)).collect();
            let red = design_only(xt, n, p, single);
            let rs: Vec<Vec<f64>> = (0..R).map(|_| (0..n).map(|_| val(rng)).collect()).collect();
            for _ in 0..20 {
                let m = rng.random_range(1..12usize);
                let start = rng.random_range(0..=p - m);
                let mut fast = vec![vec![f64::NAN; m]; R];
                let mut slow = vec![vec![f64::NAN; m]; R];
                let r: [&[f64]; R] = std::array::from_fn(|k| &rs[k][..]);
                {
                    let mut it = fast.iter_mut();
                    let o: [&mut [f64]; R] = std::array::from_fn(|_| &mut it.next().unwrap()[..]);
                    x86::panel_multi(&red.xt, &red.xt32, n, start, o, r);
                }
                {
                    let mut it = slow.iter_mut();
                    let o: [&mut [f64]; R] = std::array::from_fn(|_| &mut it.next().unwrap()[..]);
                    panel_scores_multi_portable(&red, start, o, r);
                }
                for k in 0..R {
                    for l in 0..m {
                        assert_eq!(
                            fast[k][l].to_bits(),
                            slow[k][l].to_bits(),
                            "R={R} n={n} single={single} start={start} m={m} residual {k} column {l}"
                        );
                        if R == 1 {
                            let mut one = vec![0.0; m];
                            dots_into(&red.xt, n, start, &mut one, &rs[0]);
                            assert_eq!(fast[0][l].to_bits(), one[l].to_bits());
                        }
                    }
                }
            }
        }
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(512);
        for n in [1usize, 2, 7, 8, 9, 15, 16, 17, 31, 64, 299, 369, 601] {
            for single in [false, true] {
                check::<1>(&mut rng, n, single);
                check::<2>(&mut rng, n, single);
                check::<3>(&mut rng, n, single);
                check::<4>(&mut rng, n, single);
            }
        }
    }

    #[test]
    fn dot_matches_naive_sum() {
        let a: Vec<f64> = (0..37).map(|i| (i as f64).sin()).collect();
        let b: Vec<f64> = (0..37).map(|i| (i as f64 * 0.3).cos()).collect();
        let naive: f64 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-12);
    }
}
