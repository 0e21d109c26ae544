//! Exact-enumeration validation of the sampler core (MODEL.md §7.2): with the variances and
//! prior hyperparameters clamped, the posterior over δ is computed by brute force from dense
//! n×n Gaussian densities (independent of the rank reduction and of the sweep code), and every
//! PIP, block inclusion, P(z_b = 1), E[β_j] and P(β_j > 0) must agree within 5 MCSE, with total
//! variation over configurations below 0.01.

#![allow(clippy::needless_range_loop)] // index loops mirror the algebra of MODEL.md

use std::ops::Range;

use rand::{RngExt, SeedableRng};

use super::sampler::*;
use crate::model::preprocess::build_design;
use crate::model::reduce::reduce;
use crate::stats::normal;

struct Data {
    n: usize,
    p: usize,
    n_eff: usize,
    x: Vec<f64>,
    y: Vec<f64>,
    annot: Vec<f64>,
}

/// n = 40 samples, p = 10 SNPs with LD (SNP 5 nearly duplicates SNP 4: r ≈ 0.99), one covariate.
fn data(seed: u64) -> Data {
    let (n, p) = (40usize, 10usize);
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let mut g = vec![0f32; n * p];
    for i in 0..n {
        let mut hap = [0u8; 2];
        for j in 0..p {
            for h in &mut hap {
                let copy = j > 0 && j != 5 && rng.random::<f64>() < 0.6;
                if !copy {
                    *h = u8::from(rng.random::<f64>() < 0.35);
                }
            }
            let mut d = (hap[0] + hap[1]) as f32;
            if j == 5 {
                d = g[4 * n + i];
                if i == 3 {
                    d = 2.0 - d;
                }
            }
            g[j * n + i] = d;
        }
    }
    let cov: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
    let e: Vec<f64> = (0..n)
        .map(|i| {
            0.9 * g[2 * n + i] as f64 - 0.7 * g[4 * n + i] as f64
                + 0.3 * cov[i]
                + (rng.random::<f64>() - 0.5) * 2.0
        })
        .collect();
    let train: Vec<usize> = (0..n).collect();
    let d = build_design(&g, n, p, &e, &cov, 1, &train).unwrap();
    assert_eq!(d.p, p, "all SNPs must survive");
    let annot: Vec<f64> = (0..p).map(|j| (j as f64 - 4.5) / 3.0).collect();
    Data {
        n,
        p,
        n_eff: d.n_eff,
        x: d.x,
        y: d.y,
        annot,
    }
}

fn chol_logdet_solve(m: &mut [f64], n: usize, b: &mut [f64]) -> f64 {
    let mut logdet = 0.0;
    for j in 0..n {
        let mut d = m[j * n + j];
        for k in 0..j {
            d -= m[j * n + k] * m[j * n + k];
        }
        let d = d.sqrt();
        m[j * n + j] = d;
        logdet += 2.0 * d.ln();
        for i in j + 1..n {
            let mut s = m[i * n + j];
            for k in 0..j {
                s -= m[i * n + k] * m[j * n + k];
            }
            m[i * n + j] = s / d;
        }
    }
    for i in 0..n {
        let mut s = b[i];
        for k in 0..i {
            s -= m[i * n + k] * b[k];
        }
        b[i] = s / m[i * n + i];
    }
    for i in (0..n).rev() {
        let mut s = b[i];
        for k in i + 1..n {
            s -= m[k * n + i] * b[k];
        }
        b[i] = s / m[i * n + i];
    }
    logdet
}

/// Exact posterior by enumeration: P(δ), E[β_j | y] and P(β_j > 0 | y).
struct Exact {
    post: Vec<f64>,
    mean: Vec<f64>,
    ppos: Vec<f64>,
}

fn exact(d: &Data, se2: f64, sb2: f64, su2: f64, log_prior: &dyn Fn(&[bool]) -> f64) -> Exact {
    let (n, p) = (d.n, d.p);
    let xcol = |j: usize| &d.x[j * n..(j + 1) * n];
    let mut v0 = vec![0.0; n * n];
    for a in 0..n {
        for b in 0..n {
            let k: f64 = (0..p).map(|j| xcol(j)[a] * xcol(j)[b]).sum::<f64>() / p as f64;
            v0[a * n + b] = su2 * k + if a == b { se2 } else { 0.0 };
        }
    }
    let configs = 1usize << p;
    let mut logw = vec![0.0; configs];
    let mut cond_mean = vec![vec![0.0; p]; configs];
    let mut cond_ppos = vec![vec![0.0; p]; configs];
    for cfg in 0..configs {
        let delta: Vec<bool> = (0..p).map(|j| cfg >> j & 1 == 1).collect();
        let act: Vec<usize> = (0..p).filter(|&j| delta[j]).collect();
        let mut m = v0.clone();
        for &j in &act {
            for a in 0..n {
                for b in 0..n {
                    m[a * n + b] += sb2 * xcol(j)[a] * xcol(j)[b];
                }
            }
        }
        let mut sol = d.y.clone();
        let logdet = chol_logdet_solve(&mut m, n, &mut sol);
        let quad: f64 = d.y.iter().zip(&sol).map(|(a, b)| a * b).sum();
        logw[cfg] = log_prior(&delta) - 0.5 * logdet - 0.5 * quad;
        if act.is_empty() {
            continue;
        }
        // β_A | y, δ: precision X_Aᵀ V⁻¹ X_A + I/σβ², mean = S X_Aᵀ V⁻¹ y.
        let a = act.len();
        let mut vinv_x = vec![vec![0.0; n]; a];
        for (ii, &j) in act.iter().enumerate() {
            let mut mm = v0.clone();
            let mut col = xcol(j).to_vec();
            chol_logdet_solve(&mut mm, n, &mut col);
            vinv_x[ii] = col;
        }
        let mut vinv_y = d.y.clone();
        let mut mm = v0.clone();
        chol_logdet_solve(&mut mm, n, &mut vinv_y);
        let mut prec = vec![0.0; a * a];
        let mut rhs = vec![0.0; a];
        for ii in 0..a {
            for jj in 0..a {
                prec[ii * a + jj] = xcol(act[ii])
                    .iter()
                    .zip(&vinv_x[jj])
                    .map(|(x, y)| x * y)
                    .sum::<f64>()
                    + if ii == jj { 1.0 / sb2 } else { 0.0 };
            }
            rhs[ii] = xcol(act[ii]).iter().zip(&vinv_y).map(|(x, y)| x * y).sum();
        }
        let mut pc = prec.clone();
        let mut mean = rhs.clone();
        chol_logdet_solve(&mut pc, a, &mut mean);
        for (ii, &j) in act.iter().enumerate() {
            let mut e = vec![0.0; a];
            e[ii] = 1.0;
            let mut pc2 = prec.clone();
            chol_logdet_solve(&mut pc2, a, &mut e);
            let sd = e[ii].sqrt();
            cond_mean[cfg][j] = mean[ii];
            cond_ppos[cfg][j] = normal::cdf(mean[ii] / sd);
        }
    }
    let mx = logw.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = logw.iter().map(|l| (l - mx).exp()).collect();
    let z: f64 = w.iter().sum();
    let post: Vec<f64> = w.iter().map(|v| v / z).collect();
    let mut mean = vec![0.0; p];
    let mut ppos = vec![0.0; p];
    for cfg in 0..configs {
        for j in 0..p {
            mean[j] += post[cfg] * cond_mean[cfg][j];
            ppos[j] += post[cfg] * cond_ppos[cfg][j];
        }
    }
    Exact { post, mean, ppos }
}

