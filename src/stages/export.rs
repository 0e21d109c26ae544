//! The export: per configured method, a PredictDB-compatible weights database
//! `final/predictdb/<method>.db` and its SNP covariance file `final/predictdb/<method>.txt.gz`
//! (formats in [`crate::io::predictdb`], rules in PIPELINE.md "The export stage").
//!
//! Per gene it reads the all-samples fit of every method (`fit/<method>/<chrom>/<gene>.h5`:
//! SNPs, `weight_per_allele`, pooled CV performance), reads the model SNPs' dosages over all
//! samples of the cohort's VCF (one tabix query per gene), prunes each model
//! ([`crate::stats::weights::prune`]) and computes the kept SNPs' covariance. q-values are
//! Benjamini–Hochberg over the method's fitted genes. Outputs are written under temporary
//! names and renamed; a method whose outputs are up to date (same inputs, same settings) is
//! skipped unless `force`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use thiserror::Error;
use tracing::{info, info_span, warn};

use crate::config::{Config, ExportGenes};
use crate::io::predictdb::{
    self, DbInfo, GeneCovariance, GeneModel, GeneSummary, PredictDbError, WeightRow,
};
use crate::io::store::{self, read_strings};
use crate::io::vcf::{QueryStats, VcfReader};
use crate::stages::fit::gene_path;
use crate::stages::StageOutcome;
use crate::stats::multitest::bh_qvalues;
use crate::stats::weights::{prune, Centred};

/// Errors that stop the export.
#[derive(Debug, Error)]
pub enum ExportError {
    #[error(transparent)]
    PredictDb(#[from] PredictDbError),
    #[error("cannot create directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Directory of the exported databases.
pub fn export_dir(config: &Config) -> PathBuf {
    config.output_dir.join("final").join("predictdb")
}

/// The weights database of one method.
pub fn db_path(config: &Config, method: &str) -> PathBuf {
    export_dir(config).join(format!("{method}.db"))
}

/// The covariance file of one method.
pub fn covariance_path(config: &Config, method: &str) -> PathBuf {
    export_dir(config).join(format!("{method}.txt.gz"))
}

/// One method's fit of one gene, as read for export.
struct FitModel {
    ids: Vec<String>,
    ref_allele: Vec<String>,
    alt_allele: Vec<String>,
    pos: Vec<u64>,
    weight: Vec<f64>,
    cv_r: f64,
    cv_r2: f64,
    cv_pval: f64,
}

fn read_fit(path: &Path) -> hdf5::Result<FitModel> {
    let f = hdf5::File::open(path)?;
    let s = f.group("snps")?;
    let cv = f.group("cv")?;
    let attr = |name: &str| cv.attr(name).and_then(|a| a.read_scalar::<f64>());
    Ok(FitModel {
        ids: read_strings(&s, "id")?,
        ref_allele: read_strings(&s, "ref")?,
        alt_allele: read_strings(&s, "alt")?,
        pos: s.dataset("pos")?.read_raw::<u64>()?,
        weight: f
            .group("posterior")?
            .dataset("weight_per_allele")?
            .read_raw::<f64>()?,
        cv_r: attr("pooled_r")?,
        cv_r2: attr("pooled_r2")?,
        cv_pval: attr("pooled_pval")?,
    })
}

/// A gene of the prepare cache.
struct CacheGene {
    id: String,
    name: String,
    tss: u64,
}

fn cache_genes(path: &Path) -> Result<Vec<CacheGene>, String> {
    if !store::is_complete(path) {
        return Err(format!(
            "{}: the prepare cache is missing or incomplete; run the prepare and fit stages first",
            path.display()
        ));
    }
    let read = || -> hdf5::Result<Vec<CacheGene>> {
        let f = hdf5::File::open(path)?;
        let t = f.group("gene_table")?;
        let ids = read_strings(&t, "gene_id")?;
        let names = read_strings(&t, "gene_name")?;
        let status = read_strings(&t, "status")?;
        let tss = t.dataset("tss")?.read_raw::<u64>()?;
        Ok(ids
            .into_iter()
            .zip(names)
            .zip(status)
            .zip(tss)
            .filter(|(((_, _), s), _)| s == "ok")
            .map(|(((id, name), _), tss)| CacheGene { id, name, tss })
            .collect())
    };
    read().map_err(|e| format!("{}: cannot read the gene table: {e}", path.display()))
}

/// Everything one method accumulates before its files are written.
#[derive(Default)]
struct MethodOut {
    summaries: Vec<GeneSummary>,
    models: Vec<GeneModel>,
    covs: Vec<Vec<f64>>,
}

/// A fingerprint of what an export of `method` depends on: the settings, the chromosomes, and
/// the size and modification time of every prepare cache and fit file.
fn fingerprint(config: &Config, chroms: &[String], method: &str) -> String {
    let mut h = blake3::Hasher::new();
    h.update(env!("CARGO_PKG_VERSION").as_bytes());
    h.update(
        serde_yaml::to_string(&config.export)
            .unwrap_or_default()
            .as_bytes(),
    );
    h.update(config.inputs.vcf.as_bytes());
    let stamp = |h: &mut blake3::Hasher, p: &Path| {
        h.update(p.to_string_lossy().as_bytes());
        if let Ok(m) = std::fs::metadata(p) {
            h.update(&m.len().to_le_bytes());
            let t = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            h.update(&t.to_le_bytes());
        }
    };
    for chrom in chroms {
        h.update(chrom.as_bytes());
        stamp(&mut h, &config.cache_path(chrom));
        stamp(&mut h, &config.inputs.vcf_for(chrom));
        let dir = config.output_dir.join("fit").join(method).join(chrom);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "h5" || e == "failed"));
        files.sort();
        for f in &files {
            stamp(&mut h, f);
        }
    }
    h.finalize().to_hex().to_string()
}

