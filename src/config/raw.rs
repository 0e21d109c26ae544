//! Raw serde structs mirroring `pipeline.yaml` one to one. Unknown keys are refused; every
//! optional key has the documented default. Validation happens in [`super::resolve`].

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

pub use crate::io::vcf::GenotypeField;

/// The top level of `pipeline.yaml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    #[serde(default = "default_output_dir")]
    pub output_dir: PathBuf,
    #[serde(default = "default_seed")]
    pub seed: u64,
    pub chromosomes: Vec<String>,
    pub inputs: RawInputs,
    #[serde(default)]
    pub cis: RawCis,
    #[serde(default)]
    pub qc: RawQc,
    #[serde(default)]
    pub annotation: RawAnnotation,
    #[serde(default)]
    pub blocks: RawBlocks,
    #[serde(default)]
    pub cv: RawCv,
    #[serde(default = "default_methods")]
    pub methods: Vec<RawMethod>,
    #[serde(default)]
    pub resources: RawResources,
    #[serde(default)]
    pub export: RawExport,
    #[serde(default)]
    pub twas: RawTwas,
    #[serde(default)]
    pub compare: RawCompare,
    #[serde(default)]
    pub enrich: RawEnrich,
}

fn default_output_dir() -> PathBuf {
    PathBuf::from("results")
}

fn default_seed() -> u64 {
    1
}

fn default_field() -> GenotypeField {
    GenotypeField::Gt
}

/// `inputs:` — where the cohort lives. Relative paths are relative to the pipeline file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInputs {
    pub vcf: String,
    #[serde(default = "default_field")]
    pub genotype_field: GenotypeField,
    pub expression: PathBuf,
    pub genes: PathBuf,
    #[serde(default)]
    pub covariates: Option<PathBuf>,
    #[serde(default)]
    pub peaks: Option<PathBuf>,
    #[serde(default)]
    pub variant_annotations: Option<PathBuf>,
    #[serde(default)]
    pub gwas: Option<PathBuf>,
}

/// `cis:` — the cis window around the TSS.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCis {
    #[serde(default = "default_window")]
    pub window_bp: i64,
}

impl Default for RawCis {
    fn default() -> Self {
        RawCis {
            window_bp: default_window(),
        }
    }
}

fn default_window() -> i64 {
    1_000_000
}

/// What to do with `NA` expression values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExpressionNa {
    /// Refuse the file, naming gene and sample.
    #[default]
    Error,
    /// Drop the sample for that gene only.
    Drop,
}

/// `qc:` — SNP and sample quality control.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQc {
    #[serde(default = "d_max_missing")]
    pub max_missing: f64,
    #[serde(default = "d_min_maf")]
    pub min_maf: f64,
    #[serde(default = "d_min_mac")]
    pub min_mac: f64,
    #[serde(default = "d_min_samples")]
    pub min_samples: usize,
    #[serde(default)]
    pub expression_na: ExpressionNa,
}

impl Default for RawQc {
    fn default() -> Self {
        RawQc {
            max_missing: d_max_missing(),
            min_maf: d_min_maf(),
            min_mac: d_min_mac(),
            min_samples: d_min_samples(),
            expression_na: ExpressionNa::Error,
        }
    }
}

fn d_max_missing() -> f64 {
    0.10
}
fn d_min_maf() -> f64 {
    0.01
}
fn d_min_mac() -> f64 {
    5.0
}
fn d_min_samples() -> usize {
    30
}

/// TSS-distance feature (MODEL.md §1.8).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TssDistance {
    /// One standardized column log10(1 + |d|/1kb).
    #[default]
    Log,
    /// Four distance-bin indicators.
    Bins,
}

/// `annotation:` — per-SNP annotation features.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAnnotation {
    #[serde(default)]
    pub tss_distance: TssDistance,
    #[serde(default)]
    pub signed_distance: bool,
    #[serde(default = "yes")]
    pub peak_overlap: bool,
    #[serde(default)]
    pub extra_columns: Vec<String>,
}

impl Default for RawAnnotation {
    fn default() -> Self {
        RawAnnotation {
            tss_distance: TssDistance::Log,
            signed_distance: false,
            peak_overlap: true,
            extra_columns: Vec::new(),
        }
    }
}

fn yes() -> bool {
    true
}

