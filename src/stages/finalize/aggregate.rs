//! `aggregate`: gathers one chromosome's per-gene fit outputs into `final/<chrom>.h5` (the
//! per-gene groups plus a flat `/summary` table) and `final/<chrom>.genes.tsv`. Every gene of
//! the prepare cache appears once per configured method, with status `ok`, `failed` (reason from
//! its `.failed` file), `missing` (no complete output yet) or the cache's own status for genes
//! that were never prepared. The file is rebuilt from the per-gene outputs each time, so a rerun
//! after more genes finish equals one aggregate at the end; an unchanged input set is skipped.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::io::store::{self, read_attr, read_attr_str, read_strings, H5Writer, Out};
use crate::io::tsv;
use crate::stages::finalize::{FinalizeError, SUMMARY_COLUMNS};
use crate::stages::fit::gene_path;

/// A gene of the prepare cache, with what enrichment needs of its cis SNPs.
#[derive(Debug, Clone)]
pub struct CacheGene {
    pub gene_id: String,
    pub gene_name: String,
    pub tss: u64,
    /// The cache's status (`ok`, `no_snps`, ...) and reason.
    pub status: String,
    pub reason: String,
    /// Per cis SNP (prepared genes only): inside a peak.
    pub in_peak: Vec<u8>,
    pub ids: Vec<String>,
    pub pos: Vec<u64>,
    pub ref_allele: Vec<String>,
    pub alt_allele: Vec<String>,
}

/// One row of the summary table: one gene and one method.
#[derive(Debug, Clone, PartialEq)]
pub struct SummaryRow {
    pub gene_id: String,
    pub gene_name: String,
    pub chrom: String,
    pub tss: u64,
    pub method: String,
    /// `ok`, `failed`, `missing`, or the prepare cache's status of a gene it did not prepare.
    pub status: String,
    pub reason: String,
    /// Samples with expression.
    pub n: u64,
    /// SNPs used by the all-samples fit.
    pub p: u64,
    /// Pooled held-out Pearson r over all CV folds.
    pub test_r: f64,
    pub r2: f64,
    pub pval: f64,
    pub r2_oos: f64,
    /// Posterior means of the PVE and PGE traces (NaN for baselines).
    pub pve: f64,
    pub pge: f64,
    pub n_active: u64,
    pub n_active_in_peak: u64,
    /// The gene's cis SNPs after QC (the prepare cache), and those inside peaks.
    pub n_tested: u64,
    pub n_tested_in_peak: u64,
    pub max_rhat: f64,
    pub min_ess_bulk: f64,
    pub flag_rhat: u8,
    pub flag_ess: u8,
    pub flag_pip: u8,
    /// Passes the `compare.min_r` / `compare.max_p` filter.
    pub passes: u8,
    /// Truth (when `enrich.truth` is set): causal SNPs of the gene, those among the tested SNPs,
    /// and those of them inside peaks.
    pub n_causal: Option<u64>,
    pub n_causal_tested: Option<u64>,
    pub n_causal_in_peak: Option<u64>,
}

impl SummaryRow {
    fn empty(gene: &CacheGene, chrom: &str, method: &str) -> SummaryRow {
        SummaryRow {
            gene_id: gene.gene_id.clone(),
            gene_name: gene.gene_name.clone(),
            chrom: chrom.to_string(),
            tss: gene.tss,
            method: method.to_string(),
            status: gene.status.clone(),
            reason: gene.reason.clone(),
            n: 0,
            p: 0,
            test_r: f64::NAN,
            r2: f64::NAN,
            pval: f64::NAN,
            r2_oos: f64::NAN,
            pve: f64::NAN,
            pge: f64::NAN,
            n_active: 0,
            n_active_in_peak: 0,
            n_tested: gene.in_peak.len() as u64,
            n_tested_in_peak: gene.in_peak.iter().map(|&b| u64::from(b != 0)).sum(),
            max_rhat: f64::NAN,
            min_ess_bulk: f64::NAN,
            flag_rhat: 0,
            flag_ess: 0,
            flag_pip: 0,
            passes: 0,
            n_causal: None,
            n_causal_tested: None,
            n_causal_in_peak: None,
        }
    }

