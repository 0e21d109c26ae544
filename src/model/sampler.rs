//! The sampler core (MODEL.md §3–4): one block-sweep kernel on the reduced problem, configured
//! into BSLMM, block-only, bsBSLMM and Annotated BayesC by three switches — block gate on/off,
//! SNP prior (BSLMM log-uniform π, logistic annotation prior, probit annotation prior), and the
//! polygenic term on/off. Chains use per-chain streams (MODEL.md §8) and their own scratch; the
//! sweep itself never allocates. Summaries are accumulated per chain and merged in chain order.

#![allow(clippy::needless_range_loop)] // index loops mirror the algebra of MODEL.md

use std::ops::Range;

use rand::{Rng, RngExt};
use rand_chacha::ChaCha20Rng;
use rand_distr::{Gamma, StandardNormal};

use crate::model::reduce::{dot, panel_scores, panel_scores_multi, Reduced};
use crate::model::vmath;
use crate::stats::normal;

/// The per-SNP inclusion prior.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SnpPrior {
    /// π = p^{-(1-expit θ)}, θ ~ Logistic(0, 1) (GEMMA's log-uniform π).
    Bslmm,
    /// π_s,j = expit(w0 + wᵀa_j).
    Logistic,
    /// π_j = Φ(w0 + wᵀa_j), updated by Albert–Chib.
    Probit,
}

/// Which model: the three switches of MODEL.md §3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelSpec {
    pub gate: bool,
    pub prior: SnpPrior,
    pub polygenic: bool,
    /// Use the annotation columns (K > 0) in the prior.
    pub annotated: bool,
}

impl ModelSpec {
    /// (a) BSLMM.
    pub const BSLMM: ModelSpec = ModelSpec {
        gate: false,
        prior: SnpPrior::Bslmm,
        polygenic: true,
        annotated: false,
    };
    /// (b) block-only ablation.
    pub const BLOCK_ONLY: ModelSpec = ModelSpec {
        gate: true,
        prior: SnpPrior::Logistic,
        polygenic: true,
        annotated: false,
    };
    /// (c) bsBSLMM.
    pub const BSBSLMM: ModelSpec = ModelSpec {
        gate: true,
        prior: SnpPrior::Logistic,
        polygenic: true,
        annotated: true,
    };
    /// (d) Annotated BayesC.
    pub const BAYESC_ANNOT: ModelSpec = ModelSpec {
        gate: false,
        prior: SnpPrior::Probit,
        polygenic: false,
        annotated: true,
    };
}

/// Prior constants (MODEL.md §3, "Priors and defaults").
#[derive(Debug, Clone, Copy)]
pub struct Priors {
    pub nu_e: f64,
    pub s2_e: f64,
    pub nu_b: f64,
    pub s2_b: f64,
    pub nu_u: f64,
    pub s2_u: f64,
    /// Mean and sd of w0 in (b, c).
    pub w0_mean: f64,
    pub w0_sd: f64,
    /// Prior sd of the annotation term wᵀa in (c): each of the K slopes has sd `w_sd/√K`
    /// (MODEL.md §3 has N(0, 1) per slope; see PIPELINE.md, "The fit stage").
    pub w_sd: f64,
    /// sd of w0 in (d).
    pub w0_sd_probit: f64,
}

impl Default for Priors {
    fn default() -> Self {
        Priors {
            nu_e: 4.0,
            s2_e: 0.5,
            nu_b: 4.0,
            s2_b: 0.01,
            nu_u: 4.0,
            s2_u: 0.025,
            w0_mean: (0.05f64 / 0.95).ln(),
            w0_sd: 1.5,
            w_sd: 1.0,
            w0_sd_probit: 10.0,
        }
    }
}

/// Values to clamp (tests and reductions): a clamped quantity is never updated.
#[derive(Debug, Clone, Default)]
pub struct Fixed {
    pub sigma_e2: Option<f64>,
    pub sigma_b2: Option<f64>,
    pub sigma_u2: Option<f64>,
    /// The whole hyperparameter vector (layout: see [`Sampler::hyper_names`]).
    pub hyper: Option<Vec<f64>>,
    pub sigma_w2: Option<f64>,
    /// Clamp the inclusion indicators (β stays 0; block updates are skipped): tests of the
    /// hyperparameter and polygenic updates against quadrature (MODEL.md §7.3).
    pub delta: Option<Vec<bool>>,
}

/// Chain schedule and move settings.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub chains: usize,
    pub burnin: usize,
    pub samples: usize,
    pub thin: usize,
    /// Within-block swap proposals per block update (0 disables the swap).
    pub n_swap: usize,
    pub inner_reps: usize,
    pub n_hyper: usize,
    pub n_u: usize,
    /// Keep the sparse effect draws (needed for exact CIs).
    pub store_draws: bool,
    /// Memory cap on the stored draws of one fit, all chains together (MODEL.md §6): past it,
    /// stored draws are thinned by the smallest power of two that fits, decided from the mean
    /// number of active SNPs during burn-in.
    pub draw_cap_bytes: usize,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            chains: 4,
            burnin: 2000,
            samples: 4000,
            thin: 1,
            n_swap: 1,
            inner_reps: 1,
            n_hyper: 3,
            n_u: 3,
            store_draws: true,
            draw_cap_bytes: 256 << 20,
        }
    }
}

/// The data a sampler runs on.
pub struct Problem<'a> {
    pub red: &'a Reduced,
    /// Contiguous LD blocks covering 0..p.
    pub blocks: &'a [Range<usize>],
    /// Annotation matrix, row-major p×k.
    pub annot: &'a [f64],
    pub k: usize,
    /// Training samples (for PVE) and residual degrees of freedom n − q.
    pub n: usize,
    pub n_eff: usize,
}

/// Chains per lockstep group (see [`Sampler::run`]); also the widest multi-chain score kernel.
pub const LOCKSTEP: usize = 4;
// `group_scores` dispatches on 1..=4 residuals.
const _: () = assert!(LOCKSTEP == 4);

/// One chain of a lockstep group: its state, its stream, and its kept-draw summaries (set at the
/// end of burn-in).
struct Lane {
    ch: Chain,
    rng: ChaCha20Rng,
    out: Option<ChainOut>,
}

/// The columns whose scores one block-score pass computes for block `range`: the block, rounded
/// up to a multiple of four columns (the kernel's width; the extra columns belong to the next
/// blocks and stay valid while r̃ is unchanged).
fn score_panel(range: &Range<usize>, p: usize) -> Range<usize> {
    range.start..(range.start + range.len().next_multiple_of(4)).min(p)
}

/// Whether the scores in `have` cover block `range`.
fn covers(have: &Range<usize>, range: &Range<usize>) -> bool {
    have.start <= range.start && range.end <= have.end
}

/// ε of the swap proposal weights (MODEL.md §4.3), which keeps every proposal positive.
const SWAP_EPS: f64 = 0.05;

/// Packed within-block Gram matrices G_b = X̃_bᵀX̃_b, and the swap move's proposal weights
/// w(x, y) = G_xy²/(G_xx G_yy) + ε in the same layout.
struct Grams {
    offset: Vec<usize>,
    data: Vec<f64>,
    wts: Vec<f64>,
}

impl Grams {
    fn new(red: &Reduced, blocks: &[Range<usize>]) -> Self {
        let mut offset = Vec::with_capacity(blocks.len());
        let mut data = Vec::new();
        for b in blocks {
            offset.push(data.len());
            let m = b.len();
            for i in 0..m {
                for j in 0..m {
                    data.push(dot(red.col(b.start + i), red.col(b.start + j)));
                }
            }
        }
        let mut wts = vec![0.0; data.len()];
        for (b, &off) in blocks.iter().zip(&offset) {
            let m = b.len();
            let g = &data[off..off + m * m];
            for x in 0..m {
                for y in 0..m {
                    let gxy = g[x * m + y];
                    wts[off + x * m + y] = gxy * gxy / (g[x * m + x] * g[y * m + y]) + SWAP_EPS;
                }
            }
        }
        Grams { offset, data, wts }
    }
}

/// Shared, read-only precomputation for all chains.
pub struct Sampler<'a> {
    prob: &'a Problem<'a>,
    spec: ModelSpec,
    priors: Priors,
    fixed: Fixed,
    sched: Schedule,
    grams: Grams,
    k_used: usize,
    max_block: usize,
    /// The used annotation columns, column-major (k_used × p), for the vectorized prior pass.
    acols: Vec<f64>,
    /// G_jj per SNP (the block Grams' diagonals), for the empty-active-set scan terms.
    gdiag: Vec<f64>,
    /// Probit prior: Σ_j x_j x_jᵀ, x_j = (1, a_j1, …, a_jk) (d × d, d = k + 1, summed in SNP
    /// order), the data part of the Albert–Chib precision, which no draw changes; empty for the
    /// other priors.
    probit_gram: Vec<f64>,
    /// Prior sd of each annotation slope w_k of the logistic prior: `priors.w_sd / √K`, so the
    /// prior variance of the linear predictor Σ_k w_k a_jk (standardized columns) stays
    /// `w_sd²` however many columns are used.
    w_sd: f64,
}

/// Per-chain results (kept draws only), merged by [`merge`].
#[derive(Debug, Clone)]
pub struct ChainOut {
    pub n_draws: usize,
    pub pip_count: Vec<f64>,
    pub rb_sum: Vec<f64>,
    pub beta_sum: Vec<f64>,
    pub beta_sq_sum: Vec<f64>,
    pub pos_count: Vec<f64>,
    pub block_incl: Vec<f64>,
    pub pz_sum: Vec<f64>,
    pub u_sum: Vec<f64>,
    /// Stored sparse draws: for stored draw t, entries draw_ptr[t]..draw_ptr[t+1] of
    /// draw_idx/draw_val (`draw_ptr.len() - 1` draws; see `store_thin`).
    pub draw_ptr: Vec<usize>,
    pub draw_idx: Vec<u32>,
    pub draw_val: Vec<f32>,
    /// Scalar traces, one Vec per name in [`TRACE_NAMES`] then one per hyperparameter.
    pub traces: Vec<Vec<f64>>,
    /// Per-SNP inclusion indicator traces are not stored; PIP per chain is pip_count / n_draws.
    pub accept: Acceptance,
    /// Every `store_thin`-th kept draw is stored in the sparse store (1 = all).
    pub store_thin: usize,
}

/// Acceptance counters.
#[derive(Debug, Clone, Default)]
pub struct Acceptance {
    pub swap_prop: u64,
    pub swap_acc: u64,
    pub hyper_prop: u64,
    pub hyper_acc: u64,
    pub u_prop: u64,
    pub u_acc: u64,
}

/// Names of the fixed scalar traces, in order.
pub const TRACE_NAMES: [&str; 9] = [
    "sigma_e2",
    "sigma_b2",
    "sigma_u2",
    "pi",
    "n_active",
    "n_active_blocks",
    "pve",
    "pge",
    "loglik",
];

/// Scan log-odds of δ_j = 1 while the block's active set is empty: prior log-odds η_j, the
/// gate's ψ_b, and the empty-set Bayes factor d0_j + c_j²·h0_j (see `Chain::d0`).
#[inline(always)]
fn empty_set_log_odds(eta: f64, psi_b: f64, d0: f64, c: f64, h0: f64) -> f64 {
    eta + psi_b + d0 + c * c * h0
}

vmath::wide_fn! {
    /// The scan probabilities of an empty block (`pbuf`) and their "off" digits (`kbuf`), from
    /// its scores `c`, prior log-odds η, empty-set terms (d0, h0) and the gate's ψ_b.
    fn empty_probs(
        pbuf: &mut [f64],
        kbuf: &mut [u16],
        c: &[f64],
        eta: &[f64],
        d0: &[f64],
        h0: &[f64],
        psi_b: f64,
    ) {
        let terms = eta.iter().zip(d0).zip(h0);
        for ((pb, &cl), ((&e, &d0), &h0)) in pbuf.iter_mut().zip(c).zip(terms) {
            *pb = vmath::expit(empty_set_log_odds(e, psi_b, d0, cl, h0));
        }
        for (k, &pb) in kbuf.iter_mut().zip(pbuf.iter()) {
            *k = off_digit(pb);
        }
    }
}

vmath::wide_fn! {
    /// The empty-set Bayes-factor terms d0_j = −½ ln((G_jj + κ)/κ) and
    /// h0_j = 1/(2σ_e²(G_jj + κ)).
    fn scan_terms(
        d0: &mut [f64],
        h0: &mut [f64],
        gdiag: &[f64],
        kappa: f64,
        inv_kappa: f64,
        half_inv_se2: f64,
    ) {
        for ((d0, h0), &gjj) in d0.iter_mut().zip(h0.iter_mut()).zip(gdiag) {
            let s = gjj + kappa;
            *d0 = -0.5 * vmath::ln(s * inv_kappa);
            *h0 = half_inv_se2 / s;
        }
    }
}

vmath::wide_fn! {
    /// [`Sampler::logistic_pass`]'s body in the AVX-512 copy where the CPU has it.
    fn logistic_pass_wide(
        s: &Sampler<'_>,
        hyper: &[f64],
        lin: &mut [f64],
        sp: &mut [f64],
        sblk: &mut [f64],
    ) {
        s.logistic_pass_body(hyper, lin, sp, sblk)
    }
}