/// `blocks:` — LD-block partition.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBlocks {
    #[serde(default = "d_max_size")]
    pub max_size: usize,
    #[serde(default = "d_ld_window")]
    pub ld_window: usize,
    /// `auto` or a number.
    #[serde(default, deserialize_with = "string_or_number")]
    pub tau: Option<String>,
}

impl Default for RawBlocks {
    fn default() -> Self {
        RawBlocks {
            max_size: d_max_size(),
            ld_window: d_ld_window(),
            tau: None,
        }
    }
}

fn d_max_size() -> usize {
    100
}
fn d_ld_window() -> usize {
    20
}

fn string_or_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum V {
        S(String),
        F(f64),
    }
    Ok(Option::<V>::deserialize(d)?.map(|v| match v {
        V::S(s) => s,
        V::F(f) => f.to_string(),
    }))
}

/// `cv:` — cross-validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCv {
    #[serde(default = "d_scheme")]
    pub scheme: String,
    #[serde(default = "d_folds")]
    pub folds: usize,
    #[serde(default = "d_test_fraction")]
    pub test_fraction: f64,
}

impl Default for RawCv {
    fn default() -> Self {
        RawCv {
            scheme: d_scheme(),
            folds: d_folds(),
            test_fraction: d_test_fraction(),
        }
    }
}

fn d_scheme() -> String {
    "kfold".into()
}
fn d_folds() -> usize {
    5
}
fn d_test_fraction() -> f64 {
    0.2
}

/// The model families a method can be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MethodKind {
    /// BSLMM (Zhou, Carbonetto & Stephens 2013).
    Bslmm,
    /// Block gate, flat SNP prior, polygenic term.
    BlockOnly,
    /// Block gate + logistic annotation prior + polygenic term.
    Bsbslmm,
    /// Annotated BayesC (probit annotation prior, no polygenic term).
    BayescAnnot,
    /// Ridge / GBLUP.
    Ridge,
    /// Elastic net, alpha = 0.5, lambda by inner CV.
    Enet,
}

impl MethodKind {
    /// The YAML spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            MethodKind::Bslmm => "bslmm",
            MethodKind::BlockOnly => "block_only",
            MethodKind::Bsbslmm => "bsbslmm",
            MethodKind::BayescAnnot => "bayesc_annot",
            MethodKind::Ridge => "ridge",
            MethodKind::Enet => "enet",
        }
    }

    /// Whether the method is an MCMC sampler.
    pub fn is_bayesian(&self) -> bool {
        !matches!(self, MethodKind::Ridge | MethodKind::Enet)
    }
}

/// One entry of `methods:`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMethod {
    /// Output name; defaults to the model name.
    #[serde(default)]
    pub name: Option<String>,
    pub model: MethodKind,
    #[serde(default = "d_chains")]
    pub chains: usize,
    #[serde(default = "d_burnin")]
    pub burnin: usize,
    #[serde(default = "d_samples")]
    pub samples: usize,
    #[serde(default = "d_thin")]
    pub thin: usize,
    /// Elastic net: inner CV folds for λ (PredictDB: 10).
    #[serde(default = "d_inner_folds")]
    pub inner_folds: usize,
    /// Sampler methods: keep X̃ in single precision (MODEL.md §5 opt-in).
    #[serde(default)]
    pub single_precision: bool,
}

fn d_inner_folds() -> usize {
    10
}

fn d_chains() -> usize {
    4
}
fn d_burnin() -> usize {
    2000
}
fn d_samples() -> usize {
    4000
}
fn d_thin() -> usize {
    1
}

fn default_methods() -> Vec<RawMethod> {
    [
        MethodKind::Bslmm,
        MethodKind::BlockOnly,
        MethodKind::Bsbslmm,
        MethodKind::BayescAnnot,
        MethodKind::Ridge,
        MethodKind::Enet,
    ]
    .into_iter()
    .map(|model| RawMethod {
        name: None,
        model,
        chains: d_chains(),
        burnin: d_burnin(),
        samples: d_samples(),
        thin: d_thin(),
        inner_folds: d_inner_folds(),
        single_precision: false,
    })
    .collect()
}

/// `resources:` — threads and work slicing.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawResources {
    #[serde(default)]
    pub threads: usize,
    #[serde(default = "d_genes_per_task")]
    pub genes_per_task: usize,
}

impl Default for RawResources {
    fn default() -> Self {
        RawResources {
            threads: 0,
            genes_per_task: d_genes_per_task(),
        }
    }
}

