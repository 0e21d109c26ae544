//! The `simulate` stage: writes a synthetic cis-eQTL cohort in the real input formats (bgzipped,
//! tabix-indexed VCFs, a BED-style expression matrix, GTF genes, narrowPeak DNase peaks, variant
//! annotations, GTEx-style covariates, GWAS summary statistics) plus the planted truth, so that the
//! pipeline runs end to end with nothing downloaded. Genotypes come from haplotype copying of a
//! founder panel with coalescent-like local genealogies, so LD comes in hotspot-delimited blocks and
//! the allele-frequency spectrum is neutral-like. Every random stream is derived from the seed and a
//! component name with BLAKE3, so the same options give byte-identical files. Every file is written
//! under a temporary name in its directory and renamed when complete. This module owns the
//! generative model and the layout of `OUT/`; it reads nothing.

use std::fmt::Write as _;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha20Rng;
use rand_distr::{Exp1, StandardNormal};

use crate::io::vcf_write::{self, Genotype, VcfHeaderSpec, VcfSite, VcfWriteError, VcfWriter};
use crate::stats::normal;

/// Sample-level structure of the expression noise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoiseModel {
    /// Independent noise across samples (`noise_fraction` is ignored).
    Identity,
    /// A share of the noise has a dense random correlation across samples: the correlation of a
    /// Wishart(n, I) draw, shared by all genes.
    Random,
    /// A share of the noise follows `rank` hidden sample factors shared by all genes
    /// (PEER-like hidden confounders).
    LowRank {
        /// Number of hidden factors.
        rank: usize,
    },
}

/// Options of the `simulate` stage.
#[derive(Debug, Clone)]
pub struct SimulateOptions {
    /// Output directory (created if missing).
    pub out: PathBuf,
    /// Master seed.
    pub seed: u64,
    /// Number of chromosomes (`chr1`..).
    pub chroms: usize,
    /// Genes per chromosome.
    pub genes_per_chrom: usize,
    /// Genotyped samples (about 97% also have expression).
    pub samples: usize,
    /// Individuals in the simulated GWAS.
    pub gwas_samples: usize,
    /// Structure of the expression noise.
    pub noise: NoiseModel,
    /// Fraction of the noise variance that is structured (ignored for [`NoiseModel::Identity`]).
    pub noise_fraction: f64,
}

impl Default for SimulateOptions {
    fn default() -> Self {
        Self {
            out: PathBuf::from("data/sim"),
            seed: 1,
            chroms: 2,
            genes_per_chrom: 40,
            samples: 400,
            gwas_samples: 5000,
            noise: NoiseModel::Identity,
            noise_fraction: 0.0,
        }
    }
}

/// What a simulation wrote.
#[derive(Debug, Clone)]
pub struct SimulateSummary {
    /// Every file written, in write order.
    pub files: Vec<PathBuf>,
    /// VCF records per chromosome.
    pub n_sites: Vec<usize>,
    /// Genes in total.
    pub n_genes: usize,
    /// Causal SNPs in total (sum over genes).
    pub n_causal: usize,
    /// Samples with expression (and covariates).
    pub n_expression_samples: usize,
    /// Rows in the GWAS summary statistics.
    pub n_gwas_rows: usize,
}

/// Errors of the `simulate` stage.
#[derive(Debug, thiserror::Error)]
pub enum SimulateError {
    /// An option is out of range.
    #[error("invalid simulate option `{field}`: expected {expected}")]
    Options {
        /// The option name.
        field: &'static str,
        /// The accepted range.
        expected: String,
    },
    /// Writing a file failed.
    #[error("cannot write {path}: {source}")]
    Io {
        /// The file or directory concerned.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Writing a VCF failed.
    #[error(transparent)]
    Vcf(#[from] VcfWriteError),
}

const FLANK_BP: u64 = 200_000;
const GENE_GAP_BP: (u64, u64) = (90_000, 150_000);
const MAX_GENE_LEN: f64 = 80_000.0;
const CIS_BP: u64 = 100_000;
const SNP_MEAN_GAP_BP: f64 = 250.0;
const HOTSPOT_GAP_BP: (u64, u64) = (20_000, 80_000);
const FOUNDERS: (usize, usize) = (60, 100);
const PRIVATE_SITE_RATE: f64 = 0.10;
const COPY_ERROR: f64 = 5e-4;
const PRIVATE_ERROR: f64 = 2e-3;
const BACKGROUND_SWITCH_PER_BP: f64 = 1e-6;
const MULTIALLELIC_RATE: f64 = 0.005;
const REF_MAJOR_RATE: f64 = 0.15;
const MISSING_RATE: f64 = 0.002;
const NO_RNA_RATE: f64 = 0.03;
const CAUSAL_COUNT_PROBS: [f64; 6] = [0.2, 0.3, 0.2, 0.15, 0.1, 0.05];
const CAUSAL_MIN_MAF: f64 = 0.02;
const CAUSAL_DISTANCE_SCALE_BP: f64 = 20_000.0;
const PEAK_ENRICHMENT: f64 = 5.0;
const SECOND_BLOCK_PROB: f64 = 0.4;
const H2_SPARSE: (f64, f64) = (0.02, 0.4);
const H2_POLY: (f64, f64) = (0.01, 0.03);
const H2_COV: (f64, f64) = (0.02, 0.15);
const COVARIATES: [&str; 6] = ["PC1", "PC2", "PC3", "sex", "PEER1", "PEER2"];
const COVARIATE_EFFECT_SD: [f64; 6] = [0.6, 0.4, 0.0, 0.5, 1.0, 0.7];
const TRAIT_GENES_PER_CHROM: usize = 2;
const TRAIT_VAR: (f64, f64) = (0.01, 0.02);
/// Trait genes are drawn among genes whose causal eQTLs all lie this close to the TSS (the demo's
/// cis window): a gene whose eQTLs lie outside every model's window mediates nothing any cis
/// model can see, so planting it would test the window, not the methods.
const TRAIT_EQTL_MAX_DISTANCE_BP: u64 = 50_000;
/// ... and whose sparse expression heritability is at least this.
const TRAIT_MIN_H2_SPARSE: f64 = 0.05;
const SWAP_RATE: f64 = 0.10;
const BASES: [u8; 4] = *b"ACGT";

/// A ChaCha20 stream for one named component: `derive_key("bsbslmm simulate v1 <component>", seed_le)`.
fn stream(seed: u64, component: &str) -> ChaCha20Rng {
    let context = format!("bsbslmm simulate v1 {component}");
    ChaCha20Rng::from_seed(blake3::derive_key(&context, &seed.to_le_bytes()))
}

fn gauss(rng: &mut ChaCha20Rng) -> f64 {
    rng.sample(StandardNormal)
}

fn uniform(rng: &mut ChaCha20Rng, (lo, hi): (f64, f64)) -> f64 {
    lo + (hi - lo) * rng.random::<f64>()
}

fn poisson(rng: &mut ChaCha20Rng, mean: f64) -> usize {
    if mean > 30.0 {
        return (mean + mean.sqrt() * gauss(rng)).round().max(0.0) as usize;
    }
    let limit = (-mean).exp();
    let mut k = 0;
    let mut p = rng.random::<f64>();
    while p > limit {
        k += 1;
        p *= rng.random::<f64>();
    }
    k
}

/// Index drawn with probability proportional to `weights` (which must have a positive sum).
fn weighted_index(rng: &mut ChaCha20Rng, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut u = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return i;
        }
        u -= w;
    }
    weights.iter().rposition(|w| *w > 0.0).unwrap_or(0)
}