/// Runs the export for the given chromosomes and every configured method.
pub fn run(config: &Config, chroms: &[String], force: bool) -> Result<StageOutcome, ExportError> {
    let mut outcome = StageOutcome::default();
    let dir = export_dir(config);
    std::fs::create_dir_all(&dir).map_err(|source| ExportError::Dir {
        path: dir.clone(),
        source,
    })?;
    let mut todo: Vec<(usize, String)> = Vec::new();
    for (mi, m) in config.methods.iter().enumerate() {
        let fp = fingerprint(config, chroms, &m.name);
        let db = db_path(config, &m.name);
        let up_to_date = !force
            && covariance_path(config, &m.name).exists()
            && predictdb::read_info(&db, "fingerprint").as_deref() == Some(fp.as_str());
        if up_to_date {
            info!("export {}: {} is up to date, skipped", m.name, db.display());
            outcome.skipped += 1;
        } else {
            todo.push((mi, fp));
        }
    }
    if todo.is_empty() {
        return Ok(outcome);
    }
    let mut outs: Vec<MethodOut> = todo.iter().map(|_| MethodOut::default()).collect();
    let mut n_samples = 0usize;
    for chrom in chroms {
        let _span = info_span!("export", chrom = %chrom).entered();
        let genes = match cache_genes(&config.cache_path(chrom)) {
            Ok(g) => g,
            Err(e) => {
                warn!("export {chrom}: {e}");
                outcome.failures += 1;
                continue;
            }
        };
        let vcf_path = config.inputs.vcf_for(chrom);
        let mut vcf = match VcfReader::open(&vcf_path) {
            Ok(v) => v,
            Err(e) => {
                warn!("export {chrom}: {e}");
                outcome.failures += 1;
                continue;
            }
        };
        let all: Vec<usize> = (0..vcf.samples().len()).collect();
        n_samples = n_samples.max(all.len());
        for gene in &genes {
            let fits: Vec<Option<Result<FitModel, String>>> = todo
                .iter()
                .map(|(mi, _)| {
                    let path = gene_path(config, &config.methods[*mi].name, chrom, &gene.id);
                    store::is_complete(&path)
                        .then(|| read_fit(&path).map_err(|e| format!("{}: {e}", path.display())))
                })
                .collect();
            let span: Option<(u64, u64)> = fits
                .iter()
                .flatten()
                .flatten()
                .flat_map(|f| f.pos.iter().copied())
                .fold(None, |acc, p| match acc {
                    None => Some((p, p)),
                    Some((a, b)) => Some((a.min(p), b.max(p))),
                });
            let sites = match span {
                Some((a, b)) => {
                    let mut qs = QueryStats::default();
                    match vcf.query(chrom, a, b, config.inputs.genotype_field, &all, &mut qs) {
                        Ok(s) => s,
                        Err(e) => {
                            warn!("export {chrom} {}: {e}", gene.id);
                            Vec::new()
                        }
                    }
                }
                None => Vec::new(),
            };
            let by_key: HashMap<(u64, &str, &str), usize> = sites
                .iter()
                .enumerate()
                .map(|(i, s)| ((s.pos, s.ref_allele.as_str(), s.alt_allele.as_str()), i))
                .collect();
            for (slot, fit) in fits.into_iter().enumerate() {
                let base = GeneSummary {
                    gene: gene.id.clone(),
                    genename: gene.name.clone(),
                    chrom: chrom.clone(),
                    tss: gene.tss,
                    n_snps_cis: 0,
                    n_snps_in_model: 0,
                    pruned_r: f64::NAN,
                    cv_r: f64::NAN,
                    cv_r2: f64::NAN,
                    cv_pval: f64::NAN,
                    cv_qval: f64::NAN,
                    passes_filter: false,
                    exported: false,
                    note: String::new(),
                };
                let out = &mut outs[slot];
                let fit = match fit {
                    None => {
                        out.summaries.push(GeneSummary {
                            note: "no complete fit".into(),
                            ..base
                        });
                        continue;
                    }
                    Some(Err(e)) => {
                        warn!("export: {e}");
                        outcome.failures += 1;
                        out.summaries.push(GeneSummary {
                            note: format!("unreadable fit: {e}"),
                            ..base
                        });
                        continue;
                    }
                    Some(Ok(f)) => f,
                };
                let mut summary = GeneSummary {
                    n_snps_cis: fit.ids.len(),
                    cv_r: fit.cv_r,
                    cv_r2: fit.cv_r2,
                    cv_pval: fit.cv_pval,
                    passes_filter: fit.cv_r > config.export.min_r
                        && fit.cv_pval < config.export.max_pval,
                    ..base
                };
                let rows: Option<Vec<usize>> = (0..fit.ids.len())
                    .map(|j| {
                        by_key
                            .get(&(
                                fit.pos[j],
                                fit.ref_allele[j].as_str(),
                                fit.alt_allele[j].as_str(),
                            ))
                            .copied()
                    })
                    .collect();
                let Some(rows) = rows else {
                    let j = (0..fit.ids.len())
                        .find(|&j| {
                            !by_key.contains_key(&(
                                fit.pos[j],
                                fit.ref_allele[j].as_str(),
                                fit.alt_allele[j].as_str(),
                            ))
                        })
                        .unwrap_or(0);
                    let note = format!(
                        "SNP {} ({chrom}:{} {}>{}) of the fit is not a biallelic site of {}",
                        fit.ids[j],
                        fit.pos[j],
                        fit.ref_allele[j],
                        fit.alt_allele[j],
                        vcf_path.display()
                    );
                    warn!(
                        "export {} {}: {note}",
                        config.methods[todo[slot].0].name, gene.id
                    );
                    outcome.failures += 1;
                    out.summaries.push(GeneSummary { note, ..summary });
                    continue;
                };
                let n = all.len();
                let mut dos = Vec::with_capacity(rows.len() * n);
                for &r in &rows {
                    dos.extend_from_slice(&sites[r].dosage);
                }
                let x = Centred::new(&dos, rows.len(), n);
                let pr = prune(
                    &fit.weight,
                    &x,
                    config.export.prune_min_r,
                    config.export.max_snps,
                );
                summary.pruned_r = pr.r;
                summary.n_snps_in_model = pr.keep.len();
                if pr.keep.is_empty() {
                    summary.note =
                        "no SNP with a non-zero weight (or no predicted variance)".into();
                    out.summaries.push(summary);
                    continue;
                }
                let weights = pr
                    .keep
                    .iter()
                    .map(|&j| WeightRow {
                        rsid: fit.ids[j].clone(),
                        var_id: format!(
                            "{chrom}_{}_{}_{}",
                            fit.pos[j], fit.ref_allele[j], fit.alt_allele[j]
                        ),
                        ref_allele: fit.ref_allele[j].clone(),
                        eff_allele: fit.alt_allele[j].clone(),
                        weight: fit.weight[j],
                    })
                    .collect();
                out.covs.push(x.cov_matrix(&pr.keep));
                out.models.push(GeneModel {
                    summary: summary.clone(),
                    weights,
                });
                out.summaries.push(summary);
            }
        }
    }
    for ((mi, fp), mut out) in todo.into_iter().zip(outs) {
        let method = &config.methods[mi].name;
        let q = bh_qvalues(&out.summaries.iter().map(|s| s.cv_pval).collect::<Vec<_>>());
        let qmap: HashMap<String, f64> = out
            .summaries
            .iter()
            .zip(&q)
            .map(|(s, &q)| (s.gene.clone(), q))
            .collect();
        for s in out.summaries.iter_mut() {
            s.cv_qval = qmap[&s.gene];
        }
        let keep_gene =
            |s: &GeneSummary| config.export.genes == ExportGenes::All || s.passes_filter;
        let mut models = Vec::new();
        let mut covs = Vec::new();
        for (mut m, c) in out.models.into_iter().zip(out.covs) {
            m.summary.cv_qval = qmap[&m.summary.gene];
            if keep_gene(&m.summary) {
                models.push(m);
                covs.push(c);
            }
        }
        let exported: std::collections::HashSet<&str> =
            models.iter().map(|m| m.summary.gene.as_str()).collect();
        for s in out.summaries.iter_mut() {
            s.exported = exported.contains(s.gene.as_str());
            if !s.exported && s.note.is_empty() {
                s.note = "fails the export filter (export.genes: passing)".into();
            }
        }
        let info_rows = DbInfo {
            n_samples,
            population: "NA".into(),
            tissue: method.clone(),
            chromosomes: chroms.to_vec(),
            cv_seed: config.seed,
            meta: vec![
                ("fingerprint".into(), fp),
                ("tool".into(), format!("bsbslmm {}", env!("CARGO_PKG_VERSION"))),
                ("method".into(), method.clone()),
                ("model".into(), config.methods[mi].model.as_str().into()),
                (
                    "weights".into(),
                    "posterior mean expression change per copy of eff_allele (= VCF ALT)".into(),
                ),
                (
                    "pruning".into(),
                    format!(
                        "non-zero weights by |w|*sd(dosage), added until r(pruned, full prediction) >= {} or {} SNPs",
                        config.export.prune_min_r, config.export.max_snps
                    ),
                ),
                ("genes".into(), format!("{:?}", config.export.genes).to_lowercase()),
                ("filter".into(), format!("cv r > {} and cv p < {}", config.export.min_r, config.export.max_pval)),
                ("config".into(), config.to_yaml()),
            ],
        };
        let cov_path = covariance_path(config, method);
        predictdb::write_covariance(
            &cov_path,
            models.iter().zip(&covs).map(|(m, c)| GeneCovariance {
                gene: &m.summary.gene,
                rsids: m.weights.iter().map(|w| w.rsid.as_str()).collect(),
                cov: c,
            }),
        )?;
        // The database goes last: its fingerprint marks the pair as complete.
        let db = db_path(config, method);
        predictdb::write_db(&db, &info_rows, &out.summaries, &models)?;
        let n_snps: usize = models.iter().map(|m| m.weights.len()).sum();
        info!(
            "export {method}: {} of {} fitted genes, {n_snps} SNPs ({:.1} per gene) -> {}",
            models.len(),
            out.summaries.len(),
            n_snps as f64 / models.len().max(1) as f64,
            db.display()
        );
        outcome.done += 1;
    }
    Ok(outcome)
}
