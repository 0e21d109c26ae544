//! The PredictDB model format read by PrediXcan and MetaXcan (S-PrediXcan): a SQLite weights
//! database and a gzipped SNP covariance file, written to temporary names and renamed. Layout
//! (PIPELINE.md, "The export stage"):
//!
//! - `weights (rsid TEXT, gene TEXT, weight DOUBLE, ref_allele CHARACTER, eff_allele CHARACTER,
//!   varID TEXT)`, one row per (gene, SNP); `weight` is per copy of `eff_allele`;
//! - `extra (gene TEXT, genename TEXT, "n.snps.in.model" INTEGER, "pred.perf.R2" DOUBLE,
//!   "pred.perf.pval" DOUBLE, "pred.perf.qval" DOUBLE)`;
//! - `sample_info`, `construction` (as the GTEx v7 PredictDB databases), `model_summaries`
//!   (every fitted gene, exported or not) and `bsbslmm_info` (key/value provenance);
//! - indexes `weights_rsid`, `weights_gene`, `weights_rsid_gene`, `extra_gene`,
//!   `gene_model_summary`;
//! - covariance: gzip text, header `GENE RSID1 RSID2 VALUE`, space-separated, one line per
//!   unordered SNP pair of a gene (diagonal included), in the order of the gene's weights.
//!
//! This module knows the formats only; which SNPs and genes go in is decided by the stage.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use rusqlite::{params, Connection};
use thiserror::Error;

use crate::io::store::tmp_name;
use crate::io::text::{self, TextError};