    /// The row as TSV cells, in [`SUMMARY_COLUMNS`] order.
    pub fn cells(&self) -> Vec<String> {
        let f = tsv::fmt_f64;
        let o = |v: Option<u64>| v.map_or_else(|| "NA".to_string(), |v| v.to_string());
        vec![
            self.gene_id.clone(),
            self.gene_name.clone(),
            self.chrom.clone(),
            self.tss.to_string(),
            self.method.clone(),
            self.status.clone(),
            clean(&self.reason),
            self.n.to_string(),
            self.p.to_string(),
            f(self.test_r),
            f(self.r2),
            f(self.pval),
            f(self.r2_oos),
            f(self.pve),
            f(self.pge),
            self.n_active.to_string(),
            self.n_active_in_peak.to_string(),
            self.n_tested.to_string(),
            self.n_tested_in_peak.to_string(),
            f(self.max_rhat),
            f(self.min_ess_bulk),
            self.flag_rhat.to_string(),
            self.flag_ess.to_string(),
            self.flag_pip.to_string(),
            self.passes.to_string(),
            o(self.n_causal),
            o(self.n_causal_tested),
            o(self.n_causal_in_peak),
        ]
    }

    /// Parses a row of a `genes.tsv` written by [`SummaryRow::cells`].
    pub fn from_tsv(r: &tsv::Row) -> Result<SummaryRow, tsv::TsvError> {
        let opt = |c: &str| -> Result<Option<u64>, tsv::TsvError> {
            if r.str(c)? == "NA" {
                Ok(None)
            } else {
                r.u64(c).map(Some)
            }
        };
        let flag = |c: &str| -> Result<u8, tsv::TsvError> { Ok(u8::from(r.u64(c)? != 0)) };
        Ok(SummaryRow {
            gene_id: r.str("gene_id")?.to_string(),
            gene_name: r.str("gene_name")?.to_string(),
            chrom: r.str("chrom")?.to_string(),
            tss: r.u64("tss")?,
            method: r.str("method")?.to_string(),
            status: r.str("status")?.to_string(),
            reason: r.str("reason")?.to_string(),
            n: r.u64("n")?,
            p: r.u64("p")?,
            test_r: r.f64("test_r")?,
            r2: r.f64("r2")?,
            pval: r.f64("pval")?,
            r2_oos: r.f64("r2_oos")?,
            pve: r.f64("pve")?,
            pge: r.f64("pge")?,
            n_active: r.u64("n_active")?,
            n_active_in_peak: r.u64("n_active_in_peak")?,
            n_tested: r.u64("n_tested")?,
            n_tested_in_peak: r.u64("n_tested_in_peak")?,
            max_rhat: r.f64("max_rhat")?,
            min_ess_bulk: r.f64("min_ess_bulk")?,
            flag_rhat: flag("flag_rhat")?,
            flag_ess: flag("flag_ess")?,
            flag_pip: flag("flag_pip")?,
            passes: flag("passes")?,
            n_causal: opt("n_causal")?,
            n_causal_tested: opt("n_causal_tested")?,
            n_causal_in_peak: opt("n_causal_in_peak")?,
        })
    }
}

