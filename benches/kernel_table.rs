//! The kernel bench table (issue: sampler speed). For synthetic genes with n = 370 and
//! p = 2,000 and 5,000 it measures, in one run on one thread:
//! - sweeps per second of BSLMM and bsBSLMM,
//! - the block-score step (X̃_bᵀ r̃ over all blocks: 2·r·p flops per sweep) in GFLOP/s, and as a
//!   fraction of a roofline measured on the same data: faer's (runtime-dispatched SIMD) X̃ᵀ v,
//! - the sweep time against the bound (2·r·p flops / roofline),
//! - one all-samples fit at the default schedule (4 chains × (2,000 + 4,000) sweeps) on one
//!   thread, and the per-gene time = 6 such fits (5 CV folds + the all-samples fit).
//!
//! Run: `cargo bench --bench kernel_table` (prints a markdown table; `-- --quick` skips the
//! default-schedule fits).

mod common;

use std::time::Instant;

use bsbslmm::model::reduce::panel_scores;
use bsbslmm::model::sampler::{Fixed, ModelSpec, Priors, Problem, Sampler, Schedule};

fn time_best<F: FnMut()>(reps: usize, mut f: F) -> f64 {
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..reps {
            f();
        }
        best = best.min(t.elapsed().as_secs_f64() / reps as f64);
    }
    best
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
    println!("| p | r | block-score GFLOP/s | roofline GFLOP/s (faer X̃ᵀv) | score / roofline | bslmm sweeps/s | bsbslmm sweeps/s | bslmm sweep / (2rp/roofline) | bsbslmm sweep / (2rp/roofline) | one fit, default schedule (s) | per gene = 6 fits (s) |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for p in [2000usize, 5000] {
        let g = common::gene(370, p, 7);
        let red = &g.red;
        let r = red.r;
        let flops = 2.0 * r as f64 * p as f64;
        let v: Vec<f64> = red.yt.clone();
        let mut out = vec![0.0; p];
        let reps = (2e8 / flops) as usize + 1;
        let t_score = time_best(reps, || {
            for b in &g.blocks {
                panel_scores(red, b.start, &mut out[b.clone()], &v);
            }
            std::hint::black_box(&out);
        });
        let xm = faer::MatRef::from_column_major_slice(&red.xt, r, p);
        let vc = faer::ColRef::from_slice(&v);
        let t_roof = time_best(reps, || {
            let o = xm.transpose() * vc;
            std::hint::black_box(&o);
        });
        let prob = Problem {
            red,
            blocks: &g.blocks,
            annot: &g.annot,
            k: 1,
            n: g.n,
            n_eff: g.n_eff,
        };
        let sweep_rate = |spec: ModelSpec| {
            let sched = Schedule {
                chains: 1,
                burnin: 100,
                samples: 300,
                ..Schedule::default()
            };
            let s = Sampler::new(&prob, spec, Priors::default(), Fixed::default(), sched);
            let key = bsbslmm::rng::fit_key(1, "bench", 1, 0);
            let t = Instant::now();
            let mut rng = bsbslmm::rng::chain_rng(&key, 0);
            std::hint::black_box(s.run_chain(&mut rng));
            400.0 / t.elapsed().as_secs_f64()
        };
        let bs = pool.install(|| sweep_rate(ModelSpec::BSLMM));
        let bsb = pool.install(|| sweep_rate(ModelSpec::BSBSLMM));
        let roof = flops / t_roof / 1e9;
        let score = flops / t_score / 1e9;
        let bound = flops / (roof * 1e9);
        let (fit_s, gene_s) = if quick {
            ("-".to_string(), "-".to_string())
        } else {
            let s = Sampler::new(
                &prob,
                ModelSpec::BSBSLMM,
                Priors::default(),
                Fixed::default(),
                Schedule::default(),
            );
            let key = bsbslmm::rng::fit_key(1, "bench", 3, 0);
            let t = Instant::now();
            pool.install(|| std::hint::black_box(s.run(&key)));
            let e = t.elapsed().as_secs_f64();
            (format!("{e:.1}"), format!("{:.1}", 6.0 * e))
        };
        println!(
            "| {p} | {r} | {score:.2} | {roof:.2} | {:.0}% | {bs:.0} | {bsb:.0} | {:.2} | {:.2} | {fit_s} | {gene_s} |",
            100.0 * score / roof,
            (1.0 / bs) / bound,
            (1.0 / bsb) / bound,
        );
    }
}