fn mean_var(x: &[f64]) -> (f64, f64) {
    let n = x.len() as f64;
    let m = x.iter().sum::<f64>() / n;
    let v = x.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / n;
    (m, v)
}

/// Centres `x` and rescales it (and the effects that produced it) to sample variance `target`.
fn scale_to(x: &mut [f64], effects: &mut [f64], target: f64) -> bool {
    let (m, v) = mean_var(x);
    if v <= 1e-12 {
        x.iter_mut().for_each(|v| *v = 0.0);
        effects.iter_mut().for_each(|e| *e = 0.0);
        return false;
    }
    let c = (target / v).sqrt();
    x.iter_mut().for_each(|v| *v = (*v - m) * c);
    effects.iter_mut().for_each(|e| *e *= c);
    true
}

struct Site {
    pos: u64,
    block: u32,
    ref_base: u8,
    alt1: u8,
    alt2: Option<u8>,
    /// Founders carrying ALT1 (bit f = founder f).
    set1: u128,
    /// Founders carrying ALT2 (multi-allelic sites only).
    set2: u128,
    error_rate: f64,
    in_peak: bool,
}

impl Site {
    fn id(&self, chrom: &str) -> String {
        let mut id = format!(
            "{chrom}_{}_{}_{}",
            self.pos, self.ref_base as char, self.alt1 as char
        );
        if let Some(a2) = self.alt2 {
            id.push('_');
            id.push(a2 as char);
        }
        id
    }
}

struct Gene {
    id: String,
    name: String,
    tss: u64,
    plus: bool,
    start: u64,
    end: u64,
    exons: Vec<(u64, u64)>,
}

struct Peak {
    start0: u64,
    end: u64,
    signal: f64,
}

struct Chrom {
    number: usize,
    name: String,
    length: u64,
    n_founders: usize,
    /// First site index of each block.
    block_first_site: Vec<usize>,
    /// Probability that a haplotype switches founder at the hotspot opening each block.
    hotspot_switch: Vec<f64>,
    block_len_bp: Vec<u64>,
    sites: Vec<Site>,
    genes: Vec<Gene>,
    peaks: Vec<Peak>,
}

/// Branches of a Kingman coalescent tree over `n` founders: (leaf set, branch length), root excluded.
fn coalescent_branches(rng: &mut ChaCha20Rng, n: usize) -> Vec<(u128, f64)> {
    let mut active: Vec<(u128, f64)> = (0..n).map(|i| (1u128 << i, 0.0)).collect();
    let mut branches = Vec::with_capacity(2 * n);
    let mut t = 0.0;
    while active.len() > 1 {
        let k = active.len() as f64;
        let e: f64 = rng.sample(Exp1);
        t += e / (k * (k - 1.0) / 2.0);
        let i = rng.random_range(0..active.len());
        let a = active.swap_remove(i);
        let j = rng.random_range(0..active.len());
        let b = active.swap_remove(j);
        branches.push((a.0, t - a.1));
        branches.push((b.0, t - b.1));
        active.push((a.0 | b.0, t));
    }
    branches
}

fn build_chrom(seed: u64, number: usize, n_genes: usize) -> Chrom {
    let name = format!("chr{number}");
    let mut rng = stream(seed, &format!("layout {name}"));

    let mut tss = Vec::with_capacity(n_genes);
    let mut pos = FLANK_BP;
    for g in 0..n_genes {
        if g > 0 {
            pos += rng.random_range(GENE_GAP_BP.0..=GENE_GAP_BP.1);
        }
        tss.push(pos);
    }
    let length = pos + FLANK_BP;

    let mut genes = Vec::with_capacity(n_genes);
    for (g, &t) in tss.iter().enumerate() {
        let plus = rng.random_bool(0.5);
        let len = (20_000f64.ln() + 0.8 * gauss(&mut rng))
            .exp()
            .clamp(2_000.0, MAX_GENE_LEN) as u64;
        let (start, end) = if plus {
            (t, t + len - 1)
        } else {
            (t + 1 - len, t)
        };
        let n_exons = rng.random_range(2..=8usize);
        let mut cuts: Vec<u64> = (0..n_exons - 2)
            .map(|_| rng.random_range(start + 500..end.saturating_sub(500).max(start + 501)))
            .collect();
        cuts.sort_unstable();
        let mut exons = vec![(start, start + rng.random_range(100..400u64).min(len - 1))];
        for c in cuts {
            if c > exons.last().map_or(start, |e| e.1) + 50 {
                exons.push((c, (c + rng.random_range(60..300u64)).min(end)));
            }
        }
        let last_start = end
            .saturating_sub(rng.random_range(200..1500u64))
            .max(start);
        if last_start > exons.last().map_or(start, |e| e.1) {
            exons.push((last_start, end));
        } else if let Some(e) = exons.last_mut() {
            e.1 = end;
        }
        genes.push(Gene {
            id: format!("ENSG9{number:02}{:08}.1", g + 1),
            name: format!("SIM{number}G{:03}", g + 1),
            tss: t,
            plus,
            start,
            end,
            exons,
        });
    }

    let mut hotspots = Vec::new();
    let mut h = rng.random_range(0..HOTSPOT_GAP_BP.1);
    while h < length {
        hotspots.push(h);
        h += rng.random_range(HOTSPOT_GAP_BP.0..=HOTSPOT_GAP_BP.1);
    }

    let peaks = build_peaks(seed, &name, length, &genes);

    let mut site_rng = stream(seed, &format!("sites {name}"));
    let n_founders = site_rng.random_range(FOUNDERS.0..=FOUNDERS.1);
    let founder_mask = if n_founders == 128 {
        u128::MAX
    } else {
        (1u128 << n_founders) - 1
    };
    let mut sites: Vec<Site> = Vec::new();
    let mut block_first_site = Vec::new();
    let mut hotspot_switch = Vec::new();
    let mut block_len_bp = Vec::new();
    let mut block = 0usize;
    let mut branches = coalescent_branches(&mut site_rng, n_founders);
    let mut weights: Vec<f64> = branches.iter().map(|b| b.1).collect();
    block_first_site.push(0);
    hotspot_switch.push(1.0);
    let mut block_start_bp = 1u64;
    let mut peak_i = 0usize;
    let mut pos = 0u64;
    loop {
        let gap: f64 = site_rng.sample(Exp1);
        pos += 1 + (gap * (SNP_MEAN_GAP_BP - 1.0)) as u64;
        if pos >= length {
            break;
        }
        while block + 1 < hotspots.len() && hotspots[block + 1] <= pos {
            block += 1;
            block_len_bp.push(hotspots[block] - block_start_bp);
            block_start_bp = hotspots[block];
            block_first_site.push(sites.len());
            hotspot_switch.push(uniform(&mut site_rng, (0.15, 0.85)));
            branches = coalescent_branches(&mut site_rng, n_founders);
            weights = branches.iter().map(|b| b.1).collect();
        }
        let ref_i = site_rng.random_range(0..4usize);
        let alt_i = (ref_i + site_rng.random_range(1..4usize)) % 4;
        let (set1, error_rate) = if site_rng.random_bool(PRIVATE_SITE_RATE) {
            (0u128, PRIVATE_ERROR)
        } else {
            let b = branches[weighted_index(&mut site_rng, &weights)].0;
            let b = if site_rng.random_bool(REF_MAJOR_RATE) {
                !b & founder_mask
            } else {
                b
            };
            (b, COPY_ERROR)
        };
        let mut alt2 = None;
        let mut set2 = 0u128;
        if set1 != 0 && site_rng.random_bool(MULTIALLELIC_RATE) {
            for _ in 0..30 {
                let b = branches[weighted_index(&mut site_rng, &weights)].0;
                if b & set1 == 0 {
                    set2 = b;
                    let k = (0..4)
                        .find(|k| *k != ref_i && *k != alt_i)
                        .unwrap_or((ref_i + 2) % 4);
                    alt2 = Some(BASES[k]);
                    break;
                }
            }
        }
        while peak_i < peaks.len() && peaks[peak_i].end < pos {
            peak_i += 1;
        }
        let in_peak = peak_i < peaks.len() && peaks[peak_i].start0 < pos;
        sites.push(Site {
            pos,
            block: block as u32,
            ref_base: BASES[ref_i],
            alt1: BASES[alt_i],
            alt2,
            set1,
            set2,
            error_rate,
            in_peak,
        });
    }
    block_len_bp.push(length - block_start_bp);

    Chrom {
        number,
        name,
        length,
        n_founders,
        block_first_site,
        hotspot_switch,
        block_len_bp,
        sites,
        genes,
        peaks,
    }
}

