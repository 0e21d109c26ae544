//! The pipeline configuration: YAML text -> raw serde structs (unknown keys refused) -> one
//! [`resolve`] step that validates every value and checks every input file -> a typed [`Config`]
//! that stages receive. The resolved config is serialized back to YAML and stored in every output.
//!
//! This module reads the YAML file and checks that input paths exist; it never opens the inputs.

mod locate;
mod raw;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Serialize;
use thiserror::Error;

pub use raw::{
    ExportGenes, ExpressionNa, GenotypeField, MethodKind, RawAnnotation, RawBlocks, RawCis,
    RawConfig, RawCv, RawInputs, RawMethod, RawQc, RawResources, TssDistance, ZeroMethodKind,
};

/// Stage names `--stage` accepts, in pipeline order. `export` is the last step of `finalize`
/// (a plain `run` executes it there); naming it alone reruns just the PredictDB export.
pub const STAGES: [&str; 6] = ["prepare", "fit", "finalize", "export", "twas", "report"];

/// Errors met while reading or validating a pipeline file.
#[derive(Debug, Error)]
pub enum ConfigError {
    /// The pipeline file could not be read.
    #[error("cannot read pipeline file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// YAML syntax error, unknown key or wrong type (serde's message names the key and line).
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    /// One or more values are impossible.
    #[error("{path}: invalid configuration:\n{}", .problems.join("\n"))]
    Invalid {
        path: PathBuf,
        problems: Vec<String>,
    },
    /// One or more input files do not exist.
    #[error("{path}: {} input file(s) not found:\n{}", .missing.len(), .missing.join("\n"))]
    MissingInputs { path: PathBuf, missing: Vec<String> },
}

/// Resolved input locations (absolute or relative to the current directory).
#[derive(Debug, Clone, Serialize)]
pub struct Inputs {
    /// VCF path pattern with `{chrom}` replaced per chromosome.
    pub vcf: String,
    pub genotype_field: GenotypeField,
    pub expression: PathBuf,
    pub genes: PathBuf,
    pub covariates: Option<PathBuf>,
    pub peaks: Option<PathBuf>,
    pub variant_annotations: Option<PathBuf>,
    pub gwas: Option<PathBuf>,
}

impl Inputs {
    /// The VCF of one chromosome.
    pub fn vcf_for(&self, chrom: &str) -> PathBuf {
        PathBuf::from(self.vcf.replace("{chrom}", chrom))
    }
}

/// SNP and sample quality control (MODEL.md §1).
#[derive(Debug, Clone, Serialize)]
pub struct Qc {
    pub max_missing: f64,
    pub min_maf: f64,
    pub min_mac: f64,
    pub min_samples: usize,
    pub expression_na: ExpressionNa,
}

/// Annotation features for the per-SNP prior (MODEL.md §1.8).
#[derive(Debug, Clone, Serialize)]
pub struct Annotation {
    pub tss_distance: TssDistance,
    pub signed_distance: bool,
    pub peak_overlap: bool,
    /// Columns of the variant-annotation file to use; empty = all of them.
    pub extra_columns: Vec<String>,
}

/// LD-block partition settings (MODEL.md §2).
#[derive(Debug, Clone, Serialize)]
pub struct Blocks {
    pub max_size: usize,
    pub ld_window: usize,
    /// `None` = `max(0.05, 5/n)` per gene.
    pub tau: Option<f64>,
}

/// Cross-validation scheme (MODEL.md §1.9).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "scheme", rename_all = "lowercase")]
pub enum Cv {
    /// K-fold CV plus one fit on all samples (fold 0).
    Kfold { folds: usize },
    /// One fixed train/test split plus one fit on all samples.
    Split { test_fraction: f64 },
}

/// One configured method.
#[derive(Debug, Clone, Serialize)]
pub struct Method {
    pub name: String,
    pub model: MethodKind,
    pub chains: usize,
    pub burnin: usize,
    pub samples: usize,
    pub thin: usize,
    pub inner_folds: usize,
    /// Sampler methods: X̃ rounded to single precision, the kernel streaming an f32 copy
    /// (MODEL.md §5: opt-in; off by default).
    pub single_precision: bool,
}

