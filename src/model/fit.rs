//! One gene, one method: the CV folds and the all-samples fit (MODEL.md §1.9), each from its
//! own training-only design (§1), reduction (§4.1) and sampler or baseline, then prediction of
//! the held-out samples and the posterior summaries of §6. No file I/O: the fit stage reads the
//! prepare cache into a [`GeneData`] and writes the returned [`GeneFit`].

#![allow(clippy::needless_range_loop)] // index loops mirror the algebra of MODEL.md

use std::ops::Range;

use thiserror::Error;

use crate::model::baselines::{self, EnetOptions};
use crate::model::diagnostics;
use crate::model::preprocess::{build_design, transform_test, PreprocessError};
use crate::model::reduce::{reduce, ReduceError};
use crate::model::sampler::{
    ChainOut, Fixed, ModelSpec, Priors, Problem, Sampler, Schedule, TRACE_NAMES,
};
use crate::model::summary::SparseDraws;
use crate::stats::tdist::correlation_p;

/// The methods the fit stage knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MethodModel {
    Sampler(ModelSpec),
    Ridge,
    Enet,
}

/// A stable one-byte model id for the RNG key (MODEL.md §8).
pub fn model_id(m: MethodModel) -> u8 {
    match m {
        MethodModel::Sampler(s) if s == ModelSpec::BSLMM => 1,
        MethodModel::Sampler(s) if s == ModelSpec::BLOCK_ONLY => 2,
        MethodModel::Sampler(s) if s == ModelSpec::BSBSLMM => 3,
        MethodModel::Sampler(s) if s == ModelSpec::BAYESC_ANNOT => 4,
        MethodModel::Sampler(_) => 9,
        MethodModel::Ridge => 5,
        MethodModel::Enet => 6,
    }
}

/// Errors of one gene fit.
#[derive(Debug, Error)]
pub enum FitError {
    #[error("fold {fold}: design: {source}")]
    Design { fold: u8, source: PreprocessError },
    #[error("fold {fold}: {source}")]
    Reduce { fold: u8, source: ReduceError },
    #[error("fold {fold}: {message}")]
    Baseline { fold: u8, message: String },
    #[error("fold {fold}: only {n} test samples with expression; at least 3 are needed")]
    TooFewTest { fold: u8, n: usize },
}

/// What the fit needs of one prepared gene (as stored in the prepare cache).
pub struct GeneData<'a> {
    pub gene_id: &'a str,
    pub n_all: usize,
    pub p: usize,
    /// Column-major n_all×p dosages (NaN missing).
    pub dosage: &'a [f32],
    /// n_all expression values (NaN = not available).
    pub expression: &'a [f64],
    /// Column-major n_all×q0 covariates.
    pub cov: &'a [f64],
    pub q0: usize,
    /// Fold per sample (1..K, or 0/1 for a split: 1 = test).
    pub folds: &'a [u8],
    pub n_folds: u8,
    pub blocks: &'a [Range<usize>],
    /// Row-major p×k annotations.
    pub annot: &'a [f64],
    pub k: usize,
    pub sample_ids: &'a [String],
}

/// Settings of one method run.
#[derive(Debug, Clone)]
pub struct MethodSettings {
    pub model: MethodModel,
    pub schedule: Schedule,
    pub priors: Priors,
    pub seed: u64,
    /// Elastic net inner CV folds.
    pub inner_folds: usize,
    /// Samplers: X̃ in single precision (`Reduced::round_to_single`, MODEL.md §5 opt-in).
    pub single_precision: bool,
}

/// Held-out performance of one fold (or pooled).
#[derive(Debug, Clone, Default)]
pub struct CvMetrics {
    pub fold: u8,
    pub n_train: usize,
    pub n_test: usize,
    pub r: f64,
    pub r2: f64,
    pub r2_oos: f64,
    pub pval: f64,
}