fn bern(pi: f64, on: bool) -> f64 {
    if on {
        pi.ln()
    } else {
        (1.0 - pi).ln()
    }
}

fn expit(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Collapsed block prior (MODEL.md §3) with block probability pi_b and per-SNP π_s,j.
fn block_prior(delta: &[bool], blocks: &[Range<usize>], pi_b: f64, pis: &[f64]) -> f64 {
    let mut lp = 0.0;
    for r in blocks {
        let any = r.clone().any(|j| delta[j]);
        if any {
            lp += pi_b.ln() + r.clone().map(|j| bern(pis[j], delta[j])).sum::<f64>();
        } else {
            let q: f64 = r.clone().map(|j| 1.0 - pis[j]).product();
            lp += (1.0 - pi_b + pi_b * q).ln();
        }
    }
    lp
}

/// Batch-means MCSE of the mean of per-chain traces (50 batches per chain).
fn mcse(traces: &[Vec<f64>]) -> f64 {
    let mut means = Vec::new();
    for t in traces {
        let bs = t.len() / 50;
        for b in 0..50 {
            means.push(t[b * bs..(b + 1) * bs].iter().sum::<f64>() / bs as f64);
        }
    }
    let m = means.iter().sum::<f64>() / means.len() as f64;
    let var = means.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (means.len() - 1) as f64;
    (var / means.len() as f64).sqrt()
}

/// log P(δ) of a configuration.
type LogPrior = Box<dyn Fn(&[bool]) -> f64>;

struct Case {
    name: &'static str,
    spec: ModelSpec,
    blocks: Vec<Range<usize>>,
    hyper: Vec<f64>,
    su2: f64,
    n_swap: usize,
    log_prior: LogPrior,
    /// Clamp the prior hyperparameters to `hyper` (else they are sampled).
    fix_hyper: bool,
}

const SE2: f64 = 0.6;
const SB2: f64 = 0.25;

fn check(case: Case, d: &Data, sweeps: usize) {
    let red = reduce(&d.x, d.n, d.p, &d.y).unwrap();
    let prob = Problem {
        red: &red,
        blocks: &case.blocks,
        annot: &d.annot,
        k: 1,
        n: d.n,
        n_eff: d.n_eff,
    };
    let fixed = Fixed {
        sigma_e2: Some(SE2),
        sigma_b2: Some(SB2),
        sigma_u2: Some(case.su2),
        hyper: case.fix_hyper.then(|| case.hyper.clone()),
        sigma_w2: Some(1.0),
        delta: None,
    };
    let sched = Schedule {
        chains: 4,
        burnin: 500,
        samples: sweeps,
        n_swap: case.n_swap,
        ..Schedule::default()
    };
    let s = Sampler::new(&prob, case.spec, Priors::default(), fixed, sched);
    let key = crate::rng::fit_key(7, case.name, 0, 0);
    let chains = s.run(&key);
    let ex = exact(d, SE2, SB2, case.su2, &case.log_prior);
    let p = d.p;
    // Per-draw configurations and effects from the sparse store.
    let mut freq = vec![0.0; 1 << p];
    let mut pip_tr = vec![vec![Vec::new(); chains.len()]; p];
    let mut beta_tr = vec![vec![Vec::new(); chains.len()]; p];
    let mut pos_tr = vec![vec![Vec::new(); chains.len()]; p];
    let mut bip_tr = vec![vec![Vec::new(); chains.len()]; case.blocks.len()];
    let mut total = 0.0;
    for (c, ch) in chains.iter().enumerate() {
        assert_eq!(ch.store_thin, 1);
        for t in 0..ch.n_draws {
            let mut beta = vec![0.0; p];
            let mut cfg = 0usize;
            for e in ch.draw_ptr[t]..ch.draw_ptr[t + 1] {
                let j = ch.draw_idx[e] as usize;
                beta[j] = ch.draw_val[e] as f64;
                cfg |= 1 << j;
            }
            freq[cfg] += 1.0;
            total += 1.0;
            for j in 0..p {
                pip_tr[j][c].push(f64::from(u8::from(cfg >> j & 1 == 1)));
                beta_tr[j][c].push(beta[j]);
                pos_tr[j][c].push(f64::from(u8::from(beta[j] > 0.0)));
            }
            for (b, r) in case.blocks.iter().enumerate() {
                bip_tr[b][c].push(f64::from(u8::from(r.clone().any(|j| cfg >> j & 1 == 1))));
            }
        }
    }
    let mean_of = |tr: &Vec<Vec<f64>>| tr.iter().flatten().sum::<f64>() / total;
    let within = |what: &str, est: f64, truth: f64, se: f64| {
        let tol = 5.0 * se.max(1e-4);
        assert!(
            (est - truth).abs() <= tol,
            "{}: {what}: sampler {est:.5}, exact {truth:.5}, 5 MCSE = {tol:.5}",
            case.name
        );
    };
    for j in 0..p {
        let pip_exact: f64 = ex
            .post
            .iter()
            .enumerate()
            .filter(|(cfg, _)| cfg >> j & 1 == 1)
            .map(|(_, w)| w)
            .sum();
        within(
            &format!("PIP[{j}]"),
            mean_of(&pip_tr[j]),
            pip_exact,
            mcse(&pip_tr[j]),
        );
        within(
            &format!("E beta[{j}]"),
            mean_of(&beta_tr[j]),
            ex.mean[j],
            mcse(&beta_tr[j]),
        );
        within(
            &format!("P(beta[{j}]>0)"),
            mean_of(&pos_tr[j]),
            ex.ppos[j],
            mcse(&pos_tr[j]),
        );
        let rb: f64 = chains.iter().map(|c| c.rb_sum[j]).sum::<f64>() / total;
        within(&format!("RB-PIP[{j}]"), rb, pip_exact, mcse(&pip_tr[j]));
    }
    for (b, r) in case.blocks.iter().enumerate() {
        let bip_exact: f64 = ex
            .post
            .iter()
            .enumerate()
            .filter(|(cfg, _)| r.clone().any(|j| cfg >> j & 1 == 1))
            .map(|(_, w)| w)
            .sum();
        within(
            &format!("BIP[{b}]"),
            mean_of(&bip_tr[b]),
            bip_exact,
            mcse(&bip_tr[b]),
        );
        if case.spec.gate {
            // P(z_b = 1 | y) = BIP + P(A_b = ∅) · e^{ψ_b} with ψ_b fixed (hyperparameters clamped).
            let pz: f64 = chains.iter().map(|c| c.pz_sum[b]).sum::<f64>() / total;
            let psi_exact = case_psi(&case, b, d);
            let pz_exact = bip_exact + (1.0 - bip_exact) * psi_exact.exp();
            within(&format!("P(z[{b}]=1)"), pz, pz_exact, mcse(&bip_tr[b]));
        }
    }
    let tv: f64 = 0.5
        * freq
            .iter()
            .zip(&ex.post)
            .map(|(f, e)| (f / total - e).abs())
            .sum::<f64>();
    eprintln!("{}: TV {tv:.4}", case.name);
    assert!(tv < 0.01, "{}: total variation {tv}", case.name);
}

/// ψ_b = log π_b + log Q_b − log(1 − π_b + π_b Q_b) for the gated cases.
fn case_psi(case: &Case, b: usize, d: &Data) -> f64 {
    let nb = (case.blocks.len() as f64).max(2.0);
    let pi_b = nb.powf(-(1.0 - expit(case.hyper[0])));
    let w1 = if case.spec.annotated {
        case.hyper[2]
    } else {
        0.0
    };
    let q: f64 = case.blocks[b]
        .clone()
        .map(|j| 1.0 - expit(case.hyper[1] + w1 * d.annot[j]))
        .product();
    (pi_b * q).ln() - (1.0 - pi_b + pi_b * q).ln()
}

fn singletons(p: usize) -> Vec<Range<usize>> {
    (0..p).map(|j| j..j + 1).collect()
}

fn bslmm_pi(theta: f64, p: usize) -> f64 {
    (p as f64).powf(-(1.0 - expit(theta)))
}

#[test]
fn enumeration_i_gate_off_no_polygenic() {
    let d = data(1);
    let theta = -1.5;
    let pi = bslmm_pi(theta, d.p);
    let spec = ModelSpec {
        polygenic: false,
        ..ModelSpec::BSLMM
    };
    let case = Case {
        name: "i",
        spec,
        blocks: vec![0..3, 3..7, 7..10],
        hyper: vec![theta],
        su2: 0.0,
        n_swap: 1,
        log_prior: Box::new(move |dl: &[bool]| dl.iter().map(|&x| bern(pi, x)).sum()),
        fix_hyper: true,
    };
    check(case, &d, 100_000);
}

#[test]
fn enumeration_ii_with_polygenic_term() {
    let d = data(2);
    let theta = -1.5;
    let pi = bslmm_pi(theta, d.p);
    let case = Case {
        name: "ii",
        spec: ModelSpec::BSLMM,
        blocks: singletons(d.p),
        hyper: vec![theta],
        su2: 0.4,
        n_swap: 1,
        log_prior: Box::new(move |dl: &[bool]| dl.iter().map(|&x| bern(pi, x)).sum()),
        fix_hyper: true,
    };
    check(case, &d, 150_000);
}

#[test]
fn enumeration_iii_block_gate() {
    let d = data(3);
    let blocks = vec![0..3, 3..7, 7..10];
    let (theta_b, w0) = (0.5, -2.0);
    let pi_b = 3f64.powf(-(1.0 - expit(theta_b)));
    let pis = vec![expit(w0); d.p];
    let bl = blocks.clone();
    let case = Case {
        name: "iii",
        spec: ModelSpec::BLOCK_ONLY,
        blocks,
        hyper: vec![theta_b, w0],
        su2: 0.3,
        n_swap: 1,
        log_prior: Box::new(move |dl: &[bool]| block_prior(dl, &bl, pi_b, &pis)),
        fix_hyper: true,
    };
    check(case, &d, 100_000);
}

#[test]
fn enumeration_iv_logistic_annotation_prior() {
    let d = data(4);
    let blocks = vec![0..3, 3..7, 7..10];
    let (theta_b, w0, w1) = (0.2, -1.8, 0.8);
    let pi_b = 3f64.powf(-(1.0 - expit(theta_b)));
    let pis: Vec<f64> = d.annot.iter().map(|a| expit(w0 + w1 * a)).collect();
    let bl = blocks.clone();
    let case = Case {
        name: "iv",
        spec: ModelSpec::BSBSLMM,
        blocks,
        hyper: vec![theta_b, w0, w1],
        su2: 0.2,
        n_swap: 1,
        log_prior: Box::new(move |dl: &[bool]| block_prior(dl, &bl, pi_b, &pis)),
        fix_hyper: true,
    };
    check(case, &d, 100_000);
}

#[test]
fn enumeration_v_tight_ld_pair_with_and_without_swap() {
    let d = data(5);
    let theta = -1.5;
    let pi = bslmm_pi(theta, d.p);
    for (name, n_swap) in [("v-swap", 1), ("v-noswap", 0)] {
        let case = Case {
            name,
            spec: ModelSpec {
                polygenic: false,
                ..ModelSpec::BSLMM
            },
            blocks: vec![0..4, 4..7, 7..10],
            hyper: vec![theta],
            su2: 0.0,
            n_swap,
            log_prior: Box::new(move |dl: &[bool]| dl.iter().map(|&x| bern(pi, x)).sum()),
            fix_hyper: true,
        };
        check(case, &d, 100_000);
    }
}

#[test]
fn enumeration_vi_probit_prior() {
    let d = data(6);
    let (w0, w1) = (-1.3, 0.6);
    let pis: Vec<f64> = d.annot.iter().map(|a| normal::cdf(w0 + w1 * a)).collect();
    let case = Case {
        name: "vi",
        spec: ModelSpec::BAYESC_ANNOT,
        blocks: vec![0..3, 3..7, 7..10],
        hyper: vec![w0, w1],
        su2: 0.0,
        n_swap: 1,
        log_prior: Box::new(move |dl: &[bool]| {
            dl.iter().zip(&pis).map(|(&x, &p)| bern(p, x)).sum()
        }),
        fix_hyper: true,
    };
    check(case, &d, 100_000);
}

fn iid(pi: f64) -> LogPrior {
    Box::new(move |dl: &[bool]| dl.iter().map(|&x| bern(pi, x)).sum())
}

/// MODEL.md §7.6: (b) with singleton blocks is (a) with π = π_b·expit(w0).
#[test]
fn reduction_singleton_blocks_gate_equals_bslmm_prior() {
    let d = data(11);
    let (theta_b, w0) = (0.4, -1.0);
    let pi_b = (d.p as f64).powf(-(1.0 - expit(theta_b)));
    let case = Case {
        name: "red-singletons",
        spec: ModelSpec::BLOCK_ONLY,
        blocks: singletons(d.p),
        hyper: vec![theta_b, w0],
        su2: 0.2,
        n_swap: 1,
        log_prior: iid(pi_b * expit(w0)),
        fix_hyper: true,
    };
    check(case, &d, 100_000);
}

/// (b) with π_b → 1 is BSLMM with π = expit(w0), for any partition.
#[test]
fn reduction_gate_always_on_equals_bslmm() {
    let d = data(12);
    let w0 = -1.5;
    let case = Case {
        name: "red-pib1",
        spec: ModelSpec::BLOCK_ONLY,
        blocks: vec![0..5, 5..10],
        hyper: vec![40.0, w0],
        su2: 0.2,
        n_swap: 1,
        log_prior: iid(expit(w0)),
        fix_hyper: true,
    };
    check(case, &d, 200_000);
}

/// (c) with w1 ≡ 0 is (b).
#[test]
fn reduction_zero_annotation_slope_equals_block_only() {
    let d = data(13);
    let blocks = vec![0..3, 3..7, 7..10];
    let (theta_b, w0) = (0.3, -1.6);
    let pi_b = 3f64.powf(-(1.0 - expit(theta_b)));
    let pis = vec![expit(w0); d.p];
    let bl = blocks.clone();
    let case = Case {
        name: "red-w1zero",
        spec: ModelSpec::BSBSLMM,
        blocks,
        hyper: vec![theta_b, w0, 0.0],
        su2: 0.2,
        n_swap: 1,
        log_prior: Box::new(move |dl: &[bool]| block_prior(dl, &bl, pi_b, &pis)),
        fix_hyper: true,
    };
    check(case, &d, 100_000);
}

/// (a) with u off and π clamped is (d) with K = 0 and w0 = Φ⁻¹(π).
#[test]
fn reduction_probit_without_annotation_equals_fixed_pi() {
    let d = data(14);
    let pi = 0.2;
    let case = Case {
        name: "red-probit-k0",
        spec: ModelSpec {
            annotated: false,
            ..ModelSpec::BAYESC_ANNOT
        },
        blocks: vec![0..4, 4..10],
        hyper: vec![normal::quantile(pi)],
        su2: 0.0,
        n_swap: 1,
        log_prior: iid(pi),
        fix_hyper: true,
    };
    check(case, &d, 100_000);
}

/// Partition invariance with the gate off, with the π hyperparameter sampled (MH): the DP-like
/// partition, singletons and one block all match the exact posterior, whose prior on δ integrates
/// the log-uniform π by quadrature: P(δ) = (1/log p) ∫_{−log p}^0 e^{s·l}(1 − e^l)^{p−s} dl.
#[test]
fn reduction_partition_invariance_with_hyperparameter_updates() {
    let d = data(15);
    let p = d.p;
    let log_prior = move |dl: &[bool]| {
        let s = dl.iter().filter(|&&x| x).count() as f64;
        let lp = (p as f64).ln();
        let m = 20_000;
        let h = lp / m as f64;
        let mut acc = 0.0;
        for i in 0..m {
            let l = -lp + (i as f64 + 0.5) * h;
            acc += (s * l + (p as f64 - s) * (-l.exp()).ln_1p()).exp() * h;
        }
        (acc / lp).ln()
    };
    let spec = ModelSpec {
        polygenic: false,
        ..ModelSpec::BSLMM
    };
    for (name, blocks) in [
        ("part-dp", vec![0..3, 3..7, 7..10]),
        ("part-single", singletons(p)),
        ("part-one", std::iter::once(0..p).collect()),
    ] {
        let case = Case {
            name,
            spec,
            blocks,
            hyper: vec![0.0],
            su2: 0.0,
            n_swap: 1,
            log_prior: Box::new(log_prior),
            fix_hyper: false,
        };
        check(case, &d, 200_000);
    }
}

/// MODEL.md §7.9: the state after 5 sweeps on a tiny gene is pinned (BLAKE3 of every trace and
/// draw of both chains, bit for bit). A change here means the draw order or a conditional changed.
#[test]
fn golden_state_after_five_sweeps() {
    let d = data(21);
    let red = reduce(&d.x, d.n, d.p, &d.y).unwrap();
    let blocks = vec![0..3, 3..7, 7..10];
    let prob = Problem {
        red: &red,
        blocks: &blocks,
        annot: &d.annot,
        k: 1,
        n: d.n,
        n_eff: d.n_eff,
    };
    let sched = Schedule {
        chains: 2,
        burnin: 0,
        samples: 5,
        ..Schedule::default()
    };
    let mut hasher = blake3::Hasher::new();
    for spec in [
        ModelSpec::BSLMM,
        ModelSpec::BLOCK_ONLY,
        ModelSpec::BSBSLMM,
        ModelSpec::BAYESC_ANNOT,
    ] {
        let s = Sampler::new(&prob, spec, Priors::default(), Fixed::default(), sched);
        for c in s.run(&crate::rng::fit_key(1, "golden", 0, 0)) {
            for t in &c.traces {
                for v in t {
                    hasher.update(&v.to_le_bytes());
                }
            }
            for (i, v) in c.draw_idx.iter().zip(&c.draw_val) {
                hasher.update(&i.to_le_bytes());
                hasher.update(&v.to_le_bytes());
            }
        }
    }
    let hex = hasher.finalize().to_hex().to_string();
    assert_eq!(hex, GOLDEN, "the pinned sampler state changed");
}

/// Every number a chain reports, as bits (for bit-identity checks).
fn fingerprint(c: &ChainOut) -> Vec<u64> {
    let mut v: Vec<u64> = Vec::new();
    for xs in [
        &c.pip_count,
        &c.rb_sum,
        &c.beta_sum,
        &c.beta_sq_sum,
        &c.pos_count,
        &c.block_incl,
        &c.pz_sum,
        &c.u_sum,
    ] {
        v.extend(xs.iter().map(|x| x.to_bits()));
    }
    for t in &c.traces {
        v.extend(t.iter().map(|x| x.to_bits()));
    }
    v.extend(c.draw_ptr.iter().map(|&x| x as u64));
    v.extend(c.draw_idx.iter().map(|&x| x as u64));
    v.extend(c.draw_val.iter().map(|x| x.to_bits() as u64));
    let a = &c.accept;
    v.extend([
        a.swap_prop,
        a.swap_acc,
        a.hyper_prop,
        a.hyper_acc,
        a.u_prop,
        a.u_acc,
    ]);
    v.push(c.n_draws as u64);
    v
}

/// MODEL.md §8: chains run in lockstep groups (`Sampler::run`: groups of `LOCKSTEP` sharing one
/// pass over X̃ for their block scores) give bit for bit what each chain gives alone. Seven chains
/// make a group of three and a group of four; singleton blocks and a 4-SNP block make the chains'
/// score panels diverge, so fewer residuals share a pass at times (the kernel for each width is
/// checked against `dot` bit for bit in `reduce`).
#[test]
fn lockstep_chains_equal_chains_run_alone() {
    // n = 90, p = 45 (rank 45: every lane of the dot kernels sums several terms, so a kernel
    // that rounded differently would show), three planted effects.
    let (n, p) = (90usize, 45usize);
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(33);
    let mut x = vec![0.0; n * p];
    for j in 0..p {
        for i in 0..n {
            let z: f64 = rng.random::<f64>() - 0.5;
            x[j * n + i] = if j % 5 == 0 {
                z
            } else {
                0.7 * x[(j - 1) * n + i] + z
            };
        }
    }
    let mut y: Vec<f64> = (0..n).map(|_| rng.random::<f64>() - 0.5).collect();
    for (j, b) in [(3usize, 0.8), (17, -0.6), (31, 0.5)] {
        for i in 0..n {
            y[i] += b * x[j * n + i];
        }
    }
    let annot: Vec<f64> = (0..p).map(|j| (j as f64 - 22.0) / 13.0).collect();
    let red = reduce(&x, n, p, &y).unwrap();
    let blocks = vec![0..1, 1..2, 2..3, 3..7, 7..8, 8..20, 20..21, 21..33, 33..45];
    let prob = Problem {
        red: &red,
        blocks: &blocks,
        annot: &annot,
        k: 1,
        n,
        n_eff: n - 1,
    };
    let sched = Schedule {
        chains: 7,
        burnin: 200,
        samples: 300,
        ..Schedule::default()
    };
    for spec in [
        ModelSpec::BSLMM,
        ModelSpec::BSBSLMM,
        ModelSpec::BAYESC_ANNOT,
    ] {
        let s = Sampler::new(&prob, spec, Priors::default(), Fixed::default(), sched);
        let key = crate::rng::fit_key(4, "lockstep", 1, 2);
        let together = s.run(&key);
        assert_eq!(together.len(), 7);
        let mut active = 0.0;
        for (c, out) in together.iter().enumerate() {
            let mut rng = crate::rng::chain_rng(&key, c as u32);
            let alone = s.run_chain(&mut rng);
            assert!(
                fingerprint(out) == fingerprint(&alone),
                "{spec:?}: chain {c} differs when run in lockstep"
            );
            active += out.pip_count.iter().sum::<f64>();
        }
        // The chains did include SNPs, so residuals changed and score panels were recomputed.
        assert!(active > 100.0, "{spec:?}: no SNP was ever active");
    }
}

// Last re-pinned when three sums became fixed-order vector sums: the back substitution of the
// β draw (`reduce::dot`), the swap proposal's totals (`vmath::sum8`) and the mean prior
// inclusion probability in the `pi` trace (`vmath::expit_sum`). The same exact conditionals,
// other rounding. The new hash is the same with and without AVX-512 (`BSBSLMM_NO_AVX512=1`),
// and every other test of `cargo test --release --lib` passed before re-pinning. Previously:
// X̃ rounded to single precision; the byte-wise `bernoulli`; the M = Ω_A⁻¹ active-set state;
// the O(a²) factor updates.
const GOLDEN: &str = "a6d521ddd0644ce664ce421e51e26b81549662dc374224644d042b4e0d994a56";

/// MODEL.md §7.4: Geweke's joint-distribution test for each model (n = 30, p = 8, two blocks,
/// no adaptation). Every functional's mean must agree between the prior simulator and the
/// successive-conditional simulator within 4 standard errors (ESS-based for the chain).
fn geweke_case(spec: ModelSpec, seed: u64) {
    geweke_case_k(spec, seed, 1);
}

fn geweke_case_k(spec: ModelSpec, seed: u64, k: usize) {
    let (n, p) = (30usize, 8usize);
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    let mut g = vec![0f32; n * p];
    for i in 0..n {
        let mut a = 0.0f32;
        for j in 0..p {
            if j == 0 || rng.random::<f64>() < 0.5 {
                a = (rng.random::<f64>() * 3.0).floor() as f32;
            }
            g[j * n + i] = a;
        }
    }
    let e: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
    let train: Vec<usize> = (0..n).collect();
    let d = build_design(&g, n, p, &e, &[], 0, &train).unwrap();
    let red = reduce(&d.x, d.n, d.p, &d.y).unwrap();
    let blocks = vec![0..4, 4..p];
    // Column c of SNP j: (j/4 − 0.9) for c = 0, then other fixed patterns.
    let annot: Vec<f64> = (0..p)
        .flat_map(|j| (0..k).map(move |c| ((j * (c + 1) + c) % 8) as f64 / 4.0 - 0.9))
        .collect();
    let prob = Problem {
        red: &red,
        blocks: &blocks,
        annot: &annot,
        k,
        n: d.n,
        n_eff: d.n_eff,
    };
    let sched = Schedule {
        chains: 1,
        burnin: 0,
        samples: 1,
        ..Schedule::default()
    };
    let s = Sampler::new(&prob, spec, Priors::default(), Fixed::default(), sched);
    let gw = s.geweke(150_000, &crate::rng::fit_key(seed, "geweke", 0, 0));
    let mut worst = (0.0f64, String::new());
    for (f, name) in gw.names.iter().enumerate() {
        let (a, b) = (&gw.prior[f], &gw.chain[f][1000..]);
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let var = |v: &[f64], m: f64| {
            v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len() - 1) as f64
        };
        let (ma, mb) = (mean(a), mean(b));
        let ess = crate::model::diagnostics::ess_basic(&[b]).max(10.0);
        let se = (var(a, ma) / a.len() as f64 + var(b, mb) / ess).sqrt();
        let z = (mb - ma) / se;
        if z.abs() > worst.0 {
            worst = (z.abs(), name.clone());
        }
        assert!(
            z.abs() < 4.0,
            "{spec:?}: {name}: prior mean {ma:.4}, chain mean {mb:.4}, z = {z:.2} (ESS {ess:.0})"
        );
    }
    eprintln!("{spec:?}: worst |z| = {:.2} ({})", worst.0, worst.1);
}

