//! Criterion benchmarks of the sampler core: sweeps of each model on a synthetic gene
//! (n = 370, p = 2,000), the block-score step alone, and one whole fit at a short schedule.

mod common;

use criterion::{criterion_group, criterion_main, Criterion};

use bsbslmm::model::reduce::panel_scores;
use bsbslmm::model::sampler::{Fixed, ModelSpec, Priors, Problem, Sampler, Schedule};

fn sweeps(c: &mut Criterion) {
    let g = common::gene(370, 2000, 1);
    let prob = Problem {
        red: &g.red,
        blocks: &g.blocks,
        annot: &g.annot,
        k: 1,
        n: g.n,
        n_eff: g.n_eff,
    };
    let mut group = c.benchmark_group("sweep_p2000");
    group.sample_size(10);
    for (name, spec) in [
        ("bslmm", ModelSpec::BSLMM),
        ("block_only", ModelSpec::BLOCK_ONLY),
        ("bsbslmm", ModelSpec::BSBSLMM),
        ("bayesc_annot", ModelSpec::BAYESC_ANNOT),
    ] {
        let sched = Schedule {
            chains: 1,
            burnin: 0,
            samples: 50,
            ..Schedule::default()
        };
        let s = Sampler::new(&prob, spec, Priors::default(), Fixed::default(), sched);
        let key = bsbslmm::rng::fit_key(1, "bench", 1, 0);
        group.bench_function(format!("{name}_50_sweeps"), |b| {
            b.iter(|| {
                let mut rng = bsbslmm::rng::chain_rng(&key, 0);
                s.run_chain(&mut rng)
            })
        });
    }
    let r: Vec<f64> = g.red.yt.clone();
    let mut out = vec![0.0; g.red.p];
    group.bench_function("block_scores_all_blocks", |b| {
        b.iter(|| {
            for blk in &g.blocks {
                panel_scores(&g.red, blk.start, &mut out[blk.clone()], &r);
            }
            out[0]
        })
    });
    group.finish();
}

fn whole_gene(c: &mut Criterion) {
    use bsbslmm::model::fit::{fit_gene, GeneData, MethodModel, MethodSettings};
    let g = common::gene(370, 2000, 2);
    let n = g.n;
    let ids: Vec<String> = (0..n).map(|i| format!("S{i:04}")).collect();
    let folds = bsbslmm::rng::assign_folds(1, &ids, 5);
    let data = GeneData {
        gene_id: "bench",
        n_all: n,
        p: g.red.p,
        dosage: &g.dosage,
        expression: &g.expression,
        cov: &[],
        q0: 0,
        folds: &folds,
        n_folds: 5,
        blocks: &g.blocks,
        annot: &g.annot,
        k: 1,
        sample_ids: &ids,
    };
    let settings = MethodSettings {
        model: MethodModel::Sampler(ModelSpec::BSBSLMM),
        schedule: Schedule {
            chains: 2,
            burnin: 100,
            samples: 200,
            ..Schedule::default()
        },
        priors: Priors::default(),
        seed: 1,
        inner_folds: 10,
        single_precision: false,
    };
    let mut group = c.benchmark_group("whole_gene_p2000");
    group.sample_size(10);
    group.bench_function("bsbslmm_5fold_plus_full_2x300_sweeps", |b| {
        b.iter(|| fit_gene(&data, &settings).unwrap())
    });
    group.finish();
}

criterion_group!(benches, sweeps, whole_gene);
criterion_main!(benches);