fn build_peaks(seed: u64, chrom: &str, length: u64, genes: &[Gene]) -> Vec<Peak> {
    let mut rng = stream(seed, &format!("peaks {chrom}"));
    let mut raw: Vec<(u64, u64)> = Vec::new();
    let width = |rng: &mut ChaCha20Rng| {
        (150f64.ln() + rng.random::<f64>() * (2000f64 / 150.0).ln()).exp() as u64
    };
    let place = |center: f64, w: u64, raw: &mut Vec<(u64, u64)>| {
        let start = (center - w as f64 / 2.0).max(0.0) as u64;
        let end = (start + w).min(length);
        if end > start + 50 {
            raw.push((start, end));
        }
    };
    for g in genes {
        if rng.random_bool(0.85) {
            let c = g.tss as f64 + 300.0 * gauss(&mut rng);
            let w = width(&mut rng);
            place(c, w, &mut raw);
        }
        for _ in 0..poisson(&mut rng, 4.0) {
            let d: f64 = rng.sample(Exp1);
            let sign = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
            let c = g.tss as f64 + sign * d * 25_000.0;
            let w = width(&mut rng);
            place(c, w, &mut raw);
        }
    }
    for _ in 0..poisson(&mut rng, length as f64 / 80_000.0) {
        let c = rng.random::<f64>() * length as f64;
        let w = width(&mut rng);
        place(c, w, &mut raw);
    }
    raw.sort_unstable();
    let mut merged: Vec<(u64, u64)> = Vec::new();
    for (s, e) in raw {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
        .into_iter()
        .map(|(start0, end)| Peak {
            start0,
            end,
            signal: 2.0 + 40.0 * rng.random::<f64>().powi(2),
        })
        .collect()
}

/// Haplotypes of one cohort as mosaics of the founders, plus per-site copying errors.
struct Panel {
    /// Per haplotype: (first site index, founder) segments, sorted.
    segments: Vec<Vec<(u32, u8)>>,
    /// Per site: haplotypes whose allele is flipped by a copying error, sorted.
    errors: Vec<Vec<u32>>,
}

fn build_panel(seed: u64, cohort: &str, chrom: &Chrom, n_haps: usize) -> Panel {
    let mut rng = stream(seed, &format!("mosaic {cohort} {}", chrom.name));
    let n_sites = chrom.sites.len();
    let mut segments = Vec::with_capacity(n_haps);
    for _ in 0..n_haps {
        let mut segs: Vec<(u32, u8)> = Vec::new();
        let mut current = rng.random_range(0..chrom.n_founders) as u8;
        segs.push((0, current));
        for (b, &first) in chrom.block_first_site.iter().enumerate() {
            let next_first = chrom
                .block_first_site
                .get(b + 1)
                .copied()
                .unwrap_or(n_sites);
            if b > 0 && rng.random_bool(chrom.hotspot_switch[b]) {
                current = rng.random_range(0..chrom.n_founders) as u8;
                push_segment(&mut segs, first as u32, current);
            }
            let p = (chrom.block_len_bp[b] as f64 * BACKGROUND_SWITCH_PER_BP).min(1.0);
            if next_first > first + 1 && rng.random_bool(p) {
                let at = rng.random_range(first + 1..next_first);
                current = rng.random_range(0..chrom.n_founders) as u8;
                push_segment(&mut segs, at as u32, current);
            }
        }
        segments.push(segs);
    }
    let mut errors = Vec::with_capacity(n_sites);
    for site in &chrom.sites {
        let k = poisson(&mut rng, site.error_rate * n_haps as f64);
        let mut e: Vec<u32> = (0..k).map(|_| rng.random_range(0..n_haps) as u32).collect();
        e.sort_unstable();
        e.dedup();
        errors.push(e);
    }
    Panel { segments, errors }
}

fn push_segment(segs: &mut Vec<(u32, u8)>, at: u32, founder: u8) {
    match segs.last_mut() {
        Some(last) if last.0 == at => last.1 = founder,
        _ => segs.push((at, founder)),
    }
}

/// Walks a panel site by site (in increasing order) and yields allele indices per haplotype.
struct Cursor<'a> {
    panel: &'a Panel,
    seg: Vec<usize>,
}

impl<'a> Cursor<'a> {
    fn new(panel: &'a Panel) -> Self {
        Self {
            panel,
            seg: vec![0; panel.segments.len()],
        }
    }

    fn alleles(&mut self, site_idx: usize, site: &Site, out: &mut [u8]) {
        let s = site_idx as u32;
        for (h, segs) in self.panel.segments.iter().enumerate() {
            let mut i = self.seg[h];
            while i + 1 < segs.len() && segs[i + 1].0 <= s {
                i += 1;
            }
            self.seg[h] = i;
            let f = segs[i].1;
            out[h] = if (site.set2 >> f) & 1 == 1 {
                2
            } else {
                ((site.set1 >> f) & 1) as u8
            };
        }
        for &h in &self.panel.errors[site_idx] {
            let a = &mut out[h as usize];
            *a = if *a == 0 { 1 } else { 0 };
        }
    }
}

/// ALT1 dosage per individual from haplotype alleles (haplotypes 2i and 2i+1 belong to individual i).
fn dosages(alleles: &[u8], out: &mut [f64]) {
    for (i, d) in out.iter_mut().enumerate() {
        *d = f64::from(u8::from(alleles[2 * i] == 1) + u8::from(alleles[2 * i + 1] == 1));
    }
}

/// The planted truth of one gene.
struct GeneTruth {
    chrom: usize,
    gene: usize,
    n_cis: usize,
    causal: Vec<Causal>,
    n_blocks: usize,
    h2_sparse: f64,
    h2_poly: f64,
    h2_cov: f64,
    noise_var: f64,
    /// Per-allele effects of all cis SNPs (sparse + polygenic): (site index, beta).
    genetic_effects: Vec<(usize, f64)>,
    /// Expression in RNA-sample order (canonical ID order).
    expression: Vec<f64>,
    trait_var: f64,
    trait_effect: f64,
}

struct Causal {
    site: usize,
    beta: f64,
    maf: f64,
}

