//! GWAS summary statistics: a whitespace- or tab-separated table with a header (plain, gzip or
//! BGZF), read selectively so that a genome-wide file is never held in memory whole. Columns are
//! found by name, case-insensitively:
//!
//! | meaning | accepted names | required |
//! |---|---|---|
//! | variant ID | `SNP`, `RSID`, `ID`, `VARIANT_ID` | yes |
//! | chromosome, position | `CHR`/`CHROM`, `BP`/`POS` | no (then rows match by ID only) |
//! | effect allele | `A1`, `EFFECT_ALLELE` | yes |
//! | other allele | `A2`, `OTHER_ALLELE`, `NON_EFFECT_ALLELE` | yes |
//! | z-score | `Z`, `ZSCORE`; else `BETA` / `SE` | yes |
//!
//! A missing z (`NA`, `.`, empty) is kept as NaN; anything else that is not a number is an error
//! naming file, line and column. Statistics are not computed here.

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::io::text::{self, parse_float, Cell, TextError};

/// Errors reading summary statistics.
#[derive(Debug, Error)]
pub enum SumstatsError {
    #[error(transparent)]
    Text(#[from] TextError),
    #[error("{path}: empty file; expected a header line with SNP, A1, A2 and Z (or BETA and SE)")]
    Empty { path: PathBuf },
    #[error("{path}: no {what} column in the header (found: {found}); expected one of {expected}")]
    MissingColumn {
        path: PathBuf,
        what: &'static str,
        expected: &'static str,
        found: String,
    },
    #[error("{path}:{line}: expected {expected} fields like the header, found {found}")]
    FieldCount {
        path: PathBuf,
        line: usize,
        expected: usize,
        found: usize,
    },
    #[error("{path}:{line}: SNP `{snp}`: column {column} = `{value}` is not {expected}")]
    BadValue {
        path: PathBuf,
        line: usize,
        snp: String,
        column: String,
        value: String,
        expected: &'static str,
    },
}

/// One row of the summary statistics.
#[derive(Debug, Clone, PartialEq)]
pub struct GwasRow {
    pub snp: String,
    /// Chromosome as written (empty when the file has no chromosome column).
    pub chrom: String,
    /// 1-based position (0 when the file has no position column).
    pub pos: u64,
    pub a1: String,
    pub a2: String,
    /// z-score of `a1`; NaN when missing.
    pub z: f64,
}

/// The chromosome name used for matching by position: without a `chr` prefix, upper case.
pub fn chrom_key(chrom: &str) -> String {
    let c = chrom.trim();
    let c = c
        .strip_prefix("chr")
        .or_else(|| c.strip_prefix("CHR"))
        .or_else(|| c.strip_prefix("Chr"))
        .unwrap_or(c);
    c.to_ascii_uppercase()
}

fn find(header: &[String], names: &[&str]) -> Option<usize> {
    names
        .iter()
        .find_map(|n| header.iter().position(|h| h.eq_ignore_ascii_case(n)))
}

/// What [`read`] saw besides the rows it kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SumstatsStats {
    /// Data rows in the file.
    pub rows: usize,
    /// Rows kept by the filter.
    pub kept: usize,
}