/// Tabs and newlines would break the TSV; reasons are one line.
fn clean(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Reads every gene of a prepare cache, with the cis SNPs of prepared genes.
pub fn read_cache_genes(path: &Path) -> Result<Vec<CacheGene>, FinalizeError> {
    let err = |object: &str| {
        let object = object.to_string();
        move |source| FinalizeError::Read {
            path: path.to_path_buf(),
            object: object.clone(),
            source,
        }
    };
    let file = hdf5::File::open(path).map_err(err("/"))?;
    let t = file.group("gene_table").map_err(err("/gene_table"))?;
    let ids = read_strings(&t, "gene_id").map_err(err("/gene_table/gene_id"))?;
    let names = read_strings(&t, "gene_name").map_err(err("/gene_table/gene_name"))?;
    let status = read_strings(&t, "status").map_err(err("/gene_table/status"))?;
    let reason = read_strings(&t, "reason").map_err(err("/gene_table/reason"))?;
    let tss = t
        .dataset("tss")
        .and_then(|d| d.read_raw::<u64>())
        .map_err(err("/gene_table/tss"))?;
    let mut genes = Vec::with_capacity(ids.len());
    for (i, gene_id) in ids.into_iter().enumerate() {
        let mut g = CacheGene {
            gene_name: names[i].clone(),
            tss: tss[i],
            status: status[i].clone(),
            reason: reason[i].clone(),
            in_peak: Vec::new(),
            ids: Vec::new(),
            pos: Vec::new(),
            ref_allele: Vec::new(),
            alt_allele: Vec::new(),
            gene_id,
        };
        if g.status == "ok" {
            let gp = format!("/genes/{}/snps", g.gene_id);
            let s = file.group(&gp).map_err(err(&gp))?;
            g.in_peak = s
                .dataset("in_peak")
                .and_then(|d| d.read_raw::<u8>())
                .map_err(err(&format!("{gp}/in_peak")))?;
            g.pos = s
                .dataset("pos")
                .and_then(|d| d.read_raw::<u64>())
                .map_err(err(&format!("{gp}/pos")))?;
            g.ids = read_strings(&s, "id").map_err(err(&format!("{gp}/id")))?;
            g.ref_allele = read_strings(&s, "ref").map_err(err(&format!("{gp}/ref")))?;
            g.alt_allele = read_strings(&s, "alt").map_err(err(&format!("{gp}/alt")))?;
        }
        genes.push(g);
    }
    Ok(genes)
}

/// Causal-SNP counts of one gene (see [`SummaryRow::n_causal`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TruthCounts {
    pub causal: u64,
    pub tested: u64,
    pub in_peak: u64,
}

/// Matches the truth's causal SNPs of each gene to its tested cis SNPs: by variant ID, else by
/// (position, REF, ALT).
pub fn truth_counts(
    genes: &[CacheGene],
    causal: &HashMap<String, Vec<crate::io::truth::CausalSnp>>,
) -> HashMap<String, TruthCounts> {
    let mut out = HashMap::new();
    for g in genes.iter().filter(|g| g.status == "ok") {
        let mut c = TruthCounts::default();
        let snps = causal.get(&g.gene_id).map_or(&[][..], |v| v.as_slice());
        c.causal = snps.len() as u64;
        for s in snps {
            let j = g.ids.iter().position(|id| *id == s.variant_id).or_else(|| {
                (0..g.pos.len()).find(|&j| {
                    g.pos[j] == s.pos && g.ref_allele[j] == s.ref_allele && g.alt_allele[j] == s.alt
                })
            });
            if let Some(j) = j {
                c.tested += 1;
                c.in_peak += u64::from(g.in_peak[j] != 0);
            }
        }
        out.insert(g.gene_id.clone(), c);
    }
    out
}

/// Where one (gene, method) output stands on disk.
enum GeneOutput {
    Complete(PathBuf),
    Failed(String),
    Missing,
}

fn locate(config: &Config, method: &str, chrom: &str, gene: &str) -> GeneOutput {
    let path = gene_path(config, method, chrom, gene);
    if store::is_complete(&path) {
        return GeneOutput::Complete(path);
    }
    match std::fs::read_to_string(path.with_extension("failed")) {
        Ok(reason) => GeneOutput::Failed(reason.trim().to_string()),
        Err(_) => GeneOutput::Missing,
    }
}