fn d_genes_per_task() -> usize {
    10
}

/// Which fitted genes the export writes to `weights`/`extra`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportGenes {
    /// Every gene with a non-empty model; users filter on the `extra` performance columns.
    #[default]
    All,
    /// Only genes passing the PredictDB-style filter (`min_r`, `max_pval`).
    Passing,
}

/// `export:` — the PredictDB weights databases and covariance files.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawExport {
    #[serde(default)]
    pub genes: ExportGenes,
    #[serde(default = "d_min_r")]
    pub min_r: f64,
    #[serde(default = "d_max_pval")]
    pub max_pval: f64,
    #[serde(default = "d_prune_min_r")]
    pub prune_min_r: f64,
    #[serde(default = "d_max_snps")]
    pub max_snps: usize,
}

impl Default for RawExport {
    fn default() -> Self {
        RawExport {
            genes: ExportGenes::All,
            min_r: d_min_r(),
            max_pval: d_max_pval(),
            prune_min_r: d_prune_min_r(),
            max_snps: d_max_snps(),
        }
    }
}

/// How zero differences enter the Wilcoxon test (scipy's `zero_method`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ZeroMethodKind {
    /// Drop zero differences.
    #[default]
    Wilcox,
    /// Rank zeros, give them no sign.
    Pratt,
    /// Split zero ranks between T+ and T-.
    Zsplit,
}

/// `compare:` — paired Wilcoxon tests between methods and the "passing genes" filter.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCompare {
    /// Method pairs [a, b]; the one-sided alternative is "a predicts better than b".
    #[serde(default = "d_pairs")]
    pub pairs: Vec<[String; 2]>,
    /// Up to this many pairs (zeros included) the exact null distribution is used.
    #[serde(default = "d_exact_max_n")]
    pub exact_max_n: usize,
    #[serde(default)]
    pub zero_method: ZeroMethodKind,
    /// Continuity correction in the normal approximation.
    #[serde(default)]
    pub correction: bool,
    /// A gene passes when its pooled test r is above this ...
    #[serde(default = "d_min_r")]
    pub min_r: f64,
    /// ... and its pooled p-value is below this (PredictDB: r > 0.1, p < 0.05).
    #[serde(default = "d_max_p")]
    pub max_p: f64,
}

impl Default for RawCompare {
    fn default() -> Self {
        RawCompare {
            pairs: d_pairs(),
            exact_max_n: d_exact_max_n(),
            zero_method: ZeroMethodKind::Wilcox,
            correction: false,
            min_r: d_min_r(),
            max_p: d_max_p(),
        }
    }
}

fn d_min_r() -> f64 {
    0.1
}
fn d_max_pval() -> f64 {
    0.05
}
fn d_prune_min_r() -> f64 {
    0.99
}
fn d_max_snps() -> usize {
    200
}

/// `twas:` — the S-PrediXcan-style association stage.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTwas {
    /// Methods whose exported models are tested; empty = every configured method.
    #[serde(default)]
    pub methods: Vec<String>,
}

fn d_pairs() -> Vec<[String; 2]> {
    ["bslmm", "block_only", "enet"]
        .into_iter()
        .map(|b| ["bsbslmm".to_string(), b.to_string()])
        .collect()
}
fn d_exact_max_n() -> usize {
    50
}
fn d_max_p() -> f64 {
    0.05
}

/// `enrich:` — enrichment of active SNPs in peaks.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEnrich {
    /// Bootstrap replicates (resampling genes) for the 95% intervals.
    #[serde(default = "d_bootstrap")]
    pub bootstrap: usize,
    /// Seed of the bootstrap; default: the pipeline seed.
    #[serde(default)]
    pub seed: Option<u64>,
    /// The method whose difference with every other method (and the truth) is reported.
    #[serde(default = "d_reference")]
    pub reference: String,
    /// Optional truth file of causal SNPs (simulate's `truth/causal.tsv`).
    #[serde(default)]
    pub truth: Option<PathBuf>,
}

impl Default for RawEnrich {
    fn default() -> Self {
        RawEnrich {
            bootstrap: d_bootstrap(),
            seed: None,
            reference: d_reference(),
            truth: None,
        }
    }
}

fn d_bootstrap() -> usize {
    1000
}
fn d_reference() -> String {
    "bsbslmm".into()
}
