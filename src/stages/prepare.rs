//! The `prepare` stage (MODEL.md §1–2): per chromosome, match samples across genotypes,
//! expression and covariates; per gene, read the cis window through tabix, run SNP QC, compute
//! the fold-0 design (covariate projection, scaling), annotation features and LD blocks; write
//! one HDF5 cache per chromosome (layout in PIPELINE.md). A gene that cannot be prepared is
//! recorded with its status and reason, and the chromosome goes on.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use rayon::prelude::*;
use thiserror::Error;
use tracing::{info, info_span, warn};

use crate::config::{Config, Cv, ExpressionNa, TssDistance};
use crate::dist::progress::Progress;
use crate::io::annotations::{read_variant_annotations, AnnotationError, VariantAnnotations};
use crate::io::covariates::{read_covariates, CovariateError, Covariates};
use crate::io::expression::{read_expression, Expression, ExpressionError, NaPolicy};
use crate::io::genes::{read_genes, strip_version, Gene, GeneError, Strand};
use crate::io::intervals::{read_bed_intervals, IntervalError, IntervalSet};
use crate::io::store::{self, H5Writer, Out, StoreError};
use crate::io::vcf::{QueryStats, Site, VcfError, VcfReader};
use crate::model::ld::{default_tau, ld_band, partition_blocks};
use crate::model::preprocess::{
    annotation_features, build_design, snp_qc, AnnotationSpec, QcOutcome, QcThresholds, TssFeature,
};
use crate::stages::StageOutcome;

/// Genes prepared in parallel before their results are written (bounds memory).
const CHUNK: usize = 32;