fn validate(opts: &SimulateOptions) -> Result<(), SimulateError> {
    let bad = |field, expected: &str| {
        Err(SimulateError::Options {
            field,
            expected: expected.to_string(),
        })
    };
    if !(1..=99).contains(&opts.chroms) {
        return bad("chroms", "1..=99");
    }
    if !(1..=999).contains(&opts.genes_per_chrom) {
        return bad("genes_per_chrom", "1..=999");
    }
    if !(20..=99_999).contains(&opts.samples) {
        return bad("samples", "20..=99999");
    }
    if opts.gwas_samples < 50 {
        return bad("gwas_samples", "at least 50");
    }
    if !(0.0..=1.0).contains(&opts.noise_fraction) {
        return bad("noise_fraction", "a fraction in [0, 1]");
    }
    if let NoiseModel::LowRank { rank } = opts.noise {
        if rank == 0 || rank >= opts.samples {
            return bad("noise.rank", "1 <= rank < samples");
        }
    }
    Ok(())
}

/// Runs the simulation and writes the cohort under `opts.out` (layout in `truth/README.md`).
pub fn simulate(opts: &SimulateOptions) -> Result<SimulateSummary, SimulateError> {
    validate(opts)?;
    let out = &opts.out;
    for dir in [
        "genotypes",
        "expression",
        "annotation",
        "covariates",
        "gwas",
        "truth",
    ] {
        let d = out.join(dir);
        fs::create_dir_all(&d).map_err(|source| SimulateError::Io { path: d, source })?;
    }
    let seed = opts.seed;
    let mut files = Vec::new();
    let mut n_sites = Vec::new();

    let width = opts.samples.to_string().len().max(4);
    let sample_ids: Vec<String> = (1..=opts.samples)
        .map(|i| format!("SIM{i:0width$}"))
        .collect();
    let mut srng = stream(seed, "samples");
    let n_drop = ((opts.samples as f64 * NO_RNA_RATE).round() as usize).max(1);
    let mut order: Vec<usize> = (0..opts.samples).collect();
    order.shuffle(&mut srng);
    let mut rna: Vec<usize> = order[n_drop..].to_vec();
    rna.sort_unstable();
    let n_rna = rna.len();
    let mut expr_cols: Vec<usize> = (0..n_rna).collect();
    expr_cols.shuffle(&mut srng);
    let mut cov_cols: Vec<usize> = (0..n_rna).collect();
    cov_cols.shuffle(&mut srng);
    while cov_cols == expr_cols {
        cov_cols.shuffle(&mut srng);
    }

    let covariates = simulate_covariates(seed, n_rna);
    let noise_basis = noise_basis(seed, opts.noise, n_rna);

    let mut chroms = Vec::with_capacity(opts.chroms);
    let mut truths: Vec<GeneTruth> = Vec::new();
    let mut gwas_panels = Vec::with_capacity(opts.chroms);
    let mut annot = String::from("#chrom\tpos\tconservation\tmotif_score\n");

    for c in 1..=opts.chroms {
        let chrom = build_chrom(seed, c, opts.genes_per_chrom);
        let panel = build_panel(seed, "eqtl", &chrom, 2 * opts.samples);
        let n_haps = 2 * opts.samples;
        let mut alleles = vec![0u8; chrom.sites.len() * n_haps];
        {
            let mut cursor = Cursor::new(&panel);
            for (i, site) in chrom.sites.iter().enumerate() {
                cursor.alleles(i, site, &mut alleles[i * n_haps..(i + 1) * n_haps]);
            }
        }
        let written = write_vcf(seed, out, &chrom, &sample_ids, &alleles)?;
        n_sites.push(written.n_records);
        files.push(written.path);
        files.push(written.index_path);
        append_annotations(seed, &chrom, &mut annot);

        for g in 0..chrom.genes.len() {
            truths.push(simulate_gene(
                seed,
                opts,
                &chrom,
                g,
                &alleles,
                &rna,
                &covariates,
                noise_basis.as_ref(),
            ));
        }
        gwas_panels.push(build_panel(seed, "gwas", &chrom, 2 * opts.gwas_samples));
        chroms.push(chrom);
    }

    let trait_y = simulate_trait(seed, opts, &chroms, &gwas_panels, &mut truths);
    let (sumstats, n_gwas_rows) = gwas_sumstats(seed, &chroms, &gwas_panels, &trait_y);

    let p = out.join("gwas/trait.sumstats.tsv.gz");
    write_atomic(&p, sumstats.as_bytes(), Compression::Gzip)?;
    files.push(p);

    let p = out.join("expression/expression.bed.gz");
    let text = expression_text(&chroms, &truths, &sample_ids, &rna, &expr_cols);
    write_atomic(&p, text.as_bytes(), Compression::Bgzf)?;
    files.push(p);

    let p = out.join("covariates/covariates.tsv");
    let text = covariates_text(&covariates, &sample_ids, &rna, &cov_cols);
    write_atomic(&p, text.as_bytes(), Compression::None)?;
    files.push(p);

    let p = out.join("annotation/genes.gtf");
    write_atomic(&p, gtf_text(&chroms).as_bytes(), Compression::None)?;
    files.push(p);

    let p = out.join("annotation/dnase_peaks.bed");
    write_atomic(&p, peaks_text(&chroms).as_bytes(), Compression::None)?;
    files.push(p);

    let p = out.join("annotation/variant_annotations.tsv.gz");
    write_atomic(&p, annot.as_bytes(), Compression::Gzip)?;
    files.push(p);

    let p = out.join("truth/genes.tsv");
    write_atomic(
        &p,
        truth_genes_text(&chroms, &truths).as_bytes(),
        Compression::None,
    )?;
    files.push(p);

    let p = out.join("truth/causal.tsv");
    write_atomic(
        &p,
        truth_causal_text(&chroms, &truths).as_bytes(),
        Compression::None,
    )?;
    files.push(p);

    let p = out.join("truth/README.md");
    write_atomic(&p, readme_text(opts).as_bytes(), Compression::None)?;
    files.push(p);

    Ok(SimulateSummary {
        files,
        n_sites,
        n_genes: truths.len(),
        n_causal: truths.iter().map(|t| t.causal.len()).sum(),
        n_expression_samples: n_rna,
        n_gwas_rows,
    })
}

struct Written {
    path: PathBuf,
    index_path: PathBuf,
    n_records: usize,
}

fn write_vcf(
    seed: u64,
    out: &Path,
    chrom: &Chrom,
    samples: &[String],
    alleles: &[u8],
) -> Result<Written, SimulateError> {
    let path = out.join(format!("genotypes/{}.vcf.gz", chrom.name));
    let header = VcfHeaderSpec {
        contigs: vec![(chrom.name.clone(), chrom.length)],
        samples: samples.to_vec(),
        source: "bsbslmm simulate v1".into(),
    };
    let mut writer = VcfWriter::create(&path, &header)?;
    let mut rng = stream(seed, &format!("missing {}", chrom.name));
    let n = samples.len();
    let mut gts: Vec<Genotype> = vec![None; n];
    for (i, site) in chrom.sites.iter().enumerate() {
        let a = &alleles[i * 2 * n..(i + 1) * 2 * n];
        for (j, gt) in gts.iter_mut().enumerate() {
            *gt = if rng.random_bool(MISSING_RATE) {
                None
            } else {
                let (x, y) = (a[2 * j], a[2 * j + 1]);
                Some((x.min(y), x.max(y)))
            };
        }
        let ref_allele = (site.ref_base as char).to_string();
        let alt1 = (site.alt1 as char).to_string();
        let alt2 = site.alt2.map(|b| (b as char).to_string());
        let alts: Vec<&str> = match &alt2 {
            Some(a2) => vec![&alt1, a2],
            None => vec![&alt1],
        };
        let id = site.id(&chrom.name);
        writer.write_site(&VcfSite {
            chrom: &chrom.name,
            pos: site.pos,
            id: &id,
            ref_allele: &ref_allele,
            alt_alleles: &alts,
            genotypes: &gts,
        })?;
    }
    let w = writer.finish()?;
    Ok(Written {
        path: w.path,
        index_path: w.index_path,
        n_records: w.n_records,
    })
}