/// Compute resources.
#[derive(Debug, Clone, Serialize)]
pub struct Resources {
    /// 0 = `SLURM_CPUS_PER_TASK` if set, else all cores.
    pub threads: usize,
    pub genes_per_task: usize,
}

/// PredictDB export settings (PIPELINE.md, "The export stage").
#[derive(Debug, Clone, Serialize)]
pub struct Export {
    /// All genes with a model, or only those passing `min_r`/`max_pval`.
    pub genes: ExportGenes,
    /// Filter: pooled CV r must exceed this.
    pub min_r: f64,
    /// Filter: pooled CV p-value must be below this.
    pub max_pval: f64,
    /// Pruning: SNPs are added until the pruned prediction correlates at least this much with
    /// the full one in the reference genotypes.
    pub prune_min_r: f64,
    /// Pruning: at most this many SNPs per gene.
    pub max_snps: usize,
}

/// TWAS settings.
#[derive(Debug, Clone, Serialize)]
pub struct Twas {
    /// Methods whose exported models are tested, in configuration order.
    pub methods: Vec<String>,
}

/// Paired comparisons between methods (the finalize stage's `compare` step).
#[derive(Debug, Clone, Serialize)]
pub struct Compare {
    /// Method pairs (a, b): one-sided Wilcoxon, alternative "a has the larger test r".
    pub pairs: Vec<(String, String)>,
    /// Exact null distribution up to this many pairs (zeros included), normal approximation above.
    pub exact_max_n: usize,
    pub zero_method: ZeroMethodKind,
    pub correction: bool,
    /// A gene passes when pooled test r > `min_r` and its p-value < `max_p`.
    pub min_r: f64,
    pub max_p: f64,
}

/// Enrichment of active SNPs in peaks (the finalize stage's `enrich` step).
#[derive(Debug, Clone, Serialize)]
pub struct Enrich {
    pub bootstrap: usize,
    pub seed: u64,
    /// Differences are reported as `reference` minus every other method.
    pub reference: String,
    /// Causal SNPs of a simulated cohort, reported as the `truth` row.
    pub truth: Option<PathBuf>,
}

/// The validated pipeline configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Config {
    /// The pipeline file this came from.
    pub source: PathBuf,
    pub output_dir: PathBuf,
    pub seed: u64,
    pub chromosomes: Vec<String>,
    pub inputs: Inputs,
    pub cis_window_bp: u64,
    pub qc: Qc,
    pub annotation: Annotation,
    pub blocks: Blocks,
    pub cv: Cv,
    pub methods: Vec<Method>,
    pub resources: Resources,
    pub export: Export,
    pub twas: Twas,
    pub compare: Compare,
    pub enrich: Enrich,
}

