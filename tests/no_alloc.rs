//! MODEL.md §5: no heap allocation inside the sweep. A counting global allocator (this test binary
//! only) counts the allocations of whole chains that differ only in the number of burn-in sweeps:
//! burn-in sweeps record nothing, so any difference is an allocation inside a sweep (including the
//! adaptation every 200 burn-in sweeps and the Albert–Chib draw). One test function, so no other
//! test thread allocates meanwhile.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use bsbslmm::model::ld::{default_tau, ld_band, partition_blocks};
use bsbslmm::model::preprocess::build_design;
use bsbslmm::model::reduce::reduce;
use bsbslmm::model::sampler::{Fixed, ModelSpec, Priors, Problem, Sampler, Schedule};
use rand::{RngExt, SeedableRng};

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn sweeps_do_not_allocate() {
    // A gene with LD blocks and a strong signal, so active sets grow and shrink.
    let (n, p) = (120usize, 60usize);
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
    let mut g = vec![0f32; n * p];
    for i in 0..n {
        let mut a = 0.0f32;
        for j in 0..p {
            if j % 6 == 0 || rng.random::<f64>() < 0.3 {
                a = (rng.random::<f64>() * 3.0).floor() as f32;
            }
            g[j * n + i] = a;
        }
    }
    let e: Vec<f64> = (0..n)
        .map(|i| g[10 * n + i] as f64 - 0.8 * g[40 * n + i] as f64 + rng.random::<f64>())
        .collect();
    let train: Vec<usize> = (0..n).collect();
    let d = build_design(&g, n, p, &e, &[], 0, &train).unwrap();
    let band = ld_band(&d.x, d.n, d.p, 20);
    let blocks = partition_blocks(&band, 100, default_tau(d.n));
    assert!(blocks.iter().any(|b| b.len() >= 4), "want multi-SNP blocks");
    let red = reduce(&d.x, d.n, d.p, &d.y).unwrap();
    let k = 3;
    let annot: Vec<f64> = (0..d.p * k)
        .map(|i| ((i * 7) % 11) as f64 / 5.0 - 1.0)
        .collect();
    let prob = Problem {
        red: &red,
        blocks: &blocks,
        annot: &annot,
        k,
        n: d.n,
        n_eff: d.n_eff,
    };
    for spec in [
        ModelSpec::BSLMM,
        ModelSpec::BLOCK_ONLY,
        ModelSpec::BSBSLMM,
        ModelSpec::BAYESC_ANNOT,
    ] {
        let count = |burnin: usize| {
            let sched = Schedule {
                chains: 1,
                burnin,
                samples: 50,
                store_draws: false,
                ..Schedule::default()
            };
            let s = Sampler::new(&prob, spec, Priors::default(), Fixed::default(), sched);
            let key = bsbslmm::rng::fit_key(1, "alloc", 0, 0);
            let mut rng = bsbslmm::rng::chain_rng(&key, 0);
            let before = ALLOCS.load(Ordering::Relaxed);
            let out = s.run_chain(&mut rng);
            let after = ALLOCS.load(Ordering::Relaxed);
            drop(out);
            after - before
        };
        let short = count(400);
        let long = count(1200);
        assert_eq!(
            short,
            long,
            "{spec:?}: 800 more burn-in sweeps made {} more allocations",
            long as i64 - short as i64
        );
    }
}