#[test]
fn geweke_bslmm() {
    geweke_case(ModelSpec::BSLMM, 31);
}

#[test]
fn geweke_block_only() {
    geweke_case(ModelSpec::BLOCK_ONLY, 32);
}

#[test]
fn geweke_bsbslmm() {
    geweke_case(ModelSpec::BSBSLMM, 33);
}

/// Three annotation columns: the slopes' prior sd is w_sd/√3 in both the MH target and the
/// prior draw (a mismatch shows in the w_k² functionals and in n_active).
#[test]
fn geweke_bsbslmm_three_columns() {
    geweke_case_k(ModelSpec::BSBSLMM, 35, 3);
}

#[test]
fn geweke_bayesc_annot() {
    geweke_case(ModelSpec::BAYESC_ANNOT, 34);
}

/// Simulation-based calibration, slow tier (MODEL.md §7.5): bsBSLMM, n = 100, p = 20, 4 blocks,
/// a tight explicit prior, 1,000 datasets, ranks among 199 draws thinned by 10, 20-bin χ² test
/// per quantity (p > 0.001). Run with
/// `cargo test --release --lib -- --ignored sbc_bsbslmm --nocapture`.
#[test]
#[ignore]
fn sbc_bsbslmm() {
    let (n, p) = (100usize, 20usize);
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(41);
    let mut g = vec![0f32; n * p];
    for i in 0..n {
        let mut a = 0.0f32;
        for j in 0..p {
            if j % 5 == 0 || rng.random::<f64>() < 0.5 {
                a = (rng.random::<f64>() * 3.0).floor() as f32;
            }
            g[j * n + i] = a;
        }
    }
    let e: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
    let train: Vec<usize> = (0..n).collect();
    let d = build_design(&g, n, p, &e, &[], 0, &train).unwrap();
    let red = reduce(&d.x, d.n, d.p, &d.y).unwrap();
    let blocks = vec![0..5, 5..10, 10..15, 15..20];
    let annot: Vec<f64> = (0..p).map(|j| (j % 5) as f64 / 2.0 - 1.0).collect();
    let prob = Problem {
        red: &red,
        blocks: &blocks,
        annot: &annot,
        k: 1,
        n: d.n,
        n_eff: d.n_eff,
    };
    let tight = Priors {
        nu_e: 10.0,
        s2_e: 0.8,
        nu_b: 10.0,
        s2_b: 0.2,
        nu_u: 10.0,
        s2_u: 0.1,
        w0_mean: (0.2f64 / 0.8).ln(),
        w0_sd: 0.5,
        w_sd: 0.5,
        w0_sd_probit: 1.0,
    };
    let s = Sampler::new(
        &prob,
        ModelSpec::BSBSLMM,
        tight,
        Fixed::default(),
        Schedule::default(),
    );
    let (names, ranks) = s.sbc_ranks(1000, 300, 199, 10, &crate::rng::fit_key(41, "sbc", 3, 0));
    let mut failed = Vec::new();
    for (name, r) in names.iter().zip(&ranks) {
        let mut bins = [0f64; 20];
        for &x in r {
            bins[(x * 20 / 200).min(19)] += 1.0;
        }
        let expect = r.len() as f64 / 20.0;
        let stat: f64 = bins.iter().map(|b| (b - expect).powi(2) / expect).sum();
        let pval = crate::stats::tdist::chi2_sf(stat, 19.0);
        eprintln!("SBC {name:>14}: chi2 = {stat:7.2}, p = {pval:.4}");
        if pval <= 0.001 {
            failed.push(name.clone());
        }
    }
    assert!(
        failed.is_empty(),
        "SBC rank histograms not uniform for {failed:?}"
    );
}