impl Config {
    /// Reads, validates and resolves a pipeline file, and checks that every input exists.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let config = Self::from_yaml(&text, path)?;
        config.check_inputs()?;
        Ok(config)
    }

    /// Parses and validates YAML text; `path` names it in errors and anchors relative paths.
    pub fn from_yaml(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = serde_yaml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: describe_yaml_error(&e),
        })?;
        resolve(raw, text, path)
    }

    /// The resolved configuration as YAML, stored as the `config` attribute of every output.
    pub fn to_yaml(&self) -> String {
        serde_yaml::to_string(self).unwrap_or_else(|e| format!("# unserializable: {e}"))
    }

    /// Directory of the prepare caches.
    pub fn cache_dir(&self) -> PathBuf {
        self.output_dir.join("cache")
    }

    /// Directory of the finalize outputs.
    pub fn final_dir(&self) -> PathBuf {
        self.output_dir.join("final")
    }

    /// The aggregated HDF5 file of one chromosome.
    pub fn final_path(&self, chrom: &str) -> PathBuf {
        self.final_dir().join(format!("{chrom}.h5"))
    }

    /// The twas stage's association table.
    pub fn twas_path(&self) -> PathBuf {
        self.output_dir.join("twas").join("twas.tsv")
    }

    /// The report.
    pub fn report_path(&self) -> PathBuf {
        self.output_dir.join("report.html")
    }

    /// The prepare cache of one chromosome.
    pub fn cache_path(&self, chrom: &str) -> PathBuf {
        self.cache_dir().join(format!("{chrom}.h5"))
    }

    /// Lists every configured input that does not exist, all at once.
    pub fn check_inputs(&self) -> Result<(), ConfigError> {
        let mut missing = Vec::new();
        let mut need = |key: &str, p: &Path| {
            if !p.exists() {
                missing.push(format!("  {key}: {}", p.display()));
            }
        };
        for chrom in &self.chromosomes {
            let vcf = self.inputs.vcf_for(chrom);
            need(&format!("inputs.vcf ({chrom})"), &vcf);
        }
        need("inputs.expression", &self.inputs.expression);
        need("inputs.genes", &self.inputs.genes);
        let optional = [
            ("inputs.covariates", &self.inputs.covariates),
            ("inputs.peaks", &self.inputs.peaks),
            (
                "inputs.variant_annotations",
                &self.inputs.variant_annotations,
            ),
            ("inputs.gwas", &self.inputs.gwas),
            ("enrich.truth", &self.enrich.truth),
        ];
        for (key, p) in optional {
            if let Some(p) = p {
                need(key, p);
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::MissingInputs {
                path: self.source.clone(),
                missing,
            })
        }
    }
}

fn describe_yaml_error(e: &serde_yaml::Error) -> String {
    let msg = e.to_string();
    match e.location() {
        Some(loc) if !msg.contains("line ") => {
            format!("{msg} (line {}, column {})", loc.line(), loc.column())
        }
        _ => msg,
    }
}