/// A digest of everything the chromosome's aggregate depends on: the cache and every per-gene
/// output (name, state, size, modification time), the truth file and the relevant settings.
pub fn inputs_digest(config: &Config, chrom: &str, genes: &[CacheGene]) -> String {
    let mut h = blake3::Hasher::new();
    let mut stamp = |p: &Path| {
        h.update(p.to_string_lossy().as_bytes());
        if let Ok(m) = std::fs::metadata(p) {
            h.update(&m.len().to_le_bytes());
            if let Ok(t) = m.modified() {
                let ns = t
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos());
                h.update(&ns.to_le_bytes());
            }
        } else {
            h.update(b"absent");
        }
    };
    stamp(&config.cache_path(chrom));
    if let Some(t) = &config.enrich.truth {
        stamp(t);
    }
    for g in genes.iter().filter(|g| g.status == "ok") {
        for m in &config.methods {
            let p = gene_path(config, &m.name, chrom, &g.gene_id);
            stamp(&p);
            stamp(&p.with_extension("failed"));
        }
    }
    let settings = format!(
        "{} {} {} {}",
        config.compare.min_r,
        config.compare.max_p,
        env!("CARGO_PKG_VERSION"),
        config
            .methods
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>()
            .join(",")
    );
    h.update(settings.as_bytes());
    h.finalize().to_hex().to_string()
}

/// What aggregating one chromosome produced.
pub struct ChromAggregate {
    pub rows: Vec<SummaryRow>,
}

/// Top-level members of a per-gene fit file that are not copied into the aggregate: the MCMC
/// traces (summarized in `hyper_summary`) and the per-gene copy of the resolved config (stored
/// once at the root of the aggregate).
fn skip_member(rel: &str) -> bool {
    matches!(rel, "hyper" | "config" | "complete")
}

/// Aggregates one chromosome into `final/<chrom>.h5` and `final/<chrom>.genes.tsv`.
pub fn aggregate_chrom(
    config: &Config,
    chrom: &str,
    genes: &[CacheGene],
    truth: Option<&HashMap<String, TruthCounts>>,
    digest: &str,
) -> Result<ChromAggregate, FinalizeError> {
    let path = config.final_path(chrom);
    let w = H5Writer::create(&path)?;
    let root = w.out();
    root.attr("format_version", store::FORMAT_VERSION)?;
    root.attr_str("tool_version", env!("CARGO_PKG_VERSION"))?;
    root.attr_str("kind", "final_chrom")?;
    root.attr_str("chrom", chrom)?;
    root.attr_str("config", &config.to_yaml())?;
    root.attr_str("inputs_digest", digest)?;
    let genes_group = root.group("genes")?;
    let mut rows = Vec::with_capacity(genes.len() * config.methods.len());
    for gene in genes {
        let gg = if gene.status == "ok" {
            let gg = genes_group.out().group(&gene.gene_id)?;
            let o = gg.out();
            o.attr_str("gene_id", &gene.gene_id)?;
            o.attr_str("gene_name", &gene.gene_name)?;
            o.attr("tss", gene.tss)?;
            let cis = o.group("cis_snps")?;
            cis.out().strings("id", &gene.ids)?;
            cis.out().vec("pos", &gene.pos)?;
            cis.out().vec("in_peak", &gene.in_peak)?;
            Some(gg)
        } else {
            None
        };
        for m in &config.methods {
            let mut row = SummaryRow::empty(gene, chrom, &m.name);
            if let Some(t) = truth {
                let c = t.get(&gene.gene_id).copied().unwrap_or_default();
                if gene.status == "ok" {
                    row.n_causal = Some(c.causal);
                    row.n_causal_tested = Some(c.tested);
                    row.n_causal_in_peak = Some(c.in_peak);
                }
            }
            if let Some(gg) = &gg {
                match locate(config, &m.name, chrom, &gene.gene_id) {
                    GeneOutput::Complete(p) => {
                        let mg = gg.out().group(&m.name)?;
                        read_and_copy(&p, gene, mg.out(), &mut row)?;
                        row.status = "ok".into();
                        row.reason.clear();
                        row.passes = u8::from(
                            row.test_r > config.compare.min_r && row.pval < config.compare.max_p,
                        );
                    }
                    GeneOutput::Failed(reason) => {
                        row.status = "failed".into();
                        row.reason = reason;
                    }
                    GeneOutput::Missing => {
                        row.status = "missing".into();
                        row.reason = "no complete fit output yet".into();
                    }
                }
            }
            rows.push(row);
        }
    }
    write_summary(root, &rows)?;
    let n_ok = rows.iter().filter(|r| r.status == "ok").count();
    root.attr("n_rows", rows.len() as u64)?;
    root.attr("n_rows_ok", n_ok as u64)?;
    root.attr("n_genes", genes.len() as u64)?;
    root.attr("n_methods", config.methods.len() as u64)?;
    let tsv_path = config.final_dir().join(format!("{chrom}.genes.tsv"));
    let text = render_rows(&rows);
    store::write_text_atomic(&tsv_path, &text).map_err(|source| FinalizeError::Write {
        path: tsv_path.clone(),
        source,
    })?;
    w.finish()?;
    Ok(ChromAggregate { rows })
}