/// A uniform on the open interval (0, 1).
#[inline]
fn uniform(rng: &mut ChaCha20Rng) -> f64 {
    ((rng.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64)
}

/// Unused random bits of a chain's stream, handed out eight at a time (see [`bernoulli`]).
#[derive(Debug, Clone, Default)]
struct BitPool {
    word: u64,
    left: u32,
}

impl BitPool {
    /// The next eight bits, low byte of the pooled word first; a new word when it runs out.
    #[inline]
    fn byte(&mut self, rng: &mut ChaCha20Rng) -> u64 {
        if self.left == 0 {
            self.word = rng.next_u64();
            self.left = 64;
        }
        let b = self.word & 0xff;
        self.word >>= 8;
        self.left -= 8;
        b
    }

    /// The leading run of [`bernoulli`] decisions that their first digit settles as "off"
    /// (d ≥ 256·p ⟺ d ≥ k = ⌈256·p⌉ for an integer digit d): reads their digits and returns the
    /// run's length. It stops before the first decision it does not settle, without reading
    /// that digit, so it consumes exactly the bytes the same run of `bernoulli` calls would.
    #[inline]
    fn skip_off(&mut self, rng: &mut ChaCha20Rng, k: &[u16]) -> usize {
        let mut n = 0;
        while n < k.len() {
            if self.left == 0 {
                // Fetched where `byte` would fetch it: nothing else draws from the stream
                // before the next digit is read.
                self.word = rng.next_u64();
                self.left = 64;
            }
            let take = ((self.left / 8) as usize).min(k.len() - n);
            for &kl in &k[n..n + take] {
                if ((self.word & 0xff) as u16) < kl {
                    return n;
                }
                self.word >>= 8;
                self.left -= 8;
                n += 1;
            }
        }
        n
    }
}

/// The first digit that settles a [`bernoulli`] decision as "off": ⌈256·p⌉ (exact: 256·p is
/// exact and the digit is an integer), or 257 (never) for a NaN, which `bernoulli` settles
/// without reading a digit.
#[inline(always)]
fn off_digit(p: f64) -> u16 {
    if p.is_nan() {
        257
    } else {
        (p * 256.0).ceil().clamp(0.0, 256.0) as u16
    }
}

/// An exact Bernoulli(p) draw: u < p for u uniform on (0, 1), with u's base-256 digits read
/// lazily from the chain's bit pool, so a decision costs one byte of generator output unless
/// p falls in the first digit's interval (probability 1/256), where the next digit is read.
///
/// With t = 256·p (exact) and the next digit d: d + 1 ≤ t ⇒ u < p; d ≥ t ⇒ u > p; otherwise
/// d = ⌊t⌋ and the comparison continues on t ← 256·(t − d) (exact), which ends once t's
/// fraction is spent. The scan makes one such decision per SNP per sweep.
#[inline]
fn bernoulli(rng: &mut ChaCha20Rng, bits: &mut BitPool, p: f64) -> bool {
    if p.is_nan() {
        // Neither comparison below could ever settle: "off", as `u < NaN` is false.
        return false;
    }
    let mut t = p * 256.0;
    loop {
        let d = bits.byte(rng) as f64;
        if d + 1.0 <= t {
            return true;
        }
        if d >= t {
            return false;
        }
        t = (t - d) * 256.0;
    }
}

#[inline]
fn std_normal(rng: &mut ChaCha20Rng) -> f64 {
    rng.sample::<f64, _>(StandardNormal)
}

/// Scaled inverse χ²(ν, S²) draw: νS²/X, X ~ χ²_ν.
fn draw_sichi2(rng: &mut ChaCha20Rng, nu: f64, s2: f64) -> f64 {
    let g = Gamma::new(nu / 2.0, 2.0).expect("positive shape");
    nu * s2 / rng.sample(g)
}

fn log_sichi2(x: f64, nu: f64, s2: f64) -> f64 {
    -(nu / 2.0 + 1.0) * x.ln() - nu * s2 / (2.0 * x)
}

/// Standard normal truncated to (a, ∞): naive rejection when a < 0.45, else Robert (1995).
fn trunc_normal_above(rng: &mut ChaCha20Rng, a: f64) -> f64 {
    if a < 0.45 {
        loop {
            let z = std_normal(rng);
            if z > a {
                return z;
            }
        }
    }
    let alpha = 0.5 * (a + (a * a + 4.0).sqrt());
    loop {
        let z = a - uniform(rng).ln() / alpha;
        let rho = (-(z - alpha).powi(2) / 2.0).exp();
        if uniform(rng) <= rho {
            return z;
        }
    }
}

/// In-place Cholesky of an a×a row-major SPD matrix (lower triangle); returns log det.
fn cholesky(m: &mut [f64], a: usize) -> f64 {
    let mut logdet = 0.0;
    for j in 0..a {
        let mut d = m[j * a + j];
        for k in 0..j {
            d -= m[j * a + k] * m[j * a + k];
        }
        let d = d.max(1e-300).sqrt();
        m[j * a + j] = d;
        logdet += 2.0 * d.ln();
        for i in j + 1..a {
            let mut s = m[i * a + j];
            for k in 0..j {
                s -= m[i * a + k] * m[j * a + k];
            }
            m[i * a + j] = s / d;
        }
        for k in j + 1..a {
            m[j * a + k] = 0.0;
        }
    }
    logdet
}

/// Solves L x = b in place (L lower, row-major a×a).
fn forward(l: &[f64], a: usize, x: &mut [f64]) {
    for i in 0..a {
        let mut s = x[i];
        for k in 0..i {
            s -= l[i * a + k] * x[k];
        }
        x[i] = s / l[i * a + i];
    }
}

/// Solves Lᵀ x = b in place.
fn backward(l: &[f64], a: usize, x: &mut [f64]) {
    for i in (0..a).rev() {
        let mut s = x[i];
        for k in i + 1..a {
            s -= l[k * a + i] * x[k];
        }
        x[i] = s / l[i * a + i];
    }
}

/// Upper Cholesky Ω = UᵀU of the a×a row-major SPD matrix in `w` (row stride `ld`, upper
/// triangle read and overwritten), right-looking so every update is a contiguous row axpy
/// (`cholesky` is the lower, dot-product form on a packed a×a matrix).
fn cholesky_upper(w: &mut [f64], ld: usize, a: usize) {
    for k in 0..a {
        let d = w[k * ld + k].max(1e-300).sqrt();
        let inv = 1.0 / d;
        w[k * ld + k] = d;
        for v in &mut w[k * ld + k + 1..k * ld + a] {
            *v *= inv;
        }
        let (head, tail) = w.split_at_mut((k + 1) * ld);
        let uk = &head[k * ld..k * ld + a];
        for i in k + 1..a {
            let f = uk[i];
            let row = &mut tail[(i - k - 1) * ld..(i - k - 1) * ld + a];
            for (x, u) in row[i..].iter_mut().zip(&uk[i..]) {
                *x -= f * u;
            }
        }
    }
}

/// Scratch for one block's active set A.
///
/// `set` holds the active local indices in ascending order (the order of the scan, the swap
/// move and the β_A draw). The state is kept in *factor order* `ord` (a permutation of `set`;
/// `pos[l]` is the position of local index l): M = Ω_A⁻¹ with Ω_A = G_AA + κI (full symmetric,
/// row stride `ld`), bhat = M c_A, log det Ω_A and the log BF.
///
/// - Δ_j of a member is O(1): (Ω⁻¹)_jj = M_pp and bhat_p.
/// - Δ_j of a non-member is y = M g_Aj (row axpys), the Schur complement
///   s = Ω_jj − g_Ajᵀy and c_j − g_Ajᵀbhat, O(a²) with no serial dependency; y is kept so an
///   inclusion that follows at once reuses it.
/// - An inclusion borders M (rank-one update plus a new row), an exclusion is the rank-one
///   downdate M − M_{·p}M_{p·}/M_pp and a swap-remove of row and column p; both O(a²).
/// - A refactor builds M by bordering from the empty set. Every Schur complement is ≥ κ in
///   exact arithmetic, so a rounded one is clamped there (no near-singular fallback needed).
/// - The β_A draw refactors Ω_A from G (upper Cholesky), so the draw itself carries no
///   update drift; M is rebuilt at the start of every block update.
struct ActiveFactor {
    /// Local indices of the active set, ascending.
    set: Vec<usize>,
    /// Factor order of the active set.
    ord: Vec<usize>,
    /// Factor position of each local index (only valid for members of `set`).
    pos: Vec<usize>,
    /// Membership of each local index (`set` as flags).
    inset: Vec<bool>,
    /// Row stride of `minv` and `w` (= max_block).
    ld: usize,
    /// Ω_A⁻¹ in factor order.
    minv: Vec<f64>,
    /// Ω_A⁻¹ c_A in factor order.
    bhat: Vec<f64>,
    logdet: f64,
    log_bf: f64,
    /// y = M g_Aj of the last non-member `cached` (factor order).
    y: Vec<f64>,
    /// g_Aj of `cached` (factor order).
    gcol: Vec<f64>,
    /// Local index whose (y, gcol, schur, resid) are current; usize::MAX if none.
    cached: usize,
    schur: f64,
    resid: f64,
    /// Cholesky / solve scratch for the β draw.
    w: Vec<f64>,
    tmp: Vec<f64>,
    /// Saved state for a swap proposal (restored on rejection).
    save_set: Vec<usize>,
    save_minv: Vec<f64>,
    save_ord: Vec<usize>,
    save_bhat: Vec<f64>,
    save_logdet: f64,
    save_log_bf: f64,
    /// (κ, ln κ) of the last refactor or inclusion.
    ln_kappa: (f64, f64),
    /// The scan chunk: local indices whose probabilities `scan_prob` computed together for the
    /// current state (empty after any change of state).
    chunk: Range<usize>,
    /// Per chunk column t (row stride `SCAN_CHUNK`): y = M g_Aj (`yb`), g_Aj (`gcb`), factor order.
    yb: Vec<f64>,
    gcb: Vec<f64>,
    /// Per chunk column: g_Ajᵀy, g_Ajᵀbhat, then s and c_j − g_Ajᵀbhat (or a member's s and
    /// s·bhat_j), the prior log-odds and the probability.
    gyb: [f64; SCAN_CHUNK],
    gbb: [f64; SCAN_CHUNK],
    sb: [f64; SCAN_CHUNK],
    mmb: [f64; SCAN_CHUNK],
    xb: [f64; SCAN_CHUNK],
    pb: [f64; SCAN_CHUNK],
}

/// Consecutive SNPs of a non-empty block whose scan probabilities are computed side by side
/// (one AVX-512 vector of f64), valid until the state changes.
const SCAN_CHUNK: usize = 8;

/// Active sets up to this size use [`ActiveFactor::scan_prob`]'s chunks; larger ones (the
/// crowded blocks of an over-dispersed start) flip often, which would discard most of a chunk,
/// and border one SNP at a time (same bits either way). Gene 4 of the ±1 Mb benchmark, BSLMM,
/// 2 interleaved runs: 25.9 / 22.8 s with no chunks, 25.4 / 22.3 s up to 4, 23.0 / 21.9 s up to 8;
/// with no limit a 300 + 300-sweep run took 34 s instead of 14 s.
const CHUNK_MAX_ACTIVE: usize = 8;

vmath::wide_fn! {
    /// Borders the chunk's columns j = l0 + t (t < `SCAN_CHUNK`; columns past the block read
    /// zeros) against the active set: per column exactly [`ActiveFactor::border`]'s operations in
    /// its order (y_i += g_k·M_ki over factor positions k, then g_Ajᵀbhat and g_Ajᵀy as serial
    /// sums), eight columns side by side.
    #[allow(clippy::too_many_arguments)]
    fn border_chunk(
        yb: &mut [f64],
        gcb: &mut [f64],
        gyb: &mut [f64; SCAN_CHUNK],
        gbb: &mut [f64; SCAN_CHUNK],
        g: &[f64],
        m: usize,
        l0: usize,
        ord: &[usize],
        minv: &[f64],
        ld: usize,
        bhat: &[f64],
    ) {
        const W: usize = SCAN_CHUNK;
        let a = ord.len();
        let w = W.min(m - l0);
        yb[..a * W].iter_mut().for_each(|v| *v = 0.0);
        *gbb = [0.0; W];
        for (k, &i) in ord.iter().enumerate() {
            let gk: &mut [f64; W] = (&mut gcb[k * W..k * W + W]).try_into().unwrap();
            *gk = [0.0; W];
            for (t, gv) in gk[..w].iter_mut().enumerate() {
                *gv = g[(l0 + t) * m + i];
            }
            let bk = bhat[k];
            for t in 0..W {
                gbb[t] += gk[t] * bk;
            }
            let gk = *gk;
            for (yrow, &mv) in yb[..a * W].chunks_exact_mut(W).zip(&minv[k * ld..k * ld + a]) {
                for t in 0..W {
                    yrow[t] += gk[t] * mv;
                }
            }
        }
        *gyb = [0.0; W];
        for (grow, yrow) in gcb[..a * W].chunks_exact(W).zip(yb[..a * W].chunks_exact(W)) {
            for t in 0..W {
                gyb[t] += grow[t] * yrow[t];
            }
        }
    }
}

/// Δ_j = −½ ln(s/κ) + mm²/(2σ_e² s) from the Schur complement s and mm = c_j − g_Ajᵀbhat.
#[inline(always)]
fn toggle_log_bf(s: f64, mm: f64, inv_kappa: f64, half_inv_se2: f64) -> f64 {
    -0.5 * vmath::ln(s * inv_kappa) + mm * mm * half_inv_se2 / s
}

vmath::wide_fn! {
    /// The scan probabilities of a chunk: expit(x + Δ) ([`toggle_log_bf`], as
    /// [`ActiveFactor::delta`]).
    fn chunk_probs(
        pb: &mut [f64; SCAN_CHUNK],
        xb: &[f64; SCAN_CHUNK],
        sb: &[f64; SCAN_CHUNK],
        mmb: &[f64; SCAN_CHUNK],
        inv_kappa: f64,
        half_inv_se2: f64,
    ) {
        for t in 0..SCAN_CHUNK {
            let (s, mm) = (sb[t], mmb[t]);
            pb[t] = vmath::expit(xb[t] + toggle_log_bf(s, mm, inv_kappa, half_inv_se2));
        }
    }
}

impl ActiveFactor {
    fn new(max_block: usize) -> Self {
        let mb = max_block.max(1);
        ActiveFactor {
            set: Vec::with_capacity(mb),
            ord: Vec::with_capacity(mb),
            pos: vec![usize::MAX; mb],
            inset: vec![false; mb],
            ld: mb,
            minv: vec![0.0; mb * mb],
            bhat: vec![0.0; mb],
            logdet: 0.0,
            log_bf: 0.0,
            y: vec![0.0; mb],
            gcol: vec![0.0; mb],
            cached: usize::MAX,
            schur: 0.0,
            resid: 0.0,
            w: vec![0.0; mb * mb],
            tmp: vec![0.0; mb],
            save_set: Vec::with_capacity(mb),
            save_minv: vec![0.0; mb * mb],
            save_ord: Vec::with_capacity(mb),
            save_bhat: vec![0.0; mb],
            save_logdet: 0.0,
            save_log_bf: 0.0,
            ln_kappa: (f64::NAN, f64::NAN),
            chunk: 0..0,
            yb: vec![0.0; mb * SCAN_CHUNK],
            gcb: vec![0.0; mb * SCAN_CHUNK],
            gyb: [0.0; SCAN_CHUNK],
            gbb: [0.0; SCAN_CHUNK],
            sb: [0.0; SCAN_CHUNK],
            mmb: [0.0; SCAN_CHUNK],
            xb: [0.0; SCAN_CHUNK],
            pb: [0.0; SCAN_CHUNK],
        }
    }

    /// Rebuilds M, bhat, log det and log BF for the current `set` (factor order = `set`).
    fn refactor(&mut self, g: &[f64], m: usize, c: &[f64], kappa: f64, sigma_e2: f64) {
        if self.ln_kappa.0 != kappa {
            self.ln_kappa = (kappa, kappa.ln());
        }
        self.ord.clear();
        self.logdet = 0.0;
        // A bordering cached by `delta` or `scan_prob` belongs to the previous state (or block).
        self.cached = usize::MAX;
        self.chunk = 0..0;
        self.chunk = 0..0;
        self.inset.iter_mut().for_each(|f| *f = false);
        for &j in &self.set {
            self.inset[j] = true;
        }
        for k in 0..self.set.len() {
            let j = self.set[k];
            self.border(j, g, m, c, kappa);
            self.push(j);
        }
        self.finish(c, sigma_e2);
    }

    /// For a non-member j: fills gcol = g_Aj, y = M g_Aj, the Schur complement
    /// s = G_jj + κ − g_Ajᵀy (clamped at its exact lower bound κ) and c_j − g_Ajᵀbhat.
    fn border(&mut self, j: usize, g: &[f64], m: usize, c: &[f64], kappa: f64) {
        let a = self.ord.len();
        let ld = self.ld;
        let y = &mut self.y[..a];
        y.iter_mut().for_each(|v| *v = 0.0);
        let (mut gy, mut gb) = (0.0, 0.0);
        // Row j of the symmetric Gram (one short stretch of memory) rather than column j.
        let gj = &g[j * m..j * m + m];
        for (k, &i) in self.ord.iter().enumerate() {
            let gk = gj[i];
            self.gcol[k] = gk;
            gb += gk * self.bhat[k];
            for (yv, mv) in y.iter_mut().zip(&self.minv[k * ld..k * ld + a]) {
                *yv += gk * mv;
            }
        }
        for (gk, yv) in self.gcol[..a].iter().zip(y.iter()) {
            gy += gk * yv;
        }
        self.schur = (g[j * m + j] + kappa - gy).max(kappa);
        self.resid = c[j] - gb;
        self.cached = j;
    }

    /// Appends the bordered j (after `border(j)`): M ← [[M + yyᵀ/s, −y/s], [−yᵀ/s, 1/s]],
    /// bhat ← [bhat − y e; e] with e = resid/s, log det += ln s.
    fn push(&mut self, j: usize) {
        let a = self.ord.len();
        let ld = self.ld;
        let inv_s = 1.0 / self.schur;
        let e = self.resid * inv_s;
        for i in 0..a {
            let f = self.y[i] * inv_s;
            let row = &mut self.minv[i * ld..i * ld + a + 1];
            for (mv, yv) in row[..a].iter_mut().zip(&self.y[..a]) {
                *mv += f * yv;
            }
            row[a] = -f;
            self.bhat[i] -= self.y[i] * e;
        }
        for k in 0..a {
            self.minv[a * ld + k] = -self.y[k] * inv_s;
        }
        self.minv[a * ld + a] = inv_s;
        self.bhat[a] = e;
        self.logdet += vmath::ln(self.schur);
        self.ord.push(j);
        self.pos[j] = a;
        self.cached = usize::MAX;
        self.chunk = 0..0;
    }

    /// Log BF from bhat and log det: −½ log det Ω_A + ½ a ln κ + c_Aᵀbhat / (2σ_e²).
    fn finish(&mut self, c: &[f64], sigma_e2: f64) {
        let a = self.ord.len();
        if a == 0 {
            self.logdet = 0.0;
            self.log_bf = 0.0;
            return;
        }
        let q: f64 = self
            .ord
            .iter()
            .zip(&self.bhat[..a])
            .map(|(&i, b)| c[i] * b)
            .sum();
        self.log_bf = -0.5 * self.logdet + 0.5 * a as f64 * self.ln_kappa.1 + q / (2.0 * sigma_e2);
    }

    /// Adds local index j (not in the set).
    fn insert(&mut self, j: usize, g: &[f64], m: usize, c: &[f64], kappa: f64, sigma_e2: f64) {
        if self.ln_kappa.0 != kappa {
            self.ln_kappa = (kappa, kappa.ln());
        }
        let ins = self.set.binary_search(&j).unwrap_err();
        self.set.insert(ins, j);
        self.inset[j] = true;
        if self.cached != j {
            if self.chunk.contains(&j) {
                self.adopt(j);
            } else {
                self.border(j, g, m, c, kappa);
            }
        }
        self.push(j);
        self.finish(c, sigma_e2);
    }

    /// Removes local index j (in the set): M ← M − M_{·p}M_{p·}/M_pp, bhat ← bhat − M_{·p}
    /// bhat_p/M_pp, then row and column p are replaced by the last ones (swap-remove);
    /// log det += ln M_pp.
    fn remove(&mut self, j: usize, c: &[f64], kappa: f64, sigma_e2: f64) {
        let si = self.set.binary_search(&j).unwrap();
        self.set.remove(si);
        self.inset[j] = false;
        let a = self.ord.len();
        let p = self.pos[j];
        let ld = self.ld;
        // M_pp = 1/s_p with κ ≤ s_p: clamp a rounded value into (0, 1/κ].
        let mpp = self.minv[p * ld + p].clamp(f64::MIN_POSITIVE, 1.0 / kappa);
        let inv = 1.0 / mpp;
        self.tmp[..a].copy_from_slice(&self.minv[p * ld..p * ld + a]);
        let bp = self.bhat[p] * inv;
        for i in 0..a {
            let f = self.tmp[i] * inv;
            for (mv, u) in self.minv[i * ld..i * ld + a].iter_mut().zip(&self.tmp[..a]) {
                *mv -= f * u;
            }
            self.bhat[i] -= self.tmp[i] * bp;
        }
        let last = a - 1;
        if p != last {
            self.minv.copy_within(last * ld..last * ld + a, p * ld);
            for i in 0..a {
                self.minv[i * ld + p] = self.minv[i * ld + last];
            }
            self.minv[p * ld + p] = self.minv[last * ld + last];
            self.bhat[p] = self.bhat[last];
            self.ord.swap_remove(p);
            self.pos[self.ord[p]] = p;
        } else {
            self.ord.pop();
        }
        self.logdet += vmath::ln(mpp);
        self.cached = usize::MAX;
        self.chunk = 0..0;
        self.finish(c, sigma_e2);
    }

    /// Saves the state (before a swap proposal).
    fn save(&mut self) {
        let a = self.ord.len();
        let ld = self.ld;
        for i in 0..a {
            self.save_minv[i * ld..i * ld + a].copy_from_slice(&self.minv[i * ld..i * ld + a]);
        }
        self.save_set.clear();
        self.save_set.extend_from_slice(&self.set);
        self.save_ord.clear();
        self.save_ord.extend_from_slice(&self.ord);
        self.save_bhat[..a].copy_from_slice(&self.bhat[..a]);
        self.save_logdet = self.logdet;
        self.save_log_bf = self.log_bf;
    }

    /// Restores the state saved by `save`.
    fn restore(&mut self) {
        for &i in &self.ord {
            self.inset[i] = false;
        }
        std::mem::swap(&mut self.set, &mut self.save_set);
        std::mem::swap(&mut self.ord, &mut self.save_ord);
        std::mem::swap(&mut self.minv, &mut self.save_minv);
        std::mem::swap(&mut self.bhat, &mut self.save_bhat);
        for (ii, &i) in self.ord.iter().enumerate() {
            self.inset[i] = true;
            self.pos[i] = ii;
        }
        self.logdet = self.save_logdet;
        self.log_bf = self.save_log_bf;
        self.cached = usize::MAX;
        self.chunk = 0..0;
    }

    /// The scan's P(δ_j = 1 | rest) for local SNP j of a non-empty block: expit(η_j + ψ + Δ_j)
    /// with ψ = `psi_b` when j is the only member, else 0 (`eta`: the block's prior log-odds).
    /// Bit for bit `expit(eta[j] + ψ + self.delta(j))`, but the SNPs j, j + 1, … of a chunk are
    /// bordered and evaluated together, eight lanes wide, and kept until the state changes: in
    /// a block without flips the scan's per-SNP latency chains (bordering, ln, exp) become
    /// vector passes.
    #[allow(clippy::too_many_arguments)]
    fn scan_prob(
        &mut self,
        g: &[f64],
        m: usize,
        c: &[f64],
        j: usize,
        kappa: f64,
        (inv_kappa, half_inv_se2): (f64, f64),
        eta: &[f64],
        psi_b: f64,
    ) -> f64 {
        if !self.chunk.contains(&j) {
            border_chunk(
                &mut self.yb,
                &mut self.gcb,
                &mut self.gyb,
                &mut self.gbb,
                g,
                m,
                j,
                &self.ord,
                &self.minv,
                self.ld,
                &self.bhat,
            );
            let w = SCAN_CHUNK.min(m - j);
            let alone = match self.set.as_slice() {
                [only] => *only,
                _ => usize::MAX,
            };
            for t in 0..SCAN_CHUNK {
                let l = j + t;
                let (s, mm, x) = if t >= w {
                    (1.0, 0.0, 0.0)
                } else if self.inset[l] {
                    let (s, mm) = self.member_terms(l, inv_kappa);
                    (s, mm, eta[l] + if alone == l { psi_b } else { 0.0 })
                } else {
                    (
                        (g[l * m + l] + kappa - self.gyb[t]).max(kappa),
                        c[l] - self.gbb[t],
                        eta[l] + 0.0,
                    )
                };
                self.sb[t] = s;
                self.mmb[t] = mm;
                self.xb[t] = x;
            }
            chunk_probs(
                &mut self.pb,
                &self.xb,
                &self.sb,
                &self.mmb,
                inv_kappa,
                half_inv_se2,
            );
            self.chunk = j..j + w;
        }
        self.pb[j - self.chunk.start]
    }

    /// Takes non-member j's bordering (y, g_Aj, s, c_j − g_Ajᵀbhat) from the current chunk, as
    /// `border(j)` would compute it.
    fn adopt(&mut self, j: usize) {
        let t = j - self.chunk.start;
        for k in 0..self.ord.len() {
            self.y[k] = self.yb[k * SCAN_CHUNK + t];
            self.gcol[k] = self.gcb[k * SCAN_CHUNK + t];
        }
        self.schur = self.sb[t];
        self.resid = self.mmb[t];
        self.cached = j;
    }

    /// Log Bayes-factor increment Δ_j of toggling local SNP j relative to A \ {j}
    /// (`inv_kappa` = 1/κ, `half_inv_se2` = 1/(2σ_e²), hoisted out of the scan). Active sets up
    /// to [`CHUNK_MAX_ACTIVE`] use [`ActiveFactor::scan_prob`] instead, which the tests hold to
    /// this, bit for bit.
    fn delta(
        &mut self,
        g: &[f64],
        m: usize,
        c: &[f64],
        j: usize,
        kappa: f64,
        (inv_kappa, half_inv_se2): (f64, f64),
    ) -> f64 {
        let (s, mm) = match self.inset[j] {
            true => self.member_terms(j, inv_kappa),
            false => {
                self.border(j, g, m, c, kappa);
                (self.schur, self.resid)
            }
        };
        toggle_log_bf(s, mm, inv_kappa, half_inv_se2)
    }

    /// For a member j, relative to A \ {j}: s = 1/(Ω⁻¹)_jj (clamped to its exact range
    /// s ≥ κ) and c_j − g_{A\j,j}ᵀ bhat_{A\j} = s bhat_j.
    #[inline(always)]
    fn member_terms(&self, j: usize, inv_kappa: f64) -> (f64, f64) {
        let p = self.pos[j];
        let s = 1.0 / self.minv[p * self.ld + p].clamp(f64::MIN_POSITIVE, inv_kappa);
        (s, s * self.bhat[p])
    }

    /// Draws β_A ~ N(Ω_A⁻¹c_A, σ_e²Ω_A⁻¹) into `tmp[..a]` (factor order) from a fresh upper
    /// Cholesky Ω_A = UᵀU: β = U⁻¹(U⁻ᵀc_A + σ_e ξ), with ξ drawn in ascending local index and
    /// placed at each SNP's factor position.
    fn draw_beta(
        &mut self,
        g: &[f64],
        m: usize,
        c: &[f64],
        kappa: f64,
        se: f64,
        rng: &mut ChaCha20Rng,
    ) {
        let a = self.ord.len();
        let ld = self.ld;
        for (ii, &i) in self.ord.iter().enumerate() {
            for (jj, &j) in self.ord.iter().enumerate().skip(ii) {
                self.w[ii * ld + jj] = g[i * m + j] + if ii == jj { kappa } else { 0.0 };
            }
        }
        cholesky_upper(&mut self.w, ld, a);
        // z = U⁻ᵀ c_A (Uᵀ is lower: column sweeps over the rows of U).
        let z = &mut self.y[..a];
        for (zv, &i) in z.iter_mut().zip(&self.ord) {
            *zv = c[i];
        }
        for k in 0..a {
            let zk = z[k] / self.w[k * ld + k];
            z[k] = zk;
            for (zv, u) in z[k + 1..]
                .iter_mut()
                .zip(&self.w[k * ld + k + 1..k * ld + a])
            {
                *zv -= zk * u;
            }
        }
        for &l in &self.set {
            self.tmp[self.pos[l]] = std_normal(rng);
        }
        let x = &mut self.tmp[..a];
        for (xv, zv) in x.iter_mut().zip(z.iter()) {
            *xv = zv + se * *xv;
        }
        // β = U⁻¹ x (back substitution by rows of U).
        for i in (0..a).rev() {
            let row = &self.w[i * ld + i + 1..i * ld + a];
            // Fixed-lane fused dot (vectorized; a serial sum here dominated large blocks).
            let s = crate::model::reduce::dot(row, &x[i + 1..]);
            x[i] = (x[i] - s) / self.w[i * ld + i];
        }
        self.cached = usize::MAX;
        self.chunk = 0..0;
    }
}

/// Mutable state of one chain.
struct Chain {
    delta: Vec<bool>,
    beta: Vec<f64>,
    u: Vec<f64>,
    resid: Vec<f64>,
    sigma_e2: f64,
    sigma_b2: f64,
    sigma_u2: f64,
    hyper: Vec<f64>,
    sigma_w2: f64,
    /// Prior log-odds per SNP (η' gate off, η gate on).
    eta: Vec<f64>,
    psi: Vec<f64>,
    log_pi_b: f64,
    /// Active sets per block (local indices).
    active: Vec<Vec<usize>>,
    /// Bits of the chain's stream not yet used by the scan's decisions.
    bits: BitPool,
    // scratch
    c: Vec<f64>,
    fac: ActiveFactor,
    beta_old: Vec<f64>,
    /// The block's active set at the start of its update, then with the new one (scratch).
    old_set: Vec<usize>,
    /// Swap-proposal weights of one row (scratch).
    wbuf: Vec<f64>,
    e: Vec<f64>,
    /// Scratch of length r (the polygenic target's terms).
    tmp_r: Vec<f64>,
    /// Per-block scratch: P(δ_l = 1 | rest) for an empty active set.
    pbuf: Vec<f64>,
    /// ⌈256·pbuf⌉ (257 for NaN): the first digit that settles "off" (see [`BitPool::skip_off`]).
    kbuf: Vec<u16>,
    /// Block scores X̃_jᵀ r̃ for the columns in `sc_range`, valid while r̃ is unchanged.
    sc: Vec<f64>,
    sc_range: std::ops::Range<usize>,
    /// Scan terms for an empty active set, refilled before each sweep's block updates:
    /// Δ_j = d0_j + c_j²·h0_j with d0_j = −½ log((G_jj + κ)/κ), h0_j = 1/(2σ_e²(G_jj + κ)).
    d0: Vec<f64>,
    h0: Vec<f64>,
    acc: Acceptance,
    // adaptation
    l_theta: Vec<f64>,
    lambda_adapt: f64,
    s_u: f64,
    /// Burn-in hyperparameter history, flat (sweep-major), preallocated.
    hist: Vec<f64>,
    /// Scratch for the Albert–Chib draw and the adaptation (d × d and 2d, d = hyperparameters).
    scratch_dd: Vec<f64>,
    scratch_d: Vec<f64>,
    prop: Vec<f64>,
    xi: Vec<f64>,
    win_hyper: (u64, u64),
    win_u: (u64, u64),
    /// Albert–Chib scratch: the liabilities' means.
    liab: Vec<f64>,
    /// ‖y‖² − ‖ỹ‖² of the data this chain conditions on.
    rss_perp: f64,
    // Logistic-prior cache: linear predictors and per-block softplus sums for the current
    // hyperparameters (`lin_cur`, `sblk_cur`, valid when `hyper_ok`) and for a proposal. The
    // probit prior uses `lin_cur` as the scratch of its refresh.
    lin_cur: Vec<f64>,
    lin_prop: Vec<f64>,
    sp_buf: Vec<f64>,
    sblk_cur: Vec<f64>,
    sblk_prop: Vec<f64>,
    hyper_ok: bool,
}

impl<'a> Sampler<'a> {
    /// Prepares a sampler (computes the block Grams once).
    pub fn new(
        prob: &'a Problem<'a>,
        spec: ModelSpec,
        priors: Priors,
        fixed: Fixed,
        sched: Schedule,
    ) -> Self {
        let grams = Grams::new(prob.red, prob.blocks);
        let max_block = prob
            .blocks
            .iter()
            .map(|b| b.len())
            .max()
            .unwrap_or(1)
            .max(1);
        let k_used = if spec.annotated { prob.k } else { 0 };
        let p = prob.red.p;
        let mut acols = vec![0.0; k_used * p];
        for k in 0..k_used {
            for j in 0..p {
                acols[k * p + j] = prob.annot[j * prob.k + k];
            }
        }
        let mut gdiag = vec![0.0; p];
        for (b, r) in prob.blocks.iter().enumerate() {
            let m = r.len();
            let g = &grams.data[grams.offset[b]..grams.offset[b] + m * m];
            for l in 0..m {
                gdiag[r.start + l] = g[l * m + l];
            }
        }
        let w_sd = priors.w_sd / (k_used.max(1) as f64).sqrt();
        let mut probit_gram = Vec::new();
        if spec.prior == SnpPrior::Probit {
            let d = k_used + 1;
            probit_gram = vec![0.0; d * d];
            let mut x = vec![1.0; d];
            for j in 0..p {
                x[1..].copy_from_slice(&prob.annot[j * prob.k..j * prob.k + k_used]);
                for i in 0..d {
                    for m in 0..d {
                        probit_gram[i * d + m] += x[i] * x[m];
                    }
                }
            }
        }
        Sampler {
            acols,
            gdiag,
            probit_gram,
            w_sd,
            prob,
            spec,
            priors,
            fixed,
            sched,
            grams,
            k_used,
            max_block,
        }
    }

    /// Names of the hyperparameter vector entries.
    pub fn hyper_names(&self) -> Vec<String> {
        let mut v = Vec::new();
        match self.spec.prior {
            SnpPrior::Bslmm => v.push("theta".to_string()),
            SnpPrior::Logistic => {
                if self.spec.gate {
                    v.push("theta_b".to_string());
                }
                v.push("w0".to_string());
            }
            SnpPrior::Probit => v.push("w0".to_string()),
        }
        for k in 0..self.k_used {
            v.push(format!("w{}", k + 1));
        }
        v
    }

    fn n_blocks_eff(&self) -> f64 {
        (self.prob.blocks.len() as f64).max(2.0)
    }

    fn lin(&self, hyper: &[f64], j: usize, w0_at: usize) -> f64 {
        let mut x = hyper[w0_at];
        for k in 0..self.k_used {
            x += hyper[w0_at + 1 + k] * self.prob.annot[j * self.prob.k + k];
        }
        x
    }

    /// Fills `lin` with the linear predictors w0 + Σ_k w_k a_jk of all SNPs (w0 = `hyper[w0_at]`),
    /// column by column (vectorized); each entry is bit-identical to [`Self::lin`].
    #[inline(always)]
    fn lin_pass(&self, hyper: &[f64], w0_at: usize, lin: &mut [f64]) {
        let p = self.prob.red.p;
        lin.fill(hyper[w0_at]);
        for k in 0..self.k_used {
            let w = hyper[w0_at + 1 + k];
            for (l, a) in lin.iter_mut().zip(&self.acols[k * p..(k + 1) * p]) {
                *l += w * a;
            }
        }
    }

    /// Logistic prior: fills `lin` with the linear predictors w0 + Σ_k w_k a_jk and `sblk[..B]`
    /// with the per-block sums Σ_{j∈b} softplus(lin_j) (vectorized; `sp` is scratch); gated
    /// models also get log P(δ_b = 0 | θ) in `sblk[B..2B]`.
    fn logistic_pass(&self, hyper: &[f64], lin: &mut [f64], sp: &mut [f64], sblk: &mut [f64]) {
        logistic_pass_wide(self, hyper, lin, sp, sblk);
    }

    /// The body of [`Self::logistic_pass`] (inlined into both copies of `logistic_pass_wide`).
    #[inline(always)]
    fn logistic_pass_body(&self, hyper: &[f64], lin: &mut [f64], sp: &mut [f64], sblk: &mut [f64]) {
        let at = usize::from(self.spec.gate);
        self.lin_pass(hyper, at, lin);
        if self.k_used == 0 {
            let s0 = vmath::softplus(hyper[at]);
            for (sb, r) in sblk.iter_mut().zip(self.prob.blocks) {
                *sb = r.len() as f64 * s0;
            }
        } else {
            vmath::softplus_into(lin, sp);
            for (sb, r) in sblk.iter_mut().zip(self.prob.blocks) {
                *sb = vmath::sum8(&sp[r.clone()]);
            }
        }
        if self.spec.gate {
            // Second half: log P(δ_b = 0) = log(1 − π_b + π_b q_b) = logaddexp(log(1 − π_b),
            // log π_b − Σ softplus), one branch-free (vectorized) pass over the blocks.
            let nb = self.prob.blocks.len();
            let log_pi_b = self.log_pi_b(hyper[0]);
            let a = (-log_pi_b.exp()).ln_1p();
            let (sums, empty) = sblk.split_at_mut(nb);
            for (e, &s) in empty.iter_mut().zip(sums.iter()) {
                let t = log_pi_b - s;
                *e = a.max(t) + vmath::softplus(-(a - t).abs());
            }
        }
    }

    /// log π_b = −(1 − expit θ_b)·log B′ (MODEL.md §3).
    fn log_pi_b(&self, theta_b: f64) -> f64 {
        -(1.0 - vmath::expit(theta_b)) * self.n_blocks_eff().ln()
    }

    /// Makes `lin_cur`/`sblk_cur` hold the logistic pass of the current hyperparameters.
    fn ensure_logistic_cache(&self, ch: &mut Chain) {
        if !ch.hyper_ok {
            let Chain {
                hyper,
                lin_cur,
                sp_buf,
                sblk_cur,
                ..
            } = ch;
            self.logistic_pass(hyper, lin_cur, sp_buf, sblk_cur);
            ch.hyper_ok = true;
        }
    }

    /// Recomputes η, log π_b and ψ_b from the hyperparameters.
    fn refresh(&self, ch: &mut Chain) {
        let p = self.prob.red.p;
        match self.spec.prior {
            SnpPrior::Bslmm => {
                let log_pi = -(1.0 - vmath::expit(ch.hyper[0])) * (p as f64).ln();
                let lo = log_pi - (-log_pi.exp()).ln_1p();
                ch.eta.iter_mut().for_each(|e| *e = lo);
            }
            SnpPrior::Logistic => {
                self.ensure_logistic_cache(ch);
                ch.eta.copy_from_slice(&ch.lin_cur);
            }
            SnpPrior::Probit => {
                // η_j = log Φ(lin_j) − log Φ(−lin_j), one vectorized pass
                self.lin_pass(&ch.hyper, 0, &mut ch.lin_cur);
                vmath::probit_log_odds_into(&ch.lin_cur, &mut ch.eta);
            }
        }
        if self.spec.gate {
            ch.log_pi_b = self.log_pi_b(ch.hyper[0]);
            // The gate comes with the logistic prior only (block_only, bsbslmm; MODEL.md §3 table),
            // whose pass left log q_b = −Σ_{j∈b} softplus(η_j) and log P(δ_b = 0) in `sblk_cur`.
            debug_assert_eq!(self.spec.prior, SnpPrior::Logistic);
            let nb = self.prob.blocks.len();
            let (sums, empty) = ch.sblk_cur.split_at(nb);
            for ((psi, &s), &e) in ch.psi.iter_mut().zip(sums).zip(empty) {
                *psi = ch.log_pi_b - s - e;
            }
        }
    }

    /// log P(δ | θ) + log p(θ), the target of the hyperparameter MH (models a–c). For the
    /// logistic prior `lin` and `sblk` are [`Self::logistic_pass`] of `hyper`.
    fn hyper_target(&self, ch: &Chain, hyper: &[f64], lin: &[f64], sblk: &[f64]) -> f64 {
        let p = self.prob.red.p;
        let lp_logistic = |t: f64| -vmath::softplus(t) - vmath::softplus(-t);
        let n_on = |b: usize| ch.active[b].len();
        match self.spec.prior {
            SnpPrior::Bslmm => {
                let log_pi = -(1.0 - vmath::expit(hyper[0])) * (p as f64).ln();
                let log_1m = (-log_pi.exp()).ln_1p();
                let s = (0..self.prob.blocks.len()).map(n_on).sum::<usize>() as f64;
                lp_logistic(hyper[0]) + s * log_pi + (p as f64 - s) * log_1m
            }
            SnpPrior::Logistic => {
                let at = usize::from(self.spec.gate);
                let pr = &self.priors;
                let mut lp = -0.5 * ((hyper[at] - pr.w0_mean) / pr.w0_sd).powi(2);
                for k in 0..self.k_used {
                    lp -= 0.5 * (hyper[at + 1 + k] / self.w_sd).powi(2);
                }
                // log P(δ_b | θ) = Σ_{j∈A_b} lin_j − Σ_{j∈b} softplus(lin_j)
                let on_sum = |b: usize| -> f64 {
                    let start = self.prob.blocks[b].start;
                    ch.active[b].iter().map(|&l| lin[start + l]).sum()
                };
                if !self.spec.gate {
                    for b in 0..self.prob.blocks.len() {
                        lp += on_sum(b) - sblk[b];
                    }
                    return lp;
                }
                lp += lp_logistic(hyper[0]);
                let log_pi_b = self.log_pi_b(hyper[0]);
                let nb = self.prob.blocks.len();
                for b in 0..nb {
                    if n_on(b) == 0 {
                        lp += sblk[nb + b];
                    } else {
                        lp += log_pi_b + on_sum(b) - sblk[b];
                    }
                }
                lp
            }
            SnpPrior::Probit => unreachable!("probit uses Albert–Chib"),
        }
    }

    fn init_chain(&self, rng: &mut ChaCha20Rng) -> Chain {
        let red = self.prob.red;
        let p = red.p;
        let pr = &self.priors;
        let clip = |v: f64| v.clamp(1e-4, 1.0);
        let sigma_b2 = self
            .fixed
            .sigma_b2
            .unwrap_or_else(|| clip(draw_sichi2(rng, pr.nu_b, pr.s2_b)));
        let sigma_u2 = self
            .fixed
            .sigma_u2
            .unwrap_or_else(|| clip(draw_sichi2(rng, pr.nu_u, pr.s2_u)));
        let names = self.hyper_names();
        let mut hyper = vec![0.0; names.len()];
        let logit = |x: f64| (x / (1.0 - x)).ln();
        match self.spec.prior {
            SnpPrior::Bslmm => {
                let u = uniform(rng);
                hyper[0] = logit(u);
            }
            SnpPrior::Logistic => {
                let mut at = 0;
                if self.spec.gate {
                    hyper[0] = logit(uniform(rng));
                    at = 1;
                }
                let w0 = pr.w0_mean + pr.w0_sd * std_normal(rng);
                hyper[at] = w0.clamp(logit(0.005), logit(0.5));
            }
            SnpPrior::Probit => {
                let pi0 = (10.0 / p as f64).clamp(1e-3, 0.5);
                hyper[0] = normal::quantile(pi0);
            }
        }
        if let Some(h) = &self.fixed.hyper {
            hyper.copy_from_slice(h);
        }
        let sigma_w2 = self.fixed.sigma_w2.unwrap_or(1.0);
        let d_h = hyper.len();
        let logistic = self.spec.prior == SnpPrior::Logistic;
        let annot_prior = self.spec.prior != SnpPrior::Bslmm;
        let mut ch = Chain {
            delta: vec![false; p],
            beta: vec![0.0; p],
            u: vec![0.0; red.r],
            resid: red.yt.clone(),
            sigma_e2: self.fixed.sigma_e2.unwrap_or(1.0),
            sigma_b2,
            sigma_u2: if self.spec.polygenic { sigma_u2 } else { 0.0 },
            hyper,
            sigma_w2,
            eta: vec![0.0; p],
            psi: vec![0.0; self.prob.blocks.len()],
            log_pi_b: 0.0,
            // One allocation per block (`vec![v; n]` would clone empty, capacity-0 vectors).
            active: (0..self.prob.blocks.len())
                .map(|_| Vec::with_capacity(self.max_block))
                .collect(),
            bits: BitPool::default(),
            c: vec![0.0; self.max_block],
            fac: ActiveFactor::new(self.max_block),
            beta_old: vec![0.0; self.max_block],
            // Room for the old and the new set together (step (vii)).
            old_set: Vec::with_capacity(2 * self.max_block),
            wbuf: vec![0.0; self.max_block],
            e: vec![0.0; red.r],
            tmp_r: vec![0.0; red.r],
            pbuf: vec![0.0; self.max_block],
            kbuf: vec![0; self.max_block],
            sc: vec![0.0; p],
            sc_range: 0..0,
            d0: vec![0.0; p],
            h0: vec![0.0; p],
            acc: Acceptance::default(),
            l_theta: Vec::new(),
            lambda_adapt: 1.0,
            s_u: 0.5,
            hist: Vec::with_capacity(self.sched.burnin * d_h),
            scratch_dd: vec![0.0; d_h * d_h],
            scratch_d: vec![0.0; 2 * d_h],
            prop: vec![0.0; d_h],
            xi: vec![0.0; d_h],
            win_hyper: (0, 0),
            win_u: (0, 0),
            liab: vec![0.0; p],
            rss_perp: red.rss_perp,
            lin_cur: vec![0.0; if annot_prior { p } else { 0 }],
            lin_prop: vec![0.0; if logistic { p } else { 0 }],
            sp_buf: vec![0.0; if logistic { p } else { 0 }],
            sblk_cur: vec![0.0; 2 * self.prob.blocks.len()],
            sblk_prop: vec![0.0; 2 * self.prob.blocks.len()],
            hyper_ok: false,
        };
        if let Some(dl) = &self.fixed.delta {
            ch.delta.copy_from_slice(dl);
            for (b, r) in self.prob.blocks.iter().enumerate() {
                ch.active[b] = r.clone().filter(|&j| dl[j]).map(|j| j - r.start).collect();
            }
        }
        let d = ch.hyper.len();
        ch.l_theta = vec![0.0; d * d];
        for i in 0..d {
            ch.l_theta[i * d + i] = 0.1f64.sqrt();
        }
        self.refresh(&mut ch);
        ch
    }

    fn block_update(
        &self,
        ch: &mut Chain,
        b: usize,
        rng: &mut ChaCha20Rng,
        rb: Option<&mut [f64]>,
    ) {
        let red = self.prob.red;
        let range = self.prob.blocks[b].clone();
        let m = range.len();
        let g = &self.grams.data[self.grams.offset[b]..self.grams.offset[b] + m * m];
        let wts = &self.grams.wts[self.grams.offset[b]..self.grams.offset[b] + m * m];
        let kappa = ch.sigma_e2 / ch.sigma_b2;
        let se2 = ch.sigma_e2;
        // (i) partial-residual score with the old β_b. Scores are computed four columns at a time
        // and kept while the residual is unchanged, so singleton blocks and a block's remainder
        // columns share a pass over r̃ with the next block's (each score is bit-identical to its
        // own dot product; see `reduce::dot_k`).
        if !covers(&ch.sc_range, &range) {
            let panel = score_panel(&range, red.p);
            panel_scores(red, range.start, &mut ch.sc[panel.clone()], &ch.resid);
            ch.sc_range = panel;
        }
        ch.c[..m].copy_from_slice(&ch.sc[range.clone()]);
        // Row k of the symmetric Gram (contiguous) rather than column k.
        for &k in &ch.active[b] {
            let bk = ch.beta[range.start + k];
            for (cl, gl) in ch.c[..m].iter_mut().zip(&g[k * m..k * m + m]) {
                *cl += gl * bk;
            }
        }
        // β_b is zero outside the active set: keep the old set and its effects (`beta_old` is
        // zero outside it too, and reset at the end).
        ch.old_set.clear();
        ch.old_set.extend_from_slice(&ch.active[b]);
        for &l in &ch.old_set {
            ch.beta_old[l] = ch.beta[range.start + l];
        }
        let c = &ch.c[..m];
        std::mem::swap(&mut ch.fac.set, &mut ch.active[b]);
        ch.fac.refactor(g, m, c, kappa, se2);
        let mut rb = rb;
        let inv_reps = 1.0 / self.sched.inner_reps as f64;
        let scan_consts = (1.0 / kappa, 0.5 / se2);
        let psi_b = if self.spec.gate { ch.psi[b] } else { 0.0 };
        // P(δ_l = 1 | rest) while the active set is empty depends only on quantities fixed during
        // this block update, so a block that starts empty gets them in one branch-free pass.
        let pre = m >= 4 && ch.fac.set.is_empty();
        if pre {
            empty_probs(
                &mut ch.pbuf[..m],
                &mut ch.kbuf[..m],
                c,
                &ch.eta[range.clone()],
                &ch.d0[range.clone()],
                &ch.h0[range.clone()],
                psi_b,
            );
        }
        for _rep in 0..self.sched.inner_reps {
            // (iii) collapsed single-site scan.
            let mut l = 0;
            while l < m {
                if pre && ch.fac.set.is_empty() {
                    // While the set is empty, the SNPs whose first digit says "off" change
                    // nothing but their Rao–Blackwellized sums: settle the run in one go.
                    let run = ch.bits.skip_off(rng, &ch.kbuf[l..m]);
                    if let Some(rb) = rb.as_deref_mut() {
                        let s = range.start + l;
                        for (r, &pb) in rb[s..s + run].iter_mut().zip(&ch.pbuf[l..l + run]) {
                            *r += pb * inv_reps;
                        }
                    }
                    l += run;
                    if l == m {
                        break;
                    }
                }
                let j = range.start + l;
                let prob_on = if ch.fac.set.is_empty() {
                    if pre {
                        ch.pbuf[l]
                    } else {
                        vmath::expit(empty_set_log_odds(
                            ch.eta[j], psi_b, ch.d0[j], c[l], ch.h0[j],
                        ))
                    }
                } else {
                    if ch.fac.set.len() <= CHUNK_MAX_ACTIVE {
                        let eta_b = &ch.eta[range.clone()];
                        ch.fac
                            .scan_prob(g, m, c, l, kappa, scan_consts, eta_b, psi_b)
                    } else {
                        let d = ch.fac.delta(g, m, c, l, kappa, scan_consts);
                        let alone = matches!(ch.fac.set.as_slice(), [only] if *only == l);
                        vmath::expit(ch.eta[j] + if alone { psi_b } else { 0.0 } + d)
                    }
                };
                let on = bernoulli(rng, &mut ch.bits, prob_on);
                if let Some(rb) = rb.as_deref_mut() {
                    rb[j] += prob_on * inv_reps;
                }
                let was = ch.fac.inset[l];
                match (was, on) {
                    (true, false) => ch.fac.remove(l, c, kappa, se2),
                    (false, true) => ch.fac.insert(l, g, m, c, kappa, se2),
                    _ => {}
                }
                l += 1;
            }
            // (iv) within-block swap.
            for _ in 0..self.sched.n_swap {
                let a = ch.fac.set.len();
                if a == 0 || a == m {
                    break;
                }
                let jpos = ((uniform(rng) * a as f64) as usize).min(a - 1);
                let jl = ch.fac.set[jpos];
                let weight = |x: usize, y: usize| wts[x * m + y];
                let inset = &ch.fac.inset;
                // Totals by the fixed-order `sum8` over the row with members zeroed (x + 0 = x:
                // the weights are positive).
                let wbuf = &mut ch.wbuf[..m];
                for ((w, &v), &on) in wbuf.iter_mut().zip(&wts[jl * m..jl * m + m]).zip(inset) {
                    *w = if on { 0.0 } else { v };
                }
                let total_f = vmath::sum8(wbuf);
                let mut target = uniform(rng) * total_f;
                let mut kl = usize::MAX;
                let mut last = usize::MAX;
                for l in 0..m {
                    if inset[l] {
                        continue;
                    }
                    last = l;
                    target -= weight(jl, l);
                    if target <= 0.0 {
                        kl = l;
                        break;
                    }
                }
                if kl == usize::MAX {
                    kl = last;
                }
                let log_q_fwd = (weight(jl, kl) / total_f).ln();
                // Reverse: from A' = A \ {j} ∪ {k}, choose j among I_b \ A' = (I_b \ A) \ {k} ∪ {j}.
                for (l, (w, &v)) in wbuf.iter_mut().zip(&wts[kl * m..kl * m + m]).enumerate() {
                    *w = if (!inset[l] && l != kl) || l == jl {
                        v
                    } else {
                        0.0
                    };
                }
                let total_rev = vmath::sum8(wbuf);
                let log_q_rev = (weight(kl, jl) / total_rev).ln();
                let old_bf = ch.fac.log_bf;
                ch.fac.save();
                ch.fac.remove(jl, c, kappa, se2);
                ch.fac.insert(kl, g, m, c, kappa, se2);
                let log_alpha = ch.eta[range.start + kl] - ch.eta[range.start + jl] + ch.fac.log_bf
                    - old_bf
                    + log_q_rev
                    - log_q_fwd;
                let u = uniform(rng);
                ch.acc.swap_prop += 1;
                if u.ln() < log_alpha {
                    ch.acc.swap_acc += 1;
                } else {
                    ch.fac.restore();
                }
            }
        }
        // (vi) draw β_A.
        let a = ch.fac.set.len();
        for &l in &ch.old_set {
            ch.beta[range.start + l] = 0.0;
            ch.delta[range.start + l] = false;
        }
        if a > 0 {
            let se = se2.sqrt();
            let fac = &mut ch.fac;
            fac.draw_beta(g, m, c, kappa, se, rng);
            for (k, &l) in fac.ord.iter().enumerate() {
                ch.beta[range.start + l] = fac.tmp[k];
                ch.delta[range.start + l] = true;
            }
        }
        // (vii) residual update, in ascending l over the old and new active sets (β_l changes
        // nowhere else).
        let changed = &mut ch.old_set;
        changed.extend_from_slice(&ch.fac.set);
        changed.sort_unstable();
        changed.dedup();
        for &l in changed.iter() {
            let before = std::mem::take(&mut ch.beta_old[l]);
            let diff = ch.beta[range.start + l] - before;
            if diff != 0.0 {
                ch.sc_range = 0..0;
                let col = red.col(range.start + l);
                for (r, x) in ch.resid.iter_mut().zip(col) {
                    *r -= x * diff;
                }
            }
        }
        std::mem::swap(&mut ch.fac.set, &mut ch.active[b]);
    }
}

impl<'a> Sampler<'a> {
    /// §4.5: σ_u² by MH with ũ integrated out, then ũ from its conditional.
    fn polygenic_update(&self, ch: &mut Chain, rng: &mut ChaCha20Rng, adapt: bool) {
        let red = self.prob.red;
        for i in 0..red.r {
            ch.e[i] = ch.resid[i] + ch.u[i];
        }
        let pr = &self.priors;
        let se2 = ch.sigma_e2;
        if self.fixed.sigma_u2.is_none() {
            // The terms go through a branch-free (vectorized) pass, then a fixed-order sum.
            let target = |phi: f64, e: &[f64], terms: &mut [f64]| {
                let su = phi.exp();
                for ((t, ei), di) in terms.iter_mut().zip(e).zip(&red.d) {
                    let v = se2 + su * di;
                    *t = vmath::ln(v) + ei * ei / v;
                }
                log_sichi2(su, pr.nu_u, pr.s2_u) + phi - 0.5 * vmath::sum8(terms)
            };
            let mut phi = ch.sigma_u2.ln();
            let mut t_cur = target(phi, &ch.e, &mut ch.tmp_r);
            for _ in 0..self.sched.n_u {
                let prop = phi + ch.s_u * std_normal(rng);
                let t_new = target(prop, &ch.e, &mut ch.tmp_r);
                let u = uniform(rng);
                ch.acc.u_prop += 1;
                if adapt {
                    ch.win_u.0 += 1;
                }
                if u.ln() < t_new - t_cur {
                    phi = prop;
                    t_cur = t_new;
                    ch.acc.u_acc += 1;
                    if adapt {
                        ch.win_u.1 += 1;
                    }
                }
            }
            ch.sigma_u2 = phi.exp();
        }
        let su = ch.sigma_u2;
        for i in 0..red.r {
            let v = se2 + su * red.d[i];
            let mean = su * red.d[i] * ch.e[i] / v;
            let var = se2 * su * red.d[i] / v;
            ch.u[i] = mean + var.sqrt() * std_normal(rng);
            ch.resid[i] = ch.e[i] - ch.u[i];
        }
    }

    /// §4.6: conjugate variance draws.
    fn variance_update(&self, ch: &mut Chain, rng: &mut ChaCha20Rng) {
        let pr = &self.priors;
        if self.fixed.sigma_e2.is_none() {
            let rss: f64 = ch.resid.iter().map(|v| v * v).sum::<f64>() + ch.rss_perp;
            let nu = pr.nu_e + self.prob.n_eff as f64;
            ch.sigma_e2 = draw_sichi2(rng, nu, (pr.nu_e * pr.s2_e + rss) / nu);
        }
        if self.fixed.sigma_b2.is_none() {
            // Over the active sets (blocks in order, members ascending: ascending j, the same
            // sum as over all δ_j = 1).
            let (mut s, mut ss) = (0.0, 0.0);
            for (set, r) in ch.active.iter().zip(self.prob.blocks) {
                for &l in set {
                    let b = ch.beta[r.start + l];
                    s += 1.0;
                    ss += b * b;
                }
            }
            let nu = pr.nu_b + s;
            ch.sigma_b2 = draw_sichi2(rng, nu, (pr.nu_b * pr.s2_b + ss) / nu);
        }
    }

    /// §4.7: random-walk MH on the hyperparameter vector (models a–c), adaptive in burn-in.
    fn hyper_update(&self, ch: &mut Chain, rng: &mut ChaCha20Rng, adapt: bool) {
        let d = ch.hyper.len();
        let logistic = self.spec.prior == SnpPrior::Logistic;
        if logistic {
            self.ensure_logistic_cache(ch);
        }
        let mut cur = self.hyper_target(ch, &ch.hyper, &ch.lin_cur, &ch.sblk_cur);
        let mut prop = std::mem::take(&mut ch.prop);
        let mut xi = std::mem::take(&mut ch.xi);
        let mut lin = std::mem::take(&mut ch.lin_prop);
        let mut sblk = std::mem::take(&mut ch.sblk_prop);
        for _ in 0..self.sched.n_hyper {
            for v in xi.iter_mut() {
                *v = std_normal(rng);
            }
            for i in 0..d {
                let mut s = ch.hyper[i];
                for k in 0..=i {
                    s += ch.l_theta[i * d + k] * xi[k];
                }
                prop[i] = s;
            }
            if logistic {
                self.logistic_pass(&prop, &mut lin, &mut ch.sp_buf, &mut sblk);
            }
            let new = self.hyper_target(ch, &prop, &lin, &sblk);
            let u = uniform(rng);
            ch.acc.hyper_prop += 1;
            if adapt {
                ch.win_hyper.0 += 1;
            }
            if u.ln() < new - cur {
                ch.hyper.copy_from_slice(&prop);
                std::mem::swap(&mut ch.lin_cur, &mut lin);
                std::mem::swap(&mut ch.sblk_cur, &mut sblk);
                cur = new;
                ch.acc.hyper_acc += 1;
                if adapt {
                    ch.win_hyper.1 += 1;
                }
            }
        }
        ch.prop = prop;
        ch.xi = xi;
        ch.lin_prop = lin;
        ch.sblk_prop = sblk;
    }

    /// Haario-style adaptation at burn-in sweeps 200, 400, ...
    fn adapt(&self, ch: &mut Chain, t: usize) {
        if !t.is_multiple_of(200) || t == 0 {
            return;
        }
        let d = ch.hyper.len();
        if d > 0 && ch.win_hyper.0 > 0 {
            let rate = ch.win_hyper.1 as f64 / ch.win_hyper.0 as f64;
            ch.lambda_adapt *= (rate - 0.25).exp();
            let h = &ch.hist[(t / 2) * d..t * d];
            let nh = (t - t / 2) as f64;
            let mean = &mut ch.scratch_d[..d];
            for (i, m) in mean.iter_mut().enumerate() {
                *m = h.chunks_exact(d).map(|x| x[i]).sum::<f64>() / nh;
            }
            let cov = &mut ch.l_theta;
            cov.fill(0.0);
            for x in h.chunks_exact(d) {
                for i in 0..d {
                    for k in 0..d {
                        cov[i * d + k] += (x[i] - mean[i]) * (x[k] - mean[k]) / (nh - 1.0).max(1.0);
                    }
                }
            }
            let l2 = ch.lambda_adapt * ch.lambda_adapt;
            for i in 0..d {
                for k in 0..d {
                    cov[i * d + k] = l2
                        * (2.38 * 2.38 / d as f64 * cov[i * d + k]
                            + if i == k { 1e-6 } else { 0.0 });
                }
            }
            cholesky(cov, d);
            ch.win_hyper = (0, 0);
        }
        if ch.win_u.0 > 0 {
            let rate = ch.win_u.1 as f64 / ch.win_u.0 as f64;
            ch.s_u *= (rate - 0.44).exp();
            ch.win_u = (0, 0);
        }
    }

    /// §4.8: Albert–Chib for the probit prior (model d).
    fn albert_chib(&self, ch: &mut Chain, rng: &mut ChaCha20Rng) {
        let p = self.prob.red.p;
        let k = self.k_used;
        let kk = self.prob.k;
        let d = k + 1;
        let mut prec = std::mem::take(&mut ch.scratch_dd);
        let mut rz = std::mem::take(&mut ch.scratch_d);
        rz.fill(0.0);
        let (rhs, z) = rz.split_at_mut(d);
        // Liabilities l_j ~ N(lin_j, 1) truncated to the side of δ_j (`liab` holds the means),
        // summed straight into rhs = Σ_j x_j l_j, x_j = (1, a_j1, …, a_jk).
        self.lin_pass(&ch.hyper, 0, &mut ch.liab);
        for j in 0..p {
            let mu = ch.liab[j];
            let l = if ch.delta[j] {
                mu + trunc_normal_above(rng, -mu)
            } else {
                mu - trunc_normal_above(rng, mu)
            };
            rhs[0] += l;
            for (r, a) in rhs[1..]
                .iter_mut()
                .zip(&self.prob.annot[j * kk..j * kk + k])
            {
                *r += a * l;
            }
        }
        prec.copy_from_slice(&self.probit_gram);
        let pw0 = 1.0 / (self.priors.w0_sd_probit * self.priors.w0_sd_probit);
        prec[0] += pw0;
        for i in 1..d {
            prec[i * d + i] += 1.0 / ch.sigma_w2;
        }
        cholesky(&mut prec, d);
        forward(&prec, d, rhs);
        for i in 0..d {
            z[i] = std_normal(rng) + rhs[i];
        }
        backward(&prec, d, z);
        ch.hyper.copy_from_slice(z);
        ch.scratch_dd = prec;
        ch.scratch_d = rz;
        if k > 0 && self.fixed.sigma_w2.is_none() {
            let ss: f64 = ch.hyper[1..].iter().map(|w| w * w).sum();
            let nu = 2.0 + k as f64;
            ch.sigma_w2 = draw_sichi2(rng, nu, (2.0 + ss) / nu);
        }
    }

    fn sweep(
        &self,
        ch: &mut Chain,
        rng: &mut ChaCha20Rng,
        t: usize,
        burn: bool,
        rb: Option<&mut [f64]>,
    ) {
        let mut rb = rb;
        if self.fixed.delta.is_none() {
            self.sweep_head(ch);
            for b in 0..self.prob.blocks.len() {
                self.block_update(ch, b, rng, rb.as_deref_mut());
            }
        }
        self.sweep_tail(ch, rng, t, burn);
    }

    /// Before a sweep's block updates.
    fn sweep_head(&self, ch: &mut Chain) {
        self.empty_scan_terms(ch);
        ch.sc_range = 0..0; // r̃ changed since the last block loop
    }

    /// After a sweep's block updates: §4.2 steps 2–4, and the burn-in adaptation.
    fn sweep_tail(&self, ch: &mut Chain, rng: &mut ChaCha20Rng, t: usize, burn: bool) {
        if self.spec.polygenic {
            self.polygenic_update(ch, rng, burn);
        }
        self.variance_update(ch, rng);
        if self.fixed.hyper.is_none() {
            match self.spec.prior {
                SnpPrior::Probit => self.albert_chib(ch, rng),
                _ => self.hyper_update(ch, rng, burn),
            }
            self.refresh(ch);
        }
        if burn {
            let Chain { hist, hyper, .. } = ch;
            hist.extend_from_slice(hyper);
            self.adapt(ch, t + 1);
        }
    }

    /// One sweep of every chain of a lockstep group: block by block, the chains whose scores do
    /// not cover the block get them from one shared pass over its columns, then each chain
    /// updates the block. Each chain does exactly what [`Self::sweep`] does, in the same order
    /// and on its own stream, so its draws do not depend on the grouping. `keep`: add the
    /// Rao–Blackwellized probabilities into each lane's `rb_sum`.
    fn sweep_group(&self, lanes: &mut [Lane], t: usize, burn: bool, keep: bool) {
        if self.fixed.delta.is_none() {
            for ln in lanes.iter_mut() {
                self.sweep_head(&mut ln.ch);
            }
            for (b, range) in self.prob.blocks.iter().enumerate() {
                if lanes.len() > 1 {
                    self.group_scores(lanes, range);
                }
                for ln in lanes.iter_mut() {
                    let Lane { ch, rng, out } = ln;
                    let rb = if keep {
                        out.as_mut().map(|o| &mut o.rb_sum[..])
                    } else {
                        None
                    };
                    self.block_update(ch, b, rng, rb);
                }
            }
        }
        for ln in lanes.iter_mut() {
            self.sweep_tail(&mut ln.ch, &mut ln.rng, t, burn);
        }
    }

    /// The block-score step for the lanes whose scores do not cover `range`: one pass over the
    /// panel for all of them (the same panel and scores `block_update` would compute per chain).
    fn group_scores(&self, lanes: &mut [Lane], range: &Range<usize>) {
        let red = self.prob.red;
        let panel = score_panel(range, red.p);
        let mut outs: [&mut [f64]; LOCKSTEP] = [&mut [], &mut [], &mut [], &mut []];
        let mut rs: [&[f64]; LOCKSTEP] = [&[]; LOCKSTEP];
        let mut n = 0;
        for ln in lanes.iter_mut() {
            let Chain {
                sc,
                sc_range,
                resid,
                ..
            } = &mut ln.ch;
            if !covers(sc_range, range) {
                *sc_range = panel.clone();
                outs[n] = &mut sc[panel.clone()];
                rs[n] = resid;
                n += 1;
            }
        }
        let [o0, o1, o2, o3] = outs;
        let s = range.start;
        match n {
            0 => {}
            1 => panel_scores(red, s, o0, rs[0]),
            2 => panel_scores_multi(red, s, [o0, o1], [rs[0], rs[1]]),
            3 => panel_scores_multi(red, s, [o0, o1, o2], [rs[0], rs[1], rs[2]]),
            _ => panel_scores_multi(red, s, [o0, o1, o2, o3], rs),
        }
    }

    /// Fills `d0`/`h0` for the current κ and σ_e² (constant during the block updates): one
    /// branch-free pass over the SNPs instead of a libm log per SNP in the scan.
    fn empty_scan_terms(&self, ch: &mut Chain) {
        let kappa = ch.sigma_e2 / ch.sigma_b2;
        let inv_kappa = 1.0 / kappa;
        let half_inv_se2 = 0.5 / ch.sigma_e2;
        scan_terms(
            &mut ch.d0,
            &mut ch.h0,
            &self.gdiag,
            kappa,
            inv_kappa,
            half_inv_se2,
        );
    }

    /// Runs one chain with its own stream and returns its kept-draw summaries.
    pub fn run_chain(&self, rng: &mut ChaCha20Rng) -> ChainOut {
        let ch = self.init_chain(rng);
        let mut lanes = [Lane {
            ch,
            rng: rng.clone(),
            out: None,
        }];
        let out = self.run_lanes(&mut lanes).pop().expect("one lane");
        *rng = lanes[0].rng.clone();
        out
    }

    /// Runs the chains of a lockstep group (at most [`LOCKSTEP`]) from their initial states to
    /// the end of the schedule; results in lane order.
    fn run_lanes(&self, lanes: &mut [Lane]) -> Vec<ChainOut> {
        assert!(
            lanes.len() <= LOCKSTEP,
            "at most {LOCKSTEP} chains per group"
        );
        let red = self.prob.red;
        let p = red.p;
        let nb = self.prob.blocks.len();
        let mut active_sum = vec![0.0; lanes.len()];
        for t in 0..self.sched.burnin {
            self.sweep_group(lanes, t, true, false);
            for (ln, sum) in lanes.iter().zip(active_sum.iter_mut()) {
                *sum += ln.ch.delta.iter().filter(|&&d| d).count() as f64;
            }
        }
        let names = self.hyper_names();
        for (ln, sum) in lanes.iter_mut().zip(&active_sum) {
            let mean_active = if self.sched.burnin > 0 {
                sum / self.sched.burnin as f64
            } else {
                0.0
            };
            let store_thin = crate::model::summary::thinning_for_cap(
                self.sched.samples,
                mean_active,
                self.sched.draw_cap_bytes / self.sched.chains.max(1),
            );
            ln.ch.hist = Vec::new();
            ln.ch.hist.shrink_to_fit();
            ln.out = Some(ChainOut {
                n_draws: 0,
                pip_count: vec![0.0; p],
                rb_sum: vec![0.0; p],
                beta_sum: vec![0.0; p],
                beta_sq_sum: vec![0.0; p],
                pos_count: vec![0.0; p],
                block_incl: vec![0.0; nb],
                pz_sum: vec![0.0; nb],
                u_sum: vec![0.0; red.r],
                draw_ptr: vec![0],
                draw_idx: Vec::new(),
                draw_val: Vec::new(),
                traces: vec![Vec::new(); TRACE_NAMES.len() + names.len()],
                accept: Acceptance::default(),
                store_thin,
            });
        }
        let total = self.sched.samples * self.sched.thin;
        for t in 0..total {
            let keep = (t + 1) % self.sched.thin == 0;
            // Kept sweeps add their Rao–Blackwellized probabilities straight into rb_sum.
            self.sweep_group(lanes, t, false, keep);
            if keep {
                for ln in lanes.iter_mut() {
                    let out = ln.out.as_mut().expect("set after burn-in");
                    self.record(&ln.ch, out);
                }
            }
        }
        lanes
            .iter_mut()
            .map(|ln| {
                let mut out = ln.out.take().expect("set after burn-in");
                out.accept = ln.ch.acc.clone();
                out
            })
            .collect()
    }

    fn record(&self, ch: &Chain, out: &mut ChainOut) {
        let red = self.prob.red;
        out.n_draws += 1;
        let store = self.sched.store_draws && (out.n_draws - 1).is_multiple_of(out.store_thin);
        let mut s = 0usize;
        // The active sets (ascending local indices, blocks in order) list exactly the j with
        // δ_j = 1, in ascending order.
        for (a, range) in ch.active.iter().zip(self.prob.blocks) {
            for &l in a {
                let j = range.start + l;
                debug_assert!(ch.delta[j]);
                let b = ch.beta[j];
                s += 1;
                out.pip_count[j] += 1.0;
                out.beta_sum[j] += b;
                out.beta_sq_sum[j] += b * b;
                if b > 0.0 {
                    out.pos_count[j] += 1.0;
                }
                if store {
                    out.draw_idx.push(j as u32);
                    out.draw_val.push(b as f32);
                }
            }
        }
        if store {
            out.draw_ptr.push(out.draw_idx.len());
        }
        let mut active_blocks = 0usize;
        for (b, a) in ch.active.iter().enumerate() {
            if a.is_empty() {
                out.pz_sum[b] += if self.spec.gate { ch.psi[b].exp() } else { 0.0 };
            } else {
                active_blocks += 1;
                out.block_incl[b] += 1.0;
                out.pz_sum[b] += 1.0;
            }
        }
        for (acc, u) in out.u_sum.iter_mut().zip(&ch.u) {
            *acc += u;
        }
        let fit: f64 = red
            .yt
            .iter()
            .zip(&ch.resid)
            .map(|(y, r)| (y - r) * (y - r))
            .sum();
        let sparse: f64 = red
            .yt
            .iter()
            .zip(&ch.resid)
            .zip(&ch.u)
            .map(|((y, r), u)| (y - r - u) * (y - r - u))
            .sum();
        let v = fit / self.prob.n as f64;
        let pve = v / (v + ch.sigma_e2);
        let pge = if fit > 0.0 { sparse / fit } else { 0.0 };
        let rss: f64 = ch.resid.iter().map(|x| x * x).sum::<f64>() + ch.rss_perp;
        let ne = self.prob.n_eff as f64;
        let loglik =
            -0.5 * ne * (2.0 * std::f64::consts::PI * ch.sigma_e2).ln() - rss / (2.0 * ch.sigma_e2);
        let pi = match self.spec.prior {
            SnpPrior::Bslmm => (-(1.0 - vmath::expit(ch.hyper[0])) * (red.p as f64).ln()).exp(),
            _ if self.spec.gate => ch.log_pi_b.exp(),
            SnpPrior::Logistic | SnpPrior::Probit => vmath::expit_sum(&ch.eta) / red.p as f64,
        };
        let vals = [
            ch.sigma_e2,
            ch.sigma_b2,
            ch.sigma_u2,
            pi,
            s as f64,
            active_blocks as f64,
            pve,
            pge,
            loglik,
        ];
        for (i, v) in vals.iter().enumerate() {
            out.traces[i].push(*v);
        }
        for (i, h) in ch.hyper.iter().enumerate() {
            out.traces[TRACE_NAMES.len() + i].push(*h);
        }
    }

    /// Runs all chains, each on stream `chain + 1` of `key`; results in chain order. Chains run
    /// in lockstep groups of [`LOCKSTEP`] on one thread each (groups in parallel with rayon):
    /// a group reads each block's columns of X̃ once for all its chains. The draws do not depend
    /// on the grouping.
    pub fn run(&self, key: &[u8; 32]) -> Vec<ChainOut> {
        use rayon::prelude::*;
        let c = self.sched.chains;
        // As few groups as fit, as even as possible (5 chains: 3 + 2, not 4 + 1).
        let n_groups = c.div_ceil(LOCKSTEP).max(1);
        let groups: Vec<Range<usize>> = (0..n_groups)
            .map(|g| g * c / n_groups..(g + 1) * c / n_groups)
            .collect();
        let outs: Vec<Vec<ChainOut>> = groups
            .into_par_iter()
            .map(|g| {
                let mut lanes: Vec<Lane> = g
                    .map(|c| {
                        let mut rng = crate::rng::chain_rng(key, c as u32);
                        let ch = self.init_chain(&mut rng);
                        Lane { ch, rng, out: None }
                    })
                    .collect();
                self.run_lanes(&mut lanes)
            })
            .collect();
        outs.into_iter().flatten().collect()
    }
}

/// Draws of the Geweke (2004) joint-distribution test (MODEL.md §7.4): `prior[f]` from the
/// marginal-conditional simulator (parameters from the prior), `chain[f]` from the
/// successive-conditional simulator (one sweep, then fresh data from the likelihood), for the
/// functionals named in `names`.
pub struct Geweke {
    pub names: Vec<String>,
    pub prior: Vec<Vec<f64>>,
    pub chain: Vec<Vec<f64>>,
}

impl<'a> Sampler<'a> {
    /// One draw of every parameter from the prior, written into a chain state.
    fn prior_draw(&self, ch: &mut Chain, rng: &mut ChaCha20Rng) {
        let pr = self.priors;
        ch.sigma_e2 = draw_sichi2(rng, pr.nu_e, pr.s2_e);
        ch.sigma_b2 = draw_sichi2(rng, pr.nu_b, pr.s2_b);
        ch.sigma_u2 = if self.spec.polygenic {
            draw_sichi2(rng, pr.nu_u, pr.s2_u)
        } else {
            0.0
        };
        let logit = |u: f64| (u / (1.0 - u)).ln();
        match self.spec.prior {
            SnpPrior::Bslmm => ch.hyper[0] = logit(uniform(rng)),
            SnpPrior::Logistic => {
                let at = usize::from(self.spec.gate);
                if self.spec.gate {
                    ch.hyper[0] = logit(uniform(rng));
                }
                ch.hyper[at] = pr.w0_mean + pr.w0_sd * std_normal(rng);
                for k in 0..self.k_used {
                    ch.hyper[at + 1 + k] = self.w_sd * std_normal(rng);
                }
            }
            SnpPrior::Probit => {
                ch.hyper[0] = pr.w0_sd_probit * std_normal(rng);
                ch.sigma_w2 = draw_sichi2(rng, 2.0, 1.0);
                for k in 0..self.k_used {
                    ch.hyper[1 + k] = ch.sigma_w2.sqrt() * std_normal(rng);
                }
            }
        }
        ch.hyper_ok = false;
        self.refresh(ch);
        for (b, r) in self.prob.blocks.iter().enumerate() {
            let gate_on = !self.spec.gate || uniform(rng) < ch.log_pi_b.exp();
            ch.active[b].clear();
            for j in r.clone() {
                let pi = match self.spec.prior {
                    SnpPrior::Probit => normal::cdf(self.lin(&ch.hyper, j, 0)),
                    _ => vmath::expit(ch.eta[j]),
                };
                let on = uniform(rng) < pi && gate_on;
                ch.delta[j] = on;
                ch.beta[j] = if on {
                    ch.sigma_b2.sqrt() * std_normal(rng)
                } else {
                    0.0
                };
                if on {
                    ch.active[b].push(j - r.start);
                }
            }
        }
        let red = self.prob.red;
        for i in 0..red.r {
            ch.u[i] = (ch.sigma_u2 * red.d[i]).sqrt() * std_normal(rng);
        }
    }

    fn geweke_functionals(&self, ch: &Chain) -> Vec<f64> {
        let mut v = vec![
            ch.sigma_e2.ln(),
            ch.sigma_b2.ln(),
            ch.delta.iter().filter(|&&d| d).count() as f64,
            f64::from(u8::from(ch.delta[0])),
            ch.beta[0],
            ch.beta[self.prob.red.p - 1].abs(),
        ];
        if self.spec.polygenic {
            v.push(ch.sigma_u2.ln());
        }
        v.extend(ch.hyper.iter().copied());
        v.extend(ch.hyper.iter().map(|h| h * h));
        v
    }

    /// Names of [`Self::geweke_functionals`].
    fn geweke_names(&self) -> Vec<String> {
        let mut v: Vec<String> = [
            "log_sigma_e2",
            "log_sigma_b2",
            "n_active",
            "delta_0",
            "beta_0",
            "abs_beta_last",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if self.spec.polygenic {
            v.push("log_sigma_u2".into());
        }
        v.extend(self.hyper_names());
        v.extend(self.hyper_names().iter().map(|h| format!("{h}^2")));
        v
    }

    /// Runs both Geweke simulators for `iters` draws each (no adaptation: fixed proposals).
    pub fn geweke(&self, iters: usize, key: &[u8; 32]) -> Geweke {
        let red = self.prob.red;
        let mut rng = crate::rng::chain_rng(key, 0);
        let mut ch = self.init_chain(&mut rng);
        let names = self.geweke_names();
        let mut prior = vec![Vec::with_capacity(iters); names.len()];
        for _ in 0..iters {
            self.prior_draw(&mut ch, &mut rng);
            for (f, v) in self.geweke_functionals(&ch).into_iter().enumerate() {
                prior[f].push(v);
            }
        }
        let mut chain = vec![Vec::with_capacity(iters); names.len()];
        self.prior_draw(&mut ch, &mut rng);
        let df_perp = self.prob.n_eff.saturating_sub(red.r);
        for t in 0..iters {
            // Fresh data from the likelihood given the current parameters (reduced coordinates).
            let se = ch.sigma_e2.sqrt();
            for i in 0..red.r {
                let mut mean = ch.u[i];
                for j in 0..red.p {
                    if ch.beta[j] != 0.0 {
                        mean += red.col(j)[i] * ch.beta[j];
                    }
                }
                let yi = mean + se * std_normal(&mut rng);
                ch.resid[i] = yi - mean;
            }
            let mut chi = 0.0;
            for _ in 0..df_perp {
                let z = std_normal(&mut rng);
                chi += z * z;
            }
            ch.rss_perp = ch.sigma_e2 * chi;
            self.sweep(&mut ch, &mut rng, t, false, None);
            for (f, v) in self.geweke_functionals(&ch).into_iter().enumerate() {
                chain[f].push(v);
            }
        }
        Geweke {
            names,
            prior,
            chain,
        }
    }
}

impl<'a> Sampler<'a> {
    /// Simulation-based calibration (Talts et al. 2018; MODEL.md §7.5): for each of `datasets`
    /// draws of (parameters, data) from the prior and the likelihood, runs a fresh chain
    /// (`burnin` sweeps with adaptation, then `n_draws` draws thinned by `thin`) and returns, per
    /// functional, the rank of the true value among the draws (ties broken uniformly at random).
    pub fn sbc_ranks(
        &self,
        datasets: usize,
        burnin: usize,
        n_draws: usize,
        thin: usize,
        key: &[u8; 32],
    ) -> (Vec<String>, Vec<Vec<usize>>) {
        let red = self.prob.red;
        let mut names = self.geweke_names();
        names.push("loglik".into());
        let mut ranks = vec![Vec::with_capacity(datasets); names.len()];
        let df_perp = self.prob.n_eff.saturating_sub(red.r);
        for dset in 0..datasets {
            let mut rng = crate::rng::chain_rng(key, dset as u32);
            let mut truth = self.init_chain(&mut rng);
            self.prior_draw(&mut truth, &mut rng);
            let se = truth.sigma_e2.sqrt();
            let mut y = vec![0.0; red.r];
            for i in 0..red.r {
                let mut mean = truth.u[i];
                for j in 0..red.p {
                    if truth.beta[j] != 0.0 {
                        mean += red.col(j)[i] * truth.beta[j];
                    }
                }
                y[i] = mean + se * std_normal(&mut rng);
                truth.resid[i] = y[i] - mean;
            }
            let chi: f64 = (0..df_perp).map(|_| std_normal(&mut rng).powi(2)).sum();
            truth.rss_perp = truth.sigma_e2 * chi;
            let loglik = |c: &Chain| {
                let rss: f64 = c.resid.iter().map(|x| x * x).sum::<f64>() + c.rss_perp;
                -0.5 * self.prob.n_eff as f64 * (2.0 * std::f64::consts::PI * c.sigma_e2).ln()
                    - rss / (2.0 * c.sigma_e2)
            };
            let mut true_f = self.geweke_functionals(&truth);
            true_f.push(loglik(&truth));
            let mut ch = self.init_chain(&mut rng);
            ch.resid.copy_from_slice(&y);
            ch.rss_perp = truth.rss_perp;
            ch.hist = Vec::with_capacity(burnin * ch.hyper.len());
            for t in 0..burnin {
                self.sweep(&mut ch, &mut rng, t, true, None);
            }
            let mut below = vec![0usize; names.len()];
            let mut equal = vec![0usize; names.len()];
            for t in 0..n_draws * thin {
                self.sweep(&mut ch, &mut rng, t, false, None);
                if (t + 1) % thin == 0 {
                    let mut f = self.geweke_functionals(&ch);
                    f.push(loglik(&ch));
                    for (k, v) in f.iter().enumerate() {
                        if *v < true_f[k] {
                            below[k] += 1;
                        } else if *v == true_f[k] {
                            equal[k] += 1;
                        }
                    }
                }
            }
            for k in 0..names.len() {
                let extra = ((uniform(&mut rng) * (equal[k] + 1) as f64) as usize).min(equal[k]);
                ranks[k].push(below[k] + extra);
            }
        }
        (names, ranks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_normal_has_the_right_mean() {
        // E[Z | Z > a] = φ(a) / (1 − Φ(a)) for both samplers (naive below 0.45, Robert above).
        let mut rng = crate::rng::chain_rng(&[3u8; 32], 0);
        for a in [-1.0, 0.2, 1.5, 4.0] {
            let n = 100_000;
            let mean = (0..n).map(|_| trunc_normal_above(&mut rng, a)).sum::<f64>() / n as f64;
            let want = normal::pdf(a) / normal::sf(a);
            assert!((mean - want).abs() < 0.01, "a={a}: {mean} vs {want}");
        }
    }

    #[test]
    fn scaled_inverse_chi2_has_the_right_mean() {
        let mut rng = crate::rng::chain_rng(&[5u8; 32], 0);
        let (nu, s2) = (10.0, 0.5);
        let n = 200_000;
        let mean = (0..n).map(|_| draw_sichi2(&mut rng, nu, s2)).sum::<f64>() / n as f64;
        let want = nu * s2 / (nu - 2.0);
        assert!((mean - want).abs() < 0.01 * want, "{mean} vs {want}");
    }

    /// `bernoulli` against an independent reference: p's base-256 digits from the exact integer
    /// ⌊p·2⁶⁴⌋, u's digits from the same stream's words (low byte first); the decision is
    /// u < p at the first digit where they differ, after reading exactly that many bytes. Also
    /// p at digit boundaries, p = 0 and 1, and the frequency at p = 0.3 over 10⁶ draws (5 SE).
    #[test]
    fn bernoulli_is_exact_and_reads_one_byte_when_it_can() {
        use rand::{Rng, RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(17);
        let mut pgen = rand_chacha::ChaCha20Rng::seed_from_u64(18);
        let mut digits_read = [0usize; 3];
        for case in 0..20_000 {
            // Mostly random p ≥ 2⁻¹¹ (so p·2⁶⁴ is an integer); every fourth case puts p on or
            // next to the boundary of u's own first digit, forcing a second or third digit.
            let mut peek = rng.clone();
            let word = peek.next_u64();
            let u_digits: Vec<u64> = (0..8).map(|i| (word >> (8 * i)) & 0xff).collect();
            let p: f64 = match case % 4 {
                0 => {
                    let prefix = (u_digits[0] * 256 + u_digits[1]) as f64;
                    (prefix + [0.0, 0.5, 1.0][case / 4 % 3]) / 65536.0
                }
                _ => pgen.random_range(0.0005..1.0),
            };
            let pint = (p * 2f64.powi(64)) as u128;
            assert_eq!(pint as f64, p * 2f64.powi(64), "p·2⁶⁴ must be exact");
            let p_digits: Vec<u64> = (0..8)
                .map(|i| (pint >> (8 * (7 - i)) & 0xff) as u64)
                .collect();
            // Digit k settles it: the first where u and p differ, or where they agree and p's
            // remaining digits are all zero (then u ≥ p whatever follows).
            let rest_zero = |i: usize| p_digits[i + 1..].iter().all(|&d| d == 0);
            let Some(k) = (0..8).find(|&i| u_digits[i] != p_digits[i] || rest_zero(i)) else {
                continue;
            };
            let mut bits = BitPool::default();
            let mut r = rng.clone();
            let got = bernoulli(&mut r, &mut bits, p);
            assert_eq!(got, u_digits[k] < p_digits[k], "case {case}: p = {p}");
            assert_eq!(
                64 - bits.left as usize,
                8 * (k + 1),
                "case {case}: bytes read"
            );
            digits_read[k.min(2)] += 1;
            rng.next_u64();
        }
        assert!(digits_read.iter().all(|&n| n > 100), "{digits_read:?}");
        let mut bits = BitPool::default();
        let draws = 1_000_000;
        let on = (0..draws)
            .filter(|_| bernoulli(&mut rng, &mut bits, 0.3))
            .count() as f64;
        let se = (0.3 * 0.7 / draws as f64).sqrt();
        assert!((on / draws as f64 - 0.3).abs() < 5.0 * se);
        assert!(!bernoulli(&mut rng, &mut bits, 0.0));
        assert!(bernoulli(&mut rng, &mut bits, 1.0));
        assert!(
            !bernoulli(&mut rng, &mut bits, f64::NAN),
            "a NaN probability must not hang"
        );
        assert!(bernoulli(&mut rng, &mut bits, 1.0 + 1e-12));
        assert!(!bernoulli(&mut rng, &mut bits, -1e-12));
    }

    #[test]
    fn skip_off_settles_exactly_the_leading_off_run_of_bernoulli() {
        use rand::{Rng, RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(23);
        let mut pgen = rand_chacha::ChaCha20Rng::seed_from_u64(24);
        let mut bits = BitPool::default();
        let (mut runs, mut stops) = (0usize, [0usize; 4]);
        for case in 0..5_000 {
            // The digits the pool will hand out next, read independently of `BitPool`.
            let mut peek = rng.clone();
            let mut next: Vec<u64> = (0..bits.left / 8)
                .map(|i| (bits.word >> (8 * i)) & 0xff)
                .collect();
            for _ in 0..8 {
                let w = peek.next_u64();
                next.extend((0..8).map(|i| (w >> (8 * i)) & 0xff));
            }
            let len = pgen.random_range(0..40usize);
            let p: Vec<f64> = (0..len)
                .map(|l| {
                    let d = next[l] as f64;
                    match pgen.random_range(0..10) {
                        0 => d / 256.0,         // d = 256p: "off" on the first digit
                        1 => (d + 0.5) / 256.0, // needs the next digit
                        2 => (d + 1.0) / 256.0, // "on"
                        3 => f64::NAN,
                        4 => 0.0,
                        5 => 1.0,
                        _ => pgen.random_range(0.0..0.02),
                    }
                })
                .collect();
            let k: Vec<u16> = p.iter().map(|&x| off_digit(x)).collect();
            // Reference: the leading run with a real p and first digit d ≥ 256·p.
            let want = (0..len)
                .take_while(|&l| !p[l].is_nan() && next[l] as f64 >= 256.0 * p[l])
                .count();
            let (mut r2, mut b2) = (rng.clone(), bits.clone());
            let got = bits.skip_off(&mut rng, &k);
            assert_eq!(got, want, "case {case}");
            // The same run of `bernoulli` calls: all "off", and the same stream state after.
            for &pl in &p[..got] {
                assert!(!bernoulli(&mut r2, &mut b2, pl), "case {case}");
            }
            // (`skip_off` may have fetched the stopper's word early: compare what comes next.)
            let (mut r1, mut b1) = (rng.clone(), bits.clone());
            let ahead = |r: &mut rand_chacha::ChaCha20Rng, b: &mut BitPool| -> Vec<u64> {
                let mut v: Vec<u64> = (0..20).map(|_| b.byte(r)).collect();
                v.push(r.next_u64());
                v
            };
            assert_eq!(
                ahead(&mut r2, &mut b2),
                ahead(&mut r1, &mut b1),
                "case {case}"
            );
            if got < len {
                let why = match p[got] {
                    x if x.is_nan() => 0,
                    x if next[got] as f64 + 1.0 <= 256.0 * x => 1,
                    _ => 2,
                };
                stops[why] += 1;
                // Settle the stopper as the scan does, so the next case starts mid-stream.
                bernoulli(&mut rng, &mut bits, p[got]);
            } else {
                stops[3] += 1;
            }
            runs += got;
        }
        assert!(
            stops.iter().all(|&n| n > 100) && runs > 5_000,
            "{stops:?} {runs}"
        );
    }

    /// Log BF of an active set and its bhat (ascending order), from a dense Cholesky of
    /// Ω_A = G_AA + κI built from scratch: the independent reference for `ActiveFactor`.
    fn dense_log_bf(
        g: &[f64],
        m: usize,
        c: &[f64],
        set: &[usize],
        kappa: f64,
        se2: f64,
    ) -> (f64, Vec<f64>) {
        let a = set.len();
        if a == 0 {
            return (0.0, Vec::new());
        }
        let mut om = vec![0.0; a * a];
        for (ii, &i) in set.iter().enumerate() {
            for (jj, &j) in set.iter().enumerate() {
                om[ii * a + jj] = g[i * m + j] + if ii == jj { kappa } else { 0.0 };
            }
        }
        let logdet = cholesky(&mut om, a);
        let mut z: Vec<f64> = set.iter().map(|&i| c[i]).collect();
        forward(&om, a, &mut z);
        let q: f64 = z.iter().map(|v| v * v).sum();
        backward(&om, a, &mut z);
        (
            -0.5 * logdet + 0.5 * a as f64 * kappa.ln() + q / (2.0 * se2),
            z,
        )
    }

    /// Random SPD Gram block with AR(1)-like LD (rho) and a random score vector.
    fn random_block(
        rng: &mut rand_chacha::ChaCha20Rng,
        m: usize,
        n: usize,
        rho: f64,
    ) -> (Vec<f64>, Vec<f64>) {
        use rand::RngExt;
        let mut x = vec![0.0; n * m];
        for j in 0..m {
            for i in 0..n {
                let z: f64 = rng.random::<f64>() - 0.5;
                x[j * n + i] = if j == 0 {
                    z
                } else {
                    rho * x[(j - 1) * n + i] + z
                };
            }
        }
        let mut g = vec![0.0; m * m];
        for a in 0..m {
            for b in 0..m {
                g[a * m + b] = (0..n).map(|i| x[a * n + i] * x[b * n + i]).sum();
            }
        }
        let c: Vec<f64> = (0..m).map(|_| 4.0 * (rng.random::<f64>() - 0.5)).collect();
        (g, c)
    }

    /// The incrementally maintained state (inclusion = bordering, exclusion = rank-one downdate
    /// plus swap-remove, swap save/restore) agrees with a dense Cholesky of the current set
    /// built from scratch: log BF (which carries log det), bhat per SNP, and every Δ_j equals
    /// logBF(A ∪ j) − logBF(A \ j) computed densely. Random SPD blocks with LD up to ρ = 0.85
    /// and κ from 0.01 to 3, 400 random inserts/removes/rejected swaps each.
    #[test]
    fn active_set_updates_match_a_dense_cholesky() {
        use rand::{RngExt, SeedableRng};
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(91);
        let rel = |x: &[f64], y: &[f64]| {
            let scale = y.iter().fold(1e-300f64, |s, v| s.max(v.abs()));
            x.iter()
                .zip(y)
                .fold(0.0f64, |s, (a, b)| s.max((a - b).abs()))
                / scale
        };
        let mut worst = 0.0f64;
        for trial in 0..12 {
            let m = 5 + trial * 4;
            let n = m + 10 + trial * 3;
            let (g, c) = random_block(&mut rng, m, n, 0.3 + 0.05 * trial as f64);
            let kappa = 10f64.powf(-2.0 + 2.5 * rng.random::<f64>());
            let se2 = 0.2 + rng.random::<f64>();
            let consts = (1.0 / kappa, 0.5 / se2);
            let eta: Vec<f64> = (0..m).map(|_| rng.random_range(-6.0..1.0)).collect();
            let psi = rng.random_range(-3.0..0.0);
            let mut f = ActiveFactor::new(m + 3);
            // Start from a random set, as at the start of a block update.
            f.set = (0..m).filter(|_| rng.random::<f64>() < 0.3).collect();
            f.refactor(&g, m, &c, kappa, se2);
            for step in 0..400 {
                let l = rng.random_range(0..m);
                let member = f.set.binary_search(&l).is_ok();
                // Δ_l first, as in the scan (an inclusion then reuses its bordering: the
                // chunk's column or `delta`'s).
                if step % 2 == 0 {
                    let _ = f.scan_prob(&g, m, &c, l, kappa, consts, &eta, psi);
                } else {
                    let _ = f.delta(&g, m, &c, l, kappa, consts);
                }
                if step % 7 == 3 && member && f.set.len() < m {
                    // Swap proposal: remove l, add an outside k, then restore (a rejection).
                    let k = (0..m).find(|k| f.set.binary_search(k).is_err()).unwrap();
                    let (bf0, ld0) = (f.log_bf, f.logdet);
                    let set0 = f.set.clone();
                    f.save();
                    f.remove(l, &c, kappa, se2);
                    f.insert(k, &g, m, &c, kappa, se2);
                    f.restore();
                    assert_eq!((f.log_bf, f.logdet), (bf0, ld0));
                    assert_eq!(f.set, set0);
                } else if member {
                    f.remove(l, &c, kappa, se2);
                } else {
                    f.insert(l, &g, m, &c, kappa, se2);
                }
                let a = f.set.len();
                assert_eq!(f.ord.len(), a);
                let mut sorted = f.ord.clone();
                sorted.sort_unstable();
                assert_eq!(sorted, f.set);
                for (k, &i) in f.ord.iter().enumerate() {
                    assert_eq!(f.pos[i], k);
                }
                let (bf, bhat) = dense_log_bf(&g, m, &c, &f.set, kappa, se2);
                let mut e = rel(&[f.log_bf], &[bf]);
                let fb: Vec<f64> = f.set.iter().map(|&j| f.bhat[f.pos[j]]).collect();
                e = e.max(rel(&fb, &bhat));
                // The chunked scan probabilities equal the one-SNP-at-a-time ones bit for bit,
                // whichever SNP a chunk starts at.
                for j in 0..m {
                    if a == 0 {
                        break;
                    }
                    let start = j.saturating_sub(step % SCAN_CHUNK);
                    f.chunk = 0..0;
                    let _ = f.scan_prob(&g, m, &c, start, kappa, consts, &eta, psi);
                    let p1 = f.scan_prob(&g, m, &c, j, kappa, consts, &eta, psi);
                    let single = matches!(f.set.as_slice(), [only] if *only == j);
                    let d = f.delta(&g, m, &c, j, kappa, consts);
                    let p2 = vmath::expit(eta[j] + if single { psi } else { 0.0 } + d);
                    assert_eq!(
                        p1.to_bits(),
                        p2.to_bits(),
                        "trial {trial} step {step} j {j}"
                    );
                }
                for j in 0..m {
                    let d1 = f.delta(&g, m, &c, j, kappa, consts);
                    let mut with: Vec<usize> = f.set.clone();
                    let mut without = f.set.clone();
                    match f.set.binary_search(&j) {
                        Ok(i) => {
                            without.remove(i);
                        }
                        Err(i) => with.insert(i, j),
                    }
                    let d2 = dense_log_bf(&g, m, &c, &with, kappa, se2).0
                        - dense_log_bf(&g, m, &c, &without, kappa, se2).0;
                    e = e.max((d1 - d2).abs() / d2.abs().max(1.0));
                }
                assert!(
                    e < 1e-9,
                    "trial {trial} step {step} (a = {a}): rel. error {e:e}"
                );
                worst = worst.max(e);
            }
        }
        eprintln!("incremental factor: worst relative error {worst:e}");
    }

    /// `draw_beta` draws from N(Ω_A⁻¹c_A, σ_e²Ω_A⁻¹): the sample mean and covariance of 40,000
    /// draws match the dense bhat and σ_e²Ω_A⁻¹ (mean within 5 SE; covariance within 5 SE of
    /// each entry's Wishart sd).
    #[test]
    fn draw_beta_matches_the_conditional_posterior() {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
        let m = 9;
        let (g, c) = random_block(&mut rng, m, 20, 0.7);
        let (kappa, se2) = (0.5, 0.8);
        let mut f = ActiveFactor::new(m);
        // A set reached by inclusions and one exclusion, so factor order ≠ ascending order.
        f.refactor(&g, m, &c, kappa, se2);
        for j in [6, 1, 4, 8, 2] {
            f.insert(j, &g, m, &c, kappa, se2);
        }
        f.remove(4, &c, kappa, se2);
        let set = f.set.clone();
        let a = set.len();
        let (_, bhat) = dense_log_bf(&g, m, &c, &set, kappa, se2);
        // Dense σ_e² Ω_A⁻¹ by solving unit vectors.
        let mut om = vec![0.0; a * a];
        for (ii, &i) in set.iter().enumerate() {
            for (jj, &j) in set.iter().enumerate() {
                om[ii * a + jj] = g[i * m + j] + if ii == jj { kappa } else { 0.0 };
            }
        }
        cholesky(&mut om, a);
        let mut cov = vec![0.0; a * a];
        for k in 0..a {
            let mut e = vec![0.0; a];
            e[k] = 1.0;
            forward(&om, a, &mut e);
            backward(&om, a, &mut e);
            for i in 0..a {
                cov[i * a + k] = se2 * e[i];
            }
        }
        let draws = 40_000;
        let mut sum = vec![0.0; a];
        let mut sxy = vec![0.0; a * a];
        for _ in 0..draws {
            f.draw_beta(&g, m, &c, kappa, se2.sqrt(), &mut rng);
            let b: Vec<f64> = set.iter().map(|&j| f.tmp[f.pos[j]]).collect();
            for i in 0..a {
                sum[i] += b[i];
                for k in 0..a {
                    sxy[i * a + k] += (b[i] - bhat[i]) * (b[k] - bhat[k]);
                }
            }
        }
        let nd = draws as f64;
        for i in 0..a {
            let se = (cov[i * a + i] / nd).sqrt();
            assert!((sum[i] / nd - bhat[i]).abs() < 5.0 * se, "mean {i}");
            for k in 0..a {
                let v = cov[i * a + k];
                let sd = ((v * v + cov[i * a + i] * cov[k * a + k]) / nd).sqrt();
                assert!((sxy[i * a + k] / nd - v).abs() < 5.0 * sd, "cov {i},{k}");
            }
        }
    }
}