/// Marginal mean and 5/50/95% quantiles of a discretized density on a uniform grid.
fn grid_summary(x: &[f64], w: &[f64]) -> (f64, [f64; 3]) {
    let z: f64 = w.iter().sum();
    let mean = x.iter().zip(w).map(|(a, b)| a * b).sum::<f64>() / z;
    let mut q = [0.0; 3];
    for (k, level) in [0.05, 0.5, 0.95].iter().enumerate() {
        let mut acc = 0.0;
        for (i, wi) in w.iter().enumerate() {
            if acc + wi / z >= *level {
                let h = if i + 1 < x.len() {
                    x[i + 1] - x[i]
                } else {
                    x[i] - x[i - 1]
                };
                q[k] = x[i] - h / 2.0 + h * (level - acc) / (wi / z);
                break;
            }
            acc += wi / z;
        }
    }
    (mean, q)
}

fn sample_quantile(v: &mut [f64], q: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * q).round() as usize]
}

/// Runs 4 chains × (2,000 + 60,000) sweeps with δ and the given quantities clamped.
fn run_clamped(
    d: &Data,
    blocks: &[Range<usize>],
    spec: ModelSpec,
    fixed: Fixed,
    name: &str,
) -> Vec<ChainOut> {
    let red = reduce(&d.x, d.n, d.p, &d.y).unwrap();
    let prob = Problem {
        red: &red,
        blocks,
        annot: &d.annot,
        k: 1,
        n: d.n,
        n_eff: d.n_eff,
    };
    let sched = Schedule {
        chains: 4,
        burnin: 2000,
        samples: 60_000,
        store_draws: false,
        ..Schedule::default()
    };
    Sampler::new(&prob, spec, Priors::default(), fixed, sched)
        .run(&crate::rng::fit_key(51, name, 0, 0))
}