/// Errors reading or writing a PredictDB database or covariance file.
#[derive(Debug, Error)]
pub enum PredictDbError {
    #[error("{path}: SQLite error while {context}: {source}")]
    Sql {
        path: PathBuf,
        context: String,
        source: rusqlite::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Text(#[from] TextError),
    #[error("{path}:{line}: {message}")]
    Covariance {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// One SNP of an exported model.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightRow {
    /// The variant ID of the cohort's VCF (or `chrom:pos:ref:alt`).
    pub rsid: String,
    /// `chrom_pos_ref_alt` (the GTEx v8 PredictDB `varID` convention, without a build suffix).
    pub var_id: String,
    /// Non-effect allele (the VCF REF).
    pub ref_allele: String,
    /// Effect allele: the counted allele (the VCF ALT).
    pub eff_allele: String,
    /// Expression change per copy of `eff_allele`.
    pub weight: f64,
}

/// Per-gene model summary, written for every fitted gene (`model_summaries`), and the `extra`
/// row of exported genes.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneSummary {
    pub gene: String,
    pub genename: String,
    pub chrom: String,
    pub tss: u64,
    /// SNPs of the fitted model (the cis SNPs after QC).
    pub n_snps_cis: usize,
    /// SNPs exported (after pruning).
    pub n_snps_in_model: usize,
    /// Correlation of the pruned with the full prediction in the reference genotypes.
    pub pruned_r: f64,
    /// Pooled cross-validated r, r², p-value and the BH q-value over the method's genes.
    pub cv_r: f64,
    pub cv_r2: f64,
    pub cv_pval: f64,
    pub cv_qval: f64,
    /// Whether the gene passes the configured performance filter.
    pub passes_filter: bool,
    /// Whether the gene is in `weights`/`extra`; if not, `note` says why.
    pub exported: bool,
    pub note: String,
}

/// One exported gene: its summary and its weights.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneModel {
    pub summary: GeneSummary,
    pub weights: Vec<WeightRow>,
}

/// Database-level information: sample count, the tissue/model label, the chromosomes and the
/// seed (PredictDB's `sample_info` and `construction`), and provenance key/value pairs.
#[derive(Debug, Clone, Default)]
pub struct DbInfo {
    pub n_samples: usize,
    pub population: String,
    pub tissue: String,
    pub chromosomes: Vec<String>,
    pub cv_seed: u64,
    pub meta: Vec<(String, String)>,
}

const SCHEMA: &str = "
CREATE TABLE weights (rsid TEXT, gene TEXT, weight DOUBLE, ref_allele CHARACTER, eff_allele CHARACTER, varID TEXT);
CREATE TABLE extra (gene TEXT, genename TEXT, `n.snps.in.model` INTEGER, `pred.perf.R2` DOUBLE, `pred.perf.pval` DOUBLE, `pred.perf.qval` DOUBLE);
CREATE TABLE sample_info (n_samples INTEGER, population TEXT, tissue TEXT);
CREATE TABLE construction (chromosome TEXT, cv_seed INTEGER);
CREATE TABLE model_summaries (gene TEXT, genename TEXT, chrom TEXT, tss INTEGER, n_snps_cis INTEGER, n_snps_in_model INTEGER, pruned_r DOUBLE, cv_r DOUBLE, cv_r2 DOUBLE, cv_pval DOUBLE, cv_qval DOUBLE, passes_filter INTEGER, exported INTEGER, note TEXT);
CREATE TABLE bsbslmm_info (key TEXT PRIMARY KEY, value TEXT);
";

const INDEXES: &str = "
CREATE INDEX weights_rsid ON weights (rsid);
CREATE INDEX weights_gene ON weights (gene);
CREATE INDEX weights_rsid_gene ON weights (rsid, gene);
CREATE INDEX extra_gene ON extra (gene);
CREATE INDEX gene_model_summary ON model_summaries (gene);
";

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// Writes a weights database at `path` (temporary name, then rename). `summaries` are all
/// fitted genes; `models` the exported ones (written to `weights` and `extra`).
pub fn write_db(
    path: &Path,
    info: &DbInfo,
    summaries: &[GeneSummary],
    models: &[GeneModel],
) -> Result<(), PredictDbError> {
    let tmp = tmp_name(path);
    let _ = std::fs::remove_file(&tmp);
    let sql = |context: &str| {
        let context = context.to_string();
        let path = tmp.clone();
        move |source| PredictDbError::Sql {
            path: path.clone(),
            context: context.clone(),
            source,
        }
    };
    {
        let mut conn = Connection::open(&tmp).map_err(sql("creating the database"))?;
        // A fresh temporary file renamed into place when complete: no journal, no fsync per
        // transaction (the rename is what makes the file visible).
        conn.execute_batch("PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;")
            .map_err(sql("setting pragmas"))?;
        conn.execute_batch(SCHEMA)
            .map_err(sql("creating the tables"))?;
        let tx = conn.transaction().map_err(sql("starting a transaction"))?;
        {
            let mut w = tx
                .prepare("INSERT INTO weights (rsid, gene, weight, ref_allele, eff_allele, varID) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
                .map_err(sql("preparing the weights insert"))?;
            let mut e = tx
                .prepare("INSERT INTO extra (gene, genename, `n.snps.in.model`, `pred.perf.R2`, `pred.perf.pval`, `pred.perf.qval`) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
                .map_err(sql("preparing the extra insert"))?;
            for m in models {
                let s = &m.summary;
                for r in &m.weights {
                    w.execute(params![
                        r.rsid,
                        s.gene,
                        r.weight,
                        r.ref_allele,
                        r.eff_allele,
                        r.var_id
                    ])
                    .map_err(sql(&format!("writing weights of gene {}", s.gene)))?;
                }
                e.execute(params![
                    s.gene,
                    s.genename,
                    m.weights.len() as i64,
                    finite(s.cv_r2),
                    finite(s.cv_pval),
                    finite(s.cv_qval)
                ])
                .map_err(sql(&format!("writing extra of gene {}", s.gene)))?;
            }
            let mut ms = tx
                .prepare("INSERT INTO model_summaries VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)")
                .map_err(sql("preparing the model_summaries insert"))?;
            for s in summaries {
                ms.execute(params![
                    s.gene,
                    s.genename,
                    s.chrom,
                    s.tss as i64,
                    s.n_snps_cis as i64,
                    s.n_snps_in_model as i64,
                    finite(s.pruned_r),
                    finite(s.cv_r),
                    finite(s.cv_r2),
                    finite(s.cv_pval),
                    finite(s.cv_qval),
                    i64::from(s.passes_filter),
                    i64::from(s.exported),
                    s.note
                ])
                .map_err(sql(&format!("writing model_summaries of gene {}", s.gene)))?;
            }
            tx.execute(
                "INSERT INTO sample_info (n_samples, population, tissue) VALUES (?1, ?2, ?3)",
                params![info.n_samples as i64, info.population, info.tissue],
            )
            .map_err(sql("writing sample_info"))?;
            for c in &info.chromosomes {
                tx.execute(
                    "INSERT INTO construction (chromosome, cv_seed) VALUES (?1, ?2)",
                    params![c, info.cv_seed as i64],
                )
                .map_err(sql("writing construction"))?;
            }
            for (k, v) in &info.meta {
                tx.execute(
                    "INSERT INTO bsbslmm_info (key, value) VALUES (?1, ?2)",
                    params![k, v],
                )
                .map_err(sql("writing bsbslmm_info"))?;
            }
        }
        tx.execute_batch(INDEXES)
            .map_err(sql("creating the indexes"))?;
        tx.commit().map_err(sql("committing"))?;
        conn.close().map_err(|(_, e)| sql("closing")(e))?;
    }
    std::fs::rename(&tmp, path).map_err(|source| PredictDbError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// A gene's SNP covariance for the covariance file: SNP IDs and the `k × k` matrix (row-major).
pub struct GeneCovariance<'a> {
    pub gene: &'a str,
    pub rsids: Vec<&'a str>,
    pub cov: &'a [f64],
}

/// Writes the gzipped covariance file (temporary name, then rename).
pub fn write_covariance<'a>(
    path: &Path,
    genes: impl IntoIterator<Item = GeneCovariance<'a>>,
) -> Result<(), PredictDbError> {
    let tmp = tmp_name(path);
    let werr = |source| PredictDbError::Write {
        path: tmp.clone(),
        source,
    };
    let file = std::fs::File::create(&tmp).map_err(werr)?;
    // Buffer in front of the encoder: many small writes straight into a deflate stream are slow.
    let mut gz =
        std::io::BufWriter::with_capacity(1 << 17, GzEncoder::new(file, Compression::fast()));
    writeln!(gz, "GENE RSID1 RSID2 VALUE").map_err(werr)?;
    for g in genes {
        let k = g.rsids.len();
        debug_assert_eq!(g.cov.len(), k * k);
        for a in 0..k {
            for b in a..k {
                writeln!(
                    gz,
                    "{} {} {} {}",
                    g.gene,
                    g.rsids[a],
                    g.rsids[b],
                    g.cov[a * k + b]
                )
                .map_err(werr)?;
            }
        }
    }
    gz.into_inner()
        .map_err(|e| e.into_error())
        .and_then(|enc| enc.finish())
        .map_err(werr)?;
    std::fs::rename(&tmp, path).map_err(|source| PredictDbError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// An exported gene as read back from a database.
#[derive(Debug, Clone, PartialEq)]
pub struct DbGene {
    pub gene: String,
    pub genename: String,
    pub chrom: String,
    pub tss: u64,
    pub weights: Vec<WeightRow>,
}

/// Reads the exported genes of a database written by [`write_db`] (genes of `extra`, with
/// chromosome and TSS from `model_summaries`), weights in insertion order.
pub fn read_db(path: &Path) -> Result<Vec<DbGene>, PredictDbError> {
    let sql = |context: &'static str| {
        move |source| PredictDbError::Sql {
            path: path.to_path_buf(),
            context: context.to_string(),
            source,
        }
    };
    let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(sql("opening"))?;
    let mut genes: Vec<DbGene> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    {
        let mut st = conn
            .prepare(
                "SELECT e.gene, e.genename, m.chrom, m.tss FROM extra e \
                 JOIN model_summaries m ON m.gene = e.gene ORDER BY e.rowid",
            )
            .map_err(sql("reading extra"))?;
        let rows = st
            .query_map([], |r| {
                Ok(DbGene {
                    gene: r.get(0)?,
                    genename: r.get(1)?,
                    chrom: r.get(2)?,
                    tss: r.get::<_, i64>(3)? as u64,
                    weights: Vec::new(),
                })
            })
            .map_err(sql("reading extra"))?;
        for g in rows {
            let g = g.map_err(sql("reading extra"))?;
            index.insert(g.gene.clone(), genes.len());
            genes.push(g);
        }
    }
    let mut st = conn
        .prepare(
            "SELECT gene, rsid, varID, ref_allele, eff_allele, weight FROM weights ORDER BY rowid",
        )
        .map_err(sql("reading weights"))?;
    let rows = st
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                WeightRow {
                    rsid: r.get(1)?,
                    var_id: r.get(2)?,
                    ref_allele: r.get(3)?,
                    eff_allele: r.get(4)?,
                    weight: r.get(5)?,
                },
            ))
        })
        .map_err(sql("reading weights"))?;
    for row in rows {
        let (gene, w) = row.map_err(sql("reading weights"))?;
        if let Some(&i) = index.get(&gene) {
            genes[i].weights.push(w);
        }
    }
    Ok(genes)
}