/// Covariates per RNA sample: three genotype-PC-like factors (unit-norm columns), sex (0/1) and
/// two PEER-like factors.
fn simulate_covariates(seed: u64, n: usize) -> Vec<[f64; 6]> {
    let mut rng = stream(seed, "covariates");
    let s = 1.0 / (n as f64).sqrt();
    (0..n)
        .map(|_| {
            [
                s * gauss(&mut rng),
                s * gauss(&mut rng),
                s * gauss(&mut rng),
                f64::from(u8::from(rng.random_bool(0.5))),
                gauss(&mut rng),
                gauss(&mut rng),
            ]
        })
        .collect()
}

/// Row-normalised loadings L (n x m) with L Lᵀ the structured noise correlation, or `None`.
fn noise_basis(seed: u64, model: NoiseModel, n: usize) -> Option<(usize, Vec<f64>)> {
    let m = match model {
        NoiseModel::Identity => return None,
        NoiseModel::Random => n,
        NoiseModel::LowRank { rank } => rank,
    };
    let mut rng = stream(seed, "noise basis");
    let mut l: Vec<f64> = (0..n * m).map(|_| gauss(&mut rng)).collect();
    for row in l.chunks_mut(m) {
        let norm = row.iter().map(|v| v * v).sum::<f64>().sqrt();
        row.iter_mut().for_each(|v| *v /= norm);
    }
    Some((m, l))
}

#[allow(clippy::too_many_arguments)]
fn simulate_gene(
    seed: u64,
    opts: &SimulateOptions,
    chrom: &Chrom,
    g: usize,
    alleles: &[u8],
    rna: &[usize],
    covariates: &[[f64; 6]],
    noise_basis: Option<&(usize, Vec<f64>)>,
) -> GeneTruth {
    let gene = &chrom.genes[g];
    let mut rng = stream(seed, &format!("gene {}", gene.id));
    let n_all = opts.samples;
    let n = rna.len();
    let lo = gene.tss.saturating_sub(CIS_BP);
    let hi = gene.tss + CIS_BP;
    let cis: Vec<usize> = chrom
        .sites
        .iter()
        .enumerate()
        .filter(|(_, s)| s.pos >= lo && s.pos <= hi && s.alt2.is_none())
        .map(|(i, _)| i)
        .collect();

    let mut x_all = vec![0.0; n_all];
    let mut x_rna: Vec<Vec<f64>> = Vec::with_capacity(cis.len());
    let mut maf = Vec::with_capacity(cis.len());
    for &i in &cis {
        dosages(&alleles[i * 2 * n_all..(i + 1) * 2 * n_all], &mut x_all);
        let f = x_all.iter().sum::<f64>() / (2.0 * n_all as f64);
        maf.push(f.min(1.0 - f));
        x_rna.push(rna.iter().map(|&j| x_all[j]).collect());
    }

    let u = rng.random::<f64>();
    let mut n_causal = 0;
    let mut acc = 0.0;
    for (k, p) in CAUSAL_COUNT_PROBS.iter().enumerate() {
        acc += p;
        if u < acc {
            n_causal = k;
            break;
        }
    }
    let weights: Vec<f64> = cis
        .iter()
        .zip(&maf)
        .map(|(&i, &m)| {
            let s = &chrom.sites[i];
            if m < CAUSAL_MIN_MAF {
                return 0.0;
            }
            let d = s.pos.abs_diff(gene.tss) as f64;
            let w = (-d / CAUSAL_DISTANCE_SCALE_BP).exp();
            if s.in_peak {
                w * PEAK_ENRICHMENT
            } else {
                w
            }
        })
        .collect();
    let mut chosen: Vec<usize> = Vec::new();
    let mut blocks: Vec<u32> = Vec::new();
    if n_causal > 0 && weights.iter().any(|w| *w > 0.0) {
        let lead = weighted_index(&mut rng, &weights);
        blocks.push(chrom.sites[cis[lead]].block);
        if n_causal >= 2 && rng.random_bool(SECOND_BLOCK_PROB) {
            let other: Vec<f64> = cis
                .iter()
                .zip(&weights)
                .map(|(&i, &w)| {
                    if blocks.contains(&chrom.sites[i].block) {
                        0.0
                    } else {
                        w
                    }
                })
                .collect();
            if other.iter().any(|w| *w > 0.0) {
                blocks.push(chrom.sites[cis[weighted_index(&mut rng, &other)]].block);
            }
        }
        let mut w: Vec<f64> = cis
            .iter()
            .zip(&weights)
            .map(|(&i, &w)| {
                if blocks.contains(&chrom.sites[i].block) {
                    w
                } else {
                    0.0
                }
            })
            .collect();
        for _ in 0..n_causal {
            if !w.iter().any(|v| *v > 0.0) {
                break;
            }
            let k = weighted_index(&mut rng, &w);
            chosen.push(k);
            w[k] = 0.0;
        }
        chosen.sort_unstable();
    }

    let mut beta_sparse: Vec<f64> = chosen.iter().map(|_| gauss(&mut rng)).collect();
    let mut g_sparse = vec![0.0; n];
    for (b, &k) in beta_sparse.iter().zip(&chosen) {
        for (v, x) in g_sparse.iter_mut().zip(&x_rna[k]) {
            *v += b * x;
        }
    }
    let mut h2_sparse = uniform(&mut rng, H2_SPARSE);
    if chosen.is_empty() || !scale_to(&mut g_sparse, &mut beta_sparse, h2_sparse) {
        h2_sparse = 0.0;
        chosen.clear();
        beta_sparse.clear();
        blocks.clear();
    }

    let mut beta_poly: Vec<f64> = cis.iter().map(|_| gauss(&mut rng)).collect();
    let mut g_poly = vec![0.0; n];
    for (b, x) in beta_poly.iter().zip(&x_rna) {
        for (v, xi) in g_poly.iter_mut().zip(x) {
            *v += b * xi;
        }
    }
    let mut h2_poly = uniform(&mut rng, H2_POLY);
    if !scale_to(&mut g_poly, &mut beta_poly, h2_poly) {
        h2_poly = 0.0;
    }

    let mut g_cov = vec![0.0; n];
    for (k, sd) in COVARIATE_EFFECT_SD.iter().enumerate() {
        let col: Vec<f64> = covariates.iter().map(|c| c[k]).collect();
        let (m, v) = mean_var(&col);
        let a = sd * gauss(&mut rng) / v.sqrt().max(1e-12);
        for (gc, c) in g_cov.iter_mut().zip(&col) {
            *gc += a * (c - m);
        }
    }
    let h2_cov = uniform(&mut rng, H2_COV);
    scale_to(&mut g_cov, &mut [], h2_cov);

    let noise_var = 1.0 - h2_sparse - h2_poly - h2_cov;
    let f = match noise_basis {
        Some(_) => opts.noise_fraction,
        None => 0.0,
    };
    let mut nrng = stream(seed, &format!("noise {}", gene.id));
    let mut noise: Vec<f64> = (0..n)
        .map(|_| (1.0 - f).sqrt() * gauss(&mut nrng))
        .collect();
    if let Some((m, l)) = noise_basis {
        let z: Vec<f64> = (0..*m).map(|_| gauss(&mut nrng)).collect();
        for (e, row) in noise.iter_mut().zip(l.chunks(*m)) {
            *e += f.sqrt() * row.iter().zip(&z).map(|(a, b)| a * b).sum::<f64>();
        }
    }
    let expression: Vec<f64> = (0..n)
        .map(|i| g_sparse[i] + g_poly[i] + g_cov[i] + noise_var.sqrt() * noise[i])
        .collect();

    let mut genetic_effects: Vec<(usize, f64)> =
        cis.iter().zip(&beta_poly).map(|(&i, &b)| (i, b)).collect();
    for (b, &k) in beta_sparse.iter().zip(&chosen) {
        genetic_effects[k].1 += b;
    }
    let causal = chosen
        .iter()
        .zip(&beta_sparse)
        .map(|(&k, &beta)| Causal {
            site: cis[k],
            beta,
            maf: maf[k],
        })
        .collect();

    GeneTruth {
        chrom: chrom.number,
        gene: g,
        n_cis: cis.len(),
        causal,
        n_blocks: blocks.len(),
        h2_sparse,
        h2_poly,
        h2_cov,
        noise_var,
        genetic_effects,
        expression,
        trait_var: 0.0,
        trait_effect: 0.0,
    }
}