/// Posterior (or point) summaries of the all-samples fit, over the SNPs the fit kept.
#[derive(Debug, Clone, Default)]
pub struct Posterior {
    /// Indices into the cached SNPs.
    pub snp_index: Vec<u32>,
    pub pip: Vec<f64>,
    pub pip_rb: Vec<f64>,
    pub beta_mean: Vec<f64>,
    pub beta_sd: Vec<f64>,
    pub ci_lo: Vec<f64>,
    pub ci_hi: Vec<f64>,
    pub p_pos: Vec<f64>,
    pub active: Vec<u8>,
    /// ω = β̄ + v̄ on the standardized scale, and per ALT allele on the expression scale.
    pub weight_std: Vec<f64>,
    pub weight_per_allele: Vec<f64>,
    /// Per LD block (in kept-SNP coordinates).
    pub block_start: Vec<u32>,
    pub block_end: Vec<u32>,
    pub bip: Vec<f64>,
    pub p_gate_on: Vec<f64>,
    /// chains × draws traces, names in `trace_names`.
    pub trace_names: Vec<String>,
    pub traces: Vec<Vec<Vec<f64>>>,
    pub rhat: Vec<f64>,
    pub ess_bulk: Vec<f64>,
    pub ess_tail: Vec<f64>,
    pub max_pip_diff: f64,
    /// Bulk ESS of the δ_j indicator traces (stored draws) for SNPs with PIP > 0.1, NaN otherwise.
    pub ess_delta: Vec<f64>,
    pub accept_swap: f64,
    pub accept_hyper: f64,
    pub accept_u: f64,
    pub n_draws: usize,
}

/// Everything one (gene, method) fit produces.
#[derive(Debug, Clone, Default)]
pub struct GeneFit {
    pub posterior: Posterior,
    pub folds: Vec<CvMetrics>,
    pub pooled: CvMetrics,
    /// (sample index, fold, observed, predicted) for every held-out sample.
    pub predictions: Vec<(u32, u8, f64, f64)>,
    pub n_train_all: usize,
    pub p_used: usize,
    pub sd_y: f64,
}

/// Pearson r, r² and out-of-sample R² = 1 − SSE/SST.
pub fn metrics(y: &[f64], yhat: &[f64]) -> (f64, f64, f64) {
    let n = y.len() as f64;
    let my = y.iter().sum::<f64>() / n;
    let mh = yhat.iter().sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy, mut sse) = (0.0, 0.0, 0.0, 0.0);
    for (a, b) in y.iter().zip(yhat) {
        sxy += (a - my) * (b - mh);
        syy += (a - my) * (a - my);
        sxx += (b - mh) * (b - mh);
        sse += (a - b) * (a - b);
    }
    let r = if sxx > 0.0 && syy > 0.0 {
        sxy / (sxx * syy).sqrt()
    } else {
        0.0
    };
    let r2_oos = if syy > 0.0 { 1.0 - sse / syy } else { f64::NAN };
    (r, r * r, r2_oos)
}

/// Output of one fold's fit: standardized-scale weights over the design's kept SNPs.
struct FoldFit {
    weights: Vec<f64>,
    chains: Option<Vec<ChainOut>>,
    /// Names of the sampler's hyperparameter traces (after [`TRACE_NAMES`]).
    hyper_names: Vec<String>,
}

fn remap_blocks(blocks: &[Range<usize>], kept: &[usize]) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    for b in blocks {
        let start = pos;
        while pos < kept.len() && kept[pos] < b.end {
            pos += 1;
        }
        if pos > start {
            out.push(start..pos);
        }
    }
    out
}