/// Validates raw values; every problem is reported with its key and line, all at once.
fn resolve(raw: RawConfig, text: &str, path: &Path) -> Result<Config, ConfigError> {
    let mut problems = Vec::new();
    let mut bad = |key: &str, msg: String| {
        let line = locate::key_line(text, key)
            .map(|l| format!(" (line {l})"))
            .unwrap_or_default();
        problems.push(format!("  {key}{line}: {msg}"));
    };
    let base = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let anchor = |p: &Path| -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            base.join(p)
        }
    };

    if raw.chromosomes.is_empty() {
        bad("chromosomes", "at least one chromosome is required".into());
    }
    let mut seen = BTreeSet::new();
    for c in &raw.chromosomes {
        if !seen.insert(c) {
            bad("chromosomes", format!("chromosome `{c}` is listed twice"));
        }
        if c.is_empty() || c.contains('/') {
            bad("chromosomes", format!("`{c}` is not a contig name"));
        }
    }
    if raw.chromosomes.len() > 1 && !raw.inputs.vcf.contains("{chrom}") {
        bad(
            "inputs.vcf",
            format!(
                "`{}` has no `{{chrom}}` placeholder but {} chromosomes are configured",
                raw.inputs.vcf,
                raw.chromosomes.len()
            ),
        );
    }
    if raw.cis.window_bp <= 0 {
        bad(
            "cis.window_bp",
            format!(
                "must be a positive number of base pairs, got {}",
                raw.cis.window_bp
            ),
        );
    }
    let qc = &raw.qc;
    if !(0.0..1.0).contains(&qc.max_missing) {
        bad(
            "qc.max_missing",
            format!("must be in [0, 1), got {}", qc.max_missing),
        );
    }
    if !(0.0..0.5).contains(&qc.min_maf) {
        bad(
            "qc.min_maf",
            format!("must be in [0, 0.5), got {}", qc.min_maf),
        );
    }
    if qc.min_mac < 0.0 || !qc.min_mac.is_finite() {
        bad("qc.min_mac", format!("must be >= 0, got {}", qc.min_mac));
    }
    if qc.min_samples < 2 {
        bad(
            "qc.min_samples",
            format!("must be at least 2, got {}", qc.min_samples),
        );
    }
    if raw.blocks.max_size == 0 {
        bad("blocks.max_size", "must be at least 1".into());
    }
    if raw.blocks.ld_window == 0 {
        bad("blocks.ld_window", "must be at least 1".into());
    }
    let tau = match raw.blocks.tau.as_deref() {
        None | Some("auto") => None,
        Some(s) => match s.parse::<f64>() {
            Ok(t) if (0.0..=1.0).contains(&t) => Some(t),
            _ => {
                bad(
                    "blocks.tau",
                    format!("must be `auto` or a number in [0, 1], got `{s}`"),
                );
                None
            }
        },
    };
    let cv = match raw.cv.scheme.as_str() {
        "kfold" => {
            if raw.cv.folds < 2 {
                bad(
                    "cv.folds",
                    format!("k-fold CV needs at least 2 folds, got {}", raw.cv.folds),
                );
            }
            Cv::Kfold {
                folds: raw.cv.folds,
            }
        }
        "split" => {
            if !(raw.cv.test_fraction > 0.0 && raw.cv.test_fraction < 1.0) {
                bad(
                    "cv.test_fraction",
                    format!("must be in (0, 1), got {}", raw.cv.test_fraction),
                );
            }
            Cv::Split {
                test_fraction: raw.cv.test_fraction,
            }
        }
        other => {
            bad(
                "cv.scheme",
                format!("must be `kfold` or `split`, got `{other}`"),
            );
            Cv::Kfold { folds: 5 }
        }
    };
    let mut names = BTreeSet::new();
    let mut methods = Vec::new();
    for m in &raw.methods {
        let name = m
            .name
            .clone()
            .unwrap_or_else(|| m.model.as_str().to_string());
        if !names.insert(name.clone()) {
            bad(
                "methods",
                format!("method name `{name}` is used twice; give one a `name:`"),
            );
        }
        if m.chains == 0 {
            bad(
                "methods.chains",
                format!("method `{name}`: must be at least 1"),
            );
        }
        if m.model.is_bayesian() && m.samples == 0 {
            bad(
                "methods.samples",
                format!("method `{name}`: must be at least 1"),
            );
        }
        if m.inner_folds < 2 {
            bad(
                "methods.inner_folds",
                format!(
                    "method `{name}`: at least 2 inner folds, got {}",
                    m.inner_folds
                ),
            );
        }
        if m.single_precision && !m.model.is_bayesian() {
            bad(
                "methods.single_precision",
                format!("method `{name}`: only the Bayesian models have a single-precision design"),
            );
        }
        if m.thin == 0 {
            bad(
                "methods.thin",
                format!("method `{name}`: must be at least 1"),
            );
        }
        methods.push(Method {
            name,
            model: m.model,
            chains: m.chains,
            burnin: m.burnin,
            samples: m.samples,
            thin: m.thin,
            inner_folds: m.inner_folds,
            single_precision: m.single_precision,
        });
    }
    if raw.resources.genes_per_task == 0 {
        bad("resources.genes_per_task", "must be at least 1".into());
    }
    let ex = &raw.export;
    if !(-1.0..1.0).contains(&ex.min_r) {
        bad(
            "export.min_r",
            format!("must be in [-1, 1), got {}", ex.min_r),
        );
    }
    if !(ex.max_pval > 0.0 && ex.max_pval <= 1.0) {
        bad(
            "export.max_pval",
            format!("must be in (0, 1], got {}", ex.max_pval),
        );
    }
    if !(ex.prune_min_r > 0.0 && ex.prune_min_r <= 1.0) {
        bad(
            "export.prune_min_r",
            format!("must be in (0, 1], got {}", ex.prune_min_r),
        );
    }
    if ex.max_snps == 0 {
        bad("export.max_snps", "must be at least 1".into());
    }
    let twas_methods = if raw.twas.methods.is_empty() {
        methods.iter().map(|m| m.name.clone()).collect()
    } else {
        for m in &raw.twas.methods {
            if !names.contains(m) {
                bad(
                    "twas.methods",
                    format!(
                        "`{m}` is not a configured method (configured: {})",
                        names.iter().cloned().collect::<Vec<_>>().join(", ")
                    ),
                );
            }
        }
        raw.twas.methods.clone()
    };
    for [a, b] in &raw.compare.pairs {
        if a == b {
            bad(
                "compare.pairs",
                format!("pair [{a}, {b}] compares a method with itself"),
            );
        }
    }
    if !(raw.compare.max_p > 0.0 && raw.compare.max_p <= 1.0) {
        bad(
            "compare.max_p",
            format!("must be in (0, 1], got {}", raw.compare.max_p),
        );
    }
    if !(-1.0..1.0).contains(&raw.compare.min_r) {
        bad(
            "compare.min_r",
            format!("must be in [-1, 1), got {}", raw.compare.min_r),
        );
    }
    if raw.enrich.bootstrap == 0 {
        bad("enrich.bootstrap", "must be at least 1".into());
    }
    if !problems.is_empty() {
        return Err(ConfigError::Invalid {
            path: path.to_path_buf(),
            problems,
        });
    }

    let vcf_pattern = {
        let p = Path::new(&raw.inputs.vcf);
        anchor(p).to_string_lossy().into_owned()
    };
    let opt = |p: &Option<PathBuf>| p.as_deref().map(anchor);
    Ok(Config {
        source: path.to_path_buf(),
        output_dir: anchor(&raw.output_dir),
        seed: raw.seed,
        chromosomes: raw.chromosomes,
        inputs: Inputs {
            vcf: vcf_pattern,
            genotype_field: raw.inputs.genotype_field,
            expression: anchor(&raw.inputs.expression),
            genes: anchor(&raw.inputs.genes),
            covariates: opt(&raw.inputs.covariates),
            peaks: opt(&raw.inputs.peaks),
            variant_annotations: opt(&raw.inputs.variant_annotations),
            gwas: opt(&raw.inputs.gwas),
        },
        cis_window_bp: raw.cis.window_bp as u64,
        qc: Qc {
            max_missing: raw.qc.max_missing,
            min_maf: raw.qc.min_maf,
            min_mac: raw.qc.min_mac,
            min_samples: raw.qc.min_samples,
            expression_na: raw.qc.expression_na,
        },
        annotation: Annotation {
            tss_distance: raw.annotation.tss_distance,
            signed_distance: raw.annotation.signed_distance,
            peak_overlap: raw.annotation.peak_overlap,
            extra_columns: raw.annotation.extra_columns,
        },
        blocks: Blocks {
            max_size: raw.blocks.max_size,
            ld_window: raw.blocks.ld_window,
            tau,
        },
        cv,
        methods,
        resources: Resources {
            threads: raw.resources.threads,
            genes_per_task: raw.resources.genes_per_task,
        },
        export: Export {
            genes: raw.export.genes,
            min_r: raw.export.min_r,
            max_pval: raw.export.max_pval,
            prune_min_r: raw.export.prune_min_r,
            max_snps: raw.export.max_snps,
        },
        twas: Twas {
            methods: twas_methods,
        },
        compare: Compare {
            pairs: raw.compare.pairs.into_iter().map(|[a, b]| (a, b)).collect(),
            exact_max_n: raw.compare.exact_max_n,
            zero_method: raw.compare.zero_method,
            correction: raw.compare.correction,
            min_r: raw.compare.min_r,
            max_p: raw.compare.max_p,
        },
        enrich: Enrich {
            bootstrap: raw.enrich.bootstrap,
            seed: raw.enrich.seed.unwrap_or(raw.seed),
            reference: raw.enrich.reference,
            truth: opt(&raw.enrich.truth),
        },
    })
}

#[cfg(test)]
mod tests;
