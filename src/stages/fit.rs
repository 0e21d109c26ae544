//! The `fit` stage: for every prepared gene and configured method, run the CV folds and the
//! all-samples fit ([`crate::model::fit`]) and write `fit/<method>/<chrom>/<gene>.h5`
//! (layout in PIPELINE.md). A gene whose output is complete is skipped unless `--force`; a gene
//! that fails leaves `<gene>.failed` with the reason, and the others go on.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use thiserror::Error;
use tracing::{info, info_span, warn};

use crate::config::{Config, Cv, Method, MethodKind};
use crate::dist::partition::{global_order, OrderKey};
use crate::dist::{self, Exec, Tally};
use crate::io::store::{self, read_strings, H5Writer, StoreError};
use crate::model::fit::{fit_gene, GeneData, GeneFit, MethodModel, MethodSettings};
use crate::model::sampler::{ModelSpec, Priors, Schedule};
use crate::stages::StageOutcome;

/// Errors that stop the fit of a whole chromosome.
#[derive(Debug, Error)]
pub enum FitStageError {
    #[error("{path}: the prepare cache is missing or incomplete; run `bsbslmm run PIPELINE --stage prepare` first")]
    NoCache { path: PathBuf },
    #[error("{path}: cannot read the prepare cache: {source}")]
    Cache { path: PathBuf, source: hdf5::Error },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Expression(#[from] crate::io::expression::ExpressionError),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The model behind a configured method.
pub fn method_model(kind: MethodKind) -> MethodModel {
    match kind {
        MethodKind::Bslmm => MethodModel::Sampler(ModelSpec::BSLMM),
        MethodKind::BlockOnly => MethodModel::Sampler(ModelSpec::BLOCK_ONLY),
        MethodKind::Bsbslmm => MethodModel::Sampler(ModelSpec::BSBSLMM),
        MethodKind::BayescAnnot => MethodModel::Sampler(ModelSpec::BAYESC_ANNOT),
        MethodKind::Ridge => MethodModel::Ridge,
        MethodKind::Enet => MethodModel::Enet,
    }
}

/// Output path of one (method, chromosome, gene).
pub fn gene_path(config: &Config, method: &str, chrom: &str, gene: &str) -> PathBuf {
    config
        .output_dir
        .join("fit")
        .join(method)
        .join(chrom)
        .join(format!("{gene}.h5"))
}

/// A chromosome's prepare cache, loaded once.
struct Cache {
    path: PathBuf,
    file: hdf5::File,
    samples: Vec<String>,
    folds: Vec<u8>,
    cov: Vec<f64>,
    q0: usize,
    /// The genes prepared `ok`, in cache order.
    jobs: Vec<GeneJob>,
}

fn open_cache(path: &Path, chrom: &str) -> Result<Cache, FitStageError> {
    if !store::is_complete(path) {
        return Err(FitStageError::NoCache {
            path: path.to_path_buf(),
        });
    }
    let err = |source| FitStageError::Cache {
        path: path.to_path_buf(),
        source,
    };
    let file = hdf5::File::open(path).map_err(err)?;
    let sg = file.group("samples").map_err(err)?;
    let samples = read_strings(&sg, "id").map_err(err)?;
    let folds = sg
        .dataset("fold")
        .and_then(|d| d.read_raw::<u8>())
        .map_err(err)?;
    let cg = file.group("covariates").map_err(err)?;
    let q0 = read_strings(&cg, "names").map_err(err)?.len();
    let cov = cg
        .dataset("values")
        .and_then(|d| d.read_raw::<f64>())
        .map_err(err)?;
    let rows = crate::stages::prepare::read_gene_table(&file).map_err(err)?;
    let table = file.group("gene_table").map_err(err)?;
    let column = |name: &str| table.dataset(name).and_then(|d| d.read_raw::<u64>());
    let tss = column("tss").map_err(err)?;
    let n = column("n_samples").map_err(err)?;
    let p = column("n_snps").map_err(err)?;
    let jobs = rows
        .into_iter()
        .enumerate()
        .filter(|(_, r)| r.status == "ok")
        .map(|(i, r)| GeneJob {
            chrom: chrom.to_string(),
            gene: r.gene_id,
            tss: tss.get(i).copied().unwrap_or(u64::MAX),
            cost: n.get(i).copied().unwrap_or(0) as f64 * p.get(i).copied().unwrap_or(0) as f64,
        })
        .collect();
    Ok(Cache {
        path: path.to_path_buf(),
        file,
        samples,
        folds,
        cov,
        q0,
        jobs,
    })
}

/// One gene's arrays, read from the cache.
struct GeneArrays {
    p: usize,
    dosage: Vec<f32>,
    expression: Vec<f64>,
    blocks: Vec<Range<usize>>,
    annot: Vec<f64>,
    k: usize,
    ids: Vec<String>,
    pos: Vec<u64>,
    ref_allele: Vec<String>,
    alt_allele: Vec<String>,
    maf: Vec<f64>,
    tss: u64,
    strand: String,
}

fn read_gene(cache: &Cache, gene: &str) -> hdf5::Result<GeneArrays> {
    let g = cache.file.group(&format!("genes/{gene}"))?;
    let snps = g.group("snps")?;
    let pos = snps.dataset("pos")?.read_raw::<u64>()?;
    let p = pos.len();
    let dosage = g.dataset("dosage")?.read_raw::<f32>()?;
    let expression = g.dataset("expression")?.read_raw::<f64>()?;
    let bg = g.group("blocks")?;
    let st = bg.dataset("start")?.read_raw::<u32>()?;
    let en = bg.dataset("end")?.read_raw::<u32>()?;
    let ann = g.dataset("annotation")?;
    let k = ann.shape().get(1).copied().unwrap_or(0);
    let annot = if k > 0 {
        ann.read_raw::<f64>()?
    } else {
        Vec::new()
    };
    Ok(GeneArrays {
        p,
        dosage,
        expression,
        blocks: st
            .iter()
            .zip(&en)
            .map(|(&a, &b)| a as usize..b as usize)
            .collect(),
        annot,
        k,
        ids: read_strings(&snps, "id")?,
        pos,
        ref_allele: read_strings(&snps, "ref")?,
        alt_allele: read_strings(&snps, "alt")?,
        maf: snps.dataset("maf")?.read_raw::<f64>()?,
        tss: g.attr("tss")?.read_scalar::<u64>()?,
        strand: store::read_attr_str(&g, "strand").unwrap_or_default(),
    })
}

fn settings(config: &Config, m: &Method) -> MethodSettings {
    MethodSettings {
        model: method_model(m.model),
        schedule: Schedule {
            chains: m.chains,
            burnin: m.burnin,
            samples: m.samples,
            thin: m.thin,
            ..Schedule::default()
        },
        priors: Priors::default(),
        seed: config.seed,
        inner_folds: m.inner_folds,
        single_precision: m.single_precision,
    }
}

/// One gene to fit (every configured method), with its place in the global order.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneJob {
    pub chrom: String,
    pub gene: String,
    pub tss: u64,
    /// Estimated cost: samples × cached SNPs.
    pub cost: f64,
}

/// The prepared genes of `chroms` in the global order (chromosome order of the pipeline file,
/// then TSS, then gene id), and the chromosomes whose cache cannot be used.
pub fn plan(config: &Config, chroms: &[String]) -> (Vec<GeneJob>, Vec<FitStageError>) {
    let mut jobs = Vec::new();
    let mut missing = Vec::new();
    for chrom in chroms {
        match open_cache(&config.cache_path(chrom), chrom) {
            Ok(c) => jobs.extend(c.jobs),
            Err(e) => missing.push(e),
        }
    }
    (in_global_order(config, jobs), missing)
}

fn in_global_order(config: &Config, jobs: Vec<GeneJob>) -> Vec<GeneJob> {
    let rank = |c: &str| {
        config
            .chromosomes
            .iter()
            .position(|x| x == c)
            .unwrap_or(usize::MAX)
    };
    let keys: Vec<OrderKey<'_>> = jobs
        .iter()
        .map(|j| OrderKey {
            chrom_rank: rank(&j.chrom),
            tss: j.tss,
            id: &j.gene,
        })
        .collect();
    let order = global_order(&keys);
    order.into_iter().map(|i| jobs[i].clone()).collect()
}

/// How many genes the fit of `chroms` covers, for sizing a Slurm array before the work starts:
/// the exact number of prepared genes when every cache is complete (`exact = true`), otherwise
/// the number of expression-file genes on those chromosomes — every gene prepare will consider,
/// so an upper bound on the genes it prepares (array tasks beyond the last gene run nothing).
pub fn count_genes(config: &Config, chroms: &[String]) -> Result<(usize, bool), FitStageError> {
    if chroms
        .iter()
        .all(|c| store::is_complete(&config.cache_path(c)))
    {
        let (jobs, missing) = plan(config, chroms);
        if let Some(e) = missing.into_iter().next() {
            return Err(e);
        }
        return Ok((jobs.len(), true));
    }
    let na = match config.qc.expression_na {
        crate::config::ExpressionNa::Error => crate::io::expression::NaPolicy::Error,
        crate::config::ExpressionNa::Drop => crate::io::expression::NaPolicy::Keep,
    };
    let expr = crate::io::expression::read_expression(&config.inputs.expression, na)?;
    let n = expr
        .genes
        .iter()
        .filter(|g| chroms.contains(&g.chrom))
        .count();
    Ok((n, false))
}

/// Runs `fit` for the given chromosomes and every configured method, on the genes `exec`
/// gives this task (all of them in a plain run). The outcome counts outputs (gene × method) of
/// the whole run: under MPI the totals over every rank.
pub fn run(
    config: &Config,
    chroms: &[String],
    force: bool,
    exec: &Exec<'_>,
) -> Result<StageOutcome, FitStageError> {
    // Dense linear algebra inside a fit is single-threaded so that results never depend on the
    // thread count (MODEL.md §8); parallelism comes from genes (a fit's chains run in lockstep
    // on one thread, `Sampler::run`).
    faer::set_global_parallelism(faer::Par::Seq);
    let n_folds = match config.cv {
        Cv::Kfold { folds } => folds as u8,
        Cv::Split { .. } => 1,
    };
    let mut caches = BTreeMap::new();
    let mut cache_failures = 0;
    for chrom in chroms {
        match open_cache(&config.cache_path(chrom), chrom) {
            Ok(c) => {
                caches.insert(chrom.clone(), c);
            }
            Err(e) => {
                if exec.comm.is_root() {
                    warn!("fit {chrom}: {e}");
                }
                cache_failures += 1;
            }
        }
    }
    let jobs = in_global_order(
        config,
        caches
            .values()
            .flat_map(|c| c.jobs.iter().cloned())
            .collect(),
    );
    let methods: Vec<(&Method, MethodSettings)> = config
        .methods
        .iter()
        .map(|m| (m, settings(config, m)))
        .collect();
    let owned = dist::owned_upfront(exec, jobs.len());
    remove_stale_tmp(config, &jobs, &owned);
    let costs: Vec<f64> = jobs.iter().map(|j| j.cost).collect();
    let (tally, ran) = dist::run_items(exec, "fit", &costs, |i| {
        let job = &jobs[i];
        let cache = &caches[&job.chrom];
        let mut t = Tally::default();
        for (method, ms) in &methods {
            let path = gene_path(config, &method.name, &job.chrom, &job.gene);
            if !force && store::is_complete(&path) {
                t.skipped += 1;
            } else if fit_one(config, cache, &job.chrom, method, ms, n_folds, &job.gene) {
                t.fitted += 1;
            } else {
                t.failed += 1;
            }
        }
        t
    });
    info!(
        "fit: this task ran {ran} of {} genes x {} methods",
        jobs.len(),
        methods.len()
    );
    Ok(StageOutcome {
        done: tally.fitted as usize,
        skipped: tally.skipped as usize,
        failures: tally.failed as usize + cache_failures,
    })
}

/// Removes temporary files (`<gene>.h5.<pid>.tmp`, `<gene>.failed.<pid>.tmp`) that a killed
/// task left for the genes at `owned`. Only the task that owns a gene cleans it, so a file
/// another live task is writing is never touched.
fn remove_stale_tmp(config: &Config, jobs: &[GeneJob], owned: &[usize]) {
    let mut by_chrom: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for &i in owned {
        by_chrom
            .entry(jobs[i].chrom.as_str())
            .or_default()
            .insert(jobs[i].gene.as_str());
    }
    let mine = std::process::id().to_string();
    let mut removed = 0;
    for (chrom, genes) in by_chrom {
        for m in &config.methods {
            let dir = config.output_dir.join("fit").join(&m.name).join(chrom);
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for e in entries.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                let Some((gene, pid)) = tmp_owner(&name) else {
                    continue;
                };
                if pid != mine && genes.contains(gene) && std::fs::remove_file(e.path()).is_ok() {
                    removed += 1;
                }
            }
        }
    }
    if removed > 0 {
        info!("fit: removed {removed} temporary file(s) left by an interrupted run");
    }
}