/// Errors that stop the prepare stage (bad input files); gene-level problems are recorded instead.
#[derive(Debug, Error)]
pub enum PrepareError {
    #[error(transparent)]
    Expression(#[from] ExpressionError),
    #[error(transparent)]
    Genes(#[from] GeneError),
    #[error(transparent)]
    Covariates(#[from] CovariateError),
    #[error(transparent)]
    Peaks(#[from] IntervalError),
    #[error(transparent)]
    Annotations(#[from] AnnotationError),
    #[error(transparent)]
    Vcf(#[from] VcfError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Too few (or no) samples are shared between the input files.
    #[error("{0}")]
    SampleOverlap(String),
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Status of one gene in the cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeneStatus {
    Ok,
    NoSnps,
    TooFewSamples,
    NotInGeneTable,
    ContigMissing,
    Failed,
}

impl GeneStatus {
    /// The string stored in the cache and shown by `status`.
    pub fn as_str(&self) -> &'static str {
        match self {
            GeneStatus::Ok => "ok",
            GeneStatus::NoSnps => "no_snps",
            GeneStatus::TooFewSamples => "too_few_samples",
            GeneStatus::NotInGeneTable => "not_in_gene_table",
            GeneStatus::ContigMissing => "contig_missing",
            GeneStatus::Failed => "failed",
        }
    }
}

/// Inputs shared by every chromosome, read once.
struct Shared {
    expression: Expression,
    genes: BTreeMap<String, Gene>,
    covariates: Option<Covariates>,
    peaks: Option<IntervalSet>,
    annotations: Option<(VariantAnnotations, Vec<usize>)>,
}

/// One gene to prepare.
struct GeneJob {
    gene_id: String,
    expr_row: usize,
    gene: Option<Gene>,
}

/// Per-SNP QC and window counts for one gene.
#[derive(Default, Clone, Debug)]
struct Counts {
    sites: usize,
    multiallelic: usize,
    too_much_missing: usize,
    low_maf: usize,
    low_mac: usize,
    monomorphic: usize,
    collinear: usize,
}

/// A prepared gene, ready to be written.
struct Prepared {
    ids: Vec<String>,
    pos: Vec<u64>,
    ref_allele: Vec<String>,
    alt_allele: Vec<String>,
    alt_freq: Vec<f64>,
    maf: Vec<f64>,
    missing_rate: Vec<f64>,
    in_peak: Vec<u8>,
    center: Vec<f64>,
    scale: Vec<f64>,
    /// p × n, row per SNP.
    dosage: Vec<f32>,
    expression: Vec<f64>,
    n_used: usize,
    sd_y: f64,
    ann_names: Vec<String>,
    /// p × K row-major.
    ann_values: Vec<f64>,
    blocks: Vec<std::ops::Range<usize>>,
    tau: f64,
}

struct GeneResult {
    gene_id: String,
    gene: Option<Gene>,
    status: GeneStatus,
    reason: String,
    window: (u64, u64),
    counts: Counts,
    prepared: Option<Prepared>,
}

/// Runs `prepare` for the given chromosomes.
pub fn run(config: &Config, chroms: &[String], force: bool) -> Result<StageOutcome, PrepareError> {
    let todo: Vec<&String> = chroms
        .iter()
        .filter(|c| {
            let done = !force && store::is_complete(&config.cache_path(c));
            if done {
                info!("prepare {c}: cache complete, skipped (use --force to redo)");
            }
            !done
        })
        .collect();
    let mut outcome = StageOutcome {
        skipped: chroms.len() - todo.len(),
        ..Default::default()
    };
    if todo.is_empty() {
        return Ok(outcome);
    }
    let shared = load_shared(config, chroms)?;
    for chrom in todo {
        let _span = info_span!("prepare", chrom = %chrom).entered();
        let failed_path = config.cache_dir().join(format!("{chrom}.failed"));
        match prepare_chrom(config, &shared, chrom) {
            Ok(n_failed_genes) => {
                let _ = std::fs::remove_file(&failed_path);
                outcome.done += 1;
                outcome.failures += n_failed_genes;
            }
            Err(e) => {
                warn!("prepare {chrom} failed: {e}");
                store::write_text_atomic(&failed_path, &format!("{e}\n")).map_err(|source| {
                    PrepareError::Write {
                        path: failed_path.clone(),
                        source,
                    }
                })?;
                outcome.failures += 1;
            }
        }
    }
    Ok(outcome)
}

fn load_shared(config: &Config, chroms: &[String]) -> Result<Shared, PrepareError> {
    let na = match config.qc.expression_na {
        ExpressionNa::Error => NaPolicy::Error,
        ExpressionNa::Drop => NaPolicy::Keep,
    };
    let expression = read_expression(&config.inputs.expression, na)?;
    info!(
        "expression {}: {} genes x {} samples",
        config.inputs.expression.display(),
        expression.genes.len(),
        expression.samples.len()
    );
    let genes: BTreeMap<String, Gene> = read_genes(&config.inputs.genes)?
        .into_iter()
        .map(|g| (g.gene_id.clone(), g))
        .collect();
    info!(
        "genes {}: {} genes",
        config.inputs.genes.display(),
        genes.len()
    );
    let covariates = match &config.inputs.covariates {
        Some(p) => {
            let c = read_covariates(p)?;
            info!(
                "covariates {}: {} covariates x {} samples",
                p.display(),
                c.names.len(),
                c.samples.len()
            );
            Some(c)
        }
        None => None,
    };
    let peaks = match &config.inputs.peaks {
        Some(p) => {
            let s = read_bed_intervals(p)?;
            info!(
                "peaks {}: {} merged intervals, {} bp",
                p.display(),
                s.len(),
                s.total_bp()
            );
            Some(s)
        }
        None => None,
    };
    let annotations = match &config.inputs.variant_annotations {
        Some(p) => {
            let a = read_variant_annotations(p, Some(chroms))?;
            let cols = if config.annotation.extra_columns.is_empty() {
                (0..a.names.len()).collect()
            } else {
                a.select(&config.annotation.extra_columns)?
            };
            Some((a, cols))
        }
        None => None,
    };
    Ok(Shared {
        expression,
        genes,
        covariates,
        peaks,
        annotations,
    })
}

/// Sample matching for one chromosome: VCF order, restricted to samples in every input.
struct Samples {
    ids: Vec<String>,
    vcf_idx: Vec<usize>,
    expr_idx: Vec<usize>,
    cov_idx: Vec<usize>,
}

fn match_samples(
    vcf: &VcfReader,
    expr: &Expression,
    cov: Option<&Covariates>,
    min_samples: usize,
) -> Result<Samples, PrepareError> {
    let expr_pos: HashMap<&str, usize> = expr
        .samples
        .iter()
        .enumerate()
        .map(|(i, s)| (s.as_str(), i))
        .collect();
    let cov_pos: Option<HashMap<&str, usize>> = cov.map(|c| {
        c.samples
            .iter()
            .enumerate()
            .map(|(i, s)| (s.as_str(), i))
            .collect()
    });
    let mut s = Samples {
        ids: Vec::new(),
        vcf_idx: Vec::new(),
        expr_idx: Vec::new(),
        cov_idx: Vec::new(),
    };
    for (vi, id) in vcf.samples().iter().enumerate() {
        let Some(&ei) = expr_pos.get(id.as_str()) else {
            continue;
        };
        let ci = match &cov_pos {
            Some(m) => match m.get(id.as_str()) {
                Some(&ci) => ci,
                None => continue,
            },
            None => 0,
        };
        s.ids.push(id.clone());
        s.vcf_idx.push(vi);
        s.expr_idx.push(ei);
        s.cov_idx.push(ci);
    }
    let describe = |name: &str, path: &Path, ids: &[String]| {
        let eg: Vec<&str> = ids.iter().take(3).map(String::as_str).collect();
        format!(
            "{name} {} has {} samples (e.g. {})",
            path.display(),
            ids.len(),
            eg.join(", ")
        )
    };
    let mut parts = vec![
        describe("VCF", vcf.path(), vcf.samples()),
        describe("expression", &expr.path, &expr.samples),
    ];
    if let Some(c) = cov {
        parts.push(describe("covariates", &c.path, &c.samples));
    }
    let n = s.ids.len();
    info!(
        "samples: VCF {}, expression {}, covariates {}, shared {}",
        vcf.samples().len(),
        expr.samples.len(),
        cov.map_or("-".to_string(), |c| c.samples.len().to_string()),
        n
    );
    if n == 0 {
        return Err(PrepareError::SampleOverlap(format!(
            "no sample is shared between the inputs: {}. Sample IDs must match exactly (case-sensitive).",
            parts.join("; ")
        )));
    }
    if n < min_samples {
        return Err(PrepareError::SampleOverlap(format!(
            "only {n} samples are shared between the inputs (qc.min_samples = {min_samples}): {}",
            parts.join("; ")
        )));
    }
    let unused = |all: &[String]| -> (usize, Vec<String>) {
        let used: std::collections::HashSet<&str> = s.ids.iter().map(String::as_str).collect();
        let rest: Vec<&String> = all.iter().filter(|x| !used.contains(x.as_str())).collect();
        (
            rest.len(),
            rest.iter().take(3).map(|x| x.to_string()).collect(),
        )
    };
    let mut notes = Vec::new();
    let (nv, ev) = unused(vcf.samples());
    if nv > 0 {
        notes.push(format!("{nv} VCF samples unused (e.g. {})", ev.join(", ")));
    }
    let (ne, ee) = unused(&expr.samples);
    if ne > 0 {
        notes.push(format!(
            "{ne} expression samples unused (e.g. {})",
            ee.join(", ")
        ));
    }
    if let Some(c) = cov {
        let (nc, ec) = unused(&c.samples);
        if nc > 0 {
            notes.push(format!(
                "{nc} covariate samples unused (e.g. {})",
                ec.join(", ")
            ));
        }
    }
    if !notes.is_empty() {
        warn!(
            "partial sample overlap, {n} samples used: {}",
            notes.join("; ")
        );
    }
    Ok(s)
}

fn prepare_chrom(config: &Config, shared: &Shared, chrom: &str) -> Result<usize, PrepareError> {
    let vcf_path = config.inputs.vcf_for(chrom);
    let reader = VcfReader::open(&vcf_path)?;
    let samples = match_samples(
        &reader,
        &shared.expression,
        shared.covariates.as_ref(),
        config.qc.min_samples,
    )?;
    let n = samples.ids.len();
    let folds = match config.cv {
        Cv::Kfold { folds } => crate::rng::assign_folds(config.seed, &samples.ids, folds),
        Cv::Split { test_fraction } => {
            crate::rng::split_fold(config.seed, &samples.ids, test_fraction)
        }
    };
    let (cov_names, cov_values) = match &shared.covariates {
        Some(c) => {
            let mut m = vec![0.0; n * c.names.len()];
            for (k, col) in c.values.iter().enumerate() {
                for (i, &ci) in samples.cov_idx.iter().enumerate() {
                    m[k * n + i] = col[ci];
                }
            }
            (c.names.clone(), m)
        }
        None => (Vec::new(), Vec::new()),
    };

    let mut jobs: Vec<GeneJob> = shared
        .expression
        .genes
        .iter()
        .enumerate()
        .filter(|(_, g)| g.chrom == chrom)
        .map(|(row, g)| GeneJob {
            gene_id: g.gene_id.clone(),
            expr_row: row,
            gene: shared
                .genes
                .get(&g.gene_id)
                .or_else(|| {
                    let bare = strip_version(&g.gene_id);
                    shared
                        .genes
                        .values()
                        .find(|x| strip_version(&x.gene_id) == bare)
                })
                .cloned(),
        })
        .collect();
    jobs.sort_by(|a, b| {
        let ta = a.gene.as_ref().map_or(u64::MAX, |g| g.tss);
        let tb = b.gene.as_ref().map_or(u64::MAX, |g| g.tss);
        (ta, &a.gene_id).cmp(&(tb, &b.gene_id))
    });
    info!("{chrom}: {} genes, {n} samples", jobs.len());
    drop(reader);

    let cache = config.cache_path(chrom);
    let writer = H5Writer::create(&cache)?;
    let root = writer.out();
    root.attr("format_version", store::FORMAT_VERSION)?;
    root.attr_str("tool_version", env!("CARGO_PKG_VERSION"))?;
    root.attr_str("kind", "prepare_cache")?;
    root.attr_str("chrom", chrom)?;
    root.attr_str("vcf", &vcf_path.to_string_lossy())?;
    root.attr("seed", config.seed)?;
    root.attr_str("config", &config.to_yaml())?;
    let sg = root.group("samples")?;
    sg.out().strings("id", &samples.ids)?;
    sg.out().vec("fold", &folds)?;
    let cg = root.group("covariates")?;
    cg.out().strings("names", &cov_names)?;
    cg.out()
        .data("values", &cov_values, &[cov_names.len(), n])?;
    let genes_group = root.group("genes")?;

    let progress = Progress::new(&format!("prepare {chrom}"), jobs.len(), 10);
    let ctx = ChromCtx {
        config,
        shared,
        vcf_path: &vcf_path,
        samples: &samples,
        cov_values: &cov_values,
        q0: cov_names.len(),
    };
    let mut table = Vec::with_capacity(jobs.len());
    for chunk in jobs.chunks(CHUNK) {
        let results: Vec<GeneResult> = chunk
            .par_iter()
            .map_init(
                || None::<VcfReader>,
                |reader, job| {
                    let r = prepare_gene(&ctx, reader, job);
                    progress.inc(1);
                    r
                },
            )
            .collect();
        for r in results {
            if r.status != GeneStatus::Ok {
                warn!(
                    "{chrom} {}: {} ({})",
                    r.gene_id,
                    r.status.as_str(),
                    r.reason
                );
            }
            if let Some(p) = &r.prepared {
                write_gene(genes_group.out(), &r, p, config)?;
            }
            table.push(r);
        }
    }
    progress.finish();
    write_table(root, &table)?;
    let ok = table.iter().filter(|r| r.status == GeneStatus::Ok).count();
    root.attr("n_genes", table.len() as u64)?;
    root.attr("n_genes_ok", ok as u64)?;
    writer.finish()?;
    let failed = table
        .iter()
        .filter(|r| matches!(r.status, GeneStatus::Failed | GeneStatus::ContigMissing))
        .count();
    info!(
        "{chrom}: {ok} of {} genes prepared, {} skipped by QC, {failed} failed -> {}",
        table.len(),
        table.len() - ok - failed,
        cache.display()
    );
    Ok(failed)
}

struct ChromCtx<'a> {
    config: &'a Config,
    shared: &'a Shared,
    vcf_path: &'a Path,
    samples: &'a Samples,
    cov_values: &'a [f64],
    q0: usize,
}

fn result(job: &GeneJob, status: GeneStatus, reason: String) -> GeneResult {
    GeneResult {
        gene_id: job.gene_id.clone(),
        gene: job.gene.clone(),
        status,
        reason,
        window: (0, 0),
        counts: Counts::default(),
        prepared: None,
    }
}

fn prepare_gene(ctx: &ChromCtx, reader: &mut Option<VcfReader>, job: &GeneJob) -> GeneResult {
    let _span = info_span!("gene", gene = %job.gene_id).entered();
    let Some(gene) = &job.gene else {
        return result(
            job,
            GeneStatus::NotInGeneTable,
            format!(
                "gene {} (expression line {}) is not in the gene table {}",
                job.gene_id,
                ctx.shared.expression.genes[job.expr_row].line,
                ctx.config.inputs.genes.display()
            ),
        );
    };
    if reader.is_none() {
        match VcfReader::open(ctx.vcf_path) {
            Ok(r) => *reader = Some(r),
            Err(e) => return result(job, GeneStatus::Failed, e.to_string()),
        }
    }
    let Some(rd) = reader.as_mut() else {
        return result(job, GeneStatus::Failed, "VCF reader unavailable".into());
    };
    if !rd.has_contig(&gene.chrom) {
        return result(
            job,
            GeneStatus::ContigMissing,
            format!(
                "gene {} is on contig {} but the VCF {} has no records for it (contigs: {})",
                job.gene_id,
                gene.chrom,
                ctx.vcf_path.display(),
                rd.contigs().join(", ")
            ),
        );
    }
    let w = ctx.config.cis_window_bp;
    let window = (gene.tss.saturating_sub(w).max(1), gene.tss + w);
    let field = ctx.config.inputs.genotype_field;
    let mut qs = QueryStats::default();
    let sites = match rd.query(
        &gene.chrom,
        window.0,
        window.1,
        field,
        &ctx.samples.vcf_idx,
        &mut qs,
    ) {
        Ok(s) => s,
        Err(e) => return result(job, GeneStatus::Failed, e.to_string()),
    };
    let mut r = result(job, GeneStatus::Ok, String::new());
    r.window = window;
    r.counts.sites = qs.records;
    r.counts.multiallelic = qs.multiallelic;
    match prepare_design(ctx, job, gene, sites, &mut r.counts) {
        Ok(p) => r.prepared = Some(p),
        Err((status, reason)) => {
            r.status = status;
            r.reason = reason;
        }
    }
    r
}

fn prepare_design(
    ctx: &ChromCtx,
    job: &GeneJob,
    gene: &Gene,
    sites: Vec<Site>,
    counts: &mut Counts,
) -> Result<Prepared, (GeneStatus, String)> {
    let n = ctx.samples.ids.len();
    let qc = &ctx.config.qc;
    let thresholds = QcThresholds {
        max_missing: qc.max_missing,
        min_maf: qc.min_maf,
        min_mac: qc.min_mac,
    };
    let expr_row = &ctx.shared.expression.genes[job.expr_row];
    let expression: Vec<f64> = ctx
        .samples
        .expr_idx
        .iter()
        .map(|&i| expr_row.values[i])
        .collect();
    let train: Vec<usize> = (0..n).filter(|&i| expression[i].is_finite()).collect();
    let q = ctx.q0 + 1;
    if train.len() < qc.min_samples + q {
        return Err((
            GeneStatus::TooFewSamples,
            format!(
                "{} samples with expression and {} nuisance columns leave fewer than qc.min_samples = {}",
                train.len(),
                q,
                qc.min_samples
            ),
        ));
    }
    let mut kept = Vec::new();
    let mut stats = Vec::new();
    for site in sites {
        let s = snp_qc_on(&site.dosage, &train, &thresholds);
        match s.outcome {
            QcOutcome::Keep => {
                stats.push(s);
                kept.push(site);
            }
            QcOutcome::TooMuchMissing => counts.too_much_missing += 1,
            QcOutcome::LowMaf => counts.low_maf += 1,
            QcOutcome::LowMac => counts.low_mac += 1,
            QcOutcome::Monomorphic => counts.monomorphic += 1,
        }
    }
    if kept.is_empty() {
        return Err((
            GeneStatus::NoSnps,
            format!(
                "no SNP passes QC in {}:{}-{} ({} sites: {} multi-allelic, {} missing>{}, {} MAF<{}, {} MAC<{}, {} monomorphic)",
                gene.chrom,
                gene.tss.saturating_sub(ctx.config.cis_window_bp).max(1),
                gene.tss + ctx.config.cis_window_bp,
                counts.sites,
                counts.multiallelic,
                counts.too_much_missing,
                qc.max_missing,
                counts.low_maf,
                qc.min_maf,
                counts.low_mac,
                qc.min_mac,
                counts.monomorphic
            ),
        ));
    }
    let p_all = kept.len();
    let mut g = vec![0f32; n * p_all];
    for (j, s) in kept.iter().enumerate() {
        g[j * n..(j + 1) * n].copy_from_slice(&s.dosage);
    }
    let design = build_design(&g, n, p_all, &expression, ctx.cov_values, ctx.q0, &train)
        .map_err(|e| (GeneStatus::Failed, format!("design: {e}")))?;
    counts.collinear = p_all - design.snp_kept.len();
    if design.snp_kept.is_empty() {
        return Err((
            GeneStatus::NoSnps,
            format!("all {p_all} QC-passing SNPs are collinear with the covariates"),
        ));
    }
    let p = design.snp_kept.len();
    let nd = design.n;
    let band = ld_band(&design.x, nd, p, ctx.config.blocks.ld_window);
    let tau = ctx.config.blocks.tau.unwrap_or_else(|| default_tau(nd));
    let blocks = partition_blocks(&band, ctx.config.blocks.max_size, tau);

    let sel: Vec<&Site> = design.snp_kept.iter().map(|&j| &kept[j]).collect();
    let pos: Vec<u64> = sel.iter().map(|s| s.pos).collect();
    let in_peak: Vec<bool> = match &ctx.shared.peaks {
        Some(pk) => pos.iter().map(|&x| pk.contains(&gene.chrom, x)).collect(),
        None => vec![false; p],
    };
    let extra: Vec<(String, Vec<f64>)> = match &ctx.shared.annotations {
        Some((a, cols)) => cols
            .iter()
            .map(|&c| {
                let vals = pos
                    .iter()
                    .map(|&x| a.get(&gene.chrom, x).map_or(f64::NAN, |v| v[c]))
                    .collect();
                (a.names[c].clone(), vals)
            })
            .collect(),
        None => Vec::new(),
    };
    let spec = AnnotationSpec {
        tss: match ctx.config.annotation.tss_distance {
            TssDistance::Log => TssFeature::Log,
            TssDistance::Bins => TssFeature::Bins,
        },
        signed: ctx.config.annotation.signed_distance,
        peak: ctx.config.annotation.peak_overlap && ctx.shared.peaks.is_some(),
    };
    let ann = annotation_features(
        &pos,
        gene.tss,
        gene.strand == Strand::Plus,
        Some(&in_peak),
        &extra,
        &spec,
    );
    let mut ann_values = vec![0.0; p * ann.k];
    for k in 0..ann.k {
        for j in 0..p {
            ann_values[j * ann.k + k] = ann.values[k * p + j];
        }
    }
    let mut dosage = vec![0f32; p * n];
    for (jj, &j) in design.snp_kept.iter().enumerate() {
        dosage[jj * n..(jj + 1) * n].copy_from_slice(&g[j * n..(j + 1) * n]);
    }
    let st: Vec<_> = design.snp_kept.iter().map(|&j| &stats[j]).collect();
    Ok(Prepared {
        ids: sel.iter().map(|s| s.id.clone()).collect(),
        pos,
        ref_allele: sel.iter().map(|s| s.ref_allele.clone()).collect(),
        alt_allele: sel.iter().map(|s| s.alt_allele.clone()).collect(),
        alt_freq: st.iter().map(|s| s.alt_freq).collect(),
        maf: st.iter().map(|s| s.maf).collect(),
        missing_rate: st.iter().map(|s| s.missing_rate).collect(),
        in_peak: in_peak.iter().map(|&b| b as u8).collect(),
        center: design.center.clone(),
        scale: design.scale.clone(),
        dosage,
        expression,
        n_used: train.len(),
        sd_y: design.sd_y,
        ann_names: ann.names,
        ann_values,
        blocks,
        tau,
    })
}

/// SNP QC on the samples that have expression for this gene.
fn snp_qc_on(dosage: &[f32], train: &[usize], t: &QcThresholds) -> crate::model::preprocess::SnpQc {
    if train.len() == dosage.len() {
        snp_qc(dosage, t)
    } else {
        let d: Vec<f32> = train.iter().map(|&i| dosage[i]).collect();
        snp_qc(&d, t)
    }
}

fn write_gene(genes: Out, r: &GeneResult, p: &Prepared, config: &Config) -> Result<(), StoreError> {
    let g = genes.group(&r.gene_id)?;
    let o = g.out();
    let gene = r.gene.as_ref();
    o.attr_str("gene_id", &r.gene_id)?;
    o.attr_str("gene_name", gene.map_or("", |g| g.gene_name.as_str()))?;
    o.attr_str("chrom", gene.map_or("", |g| g.chrom.as_str()))?;
    o.attr("tss", gene.map_or(0, |g| g.tss))?;
    o.attr_str(
        "strand",
        if gene.is_some_and(|g| g.strand == Strand::Minus) {
            "-"
        } else {
            "+"
        },
    )?;
    o.attr("window_start", r.window.0)?;
    o.attr("window_end", r.window.1)?;
    o.attr("n_samples", p.n_used as u64)?;
    o.attr("n_snps", p.pos.len() as u64)?;
    o.attr("sd_y", p.sd_y)?;
    o.attr("tau", p.tau)?;
    o.attr("cis_window_bp", config.cis_window_bp)?;
    let c = &r.counts;
    o.attr("sites_in_window", c.sites as u64)?;
    o.attr("dropped_multiallelic", c.multiallelic as u64)?;
    o.attr("dropped_missing", c.too_much_missing as u64)?;
    o.attr("dropped_maf", c.low_maf as u64)?;
    o.attr("dropped_mac", c.low_mac as u64)?;
    o.attr("dropped_monomorphic", c.monomorphic as u64)?;
    o.attr("dropped_collinear", c.collinear as u64)?;
    let n = p.expression.len();
    let np = p.pos.len();
    let snps = o.group("snps")?;
    let s = snps.out();
    s.strings("id", &p.ids)?;
    s.vec("pos", &p.pos)?;
    s.strings("ref", &p.ref_allele)?;
    s.strings("alt", &p.alt_allele)?;
    s.vec("alt_freq", &p.alt_freq)?;
    s.vec("maf", &p.maf)?;
    s.vec("missing_rate", &p.missing_rate)?;
    s.vec("in_peak", &p.in_peak)?;
    s.vec("center", &p.center)?;
    s.vec("scale", &p.scale)?;
    let block_of: Vec<u32> = p
        .blocks
        .iter()
        .enumerate()
        .flat_map(|(b, r)| std::iter::repeat_n(b as u32, r.len()))
        .collect();
    s.vec("block", &block_of)?;
    o.data("dosage", &p.dosage, &[np, n])?;
    o.vec("expression", &p.expression)?;
    let k = p.ann_names.len();
    o.data("annotation", &p.ann_values, &[np, k])?;
    o.strings("annotation_names", &p.ann_names)?;
    let b = o.group("blocks")?;
    let starts: Vec<u32> = p.blocks.iter().map(|r| r.start as u32).collect();
    let ends: Vec<u32> = p.blocks.iter().map(|r| r.end as u32).collect();
    b.out().vec("start", &starts)?;
    b.out().vec("end", &ends)?;
    Ok(())
}

/// One row of a prepare cache's `/gene_table`.
#[derive(Debug, Clone)]
pub struct GeneRow {
    pub gene_id: String,
    pub status: String,
    pub reason: String,
}

/// Reads `/gene_table` (gene id, status, reason) of an open prepare cache.
pub fn read_gene_table(file: &hdf5::File) -> hdf5::Result<Vec<GeneRow>> {
    let t = file.group("gene_table")?;
    let ids = store::read_strings(&t, "gene_id")?;
    let status = store::read_strings(&t, "status")?;
    let reason = store::read_strings(&t, "reason")?;
    Ok(ids
        .into_iter()
        .zip(status)
        .zip(reason)
        .map(|((gene_id, status), reason)| GeneRow {
            gene_id,
            status,
            reason,
        })
        .collect())
}

fn write_table(root: Out, table: &[GeneResult]) -> Result<(), StoreError> {
    let t = root.group("gene_table")?;
    let o = t.out();
    let ids: Vec<&str> = table.iter().map(|r| r.gene_id.as_str()).collect();
    o.strings("gene_id", &ids)?;
    let names: Vec<&str> = table
        .iter()
        .map(|r| r.gene.as_ref().map_or("", |g| g.gene_name.as_str()))
        .collect();
    o.strings("gene_name", &names)?;
    let tss: Vec<u64> = table
        .iter()
        .map(|r| r.gene.as_ref().map_or(0, |g| g.tss))
        .collect();
    o.vec("tss", &tss)?;
    let status: Vec<&str> = table.iter().map(|r| r.status.as_str()).collect();
    o.strings("status", &status)?;
    let reason: Vec<&str> = table.iter().map(|r| r.reason.as_str()).collect();
    o.strings("reason", &reason)?;
    let n: Vec<u64> = table
        .iter()
        .map(|r| r.prepared.as_ref().map_or(0, |p| p.n_used as u64))
        .collect();
    o.vec("n_samples", &n)?;
    let p: Vec<u64> = table
        .iter()
        .map(|r| r.prepared.as_ref().map_or(0, |p| p.pos.len() as u64))
        .collect();
    o.vec("n_snps", &p)?;
    let nb: Vec<u64> = table
        .iter()
        .map(|r| r.prepared.as_ref().map_or(0, |p| p.blocks.len() as u64))
        .collect();
    o.vec("n_blocks", &nb)?;
    Ok(())
}