/// The summary rows as TSV text with the header.
pub fn render_rows(rows: &[SummaryRow]) -> String {
    let cells: Vec<Vec<String>> = rows.iter().map(SummaryRow::cells).collect();
    tsv::render(&SUMMARY_COLUMNS, &cells)
}

/// Reads one per-gene fit file: fills the summary row and copies its groups into `dst`.
fn read_and_copy(
    path: &Path,
    gene: &CacheGene,
    dst: Out,
    row: &mut SummaryRow,
) -> Result<(), FinalizeError> {
    let err = |object: &str| {
        let object = object.to_string();
        move |source| FinalizeError::Read {
            path: path.to_path_buf(),
            object: object.clone(),
            source,
        }
    };
    let f = hdf5::File::open(path).map_err(err("/"))?;
    row.n = read_attr::<u64>(&f, "n_samples").unwrap_or(0);
    row.p = read_attr::<u64>(&f, "n_snps").unwrap_or(0);
    let cv = f.group("cv").map_err(err("/cv"))?;
    let num = |name: &str| read_attr::<f64>(&cv, name).unwrap_or(f64::NAN);
    row.test_r = num("pooled_r");
    row.r2 = num("pooled_r2");
    row.pval = num("pooled_pval");
    row.r2_oos = num("pooled_r2_oos");
    let snps = f.group("snps").map_err(err("/snps"))?;
    let cache_index = snps
        .dataset("cache_index")
        .and_then(|d| d.read_raw::<u32>())
        .map_err(err("/snps/cache_index"))?;
    let active = f
        .dataset("posterior/active")
        .and_then(|d| d.read_raw::<u8>())
        .map_err(err("/posterior/active"))?;
    if active.len() != cache_index.len() {
        return Err(FinalizeError::Layout {
            path: path.to_path_buf(),
            message: format!(
                "/posterior/active has {} values but /snps/cache_index {}",
                active.len(),
                cache_index.len()
            ),
        });
    }
    let mut in_peak = Vec::with_capacity(cache_index.len());
    for &j in &cache_index {
        let Some(&b) = gene.in_peak.get(j as usize) else {
            return Err(FinalizeError::Layout {
                path: path.to_path_buf(),
                message: format!(
                    "/snps/cache_index {j} is beyond the {} cis SNPs of gene {} in the prepare cache",
                    gene.in_peak.len(),
                    gene.gene_id
                ),
            });
        };
        in_peak.push(b);
    }
    row.n_active = active.iter().filter(|&&a| a != 0).count() as u64;
    row.n_active_in_peak = active
        .iter()
        .zip(&in_peak)
        .filter(|(&a, &p)| a != 0 && p != 0)
        .count() as u64;
    let mut hyper_names = Vec::new();
    let mut hyper_mean = Vec::new();
    let mut hyper_sd = Vec::new();
    if let Ok(h) = f.group("hyper") {
        for name in h.member_names().map_err(err("/hyper"))? {
            let v = h
                .dataset(&name)
                .and_then(|d| d.read_raw::<f64>())
                .map_err(err(&format!("/hyper/{name}")))?;
            let (mean, sd) = mean_sd(&v);
            if name == "pve" {
                row.pve = mean;
            }
            if name == "pge" {
                row.pge = mean;
            }
            hyper_names.push(name);
            hyper_mean.push(mean);
            hyper_sd.push(sd);
        }
    }
    if let Ok(d) = f.group("diagnostics") {
        row.max_rhat = read_attr::<f64>(&d, "max_rhat").unwrap_or(f64::NAN);
        row.min_ess_bulk = read_attr::<f64>(&d, "min_ess_bulk").unwrap_or(f64::NAN);
        row.flag_rhat = read_attr::<u8>(&d, "flag_rhat").unwrap_or(0);
        row.flag_ess = read_attr::<u8>(&d, "flag_ess").unwrap_or(0);
        row.flag_pip = read_attr::<u8>(&d, "flag_pip_disagree").unwrap_or(0);
    }
    if read_attr_str(&f, "status").is_some_and(|s| s != "ok") {
        return Err(FinalizeError::Layout {
            path: path.to_path_buf(),
            message: "complete output whose status attribute is not `ok`".into(),
        });
    }
    dst.copy_from(&f, &skip_member)?;
    let snps_out = dst.group_at("snps")?;
    snps_out.out().vec("in_peak", &in_peak)?;
    if !hyper_names.is_empty() {
        let hs = dst.group("hyper_summary")?;
        hs.out().strings("names", &hyper_names)?;
        hs.out().vec("mean", &hyper_mean)?;
        hs.out().vec("sd", &hyper_sd)?;
    }
    Ok(())
}

