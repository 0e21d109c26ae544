//! The kernel bench table (issue: sampler speed). For synthetic genes with n = 370 and
//! p = 2,000 and 5,000 it measures, in one run on one thread:
//! - the block-score step (X̃_bᵀ r̃ over all blocks: 2·r·p flops per sweep) in GFLOP/s, and as a
//!   fraction of a roofline measured on the same data: faer's (runtime-dispatched SIMD) X̃ᵀ v;
//! - per model (BSLMM, bsBSLMM): sweeps per second in a steady run (1 chain × (500 + 1,500)
//!   sweeps), the flops one sweep executes (the flop model below), and the sweep time against
//!   the bound (sweep flops / roofline) and against the score step alone (2rp / roofline);
//! - the per-gene time at the default schedule on one thread: 6 fits (5 CV folds + the
//!   all-samples fit, each timed as the all-samples fit, so an upper bound), each fit = set-up
//!   (design, rank reduction, block Grams) + 4 chains × (2,000 + 4,000) sweeps, against the bound
//!   6 × 24,000 × sweep flops / roofline (and against 6 × 24,000 × 2rp / roofline, the score
//!   step alone).
//!
//! **Flop model** (per sweep; only vectorized passes whose operations can be counted from our
//! source; libm calls, the per-SNP scalar work and the per-block expit pass count as 0, so the
//! bound is low and the ratio conservative). Operation counts of `model::vmath`, from its source:
//! softplus 67 (exp_nonpos 35: 13 fused multiply-adds = 26 + 9; ln(1+t) 30: 2·atanh series
//! 25 + 5; + 2), ln 34 (2·atanh 25 + 9); a fused multiply-add counts 2.
//! - block scores: 2rp;
//! - empty-set scan terms: p × (ln 34 + 4) = 38p;
//! - polygenic target: (n_u + 1) × r × (ln 34 + 5) = 156r;
//! - logistic prior (bsBSLMM): n_hyper × [p × (2K + 67 + 1) + B × (67 + 4)] (linear
//!   predictors, softplus, block sums; the gate's log P(δ_b = 0) per block).
//!
//! Run: `cargo bench --bench kernel_table` (prints a markdown table; `-- --quick` skips the
//! default-schedule fits).

mod common;

use std::time::Instant;

use bsbslmm::model::preprocess::build_design;
use bsbslmm::model::reduce::{panel_scores, reduce};
use bsbslmm::model::sampler::{Fixed, ModelSpec, Priors, Problem, Sampler, Schedule};

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

/// Flops of one sweep under the flop model in the module docs.
fn sweep_flops(spec: ModelSpec, r: usize, p: usize, k: usize, b: usize) -> f64 {
    let s = Schedule::default();
    let (r, p, k, b) = (r as f64, p as f64, k as f64, b as f64);
    let mut f = 2.0 * r * p + 38.0 * p;
    if spec.polygenic {
        f += (s.n_u as f64 + 1.0) * r * 39.0;
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
    println!("Kernel bench: {cpu}, 1 thread, target-cpu x86-64-v3\n");
    println!("| p | r | blocks | block-score GFLOP/s | roofline GFLOP/s (faer X̃ᵀv) | score / roofline | model | sweeps/s | flops / sweep | sweep / (flops/roofline) | sweep / (2rp/roofline) | set-up per fit (s) | per gene = 6 fits (s) | per gene / bound | per gene / 2rp bound |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
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
        let measure = || {
            let mut out = vec![0.0; p];
            let t_score = time_median(reps, || {
                for b in &g.blocks {
                    panel_scores(red, b.start, &mut out[b.clone()], &v);
                }
                std::hint::black_box(&out);
            });
            let t_roof = time_median(reps, || {
                let o = xm.transpose() * vc;
                std::hint::black_box(&o);
            });
            (score_flops / t_score, score_flops / t_roof)
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
            let sched = Schedule {
                chains: 1,
                burnin: 500,
                samples: 1500,
                ..Schedule::default()
            };
            let (score0, roof0) = measure();
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
            let (score1, roof1) = measure();
            let (score, roof) = (0.5 * (score0 + score1), 0.5 * (roof0 + roof1));
            let (setup_s, gene_s, gene_ratio, gene_ratio_2rp) = match fit_time {
                None => {
                    let dash = || "-".to_string();
                    (dash(), dash(), dash(), dash())
                }
                Some((setup, total)) => {
                    let sd = Schedule::default();
                    let sweeps = (sd.chains * (sd.burnin + sd.samples)) as f64;
                    let bound = 6.0 * sweeps * flops / roof;
                    let bound_2rp = 6.0 * sweeps * score_flops / roof;
                    (
                        format!("{setup:.2}"),
                        format!("{:.1}", 6.0 * total),
                        format!("**{:.2}**", 6.0 * total / bound),
                        format!("{:.2}", 6.0 * total / bound_2rp),
                    )
                }
            };
            println!(
                "| {p} | {r} | {nb} | {:.2} | {:.2} | {:.0}% | {name} | {rate:.0} | {:.2}e6 | **{:.2}** | {:.2} | {setup_s} | {gene_s} | {gene_ratio} | {gene_ratio_2rp} |",
                score / 1e9,
                roof / 1e9,
                100.0 * score / roof,
                flops / 1e6,
                (1.0 / rate) / (flops / roof),
                (1.0 / rate) / (score_flops / roof),
            );
        }
    }
}
