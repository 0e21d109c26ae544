//! MODEL.md §5: no heap allocation inside the sweep. A counting global allocator (this test binary
//! only) counts the allocations of whole chains that differ only in the number of burn-in sweeps:
//! burn-in sweeps record nothing, so any difference is an allocation inside a sweep (including the
//! adaptation every 200 burn-in sweeps and the Albert–Chib draw). One test function, so no other
//! test thread allocates meanwhile.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

#[path = "../benches/common.rs"]
mod common;

use bsbslmm::model::sampler::{Fixed, ModelSpec, Priors, Problem, Sampler, Schedule};

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
    // The benches' synthetic gene: haplotype blocks of 4–40 SNPs and two causal SNPs, so active
    // sets grow and shrink; three annotation columns.
    let g = common::gene(120, 80, 5);
    assert!(
        g.blocks.iter().any(|b| b.len() >= 4),
        "want multi-SNP blocks"
    );
    let k = 3;
    let annot: Vec<f64> = (0..g.red.p * k)
        .map(|i| ((i * 7) % 11) as f64 / 5.0 - 1.0)
        .collect();
    let prob = Problem {
        red: &g.red,
        blocks: &g.blocks,
        annot: &annot,
        k,
        n: g.n,
        n_eff: g.n_eff,
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .expect("thread pool");
    // Start the pool's worker now: its start-up allocations would otherwise land in a count.
    pool.install(|| std::hint::black_box(0));
    for spec in [
        ModelSpec::BSLMM,
        ModelSpec::BLOCK_ONLY,
        ModelSpec::BSBSLMM,
        ModelSpec::BAYESC_ANNOT,
    ] {
        // One chain alone, and four chains in one lockstep group (`Sampler::run` on one thread).
        for chains in [1usize, 4] {
            let count = |burnin: usize, samples: usize| {
                let sched = Schedule {
                    chains,
                    burnin,
                    samples,
                    store_draws: false,
                    ..Schedule::default()
                };
                let s = Sampler::new(&prob, spec, Priors::default(), Fixed::default(), sched);
                let key = bsbslmm::rng::fit_key(1, "alloc", 0, 0);
                let mut rng = bsbslmm::rng::chain_rng(&key, 0);
                let before = ALLOCS.load(Ordering::Relaxed);
                let out = if chains == 1 {
                    vec![s.run_chain(&mut rng)]
                } else {
                    pool.install(|| s.run(&key))
                };
                let after = ALLOCS.load(Ordering::Relaxed);
                assert_eq!(out.len(), chains);
                drop(out);
                after - before
            };
            // (burn-in, kept) pairs that must allocate the same: 800 more burn-in sweeps; 480 more
            // kept sweeps (kept sweeps append to the traces, whose amortized growth reallocates
            // the same number of times for 520 and 1,000 entries).
            for ((b1, k1), (b2, k2), what) in [
                ((400, 50), (1200, 50), "800 more burn-in sweeps"),
                ((400, 520), (400, 1000), "480 more kept sweeps"),
            ] {
                let (a, b) = (count(b1, k1), count(b2, k2));
                assert_eq!(
                    a,
                    b,
                    "{spec:?}, {chains} chains: {what} made {} more allocations",
                    b as i64 - a as i64
                );
            }
        }
    }
}