/// Reads the rows for which `keep(snp, chrom_key, pos)` is true (`chrom_key` from [`chrom_key`]).
pub fn read(
    path: &Path,
    mut keep: impl FnMut(&str, &str, u64) -> bool,
) -> Result<(Vec<GwasRow>, SumstatsStats), SumstatsError> {
    let mut lines = text::lines(path)?;
    let header_line = loop {
        match lines.next() {
            None => {
                return Err(SumstatsError::Empty {
                    path: path.to_path_buf(),
                })
            }
            Some(l) => {
                let l = l?;
                if !l.is_blank() {
                    break l;
                }
            }
        }
    };
    let tabs = header_line.text.contains('\t');
    let split = |s: &str| -> Vec<String> {
        if tabs {
            s.split('\t').map(|x| x.trim().to_string()).collect()
        } else {
            s.split_whitespace().map(str::to_string).collect()
        }
    };
    let header = split(header_line.text.trim_start_matches('#'));
    let missing = |what, expected| SumstatsError::MissingColumn {
        path: path.to_path_buf(),
        what,
        expected,
        found: header.join(", "),
    };
    let i_snp = find(&header, &["SNP", "RSID", "ID", "VARIANT_ID"])
        .ok_or_else(|| missing("variant ID", "SNP, RSID, ID, VARIANT_ID"))?;
    let i_a1 = find(&header, &["A1", "EFFECT_ALLELE"])
        .ok_or_else(|| missing("effect allele", "A1, EFFECT_ALLELE"))?;
    let i_a2 = find(&header, &["A2", "OTHER_ALLELE", "NON_EFFECT_ALLELE"])
        .ok_or_else(|| missing("other allele", "A2, OTHER_ALLELE, NON_EFFECT_ALLELE"))?;
    let i_chr = find(&header, &["CHR", "CHROM", "CHROMOSOME"]);
    let i_pos = find(&header, &["BP", "POS", "POSITION"]);
    let i_z = find(&header, &["Z", "ZSCORE"]);
    let i_beta_se = match (find(&header, &["BETA"]), find(&header, &["SE"])) {
        (Some(b), Some(s)) => Some((b, s)),
        _ => None,
    };
    if i_z.is_none() && i_beta_se.is_none() {
        return Err(missing("z-score", "Z, ZSCORE, or both BETA and SE"));
    }
    let mut rows = Vec::new();
    let mut stats = SumstatsStats::default();
    for line in lines {
        let line = line?;
        if line.is_blank() {
            continue;
        }
        stats.rows += 1;
        let f = split(&line.text);
        if f.len() != header.len() {
            return Err(SumstatsError::FieldCount {
                path: path.to_path_buf(),
                line: line.number,
                expected: header.len(),
                found: f.len(),
            });
        }
        let bad = |col: usize, expected| SumstatsError::BadValue {
            path: path.to_path_buf(),
            line: line.number,
            snp: f[i_snp].clone(),
            column: header[col].clone(),
            value: f[col].clone(),
            expected,
        };
        let chrom = i_chr.map(|i| f[i].clone()).unwrap_or_default();
        let pos = match i_pos {
            Some(i) => f[i]
                .parse::<u64>()
                .map_err(|_| bad(i, "a 1-based position"))?,
            None => 0,
        };
        if !keep(&f[i_snp], &chrom_key(&chrom), pos) {
            continue;
        }
        let number = |i: usize| -> Result<f64, SumstatsError> {
            match parse_float(&f[i]) {
                Cell::Finite(v) => Ok(v),
                Cell::Missing => Ok(f64::NAN),
                Cell::Infinite | Cell::Invalid => Err(bad(i, "a number")),
            }
        };
        let z = match (i_z, i_beta_se) {
            (Some(i), _) => number(i)?,
            (None, Some((b, s))) => number(b)? / number(s)?,
            (None, None) => unreachable!("checked above"),
        };
        rows.push(GwasRow {
            snp: f[i_snp].clone(),
            chrom,
            pos,
            a1: f[i_a1].clone(),
            a2: f[i_a2].clone(),
            z,
        });
        stats.kept += 1;
    }
    Ok((rows, stats))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("g.tsv");
        std::fs::write(&p, text).unwrap();
        (d, p)
    }

    #[test]
    fn reads_selected_rows_and_z_from_beta_se() {
        let (_d, p) = write(
            "SNP\tCHR\tBP\tA1\tA2\tBETA\tSE\nrs1\tchr1\t100\tA\tG\t0.2\t0.1\nrs2\t1\t200\tC\tT\tNA\t0.1\nrs3\t2\t5\tC\tT\t1\t1\n",
        );
        let (rows, st) = read(&p, |snp, chrom, _| snp != "rs3" && chrom == "1").unwrap();
        assert_eq!(st, SumstatsStats { rows: 3, kept: 2 });
        assert_eq!(rows[0].snp, "rs1");
        assert!((rows[0].z - 2.0).abs() < 1e-12);
        assert_eq!((rows[0].pos, rows[0].a1.as_str()), (100, "A"));
        assert!(rows[1].z.is_nan());
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let (_d, p) = write("SNP A1 A2 BETA\nrs1 A G 0.1\n");
        let e = read(&p, |_, _, _| true).unwrap_err().to_string();
        assert!(
            e.contains("no z-score column") && e.contains("SNP, A1, A2, BETA"),
            "{e}"
        );
        let (_d, p) = write("SNP A1 A2 Z\nrs1 A G abc\n");
        let e = read(&p, |_, _, _| true).unwrap_err().to_string();
        assert!(
            e.contains("g.tsv:2") && e.contains("SNP `rs1`") && e.contains("Z = `abc`"),
            "{e}"
        );
        let (_d, p) = write("SNP A1 A2 Z\nrs1 A G\n");
        let e = read(&p, |_, _, _| true).unwrap_err().to_string();
        assert!(e.contains("expected 4 fields"), "{e}");
        let (_d, p) = write("rsid effect_allele A2 zscore\nrs1 A G 1.5\n");
        let (rows, _) = read(&p, |_, _, _| true).unwrap();
        assert_eq!(rows[0].z, 1.5);
        assert_eq!(chrom_key("chrX"), "X");
        assert_eq!(chrom_key("7"), "7");
    }
}
