//! A synthetic gene for the benchmarks: n samples, p SNPs in LD blocks (haplotype blocks),
//! one causal block, processed exactly as the fit stage does (design, reduction, blocks).

use std::ops::Range;

use bsbslmm::model::ld::{default_tau, ld_band, partition_blocks};
use bsbslmm::model::preprocess::build_design;
use bsbslmm::model::reduce::{reduce, Reduced};
use rand::{RngExt, SeedableRng};

#[allow(dead_code)] // each bench binary uses a different subset
pub struct Gene {
    pub red: Reduced,
    pub blocks: Vec<Range<usize>>,
    pub annot: Vec<f64>,
    pub n: usize,
    pub n_eff: usize,
    /// Raw dosages (column-major n×p) and expression, for whole-gene fits.
    pub dosage: Vec<f32>,
    pub expression: Vec<f64>,
}

pub fn gene(n: usize, p: usize, seed: u64) -> Gene {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(seed);
    // Haplotype blocks: SNPs fall into blocks of 4–40 SNPs; inside a block each haplotype
    // copies one of 4 block haplotypes (with 2% allele noise), blocks are independent. The
    // partition then finds blocks of realistic size, as on the simulated cohort (mean ≈ 15).
    let mut starts = vec![0usize];
    while *starts.last().unwrap() < p {
        let len = rng.random_range(4..=40);
        starts.push((starts.last().unwrap() + len).min(p));
    }
    let n_types = 4;
    let mut g = vec![0f32; n * p];
    for w in starts.windows(2) {
        let (a, b) = (w[0], w[1]);
        // every SNP splits the block haplotypes (no near-monomorphic noise SNPs)
        let mut types = vec![0u8; n_types * (b - a)];
        for j in 0..(b - a) {
            let split = rng.random_range(1..(1u32 << n_types) - 1);
            for t in 0..n_types {
                types[t * (b - a) + j] = ((split >> t) & 1) as u8;
            }
        }
        let weights: Vec<f64> = (0..n_types).map(|_| 0.2 + rng.random::<f64>()).collect();
        let total: f64 = weights.iter().sum();
        for i in 0..n {
            for _hap in 0..2 {
                let mut u = rng.random::<f64>() * total;
                let mut t = 0;
                while t + 1 < n_types && u > weights[t] {
                    u -= weights[t];
                    t += 1;
                }
                for j in a..b {
                    let mut allele = types[t * (b - a) + (j - a)];
                    if rng.random::<f64>() < 0.02 {
                        allele ^= 1;
                    }
                    g[j * n + i] += allele as f32;
                }
            }
        }
    }
    let e: Vec<f64> = (0..n)
        .map(|i| {
            0.4 * g[(p / 2) * n + i] as f64 - 0.3 * g[(p / 2 + 3) * n + i] as f64
                + rng.random::<f64>() * 2.0
                - 1.0
        })
        .collect();
    let train: Vec<usize> = (0..n).collect();
    let d = build_design(&g, n, p, &e, &[], 0, &train).expect("design");
    let band = ld_band(&d.x, d.n, d.p, 20);
    let blocks = partition_blocks(&band, 100, default_tau(d.n));
    let red = reduce(&d.x, d.n, d.p, &d.y).expect("reduce");
    let annot = (0..d.p)
        .map(|j| ((j as f64) - d.p as f64 / 2.0) / d.p as f64 * 3.0)
        .collect();
    Gene {
        red,
        blocks,
        annot,
        n: d.n,
        n_eff: d.n_eff,
        dosage: g,
        expression: e,
    }
}