/// Reads one value of `bsbslmm_info`, if the database and the key exist.
pub fn read_info(path: &Path, key: &str) -> Option<String> {
    let conn =
        Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
    conn.query_row(
        "SELECT value FROM bsbslmm_info WHERE key = ?1",
        params![key],
        |r| r.get(0),
    )
    .ok()
}

/// One gene's covariance as read from a covariance file, for a given SNP order.
#[derive(Debug, Clone, PartialEq)]
pub struct GeneCov {
    /// SNP IDs, in the order requested.
    pub rsids: Vec<String>,
    /// `k × k`, row-major, symmetric.
    pub cov: Vec<f64>,
    filled: Vec<bool>,
}

impl GeneCov {
    fn new(rsids: &[String]) -> GeneCov {
        let k = rsids.len();
        GeneCov {
            rsids: rsids.to_vec(),
            cov: vec![0.0; k * k],
            filled: vec![false; k * k],
        }
    }

    /// The first pair of SNPs the file had no entry for, if any.
    pub fn missing_pair(&self) -> Option<(String, String)> {
        let k = self.rsids.len();
        (0..k)
            .flat_map(|a| (a..k).map(move |b| (a, b)))
            .find(|&(a, b)| !self.filled[a * k + b])
            .map(|(a, b)| (self.rsids[a].clone(), self.rsids[b].clone()))
    }
}