/// Fits one gene with one method: every CV fold, then the all-samples fit (fold 0).
pub fn fit_gene(g: &GeneData, m: &MethodSettings) -> Result<GeneFit, FitError> {
    let mut out = GeneFit::default();
    let have: Vec<bool> = g.expression.iter().map(|v| v.is_finite()).collect();
    let fold_ids: Vec<u8> = (1..=g.n_folds).collect();
    let mut pooled_y = Vec::new();
    let mut pooled_hat = Vec::new();
    for &f in &fold_ids {
        let train: Vec<usize> = (0..g.n_all)
            .filter(|&i| have[i] && g.folds[i] != f)
            .collect();
        let test: Vec<usize> = (0..g.n_all)
            .filter(|&i| have[i] && g.folds[i] == f)
            .collect();
        if test.len() < 3 {
            return Err(FitError::TooFewTest {
                fold: f,
                n: test.len(),
            });
        }
        let (design, fit) = fit_fold(g, m, &train, f)?;
        let (xt, yt) = transform_test(
            &design,
            g.dosage,
            g.n_all,
            g.p,
            g.expression,
            g.cov,
            g.q0,
            &test,
        );
        let nt = test.len();
        let yhat: Vec<f64> = (0..nt)
            .map(|i| (0..design.p).map(|j| xt[j * nt + i] * fit.weights[j]).sum())
            .collect();
        let (r, r2, r2_oos) = metrics(&yt, &yhat);
        out.folds.push(CvMetrics {
            fold: f,
            n_train: train.len(),
            n_test: nt,
            r,
            r2,
            r2_oos,
            pval: correlation_p(r, nt),
        });
        for (i, &s) in test.iter().enumerate() {
            out.predictions.push((s as u32, f, yt[i], yhat[i]));
        }
        pooled_y.extend_from_slice(&yt);
        pooled_hat.extend_from_slice(&yhat);
    }
    let (r, r2, r2_oos) = metrics(&pooled_y, &pooled_hat);
    out.pooled = CvMetrics {
        fold: 0,
        n_train: 0,
        n_test: pooled_y.len(),
        r,
        r2,
        r2_oos,
        pval: correlation_p(r, pooled_y.len()),
    };
    let all: Vec<usize> = (0..g.n_all).filter(|&i| have[i]).collect();
    let (design, fit) = fit_fold(g, m, &all, 0)?;
    out.n_train_all = all.len();
    out.p_used = design.p;
    out.sd_y = design.sd_y;
    out.posterior = summarize(g, &design, &fit);
    Ok(out)
}

fn fit_fold(
    g: &GeneData,
    m: &MethodSettings,
    train: &[usize],
    fold: u8,
) -> Result<(crate::model::preprocess::Design, FoldFit), FitError> {
    let design = build_design(g.dosage, g.n_all, g.p, g.expression, g.cov, g.q0, train)
        .map_err(|source| FitError::Design { fold, source })?;
    let (n, p) = (design.n, design.p);
    let fit = match m.model {
        MethodModel::Sampler(spec) => {
            let mut red = reduce(&design.x, n, p, &design.y)
                .map_err(|source| FitError::Reduce { fold, source })?;
            if m.single_precision {
                red.round_to_single();
            }
            let blocks = remap_blocks(g.blocks, &design.snp_kept);
            let mut annot = vec![0.0; p * g.k];
            for (jj, &j) in design.snp_kept.iter().enumerate() {
                annot[jj * g.k..(jj + 1) * g.k].copy_from_slice(&g.annot[j * g.k..(j + 1) * g.k]);
            }
            let prob = Problem {
                red: &red,
                blocks: &blocks,
                annot: &annot,
                k: g.k,
                n,
                n_eff: design.n_eff,
            };
            let sampler = Sampler::new(&prob, spec, m.priors, Fixed::default(), m.schedule);
            let key = crate::rng::fit_key(m.seed, g.gene_id, model_id(m.model), fold as u16);
            let chains = sampler.run(&key);
            let weights = posterior_weights(&red, &chains);
            FoldFit {
                weights,
                chains: Some(chains),
                hyper_names: sampler.hyper_names(),
            }
        }
        MethodModel::Ridge => {
            let r =
                baselines::ridge_reml(&design.x, n, p, &design.y, design.n_eff).map_err(|e| {
                    FitError::Baseline {
                        fold,
                        message: e.to_string(),
                    }
                })?;
            FoldFit {
                weights: r.beta,
                chains: None,
                hyper_names: Vec::new(),
            }
        }
        MethodModel::Enet => {
            let ids: Vec<String> = train.iter().map(|&i| g.sample_ids[i].clone()).collect();
            let inner = crate::rng::assign_folds(
                m.seed ^ (0x9e37_79b9_7f4a_7c15 ^ fold as u64),
                &ids,
                10.min(ids.len()),
            );
            let opts = EnetOptions::glmnet_defaults(n, p);
            let r = baselines::enet_cv(&design.x, n, p, &design.y, &inner, &opts).map_err(|e| {
                FitError::Baseline {
                    fold,
                    message: e.to_string(),
                }
            })?;
            FoldFit {
                weights: r.beta,
                chains: None,
                hyper_names: Vec::new(),
            }
        }
    };
    Ok((design, fit))
}