/// The gene and writer pid of a temporary output name, `<gene>.{h5,failed}.<pid>.tmp`.
fn tmp_owner(name: &str) -> Option<(&str, &str)> {
    let (base, pid) = name.strip_suffix(".tmp")?.rsplit_once('.')?;
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let gene = base
        .strip_suffix(".h5")
        .or_else(|| base.strip_suffix(".failed"))?;
    Some((gene, pid))
}

fn fit_one(
    config: &Config,
    cache: &Cache,
    chrom: &str,
    method: &Method,
    ms: &MethodSettings,
    n_folds: u8,
    gene: &str,
) -> bool {
    let _span = info_span!("gene", gene = %gene, method = %method.name).entered();
    let path = gene_path(config, &method.name, chrom, gene);
    let failed = path.with_extension("failed");
    let t = Instant::now();
    let result = read_gene(cache, gene)
        .map_err(|e| format!("{}: reading gene {gene}: {e}", cache.path.display()))
        .and_then(|a| {
            let data = GeneData {
                gene_id: gene,
                n_all: cache.samples.len(),
                p: a.p,
                dosage: &a.dosage,
                expression: &a.expression,
                cov: &cache.cov,
                q0: cache.q0,
                folds: &cache.folds,
                n_folds,
                blocks: &a.blocks,
                annot: &a.annot,
                k: a.k,
                sample_ids: &cache.samples,
            };
            let fit = fit_gene(&data, ms)
                .map_err(|e| format!("gene {gene}, method {}: {e}", method.name))?;
            write_gene(
                config,
                &path,
                chrom,
                gene,
                method,
                &a,
                &cache.samples,
                &fit,
                t.elapsed().as_secs_f64(),
            )
            .map_err(|e| e.to_string())
        });
    match result {
        Ok(()) => {
            let _ = std::fs::remove_file(&failed);
            true
        }
        Err(reason) => {
            warn!("{reason}");
            // A gene reaches here only when it is being (re)fitted: an output left by an earlier
            // run (a `--force` refit that now fails) no longer matches the inputs, so it goes.
            if path.exists() {
                if let Err(e) = std::fs::remove_file(&path) {
                    warn!("cannot remove the earlier {}: {e}", path.display());
                }
            }
            if let Err(e) = store::write_text_atomic(&failed, &format!("{reason}\n")) {
                warn!("cannot write {}: {e}", failed.display());
            }
            false
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn write_gene(
    config: &Config,
    path: &Path,
    chrom: &str,
    gene: &str,
    method: &Method,
    a: &GeneArrays,
    samples: &[String],
    fit: &GeneFit,
    wall: f64,
) -> Result<(), StoreError> {
    let w = H5Writer::create(path)?;
    let root = w.out();
    root.attr("format_version", store::FORMAT_VERSION)?;
    root.attr_str("tool_version", env!("CARGO_PKG_VERSION"))?;
    root.attr_str("kind", "gene_fit")?;
    root.attr_str("gene_id", gene)?;
    root.attr_str("chrom", chrom)?;
    root.attr("tss", a.tss)?;
    root.attr_str("strand", &a.strand)?;
    root.attr_str("method", &method.name)?;
    root.attr_str("model", method.model.as_str())?;
    root.attr("seed", config.seed)?;
    root.attr_str("status", "ok")?;
    root.attr_str("config", &config.to_yaml())?;
    root.attr("n_samples", fit.n_train_all as u64)?;
    root.attr("n_snps_cached", a.p as u64)?;
    root.attr("n_snps", fit.p_used as u64)?;
    root.attr("sd_y", fit.sd_y)?;
    root.attr("wall_time_s", wall)?;
    let post = &fit.posterior;
    let idx: Vec<usize> = post.snp_index.iter().map(|&j| j as usize).collect();
    let snps = root.group("snps")?;
    let s = snps.out();
    s.strings(
        "id",
        &idx.iter().map(|&j| a.ids[j].as_str()).collect::<Vec<_>>(),
    )?;
    s.vec("pos", &idx.iter().map(|&j| a.pos[j]).collect::<Vec<_>>())?;
    s.strings(
        "ref",
        &idx.iter()
            .map(|&j| a.ref_allele[j].as_str())
            .collect::<Vec<_>>(),
    )?;
    s.strings(
        "alt",
        &idx.iter()
            .map(|&j| a.alt_allele[j].as_str())
            .collect::<Vec<_>>(),
    )?;
    s.vec("maf", &idx.iter().map(|&j| a.maf[j]).collect::<Vec<_>>())?;
    s.vec("cache_index", &post.snp_index)?;
    let pg = root.group("posterior")?;
    let o = pg.out();
    o.vec("pip", &post.pip)?;
    if !post.pip_rb.is_empty() {
        o.vec("pip_rb", &post.pip_rb)?;
        o.vec("beta_sd", &post.beta_sd)?;
        o.vec("ci_lo", &post.ci_lo)?;
        o.vec("ci_hi", &post.ci_hi)?;
        o.vec("p_positive", &post.p_pos)?;
    }
    o.vec("beta_mean", &post.beta_mean)?;
    o.vec("active", &post.active)?;
    o.vec("weight_std", &post.weight_std)?;
    o.vec("weight_per_allele", &post.weight_per_allele)?;
    let bg = root.group("blocks")?;
    let b = bg.out();
    b.vec("start", &post.block_start)?;
    b.vec("end", &post.block_end)?;
    if !post.bip.is_empty() {
        b.vec("bip", &post.bip)?;
        b.vec("p_gate_on", &post.p_gate_on)?;
    }
    if !post.traces.is_empty() {
        let hg = root.group("hyper")?;
        for (name, tr) in post.trace_names.iter().zip(&post.traces) {
            let chains = tr.len();
            let draws = tr.first().map_or(0, |t| t.len());
            let flat: Vec<f64> = tr.iter().flatten().copied().collect();
            hg.out().data(name, &flat, &[chains, draws])?;
        }
        let dg = root.group("diagnostics")?;
        let d = dg.out();
        d.strings("names", &post.trace_names)?;
        d.vec("rhat", &post.rhat)?;
        d.vec("ess_bulk", &post.ess_bulk)?;
        d.vec("ess_tail", &post.ess_tail)?;
        d.vec("ess_delta", &post.ess_delta)?;
        d.attr("max_pip_diff", post.max_pip_diff)?;
        d.attr("accept_swap", post.accept_swap)?;
        d.attr("accept_hyper", post.accept_hyper)?;
        d.attr("accept_u", post.accept_u)?;
        let max_rhat = post
            .rhat
            .iter()
            .copied()
            .filter(|x| x.is_finite())
            .fold(1.0, f64::max);
        let min_ess = post
            .ess_bulk
            .iter()
            .copied()
            .filter(|x| x.is_finite())
            .fold(f64::INFINITY, f64::min);
        d.attr("max_rhat", max_rhat)?;
        d.attr("min_ess_bulk", min_ess)?;
        d.attr("flag_rhat", u8::from(max_rhat > 1.01))?;
        d.attr("flag_ess", u8::from(min_ess < 400.0))?;
        d.attr("flag_pip_disagree", u8::from(post.max_pip_diff > 0.1))?;
    }
    let cg = root.group("cv")?;
    let c = cg.out();
    c.vec(
        "fold",
        &fit.folds.iter().map(|f| f.fold).collect::<Vec<_>>(),
    )?;
    c.vec(
        "n_train",
        &fit.folds
            .iter()
            .map(|f| f.n_train as u64)
            .collect::<Vec<_>>(),
    )?;
    c.vec(
        "n_test",
        &fit.folds
            .iter()
            .map(|f| f.n_test as u64)
            .collect::<Vec<_>>(),
    )?;
    c.vec("test_r", &fit.folds.iter().map(|f| f.r).collect::<Vec<_>>())?;
    c.vec(
        "test_r2",
        &fit.folds.iter().map(|f| f.r2).collect::<Vec<_>>(),
    )?;
    c.vec(
        "r2_oos",
        &fit.folds.iter().map(|f| f.r2_oos).collect::<Vec<_>>(),
    )?;
    c.vec(
        "pval",
        &fit.folds.iter().map(|f| f.pval).collect::<Vec<_>>(),
    )?;
    c.attr("pooled_r", fit.pooled.r)?;
    c.attr("pooled_r2", fit.pooled.r2)?;
    c.attr("pooled_r2_oos", fit.pooled.r2_oos)?;
    c.attr("pooled_pval", fit.pooled.pval)?;
    c.attr("pooled_n", fit.pooled.n_test as u64)?;
    let pr = c.group("predictions")?;
    let po = pr.out();
    po.strings(
        "sample",
        &fit.predictions
            .iter()
            .map(|x| samples[x.0 as usize].as_str())
            .collect::<Vec<_>>(),
    )?;
    po.vec(
        "fold",
        &fit.predictions.iter().map(|x| x.1).collect::<Vec<_>>(),
    )?;
    po.vec(
        "observed",
        &fit.predictions.iter().map(|x| x.2).collect::<Vec<_>>(),
    )?;
    po.vec(
        "predicted",
        &fit.predictions.iter().map(|x| x.3).collect::<Vec<_>>(),
    )?;
    w.finish()?;
    Ok(())
}