fn mean_sd(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    let var = if v.len() > 1 {
        v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0)
    } else {
        f64::NAN
    };
    (mean, var.sqrt())
}

/// `/summary`: one column dataset per summary column, one entry per row.
fn write_summary(root: Out, rows: &[SummaryRow]) -> Result<(), FinalizeError> {
    let s = root.group("summary")?;
    let o = s.out();
    let col = |f: &dyn Fn(&SummaryRow) -> String| rows.iter().map(f).collect::<Vec<_>>();
    let fcol = |f: &dyn Fn(&SummaryRow) -> f64| rows.iter().map(f).collect::<Vec<_>>();
    let ucol = |f: &dyn Fn(&SummaryRow) -> u64| rows.iter().map(f).collect::<Vec<_>>();
    let bcol = |f: &dyn Fn(&SummaryRow) -> u8| rows.iter().map(f).collect::<Vec<_>>();
    let icol = |f: &dyn Fn(&SummaryRow) -> Option<u64>| {
        rows.iter()
            .map(|r| f(r).map_or(-1, |v| v as i64))
            .collect::<Vec<_>>()
    };
    o.strings("gene_id", &col(&|r| r.gene_id.clone()))?;
    o.strings("gene_name", &col(&|r| r.gene_name.clone()))?;
    o.strings("chrom", &col(&|r| r.chrom.clone()))?;
    o.vec("tss", &ucol(&|r| r.tss))?;
    o.strings("method", &col(&|r| r.method.clone()))?;
    o.strings("status", &col(&|r| r.status.clone()))?;
    o.strings("reason", &col(&|r| clean(&r.reason)))?;
    o.vec("n", &ucol(&|r| r.n))?;
    o.vec("p", &ucol(&|r| r.p))?;
    o.vec("test_r", &fcol(&|r| r.test_r))?;
    o.vec("r2", &fcol(&|r| r.r2))?;
    o.vec("pval", &fcol(&|r| r.pval))?;
    o.vec("r2_oos", &fcol(&|r| r.r2_oos))?;
    o.vec("pve", &fcol(&|r| r.pve))?;
    o.vec("pge", &fcol(&|r| r.pge))?;
    o.vec("n_active", &ucol(&|r| r.n_active))?;
    o.vec("n_active_in_peak", &ucol(&|r| r.n_active_in_peak))?;
    o.vec("n_tested", &ucol(&|r| r.n_tested))?;
    o.vec("n_tested_in_peak", &ucol(&|r| r.n_tested_in_peak))?;
    o.vec("max_rhat", &fcol(&|r| r.max_rhat))?;
    o.vec("min_ess_bulk", &fcol(&|r| r.min_ess_bulk))?;
    o.vec("flag_rhat", &bcol(&|r| r.flag_rhat))?;
    o.vec("flag_ess", &bcol(&|r| r.flag_ess))?;
    o.vec("flag_pip", &bcol(&|r| r.flag_pip))?;
    o.vec("passes", &bcol(&|r| r.passes))?;
    o.vec("n_causal", &icol(&|r| r.n_causal))?;
    o.vec("n_causal_tested", &icol(&|r| r.n_causal_tested))?;
    o.vec("n_causal_in_peak", &icol(&|r| r.n_causal_in_peak))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::truth::CausalSnp;

    fn causal(gene: &str, pos: u64, id: &str, r: &str, a: &str) -> CausalSnp {
        CausalSnp {
            gene_id: gene.into(),
            chrom: "chr1".into(),
            pos,
            variant_id: id.into(),
            ref_allele: r.into(),
            alt: a.into(),
        }
    }

    #[test]
    fn truth_matches_by_id_then_by_position_and_alleles() {
        let gene = CacheGene {
            gene_id: "G1".into(),
            gene_name: "N1".into(),
            tss: 500,
            status: "ok".into(),
            reason: String::new(),
            in_peak: vec![0, 1, 1, 0],
            ids: vec!["v100".into(), "v200".into(), ".".into(), "v400".into()],
            pos: vec![100, 200, 300, 400],
            ref_allele: vec!["A".into(), "C".into(), "G".into(), "T".into()],
            alt_allele: vec!["C".into(), "G".into(), "T".into(), "A".into()],
        };
        let mut m = HashMap::new();
        m.insert(
            "G1".to_string(),
            vec![
                causal("G1", 200, "v200", "C", "G"),         // by id, in peak
                causal("G1", 300, "chr1_300_G_T", "G", "T"), // by position + alleles, in peak
                causal("G1", 400, "other", "T", "G"),        // alleles differ: not tested
                causal("G1", 999, "v999", "A", "C"),         // filtered by QC: not tested
            ],
        );
        let c = truth_counts(&[gene], &m);
        assert_eq!(
            c["G1"],
            TruthCounts {
                causal: 4,
                tested: 2,
                in_peak: 2
            }
        );
    }

    #[test]
    fn summary_rows_round_trip_through_tsv() {
        let dir = tempfile::tempdir().unwrap();
        let gene = CacheGene {
            gene_id: "G1".into(),
            gene_name: "N1".into(),
            tss: 5,
            status: "no_snps".into(),
            reason: "no SNP\tleft\nafter QC".into(),
            in_peak: vec![],
            ids: vec![],
            pos: vec![],
            ref_allele: vec![],
            alt_allele: vec![],
        };
        let mut a = SummaryRow::empty(&gene, "chr1", "m");
        a.test_r = 1.0 / 3.0;
        a.pval = 1.5e-300;
        a.n_causal = Some(3);
        let p = dir.path().join("g.tsv");
        std::fs::write(&p, render_rows(std::slice::from_ref(&a))).unwrap();
        let back = crate::stages::finalize::read_summary(&p).unwrap();
        a.reason = "no SNP left after QC".into();
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].test_r, a.test_r);
        assert_eq!(back[0].pval, a.pval);
        assert!(back[0].r2.is_nan());
        let (mut x, mut y) = (back[0].clone(), a.clone());
        for r in [&mut x, &mut y] {
            r.r2 = 0.0;
            r.r2_oos = 0.0;
            r.pve = 0.0;
            r.pge = 0.0;
            r.max_rhat = 0.0;
            r.min_ess_bulk = 0.0;
        }
        assert_eq!(x, y);
    }
}