/// Picks the trait genes, computes their genetic expression in the GWAS cohort and returns the
/// (centred) trait; records the trait effects in `truths`.
fn simulate_trait(
    seed: u64,
    opts: &SimulateOptions,
    chroms: &[Chrom],
    panels: &[Panel],
    truths: &mut [GeneTruth],
) -> Vec<f64> {
    let mut rng = stream(seed, "trait");
    let n = opts.gwas_samples;
    let mut y = vec![0.0; n];
    let mut explained = 0.0;
    let mut alleles = vec![0u8; 2 * n];
    let mut x = vec![0.0; n];
    for (ci, chrom) in chroms.iter().enumerate() {
        let on_chrom: Vec<usize> = (0..truths.len())
            .filter(|&t| truths[t].chrom == chrom.number)
            .collect();
        let near_tss = |t: &GeneTruth| {
            let tss = chrom.genes[t.gene].tss;
            t.causal
                .iter()
                .all(|c| chrom.sites[c.site].pos.abs_diff(tss) <= TRAIT_EQTL_MAX_DISTANCE_BP)
        };
        let mut pool: Vec<usize> = on_chrom
            .iter()
            .copied()
            .filter(|&t| truths[t].h2_sparse >= TRAIT_MIN_H2_SPARSE && near_tss(&truths[t]))
            .collect();
        if pool.len() < TRAIT_GENES_PER_CHROM {
            pool = on_chrom
                .iter()
                .copied()
                .filter(|&t| !truths[t].causal.is_empty())
                .collect();
        }
        pool.shuffle(&mut rng);
        let mut picked: Vec<usize> = pool.into_iter().take(TRAIT_GENES_PER_CHROM).collect();
        picked.sort_unstable();
        let mut sites: Vec<(usize, usize, f64)> = picked
            .iter()
            .enumerate()
            .flat_map(|(p, &t)| {
                truths[t]
                    .genetic_effects
                    .iter()
                    .map(move |&(s, b)| (s, p, b))
            })
            .collect();
        sites.sort_by_key(|a| (a.0, a.1));
        let mut values = vec![vec![0.0; n]; picked.len()];
        let mut cursor = Cursor::new(&panels[ci]);
        let mut last = usize::MAX;
        for &(s, p, b) in &sites {
            if s != last {
                cursor.alleles(s, &chrom.sites[s], &mut alleles);
                dosages(&alleles, &mut x);
                last = s;
            }
            for (v, xi) in values[p].iter_mut().zip(&x) {
                *v += b * xi;
            }
        }
        for (p, &t) in picked.iter().enumerate() {
            let (m, v) = mean_var(&values[p]);
            if v <= 1e-12 {
                continue;
            }
            let share = uniform(&mut rng, TRAIT_VAR);
            let sign = if rng.random_bool(0.5) { 1.0 } else { -1.0 };
            let a = sign * (share / v).sqrt();
            for (yi, gv) in y.iter_mut().zip(&values[p]) {
                *yi += a * (gv - m);
            }
            truths[t].trait_var = share;
            truths[t].trait_effect = a;
            explained += share;
        }
    }
    let residual = (1.0 - explained).max(0.05).sqrt();
    for yi in y.iter_mut() {
        *yi += residual * gauss(&mut rng);
    }
    let (m, _) = mean_var(&y);
    y.iter_mut().for_each(|v| *v -= m);
    y
}

/// Marginal per-SNP regressions of the trait on ALT dosage for every biallelic, polymorphic site.
fn gwas_sumstats(seed: u64, chroms: &[Chrom], panels: &[Panel], y: &[f64]) -> (String, usize) {
    let n = y.len();
    let nf = n as f64;
    let syy: f64 = y.iter().map(|v| v * v).sum();
    let mut text = String::from("SNP\tCHR\tBP\tA1\tA2\tFRQ\tBETA\tSE\tZ\tP\tN\n");
    let mut rows = 0;
    let mut alleles = vec![0u8; 2 * n];
    for (chrom, panel) in chroms.iter().zip(panels) {
        let mut rng = stream(seed, &format!("sumstats {}", chrom.name));
        let mut cursor = Cursor::new(panel);
        for (i, site) in chrom.sites.iter().enumerate() {
            if site.alt2.is_some() {
                continue;
            }
            cursor.alleles(i, site, &mut alleles);
            let (mut sx, mut sxx, mut sxy) = (0.0, 0.0, 0.0);
            for (k, yk) in y.iter().enumerate() {
                let d =
                    f64::from(u8::from(alleles[2 * k] == 1) + u8::from(alleles[2 * k + 1] == 1));
                sx += d;
                sxx += d * d;
                sxy += d * yk;
            }
            let mx = sx / nf;
            let cxx = sxx - sx * mx;
            if cxx <= 1e-9 {
                continue;
            }
            let beta = sxy / cxx;
            let rss = (syy - beta * sxy).max(0.0);
            let se = (rss / (nf - 2.0) / cxx).sqrt();
            let z = beta / se;
            let p = normal::two_sided_p(z);
            let frq = sx / (2.0 * nf);
            let swap = rng.random_bool(SWAP_RATE);
            let (a1, a2, f, b, zz) = if swap {
                (site.ref_base, site.alt1, 1.0 - frq, -beta, -z)
            } else {
                (site.alt1, site.ref_base, frq, beta, z)
            };
            let _ = writeln!(
                text,
                "{}\t{}\t{}\t{}\t{}\t{:.4}\t{:.6}\t{:.6}\t{:.4}\t{:.4e}\t{}",
                site.id(&chrom.name),
                chrom.name,
                site.pos,
                a1 as char,
                a2 as char,
                f,
                b,
                se,
                zz,
                p,
                n
            );
            rows += 1;
        }
    }
    (text, rows)
}

