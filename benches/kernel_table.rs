//! The kernel bench table (issue: sampler speed). For synthetic genes with n = 370 and
//! p = 2,000 and 5,000 it measures, in one run on one thread:
//! - the block-score step (X̃_bᵀ r̃ over all blocks: 2·r·p flops per sweep) in GFLOP/s, and as a
//!   fraction of a roofline measured on the same data: faer's (runtime-dispatched SIMD) X̃ᵀ v;
//! - the same step for four chains in one lockstep group (`panel_scores_multi`: one pass over
//!   each panel for four residuals; 4 × 2rp flops), as a rate and against the roofline;
//! - per model (BSLMM, bsBSLMM): sweeps per second in a steady run (1 chain × (500 + 1,500)
//!   sweeps, and per chain with 4 chains in lockstep as `Sampler::run` runs them), the flops one
//!   sweep executes (the flop model below), and the sweep time against the bound (sweep flops /
//!   roofline) and against the score step alone (2rp / roofline);
//! - the per-gene time at the default schedule on one thread: 6 fits (5 CV folds + the
//!   all-samples fit, each timed as the all-samples fit, so an upper bound), each fit = set-up
//!   (design, rank reduction, block Grams) + 4 chains × (2,000 + 4,000) sweeps, against the bound
//!   6 × 24,000 × sweep flops / roofline (and against 6 × 24,000 × 2rp / roofline, the score
//!   step alone).
//!
//! **Bound** (per sweep): the flops a sweep executes, each kind at its own measured rate.
//! - block scores: 2rp flops at the roofline (faer's X̃ᵀv, memory-bound);
//! - the vectorized passes whose operations can be counted from our source, timed in isolation
//!   on arrays of the same sizes (they are compute-bound, faster per flop than the roofline):
//!   the empty-set scan terms (p × (ln + 4)), the polygenic target ((n_u + 1) × r × (ln + 5)) and,
//!   for bsBSLMM, n_hyper × (linear predictors 2Kp, softplus over p, block sums, the gate's
//!   log P(δ_b = 0) over B blocks).
//!
//! libm calls, the per-SNP scalar work (uniform, logistic, bookkeeping) and the per-block expit
//! pass are not in the bound. The flop count (vmath, from its source: softplus 67, ln 34; a fused
//! multiply-add counts 2) is printed for reference.
//!
//! Run: `cargo bench --bench kernel_table` (prints a markdown table; `-- --quick` skips the
//! default-schedule fits).

mod common;

use std::time::Instant;

use bsbslmm::model::preprocess::build_design;
use bsbslmm::model::reduce::{panel_scores, panel_scores_multi, reduce};
use bsbslmm::model::sampler::{Fixed, ModelSpec, Priors, Problem, Sampler, Schedule};
use bsbslmm::model::vmath;

/// Median over 5 timings of `reps` calls each (seconds per call): sustained, like a fit, rather
/// than the best short burst.
fn time_median<F: FnMut()>(reps: usize, mut f: F) -> f64 {
    let mut t5: Vec<f64> = (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..reps {
                f();
            }
            t.elapsed().as_secs_f64() / reps as f64
        })
        .collect();
    t5.sort_by(f64::total_cmp);
    t5[2]
}

/// Flops of one sweep (the counted passes; see the module docs).
fn sweep_flops(spec: ModelSpec, r: usize, p: usize, k: usize, b: usize) -> f64 {
    let s = Schedule::default();
    let (r, p, k, b) = (r as f64, p as f64, k as f64, b as f64);
    let mut f = 2.0 * r * p + 38.0 * p;
    if spec.polygenic {
        f += (s.n_u as f64 + 1.0) * r * 40.0;
    }
    let per_snp = if spec.annotated {
        p * (2.0 * k + 68.0)
    } else {
        0.0
    };
    let per_block = if spec.gate { b * 71.0 } else { 0.0 };
    f += s.n_hyper as f64 * (per_snp + per_block);
    f
}