/// Mean within 5 MCSE and 5/50/95% quantiles within 0.06 sd + 3 MCSE of a grid posterior.
fn assert_matches_grid(name: &str, traces: &[Vec<f64>], grid: &[f64], w: &[f64]) {
    let (mean, q) = grid_summary(grid, w);
    let mut all: Vec<f64> = traces.iter().flatten().copied().collect();
    let m = all.iter().sum::<f64>() / all.len() as f64;
    let se = mcse(traces);
    assert!(
        (m - mean).abs() < 5.0 * se,
        "{name}: MH mean {m:.5}, quadrature {mean:.5}, 5 MCSE {:.5}",
        5.0 * se
    );
    let sd = (all.iter().map(|x| (x - m).powi(2)).sum::<f64>() / all.len() as f64).sqrt();
    for (k, level) in [0.05, 0.5, 0.95].iter().enumerate() {
        let got = sample_quantile(&mut all, *level);
        assert!(
            (got - q[k]).abs() < 0.06 * sd + 3.0 * se,
            "{name} q{level}: MH {got:.5}, quadrature {:.5}",
            q[k]
        );
    }
}

/// MODEL.md §7.3: with δ clamped, the hyperparameter MH of bsBSLMM on (θ_b, w0, w1) matches a
/// 3-D grid quadrature of H(θ), in means (5 MCSE) and 5/50/95% quantiles.
#[test]
fn hyper_mh_matches_3d_quadrature() {
    let d = data(51);
    let blocks = vec![0..3, 3..7, 7..10];
    let mut delta = vec![false; d.p];
    delta[1] = true;
    delta[8] = true;
    delta[9] = true;
    let fixed = Fixed {
        sigma_e2: Some(SE2),
        sigma_b2: Some(SB2),
        sigma_u2: Some(0.1),
        delta: Some(delta.clone()),
        ..Fixed::default()
    };
    let chains = run_clamped(&d, &blocks, ModelSpec::BSBSLMM, fixed, "quad");
    let pr = Priors::default();
    // Exact: H(θ) on a grid (the same collapsed block likelihood, written independently here).
    let (n_t, n_w0, n_w1) = (70usize, 70usize, 70usize);
    let axis = |lo: f64, hi: f64, m: usize| -> Vec<f64> {
        (0..m)
            .map(|i| lo + (hi - lo) * (i as f64 + 0.5) / m as f64)
            .collect()
    };
    let tb = axis(-9.0, 12.0, n_t);
    let w0s = axis(-7.5, 3.0, n_w0);
    let w1s = axis(-5.0, 5.0, n_w1);
    let nb = 3f64;
    let mut logw = vec![0.0; n_t * n_w0 * n_w1];
    for (a, &t) in tb.iter().enumerate() {
        let pi_b = nb.powf(-(1.0 - expit(t)));
        let lp_t = -(1.0 + (-t).exp()).ln() - (1.0 + t.exp()).ln();
        for (b, &w0) in w0s.iter().enumerate() {
            for (c, &w1) in w1s.iter().enumerate() {
                let pis: Vec<f64> = d.annot.iter().map(|x| expit(w0 + w1 * x)).collect();
                let lp = lp_t
                    - 0.5 * ((w0 - pr.w0_mean) / pr.w0_sd).powi(2)
                    - 0.5 * (w1 / pr.w_sd).powi(2); // K = 1: the slope's sd is w_sd
                logw[(a * n_w0 + b) * n_w1 + c] = lp + block_prior(&delta, &blocks, pi_b, &pis);
            }
        }
    }
    let mx = logw.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let w: Vec<f64> = logw.iter().map(|l| (l - mx).exp()).collect();
    let marg = |axis_id: usize| -> Vec<f64> {
        let m = [n_t, n_w0, n_w1][axis_id];
        let mut out = vec![0.0; m];
        for a in 0..n_t {
            for b in 0..n_w0 {
                for c in 0..n_w1 {
                    out[[a, b, c][axis_id]] += w[(a * n_w0 + b) * n_w1 + c];
                }
            }
        }
        out
    };
    let off = TRACE_NAMES.len();
    for (i, (name, ax)) in [("theta_b", &tb), ("w0", &w0s), ("w1", &w1s)]
        .iter()
        .enumerate()
    {
        let traces: Vec<Vec<f64>> = chains.iter().map(|c| c.traces[off + i].clone()).collect();
        assert_matches_grid(name, &traces, ax, &marg(i));
    }
}