/// ω = β̄ + v̄ with v̄ = X̃ᵀ(ū ⊘ λ) (MODEL.md §6), pooled over chains.
fn posterior_weights(red: &crate::model::reduce::Reduced, chains: &[ChainOut]) -> Vec<f64> {
    let total: f64 = chains.iter().map(|c| c.n_draws as f64).sum();
    let p = red.p;
    let mut w = vec![0.0; p];
    let mut ubar = vec![0.0; red.r];
    for c in chains {
        for j in 0..p {
            w[j] += c.beta_sum[j] / total;
        }
        for i in 0..red.r {
            ubar[i] += c.u_sum[i] / total;
        }
    }
    let scaled: Vec<f64> = ubar.iter().zip(&red.lambda).map(|(u, l)| u / l).collect();
    for (j, wj) in w.iter_mut().enumerate() {
        *wj += crate::model::reduce::dot(red.col(j), &scaled);
    }
    w
}

fn summarize(g: &GeneData, d: &crate::model::preprocess::Design, fit: &FoldFit) -> Posterior {
    let p = d.p;
    let mut post = Posterior {
        snp_index: d.snp_kept.iter().map(|&j| j as u32).collect(),
        weight_std: fit.weights.clone(),
        weight_per_allele: fit
            .weights
            .iter()
            .zip(&d.scale)
            .map(|(w, s)| w * d.sd_y / s)
            .collect(),
        ..Default::default()
    };
    let blocks = remap_blocks(g.blocks, &d.snp_kept);
    post.block_start = blocks.iter().map(|b| b.start as u32).collect();
    post.block_end = blocks.iter().map(|b| b.end as u32).collect();
    let Some(chains) = &fit.chains else {
        post.pip = fit
            .weights
            .iter()
            .map(|w| f64::from(u8::from(*w != 0.0)))
            .collect();
        post.beta_mean = fit.weights.clone();
        post.active = post.pip.iter().map(|&x| x as u8).collect();
        return post;
    };
    let total: f64 = chains.iter().map(|c| c.n_draws as f64).sum();
    post.n_draws = total as usize;
    let mut draws = SparseDraws::new(p);
    for c in chains {
        for t in 0..c.draw_ptr.len() - 1 {
            let r = c.draw_ptr[t]..c.draw_ptr[t + 1];
            draws.push_draw(&c.draw_idx[r.clone()], &c.draw_val[r]);
        }
    }
    post.pip = draws.pip();
    post.beta_mean = draws.mean();
    post.beta_sd = draws.sd();
    let (lo, hi) = draws.ci95();
    post.ci_lo = lo;
    post.ci_hi = hi;
    post.p_pos = draws.prob_positive();
    post.active = draws.active().into_iter().map(u8::from).collect();
    post.pip_rb = (0..p)
        .map(|j| chains.iter().map(|c| c.rb_sum[j]).sum::<f64>() / total)
        .collect();
    post.bip = (0..blocks.len())
        .map(|b| chains.iter().map(|c| c.block_incl[b]).sum::<f64>() / total)
        .collect();
    post.p_gate_on = (0..blocks.len())
        .map(|b| chains.iter().map(|c| c.pz_sum[b]).sum::<f64>() / total)
        .collect();
    let mut names: Vec<String> = TRACE_NAMES.iter().map(|s| s.to_string()).collect();
    names.extend(fit.hyper_names.iter().cloned());
    post.trace_names = names;
    post.traces = (0..chains[0].traces.len())
        .map(|i| chains.iter().map(|c| c.traces[i].clone()).collect())
        .collect();
    for tr in &post.traces {
        let refs: Vec<&[f64]> = tr.iter().map(|v| v.as_slice()).collect();
        post.rhat.push(diagnostics::rhat_rank(&refs));
        post.ess_bulk.push(diagnostics::ess_bulk(&refs));
        post.ess_tail.push(diagnostics::ess_tail(&refs));
    }
    let per_chain: Vec<Vec<f64>> = chains
        .iter()
        .map(|c| {
            c.pip_count
                .iter()
                .map(|x| x / c.n_draws.max(1) as f64)
                .collect()
        })
        .collect();
    let refs: Vec<&[f64]> = per_chain.iter().map(|v| v.as_slice()).collect();
    post.max_pip_diff = diagnostics::max_pip_disagreement(&refs);
    post.ess_delta = vec![f64::NAN; p];
    let watched: Vec<usize> = (0..p).filter(|&j| post.pip[j] > 0.1).collect();
    if !watched.is_empty() {
        let slot: std::collections::BTreeMap<usize, usize> =
            watched.iter().enumerate().map(|(i, &j)| (j, i)).collect();
        let mut traces = vec![Vec::with_capacity(chains.len()); watched.len()];
        for c in chains {
            let stored = c.draw_ptr.len() - 1;
            let mut tr = vec![vec![0.0; stored]; watched.len()];
            for t in 0..stored {
                for e in c.draw_ptr[t]..c.draw_ptr[t + 1] {
                    if let Some(&i) = slot.get(&(c.draw_idx[e] as usize)) {
                        tr[i][t] = 1.0;
                    }
                }
            }
            for (i, v) in tr.into_iter().enumerate() {
                traces[i].push(v);
            }
        }
        for (i, &j) in watched.iter().enumerate() {
            let refs: Vec<&[f64]> = traces[i].iter().map(|v| v.as_slice()).collect();
            post.ess_delta[j] = diagnostics::ess_bulk(&refs);
        }
    }
    let rate = |a: u64, b: u64| if b > 0 { a as f64 / b as f64 } else { f64::NAN };
    let sum = |f: fn(&ChainOut) -> (u64, u64)| {
        chains
            .iter()
            .map(f)
            .fold((0, 0), |x, y| (x.0 + y.0, x.1 + y.1))
    };
    let (a, b) = sum(|c| (c.accept.swap_acc, c.accept.swap_prop));
    post.accept_swap = rate(a, b);
    let (a, b) = sum(|c| (c.accept.hyper_acc, c.accept.hyper_prop));
    post.accept_hyper = rate(a, b);
    let (a, b) = sum(|c| (c.accept.u_acc, c.accept.u_prop));
    post.accept_u = rate(a, b);
    post
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_match_hand_computation() {
        let y = [1.0, 2.0, 3.0, 4.0];
        let yhat = [1.5, 1.5, 3.5, 3.5];
        let (r, r2, r2o) = metrics(&y, &yhat);
        // cov = (−1.5·−1 + −0.5·−1 + 0.5·1 + 1.5·1)/… ; sxy = 4, sxx = 4, syy = 5.
        assert!((r - 4.0 / (20f64).sqrt()).abs() < 1e-12);
        assert!((r2 - 0.8).abs() < 1e-12);
        assert!((r2o - (1.0 - 1.0 / 5.0)).abs() < 1e-12);
    }

    #[test]
    fn blocks_follow_the_kept_snps() {
        let blocks = vec![0..3, 3..5, 5..8];
        assert_eq!(remap_blocks(&blocks, &[0, 2, 5, 6, 7]), vec![0..2, 2..5]);
        assert_eq!(remap_blocks(&blocks, &[3]), vec![0..1]);
    }
}