/// Reads a covariance file (`GENE RSID1 RSID2 VALUE`, whitespace-separated, plain or gzip) for
/// the genes of `wanted` (gene → SNP IDs in the order wanted); other genes and SNPs are skipped.
/// Pairs may appear in either order. Check [`GeneCov::missing_pair`] for completeness.
pub fn read_covariance(
    path: &Path,
    wanted: &HashMap<String, Vec<String>>,
) -> Result<HashMap<String, GeneCov>, PredictDbError> {
    let mut out: HashMap<String, GeneCov> = wanted
        .iter()
        .map(|(g, r)| (g.clone(), GeneCov::new(r)))
        .collect();
    let index: HashMap<&str, HashMap<&str, usize>> = wanted
        .iter()
        .map(|(g, r)| {
            (
                g.as_str(),
                r.iter().enumerate().map(|(i, s)| (s.as_str(), i)).collect(),
            )
        })
        .collect();
    for line in text::lines(path)? {
        let line = line?;
        let mut f = line.text.split_whitespace();
        let (Some(gene), Some(r1), Some(r2), Some(v), None) =
            (f.next(), f.next(), f.next(), f.next(), f.next())
        else {
            if line.is_blank() {
                continue;
            }
            return Err(PredictDbError::Covariance {
                path: path.to_path_buf(),
                line: line.number,
                message: format!(
                    "expected 4 fields (GENE RSID1 RSID2 VALUE), found {}",
                    line.text.split_whitespace().count()
                ),
            });
        };
        if line.number == 1 && gene == "GENE" {
            continue;
        }
        let Some(ix) = index.get(gene) else { continue };
        let (Some(&a), Some(&b)) = (ix.get(r1), ix.get(r2)) else {
            continue;
        };
        let v: f64 = v.parse().map_err(|_| PredictDbError::Covariance {
            path: path.to_path_buf(),
            line: line.number,
            message: format!("gene {gene}, SNPs {r1} {r2}: VALUE `{v}` is not a number"),
        })?;
        let g = out.get_mut(gene).expect("indexed genes are in the output");
        let k = g.rsids.len();
        for (x, y) in [(a, b), (b, a)] {
            g.cov[x * k + y] = v;
            g.filled[x * k + y] = true;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(gene: &str, n: usize) -> GeneModel {
        GeneModel {
            summary: GeneSummary {
                gene: gene.into(),
                genename: format!("{gene}_name"),
                chrom: "chr1".into(),
                tss: 100,
                n_snps_cis: 10,
                n_snps_in_model: n,
                pruned_r: 0.99,
                cv_r: 0.3,
                cv_r2: 0.09,
                cv_pval: 1e-3,
                cv_qval: f64::NAN,
                passes_filter: true,
                exported: true,
                note: String::new(),
            },
            weights: (0..n)
                .map(|i| WeightRow {
                    rsid: format!("rs{i}"),
                    var_id: format!("chr1_{i}_A_G"),
                    ref_allele: "A".into(),
                    eff_allele: "G".into(),
                    weight: 0.5 - i as f64,
                })
                .collect(),
        }
    }

    #[test]
    fn db_and_covariance_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("m.db");
        let models = vec![model("G1", 2), model("G2", 1)];
        let summaries: Vec<GeneSummary> = models.iter().map(|m| m.summary.clone()).collect();
        let info = DbInfo {
            n_samples: 5,
            population: "NA".into(),
            tissue: "m".into(),
            chromosomes: vec!["chr1".into()],
            cv_seed: 3,
            meta: vec![("fingerprint".into(), "abc".into())],
        };
        write_db(&db, &info, &summaries, &models).unwrap();
        assert!(!tmp_name(&db).exists());
        let back = read_db(&db).unwrap();
        assert_eq!(back.len(), 2);
        assert_eq!(back[0].weights, models[0].weights);
        assert_eq!(back[1].gene, "G2");
        assert_eq!(read_info(&db, "fingerprint").as_deref(), Some("abc"));
        // NaN q-value is stored as NULL.
        let conn = Connection::open(&db).unwrap();
        let q: Option<f64> = conn
            .query_row(
                "SELECT `pred.perf.qval` FROM extra WHERE gene='G1'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(q.is_none());

        let cov_path = dir.path().join("m.txt.gz");
        let c1 = [1.0, 0.25, 0.25, 2.0];
        write_covariance(
            &cov_path,
            [GeneCovariance {
                gene: "G1",
                rsids: vec!["rs0", "rs1"],
                cov: &c1,
            }],
        )
        .unwrap();
        let want = |r: &[&str]| {
            HashMap::from([(
                "G1".to_string(),
                r.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            )])
        };
        let map = read_covariance(&cov_path, &want(&["rs1", "rs0"])).unwrap();
        assert_eq!(map["G1"].cov, vec![2.0, 0.25, 0.25, 1.0]);
        assert!(map["G1"].missing_pair().is_none());
        let map = read_covariance(&cov_path, &want(&["rs0", "rs9"])).unwrap();
        assert_eq!(
            map["G1"].missing_pair(),
            Some(("rs0".to_string(), "rs9".to_string()))
        );
    }

    #[test]
    fn malformed_covariance_line_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.txt");
        std::fs::write(&p, "GENE RSID1 RSID2 VALUE\nG1 rs1 rs1 x\n").unwrap();
        let want = HashMap::from([("G1".to_string(), vec!["rs1".to_string()])]);
        let e = read_covariance(&p, &want).unwrap_err().to_string();
        assert!(
            e.contains("c.txt:2") && e.contains("`x` is not a number"),
            "{e}"
        );
        std::fs::write(&p, "GENE RSID1 RSID2 VALUE\nG1 rs1 0.5\n").unwrap();
        let e = read_covariance(&p, &want).unwrap_err().to_string();
        assert!(e.contains("expected 4 fields"), "{e}");
    }
}