/// Seconds per sweep of the counted vectorized passes, run in isolation on arrays of the
/// sweep's sizes (the same `vmath` kernels the sampler calls).
fn passes_time(spec: ModelSpec, r: usize, blocks: &[std::ops::Range<usize>], annot: &[f64]) -> f64 {
    let p = annot.len();
    let sd = Schedule::default();
    let gdiag: Vec<f64> = (0..p).map(|j| 370.0 + (j % 7) as f64 * 1e-9).collect();
    let c: Vec<f64> = (0..r).map(|i| (i % 13) as f64 - 6.0).collect();
    let dvals: Vec<f64> = (0..r).map(|i| 1.0 / (i + 1) as f64).collect();
    let (mut d0, mut h0) = (vec![0.0; p], vec![0.0; p]);
    let (mut lin, mut sp, mut terms) = (vec![0.0; p], vec![0.0; p], vec![0.0; r]);
    let mut sblk = vec![0.0; 2 * blocks.len()];
    let reps = (2e7 / p as f64) as usize + 1;
    let t_empty = time_median(reps, || {
        let (kappa, half) = (std::hint::black_box(0.7), 0.4);
        for ((a, b), &g) in d0.iter_mut().zip(h0.iter_mut()).zip(&gdiag) {
            let s = g + kappa;
            *a = -0.5 * vmath::ln(s * (1.0 / kappa));
            *b = half / s;
        }
        std::hint::black_box((&d0, &h0));
    });
    let t_poly = time_median(reps, || {
        let (se2, su) = (std::hint::black_box(0.8), 0.05);
        for ((t, ei), di) in terms.iter_mut().zip(&c).zip(&dvals) {
            let v = se2 + su * di;
            *t = vmath::ln(v) + ei * ei / v;
        }
        std::hint::black_box(vmath::sum8(&terms));
    });
    let t_prior = time_median(reps, || {
        let w = std::hint::black_box([-3.0, 0.3]);
        for (l, a) in lin.iter_mut().zip(annot) {
            *l = w[0] + w[1] * a;
        }
        vmath::softplus_into(&lin, &mut sp);
        let nb = blocks.len();
        let (sums, empty) = sblk.split_at_mut(nb);
        for (sb, rg) in sums.iter_mut().zip(blocks) {
            *sb = sp[rg.clone()].iter().sum();
        }
        let (log_pi_b, a): (f64, f64) = (-1.2, -0.35);
        for (e, &s) in empty.iter_mut().zip(sums.iter()) {
            let t = log_pi_b - s;
            *e = a.max(t) + vmath::softplus(-(a - t).abs());
        }
        std::hint::black_box(&sblk);
    });
    let mut t = t_empty;
    if spec.polygenic {
        t += (sd.n_u as f64 + 1.0) * t_poly;
    }
    if spec.annotated && spec.gate {
        t += sd.n_hyper as f64 * t_prior;
    }
    t
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    faer::set_global_parallelism(faer::Par::Seq);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let isa = if cfg!(all(target_feature = "avx2", target_feature = "fma")) {
        "AVX2 + FMA (x86-64-v3)"
    } else {
        "baseline ISA, no AVX2/FMA"
    };
    println!("Kernel bench: {cpu}, 1 thread, built for {isa}\n");
    println!("| p | r | blocks | block-score GFLOP/s | roofline GFLOP/s (faer X̃ᵀv) | score / roofline | block-score GFLOP/s, 4 chains in lockstep | lockstep score / roofline | model | sweeps/s (1 chain) | sweeps/s per chain (4 in lockstep) | flops / sweep | bound / sweep (µs) | sweep / bound (1 chain) | sweep / bound (lockstep) | sweep / (2rp/roofline) (1 chain) | set-up per fit (s) | per gene = 6 fits (s) | per gene / bound | per gene / 2rp bound |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for p in [2000usize, 5000] {
        let g = common::gene(370, p, 7);
        let red = &g.red;
        let r = red.r;
        let nb = g.blocks.len();
        let score_flops = 2.0 * r as f64 * p as f64;
        let v: Vec<f64> = red.yt.clone();
        let reps = (4e9 / score_flops) as usize + 1; // ~0.2 s per timing
        let xm = faer::MatRef::from_column_major_slice(&red.xt, r, p);
        let vc = faer::ColRef::from_slice(&v);
        // The machine's speed drifts (a shared VM), so every row measures its own roofline and
        // score step right before its sweeps and again after its fit, and uses the mean.
        // Four different residuals, as four chains in one lockstep group have.
        let vs: Vec<Vec<f64>> = (0..4)
            .map(|k| {
                v.iter()
                    .enumerate()
                    .map(|(i, x)| x + ((i * (k + 3)) % 7) as f64 * 1e-3)
                    .collect()
            })
            .collect();
        let measure = || {
            let mut out = vec![0.0; p];
            let t_score = time_median(reps, || {
                for b in &g.blocks {
                    panel_scores(red, b.start, &mut out[b.clone()], &v);
                }
                std::hint::black_box(&out);
            });
            let mut o4 = vec![vec![0.0; p]; 4];
            let t_lock = time_median(reps.div_ceil(4), || {
                for b in &g.blocks {
                    let [a0, a1, a2, a3] = &mut o4[..] else {
                        unreachable!()
                    };
                    panel_scores_multi(
                        red,
                        b.start,
                        [
                            &mut a0[b.clone()],
                            &mut a1[b.clone()],
                            &mut a2[b.clone()],
                            &mut a3[b.clone()],
                        ],
                        [&vs[0], &vs[1], &vs[2], &vs[3]],
                    );
                }
                std::hint::black_box(&o4);
            });
            let t_roof = time_median(reps, || {
                let o = xm.transpose() * vc;
                std::hint::black_box(&o);
            });
            (
                score_flops / t_score,
                4.0 * score_flops / t_lock,
                score_flops / t_roof,
            )
        };
        for (name, spec) in [("bslmm", ModelSpec::BSLMM), ("bsbslmm", ModelSpec::BSBSLMM)] {
            let prob = Problem {
                red,
                blocks: &g.blocks,
                annot: &g.annot,
                k: 1,
                n: g.n,
                n_eff: g.n_eff,
            };
            let flops = sweep_flops(spec, r, p, 1, nb);
            let t_passes = passes_time(spec, r, &g.blocks, &g.annot);
            let sched = Schedule {
                chains: 1,
                burnin: 500,
                samples: 1500,
                ..Schedule::default()
            };
            let (score0, lock0, roof0) = measure();
            // Median of three identical runs of one chain (2,000 sweeps).
            let rate = pool.install(|| {
                let s = Sampler::new(&prob, spec, Priors::default(), Fixed::default(), sched);
                let key = bsbslmm::rng::fit_key(1, "bench", 1, 0);
                (0..3)
                    .map(|_| {
                        let t = Instant::now();
                        let mut rng = bsbslmm::rng::chain_rng(&key, 0);
                        std::hint::black_box(s.run_chain(&mut rng));
                        2000.0 / t.elapsed().as_secs_f64()
                    })
                    .collect::<Vec<f64>>()
            });
            let rate = {
                let mut v = rate;
                v.sort_by(f64::total_cmp);
                v[1]
            };
            // The same sweeps with four chains in one lockstep group (`Sampler::run` on one
            // thread): chain-sweeps per second, median of three runs.
            let rate4 = pool.install(|| {
                let s = Sampler::new(
                    &prob,
                    spec,
                    Priors::default(),
                    Fixed::default(),
                    Schedule { chains: 4, ..sched },
                );
                let key = bsbslmm::rng::fit_key(1, "bench", 1, 0);
                let mut v: Vec<f64> = (0..3)
                    .map(|_| {
                        let t = Instant::now();
                        std::hint::black_box(s.run(&key));
                        4.0 * 2000.0 / t.elapsed().as_secs_f64()
                    })
                    .collect();
                v.sort_by(f64::total_cmp);
                v[1]
            });
            let fit_time = if quick {
                None
            } else {
                // One whole fit as the fit stage runs it: design → reduction → Grams → chains.
                let (setup, total) = pool.install(|| {
                    let t = Instant::now();
                    let train: Vec<usize> = (0..g.n).collect();
                    let d = build_design(&g.dosage, g.n, p, &g.expression, &[], 0, &train)
                        .expect("design");
                    let red2 = reduce(&d.x, d.n, d.p, &d.y).expect("reduce");
                    let prob2 = Problem {
                        red: &red2,
                        blocks: &g.blocks,
                        annot: &g.annot,
                        k: 1,
                        n: d.n,
                        n_eff: d.n_eff,
                    };
                    let s = Sampler::new(
                        &prob2,
                        spec,
                        Priors::default(),
                        Fixed::default(),
                        Schedule::default(),
                    );
                    let setup = t.elapsed().as_secs_f64();
                    let key = bsbslmm::rng::fit_key(1, "bench", 3, 0);
                    std::hint::black_box(s.run(&key));
                    (setup, t.elapsed().as_secs_f64())
                });
                Some((setup, total))
            };
            let (score1, lock1, roof1) = measure();
            let (score, lock, roof) = (
                0.5 * (score0 + score1),
                0.5 * (lock0 + lock1),
                0.5 * (roof0 + roof1),
            );
            let (setup_s, gene_s, gene_ratio, gene_ratio_2rp) = match fit_time {
                None => {
                    let dash = || "-".to_string();
                    (dash(), dash(), dash(), dash())
                }
                Some((setup, total)) => {
                    let sd = Schedule::default();
                    let sweeps = (sd.chains * (sd.burnin + sd.samples)) as f64;
                    let bound = 6.0 * sweeps * (score_flops / roof + t_passes);
                    let bound_2rp = 6.0 * sweeps * score_flops / roof;
                    (
                        format!("{setup:.2}"),
                        format!("{:.1}", 6.0 * total),
                        format!("**{:.2}**", 6.0 * total / bound),
                        format!("{:.2}", 6.0 * total / bound_2rp),
                    )
                }
            };
            let bound_sweep = score_flops / roof + t_passes;
            println!(
                "| {p} | {r} | {nb} | {:.2} | {:.2} | {:.0}% | {:.2} | {:.0}% | {name} | {rate:.0} | {rate4:.0} | {:.2}e6 | {:.1} | **{:.2}** | **{:.2}** | {:.2} | {setup_s} | {gene_s} | {gene_ratio} | {gene_ratio_2rp} |",
                score / 1e9,
                roof / 1e9,
                100.0 * score / roof,
                lock / 1e9,
                100.0 * lock / roof,
                flops / 1e6,
                bound_sweep * 1e6,
                (1.0 / rate) / bound_sweep,
                (1.0 / rate4) / bound_sweep,
                (1.0 / rate) / (score_flops / roof),
            );
        }
    }
}