fn append_annotations(seed: u64, chrom: &Chrom, text: &mut String) {
    let mut rng = stream(seed, &format!("annotation {}", chrom.name));
    for site in &chrom.sites {
        let cons = if site.in_peak { 1.5 } else { 0.0 } + gauss(&mut rng);
        let u = rng.random::<f64>();
        let motif = if site.in_peak { u.sqrt() } else { u * u };
        let cons = if rng.random_bool(0.005) {
            "NA".to_string()
        } else {
            format!("{cons:.3}")
        };
        let motif = if rng.random_bool(0.003) {
            "NA".to_string()
        } else {
            format!("{motif:.3}")
        };
        let _ = writeln!(text, "{}\t{}\t{}\t{}", chrom.name, site.pos, cons, motif);
    }
}

fn expression_text(
    chroms: &[Chrom],
    truths: &[GeneTruth],
    ids: &[String],
    rna: &[usize],
    cols: &[usize],
) -> String {
    let mut text = String::from("#chr\tstart\tend\tgene_id");
    for &c in cols {
        text.push('\t');
        text.push_str(&ids[rna[c]]);
    }
    text.push('\n');
    for t in truths {
        let chrom = &chroms[t.chrom - 1];
        let gene = &chrom.genes[t.gene];
        let _ = write!(
            text,
            "{}\t{}\t{}\t{}",
            chrom.name,
            gene.tss - 1,
            gene.tss,
            gene.id
        );
        for &c in cols {
            let _ = write!(text, "\t{:.6}", t.expression[c]);
        }
        text.push('\n');
    }
    text
}

fn covariates_text(covs: &[[f64; 6]], ids: &[String], rna: &[usize], cols: &[usize]) -> String {
    let mut text = String::from("ID");
    for &c in cols {
        text.push('\t');
        text.push_str(&ids[rna[c]]);
    }
    text.push('\n');
    for (k, name) in COVARIATES.iter().enumerate() {
        text.push_str(name);
        for &c in cols {
            if *name == "sex" {
                let _ = write!(text, "\t{}", covs[c][k] as u8);
            } else {
                let _ = write!(text, "\t{:.6}", covs[c][k]);
            }
        }
        text.push('\n');
    }
    text
}

fn gtf_text(chroms: &[Chrom]) -> String {
    let mut text = String::from(
        "##description: bsbslmm simulated gene annotation\n##provider: bsbslmm simulate v1\n##format: gtf\n",
    );
    for chrom in chroms {
        for (g, gene) in chrom.genes.iter().enumerate() {
            let strand = if gene.plus { '+' } else { '-' };
            let base = format!(
                "gene_id \"{}\"; gene_type \"protein_coding\"; gene_name \"{}\";",
                gene.id, gene.name
            );
            let tx = gene.id.replacen("ENSG", "ENST", 1);
            let _ = writeln!(
                text,
                "{}\tbsbslmm\tgene\t{}\t{}\t.\t{strand}\t.\t{base} level 2;",
                chrom.name, gene.start, gene.end
            );
            let tx_attr = format!(
                "{base} transcript_id \"{tx}\"; transcript_type \"protein_coding\"; transcript_name \"{}-201\";",
                gene.name
            );
            let _ = writeln!(
                text,
                "{}\tbsbslmm\ttranscript\t{}\t{}\t.\t{strand}\t.\t{tx_attr} level 2;",
                chrom.name, gene.start, gene.end
            );
            let n = gene.exons.len();
            for (k, (s, e)) in gene.exons.iter().enumerate() {
                let number = if gene.plus { k + 1 } else { n - k };
                let exon_id = format!("ENSE9{:02}{:06}{number:02}.1", chrom.number, g + 1);
                let _ = writeln!(
                    text,
                    "{}\tbsbslmm\texon\t{s}\t{e}\t.\t{strand}\t.\t{tx_attr} exon_number {number}; exon_id \"{exon_id}\"; level 2;",
                    chrom.name
                );
            }
        }
    }
    text
}

fn peaks_text(chroms: &[Chrom]) -> String {
    let mut text = String::new();
    for chrom in chroms {
        for (k, p) in chrom.peaks.iter().enumerate() {
            let score = ((p.signal / 42.0) * 1000.0).round().min(1000.0) as u32;
            let pval = 2.0 + p.signal * 1.3;
            let qval = pval - 1.5;
            let _ = writeln!(
                text,
                "{}\t{}\t{}\tpeak_{}_{:05}\t{score}\t.\t{:.3}\t{pval:.3}\t{qval:.3}\t{}",
                chrom.name,
                p.start0,
                p.end,
                chrom.name,
                k + 1,
                p.signal,
                (p.end - p.start0) / 2
            );
        }
    }
    text
}

fn truth_genes_text(chroms: &[Chrom], truths: &[GeneTruth]) -> String {
    let mut text = String::from(
        "gene_id\tgene_name\tchrom\ttss\tstrand\tstart\tend\tn_cis_snps\tn_causal\tn_causal_blocks\th2_sparse\th2_poly\th2_cov\tnoise_var\ttrait_gene\ttrait_var_explained\ttrait_effect\n",
    );
    for t in truths {
        let chrom = &chroms[t.chrom - 1];
        let g = &chrom.genes[t.gene];
        let _ = writeln!(
            text,
            "{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{:.6}\t{:.6}\t{:.6}\t{:.6}\t{}\t{:.6}\t{:.6}",
            g.id,
            g.name,
            chrom.name,
            g.tss,
            if g.plus { '+' } else { '-' },
            g.start,
            g.end,
            t.n_cis,
            t.causal.len(),
            t.n_blocks,
            t.h2_sparse,
            t.h2_poly,
            t.h2_cov,
            t.noise_var,
            u8::from(t.trait_var > 0.0),
            t.trait_var,
            t.trait_effect
        );
    }
    text
}

fn truth_causal_text(chroms: &[Chrom], truths: &[GeneTruth]) -> String {
    let mut text = String::from(
        "gene_id\tchrom\tpos\tvariant_id\tref\talt\tbeta\tmaf\ttss_distance\tin_peak\tblock\n",
    );
    for t in truths {
        let chrom = &chroms[t.chrom - 1];
        let g = &chrom.genes[t.gene];
        for c in &t.causal {
            let s = &chrom.sites[c.site];
            let d = s.pos as i64 - g.tss as i64;
            let d = if g.plus { d } else { -d };
            let _ = writeln!(
                text,
                "{}\t{}\t{}\t{}\t{}\t{}\t{:.6}\t{:.4}\t{}\t{}\t{}",
                g.id,
                chrom.name,
                s.pos,
                s.id(&chrom.name),
                s.ref_base as char,
                s.alt1 as char,
                c.beta,
                c.maf,
                d,
                u8::from(s.in_peak),
                s.block
            );
        }
    }
    text
}

fn readme_text(opts: &SimulateOptions) -> String {
    let noise = match opts.noise {
        NoiseModel::Identity => "identity".to_string(),
        NoiseModel::Random => "random".to_string(),
        NoiseModel::LowRank { rank } => format!("low-rank (rank {rank})"),
    };
    format!(
        "# Simulated cohort (bsbslmm simulate v1)\n\n\
Options: seed {}, chroms {}, genes_per_chrom {}, samples {}, gwas_samples {}, noise {}, noise_fraction {}.\n\n\
{}",
        opts.seed,
        opts.chroms,
        opts.genes_per_chrom,
        opts.samples,
        opts.gwas_samples,
        noise,
        opts.noise_fraction,
        README_BODY
    )
}