/// MODEL.md §7.3: σ_u² by MH (u integrated out) matches 1-D quadrature of its posterior given
/// σ_e² and β = 0 (δ clamped empty).
#[test]
fn polygenic_variance_matches_1d_quadrature() {
    let d = data(52);
    let red = reduce(&d.x, d.n, d.p, &d.y).unwrap();
    let fixed = Fixed {
        sigma_e2: Some(SE2),
        sigma_b2: Some(SB2),
        hyper: Some(vec![0.0]),
        delta: Some(vec![false; d.p]),
        ..Fixed::default()
    };
    let chains = run_clamped(&d, &singletons(d.p), ModelSpec::BSLMM, fixed, "quad-u");
    let pr = Priors::default();
    // p(σ_u² | ỹ) ∝ SIχ²(σ_u²; ν_u, S_u²) Π_i N(ỹ_i; 0, σ_e² + σ_u² d_i), on a grid of σ_u².
    let m = 20_000;
    let xs: Vec<f64> = (0..m).map(|i| 8.0 * (i as f64 + 0.5) / m as f64).collect();
    let w: Vec<f64> = {
        let lw: Vec<f64> = xs
            .iter()
            .map(|&su| {
                let mut l = -(pr.nu_u / 2.0 + 1.0) * su.ln() - pr.nu_u * pr.s2_u / (2.0 * su);
                for (y, di) in red.yt.iter().zip(&red.d) {
                    let v = SE2 + su * di;
                    l -= 0.5 * (v.ln() + y * y / v);
                }
                l
            })
            .collect();
        let mx = lw.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        lw.iter().map(|l| (l - mx).exp()).collect()
    };
    let traces: Vec<Vec<f64>> = chains.iter().map(|c| c.traces[2].clone()).collect();
    assert_matches_grid("sigma_u2", &traces, &xs, &w);
}