const README_BODY: &str = r#"## Layout

```
genotypes/chrC.vcf.gz(.tbi)   one bgzipped, tabix-indexed VCFv4.2 per chromosome; GT only (unphased, `./.` missing);
                              ID = chrC_POS_REF_ALT (multi-allelic: chrC_POS_REF_ALT1_ALT2); samples SIM0001.. in ID order
expression/expression.bed.gz  BGZF; header `#chr start end gene_id <samples...>`; one row per gene, start = TSS-1, end = TSS
                              (0-based BED); ~97% of the genotyped samples, columns in a shuffled order
covariates/covariates.tsv     GTEx layout: header `ID <samples...>` (same samples as the expression, another order);
                              rows PC1 PC2 PC3 sex PEER1 PEER2 (sex coded 0/1)
annotation/genes.gtf          GENCODE-style GTF (1-based, inclusive): gene, transcript and exon lines; attributes gene_id,
                              gene_type, gene_name (+ transcript_id ... on transcript/exon lines). TSS = start on +, end on -
annotation/dnase_peaks.bed    ENCODE narrowPeak (10 columns, 0-based half-open), sorted, non-overlapping
annotation/variant_annotations.tsv.gz
                              gzip TSV: #chrom pos conservation motif_score (one row per VCF site;
                              multi-allelic alt = `A1,A2`; missing values `NA`)
gwas/trait.sumstats.tsv.gz    gzip TSV: SNP CHR BP A1 A2 FRQ BETA SE Z P N; A1 = effect allele, FRQ = A1 frequency;
                              ~10% of rows have A1 = REF (BETA and Z negated accordingly); biallelic sites only
truth/genes.tsv               per gene: gene_id gene_name chrom tss strand start end n_cis_snps n_causal n_causal_blocks
                              h2_sparse h2_poly h2_cov noise_var trait_gene trait_var_explained trait_effect
truth/causal.tsv              per causal SNP: gene_id chrom pos variant_id ref alt beta maf tss_distance in_peak block
                              (beta per ALT allele in expression units; tss_distance strand-aware, + = downstream;
                              block = LD block index on the chromosome)
```

## Generative model

1. Layout: genes ~120 kb apart (U(90, 150) kb), 200 kb flanks; SNPs as a Poisson process (~4 per kb); recombination
   hotspots every U(20, 80) kb delimit LD blocks.
2. Founders: 60-100 founder haplotypes per chromosome; inside each block one Kingman coalescent tree over the founders,
   each SNP's derived allele on a branch drawn by length (neutral 1/k spectrum; 15% of sites have ALT as the major
   allele); 10% of sites are monomorphic among founders and only carry copying errors; 0.5% have a second ALT.
3. Samples: each haplotype copies one founder, switching at each hotspot with a per-hotspot probability U(0.15, 0.85)
   and rarely inside blocks (1 per Mb); copying errors (5e-4 per allele, 2e-3 at founder-monomorphic sites) flip
   alleles. Genotype = sum of two haplotypes. 0.2% of calls are written as missing.
4. Causal SNPs per gene: K in 0..5 with P = (0.2, 0.3, 0.2, 0.15, 0.1, 0.05), biallelic with MAF >= 0.02 inside +-100 kb of
   the TSS, inside one block (a second with probability 0.4 when K >= 2), drawn with weight exp(-|d|/20 kb) x 5 if in a
   DNase peak. Per-allele effects N(0, 1), rescaled so that the sparse genetic value has sample variance
   h2_sparse ~ U(0.02, 0.4) in the expression samples.
5. Polygenic background: N(0, 1) per-allele effects on every biallelic cis SNP, rescaled to h2_poly ~ U(0.01, 0.03).
6. Covariates: effects on PC1, PC2, sex, PEER1, PEER2 (none on PC3), rescaled to h2_cov ~ U(0.02, 0.15).
7. Noise: variance 1 - h2_sparse - h2_poly - h2_cov; a fraction `noise_fraction` of it is structured across samples
   (random: the correlation of a Wishart(n, I) draw; low-rank: k shared sample factors), the rest independent.
8. GWAS: new individuals from the same founders; a trait = sum over 2 trait genes per chromosome of
   a_g x (cis genetic value of the gene, sparse + polygenic) explaining U(0.01, 0.02) of the variance each, plus noise;
   trait genes are drawn among genes with h2_sparse >= 0.05 whose causal eQTLs all lie within +-50 kb of the TSS;
   marginal least-squares regression of the trait on ALT dosage per biallelic SNP, P two-sided normal.
"#;

enum Compression {
    None,
    Gzip,
    Bgzf,
}

/// Writes `bytes` to a temporary sibling of `path` and renames it into place.
fn write_atomic(path: &Path, bytes: &[u8], compression: Compression) -> Result<(), SimulateError> {
    let tmp = vcf_write::temp_path(path);
    let io_err = |p: &Path| {
        let p = p.to_path_buf();
        move |source| SimulateError::Io { path: p, source }
    };
    let result = (|| -> io::Result<()> {
        let file = fs::File::create(&tmp)?;
        let file = match compression {
            Compression::None => {
                let mut w = io::BufWriter::new(file);
                w.write_all(bytes)?;
                w.into_inner().map_err(|e| e.into_error())?
            }
            Compression::Gzip => {
                let mut w = flate2::write::GzEncoder::new(
                    io::BufWriter::new(file),
                    flate2::Compression::default(),
                );
                w.write_all(bytes)?;
                w.finish()?.into_inner().map_err(|e| e.into_error())?
            }
            Compression::Bgzf => {
                let mut w = noodles::bgzf::io::Writer::new(file);
                w.write_all(bytes)?;
                w.finish()?
            }
        };
        file.sync_all()
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(io_err(&tmp)(e));
    }
    fs::rename(&tmp, path).map_err(io_err(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coalescent_tree_has_2n_minus_2_branches_and_nested_leaf_sets() {
        let mut rng = stream(7, "test");
        let b = coalescent_branches(&mut rng, 10);
        assert_eq!(b.len(), 18);
        let all = (1u128 << 10) - 1;
        assert_eq!(b[16].0 | b[17].0, all);
        assert_eq!(b[16].0 & b[17].0, 0);
        assert!(b.iter().all(|x| x.1 > 0.0));
    }

    #[test]
    fn options_out_of_range_are_rejected() {
        let mut o = SimulateOptions {
            noise_fraction: 1.5,
            ..SimulateOptions::default()
        };
        assert!(matches!(
            validate(&o),
            Err(SimulateError::Options {
                field: "noise_fraction",
                ..
            })
        ));
        o.noise_fraction = 0.2;
        o.noise = NoiseModel::LowRank { rank: 0 };
        assert!(validate(&o).is_err());
        o.noise = NoiseModel::LowRank { rank: 5 };
        assert!(validate(&o).is_ok());
    }

    #[test]
    fn noise_basis_rows_have_unit_norm() {
        let (m, l) = noise_basis(3, NoiseModel::LowRank { rank: 4 }, 30).expect("basis");
        assert_eq!(m, 4);
        for row in l.chunks(m) {
            let s: f64 = row.iter().map(|v| v * v).sum();
            assert!((s - 1.0).abs() < 1e-12);
        }
        assert!(noise_basis(3, NoiseModel::Identity, 30).is_none());
    }
}