/// MODEL.md §6 memory bound: a cap far below the projected size thins the stored draws by a
/// power of two decided after burn-in, and the summaries still come out.
#[test]
fn stored_draws_respect_the_memory_cap() {
    let d = data(61);
    let red = reduce(&d.x, d.n, d.p, &d.y).unwrap();
    let blocks = vec![0..3, 3..7, 7..10];
    let prob = Problem {
        red: &red,
        blocks: &blocks,
        annot: &d.annot,
        k: 1,
        n: d.n,
        n_eff: d.n_eff,
    };
    let sched = Schedule {
        chains: 2,
        burnin: 200,
        samples: 4000,
        draw_cap_bytes: 2 * 12 * 1000,
        ..Schedule::default()
    };
    let s = Sampler::new(
        &prob,
        ModelSpec::BSLMM,
        Priors::default(),
        Fixed::default(),
        sched,
    );
    for c in s.run(&crate::rng::fit_key(61, "cap", 1, 0)) {
        assert!(
            c.store_thin.is_power_of_two() && c.store_thin > 1,
            "thin {}",
            c.store_thin
        );
        let stored = c.draw_ptr.len() - 1;
        assert_eq!(stored, c.n_draws.div_ceil(c.store_thin));
        assert!(
            c.draw_idx.len() * 12 <= 2 * 12 * 1000 * 3,
            "{} entries",
            c.draw_idx.len()
        );
    }
}
