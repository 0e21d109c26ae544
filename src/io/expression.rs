//! Reader for the tensorQTL/GTEx expression BED: a `#chr start end gene_id <samples...>` header
//! and one line per gene holding one value per sample. The file may be plain, gzip or BGZF.
//! This module only parses and validates the table; matching samples to genotypes, dropping
//! samples with missing values and any normalisation belong to the caller.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::text::{lines, parse_float, Cell, TextError};

/// What to do with missing values (`NA`, `nan`, empty) in the expression matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NaPolicy {
    /// A missing value is an error naming the line, gene and sample.
    Error,
    /// Missing values are kept as NaN; the caller drops those samples per gene.
    Keep,
}

/// One gene's line of the expression BED.
#[derive(Clone, Debug, PartialEq)]
pub struct ExprGene {
    /// Contig name as written in the file (e.g. `chr1`).
    pub chrom: String,
    /// BED start (0-based; TSS - 1 in tensorQTL files).
    pub start: u64,
    /// BED end (TSS, 1-based, in tensorQTL files).
    pub end: u64,
    /// Gene identifier, as written (version suffix kept).
    pub gene_id: String,
    /// 1-based line number in the file.
    pub line: usize,
    /// One value per sample, in header order; NaN only under [`NaPolicy::Keep`].
    pub values: Vec<f64>,
}

/// A parsed expression BED.
#[derive(Clone, Debug, PartialEq)]
pub struct Expression {
    /// The file read.
    pub path: PathBuf,
    /// Sample IDs in header order.
    pub samples: Vec<String>,
    /// Genes in file order.
    pub genes: Vec<ExprGene>,
}

/// Errors from [`read_expression`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExpressionError {
    /// The file could not be opened or read.
    #[error(transparent)]
    Text(#[from] TextError),
    /// The file has no lines.
    #[error("{}: file is empty; expected an expression BED header `#chr<TAB>start<TAB>end<TAB>gene_id<TAB><sample>...`", path.display())]
    MissingHeader {
        /// The file.
        path: PathBuf,
    },
    /// The first line does not start with `#chr`.
    #[error("{}:{line}: header starts with `{found}`; expected `#chr` (expression BED header `#chr<TAB>start<TAB>end<TAB>gene_id<TAB><sample>...`)", path.display())]
    BadHeader {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The first header field.
        found: String,
    },
    /// The header has no sample columns.
    #[error("{}:{line}: header has {found} columns; expected at least 5 (#chr, start, end, gene_id, then one column per sample)", path.display())]
    TooFewColumns {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Number of header columns.
        found: usize,
    },
    /// A sample ID appears twice in the header.
    #[error("{}:{line}: sample `{sample}` appears twice in the header, in columns {first} and {second}; expected unique sample IDs", path.display())]
    DuplicateSample {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The repeated sample ID.
        sample: String,
        /// 1-based column of the first occurrence.
        first: usize,
        /// 1-based column of the second occurrence.
        second: usize,
    },
    /// A gene line has the wrong number of fields.
    #[error("{}:{line}: gene `{gene}` has {found} fields; expected {expected} (4 + one per header sample)", path.display())]
    FieldCount {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The gene ID (fourth field, or empty if absent).
        gene: String,
        /// Fields required by the header.
        expected: usize,
        /// Fields found.
        found: usize,
    },
    /// `start` or `end` is not a non-negative integer.
    #[error("{}:{line}: gene `{gene}`: column `{column}` is `{token}`; expected a non-negative integer", path.display())]
    BadCoordinate {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The gene ID.
        gene: String,
        /// `start` or `end`.
        column: &'static str,
        /// The offending token.
        token: String,
    },
    /// A value is not a number.
    #[error("{}:{line}: gene `{gene}`, sample `{sample}`: value `{token}` is not a number", path.display())]
    NotNumeric {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The gene ID.
        gene: String,
        /// The sample whose column holds the value.
        sample: String,
        /// The offending token.
        token: String,
    },
    /// A value is missing and the policy is [`NaPolicy::Error`].
    #[error("{}:{line}: gene `{gene}`, sample `{sample}`: missing value `{token}`; expected a number (set `qc.expression_na: drop` to drop samples with missing values per gene)", path.display())]
    MissingValue {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The gene ID.
        gene: String,
        /// The sample whose value is missing.
        sample: String,
        /// The missing-value token as written.
        token: String,
    },
    /// A value is infinite.
    #[error("{}:{line}: gene `{gene}`, sample `{sample}`: value `{token}` is not finite; expected a finite number", path.display())]
    NonFinite {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The gene ID.
        gene: String,
        /// The sample whose value is infinite.
        sample: String,
        /// The offending token.
        token: String,
    },
    /// A gene ID appears on two lines.
    #[error("{}: gene `{gene}` appears on lines {first} and {second}; expected one line per gene", path.display())]
    DuplicateGene {
        /// The file.
        path: PathBuf,
        /// The repeated gene ID.
        gene: String,
        /// 1-based line of the first occurrence.
        first: usize,
        /// 1-based line of the second occurrence.
        second: usize,
    },
}

/// Reads a tensorQTL/GTEx expression BED (plain, gzip or BGZF).
///
/// Blank lines are skipped. Values are checked against `na`; infinities are always an error.
pub fn read_expression(path: &Path, na: NaPolicy) -> Result<Expression, ExpressionError> {
    let path_buf = path.to_path_buf();
    let mut reader = lines(path)?.filter(|l| !matches!(l, Ok(l) if l.is_blank()));
    let header = reader
        .next()
        .ok_or_else(|| ExpressionError::MissingHeader {
            path: path_buf.clone(),
        })??;
    let samples = parse_header(path, header.number, &header.fields())?;

    let mut genes = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for line in reader {
        let line = line?;
        let gene = parse_gene(path, line.number, &line.fields(), &samples, na)?;
        if let Some(&first) = seen.get(&gene.gene_id) {
            return Err(ExpressionError::DuplicateGene {
                path: path_buf,
                gene: gene.gene_id,
                first,
                second: line.number,
            });
        }
        seen.insert(gene.gene_id.clone(), line.number);
        genes.push(gene);
    }
    Ok(Expression {
        path: path_buf,
        samples,
        genes,
    })
}

fn parse_header(path: &Path, line: usize, fields: &[&str]) -> Result<Vec<String>, ExpressionError> {
    let first = fields[0];
    if !first.eq_ignore_ascii_case("#chr") && !first.eq_ignore_ascii_case("chr") {
        return Err(ExpressionError::BadHeader {
            path: path.to_path_buf(),
            line,
            found: first.to_string(),
        });
    }
    if fields.len() < 5 {
        return Err(ExpressionError::TooFewColumns {
            path: path.to_path_buf(),
            line,
            found: fields.len(),
        });
    }
    let mut columns: HashMap<&str, usize> = HashMap::new();
    for (i, s) in fields.iter().enumerate().skip(4) {
        if let Some(&first) = columns.get(s) {
            return Err(ExpressionError::DuplicateSample {
                path: path.to_path_buf(),
                line,
                sample: s.to_string(),
                first,
                second: i + 1,
            });
        }
        columns.insert(s, i + 1);
    }
    Ok(fields[4..].iter().map(|s| s.to_string()).collect())
}

fn parse_gene(
    path: &Path,
    line: usize,
    fields: &[&str],
    samples: &[String],
    na: NaPolicy,
) -> Result<ExprGene, ExpressionError> {
    let gene = fields.get(3).copied().unwrap_or("").to_string();
    let expected = 4 + samples.len();
    if fields.len() != expected {
        return Err(ExpressionError::FieldCount {
            path: path.to_path_buf(),
            line,
            gene,
            expected,
            found: fields.len(),
        });
    }
    let coord = |column: &'static str, token: &str| {
        token
            .parse::<u64>()
            .map_err(|_| ExpressionError::BadCoordinate {
                path: path.to_path_buf(),
                line,
                gene: gene.clone(),
                column,
                token: token.to_string(),
            })
    };
    let start = coord("start", fields[1])?;
    let end = coord("end", fields[2])?;
    let mut values = Vec::with_capacity(samples.len());
    for (token, sample) in fields[4..].iter().zip(samples) {
        let value = match parse_float(token) {
            Cell::Finite(v) => v,
            Cell::Missing if na == NaPolicy::Keep => f64::NAN,
            other => {
                let (path, gene, sample, token) = (
                    path.to_path_buf(),
                    gene.clone(),
                    sample.clone(),
                    token.to_string(),
                );
                return Err(match other {
                    Cell::Missing => ExpressionError::MissingValue {
                        path,
                        line,
                        gene,
                        sample,
                        token,
                    },
                    Cell::Infinite => ExpressionError::NonFinite {
                        path,
                        line,
                        gene,
                        sample,
                        token,
                    },
                    _ => ExpressionError::NotNumeric {
                        path,
                        line,
                        gene,
                        sample,
                        token,
                    },
                });
            }
        };
        values.push(value);
    }
    Ok(ExprGene {
        chrom: fields[0].to_string(),
        start,
        end,
        gene_id: gene,
        line,
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::super::text::testutil::{plain, write_file, Compression};
    use super::*;

    const GOOD: &str = "#chr\tstart\tend\tgene_id\tS1\tS2\tS3\n\
                        chr1\t999\t1000\tENSG1.2\t0.5\t-1.25\t2e-1\n\
                        chr2\t49\t50\tENSG2\t3\tNA\t0\n";

    fn err(contents: &str, na: NaPolicy) -> (ExpressionError, String) {
        let (_dir, path) = plain("expr.bed", contents);
        let e = read_expression(&path, na).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("expr.bed"), "{msg}");
        (e, msg)
    }

    #[test]
    fn parses_plain_gzip_and_bgzf() {
        let dir = tempfile::tempdir().unwrap();
        for (name, c) in [
            ("e.bed", Compression::Plain),
            ("e.bed.gz", Compression::Gzip),
            ("e.bgz.bed.gz", Compression::Bgzf),
        ] {
            let path = write_file(&dir, name, GOOD, c);
            let e = read_expression(&path, NaPolicy::Keep).unwrap();
            assert_eq!(e.path, path);
            assert_eq!(e.samples, vec!["S1", "S2", "S3"]);
            assert_eq!(e.genes.len(), 2);
            let g = &e.genes[0];
            assert_eq!(
                (g.chrom.as_str(), g.start, g.end, g.gene_id.as_str(), g.line),
                ("chr1", 999, 1000, "ENSG1.2", 2)
            );
            assert_eq!(g.values, vec![0.5, -1.25, 0.2]);
            let g = &e.genes[1];
            assert_eq!(
                (g.gene_id.as_str(), g.line, g.start, g.end),
                ("ENSG2", 3, 49, 50)
            );
            assert_eq!(g.values[0], 3.0);
            assert!(g.values[1].is_nan());
            assert_eq!(g.values[2], 0.0);
        }
    }

    #[test]
    fn plain_chr_header_and_trailing_blank_line_accepted() {
        let (_d, path) = plain("e.bed", "chr\ts\te\tid\tA\nchr1\t0\t1\tG\t1\n\n");
        let e = read_expression(&path, NaPolicy::Error).unwrap();
        assert_eq!(e.genes[0].values, vec![1.0]);
    }

    #[test]
    fn empty_file() {
        let (e, msg) = err("", NaPolicy::Keep);
        assert!(matches!(e, ExpressionError::MissingHeader { .. }), "{msg}");
        assert!(msg.contains("#chr"), "{msg}");
    }

    #[test]
    fn header_must_start_with_chr() {
        let (e, msg) = err("gene_id\tS1\nG\t1\n", NaPolicy::Keep);
        assert!(
            matches!(e, ExpressionError::BadHeader { line: 1, .. }),
            "{msg}"
        );
        assert!(msg.contains(":1:") && msg.contains("`gene_id`"), "{msg}");
    }

    #[test]
    fn header_needs_a_sample() {
        let (e, msg) = err("#chr\tstart\tend\tgene_id\n", NaPolicy::Keep);
        assert!(
            matches!(e, ExpressionError::TooFewColumns { found: 4, .. }),
            "{msg}"
        );
        assert!(msg.contains(":1:") && msg.contains("4 columns"), "{msg}");
    }

    #[test]
    fn duplicate_sample_names_both_columns() {
        let (e, msg) = err("#chr\tstart\tend\tgene_id\tS1\tS2\tS1\n", NaPolicy::Keep);
        assert!(matches!(
            e,
            ExpressionError::DuplicateSample {
                first: 5,
                second: 7,
                ..
            }
        ));
        assert!(msg.contains("`S1`") && msg.contains("5 and 7"), "{msg}");
    }

    #[test]
    fn wrong_field_count() {
        let (e, msg) = err(
            "#chr\tstart\tend\tgene_id\tS1\tS2\nchr1\t0\t1\tG7\t1\n",
            NaPolicy::Keep,
        );
        assert!(matches!(
            e,
            ExpressionError::FieldCount {
                expected: 6,
                found: 5,
                ..
            }
        ));
        assert!(
            msg.contains(":2:") && msg.contains("`G7`") && msg.contains("expected 6"),
            "{msg}"
        );
    }

    #[test]
    fn bad_start_and_end() {
        let (e, msg) = err("#chr\ts\te\tid\tS1\nchr1\t-5\t1\tG1\t1\n", NaPolicy::Keep);
        assert!(matches!(
            e,
            ExpressionError::BadCoordinate {
                column: "start",
                ..
            }
        ));
        assert!(
            msg.contains(":2:") && msg.contains("`-5`") && msg.contains("`G1`"),
            "{msg}"
        );
        let (e, msg) = err("#chr\ts\te\tid\tS1\nchr1\t5\t1.5\tG1\t1\n", NaPolicy::Keep);
        assert!(matches!(
            e,
            ExpressionError::BadCoordinate { column: "end", .. }
        ));
        assert!(msg.contains("`1.5`"), "{msg}");
    }

    #[test]
    fn non_numeric_value() {
        let (e, msg) = err(
            "#chr\ts\te\tid\tS1\tS2\nchr1\t0\t1\tG1\t1\tabc\n",
            NaPolicy::Keep,
        );
        assert!(matches!(e, ExpressionError::NotNumeric { .. }));
        for part in [":2:", "`G1`", "`S2`", "`abc`"] {
            assert!(msg.contains(part), "{part} missing from {msg}");
        }
    }

    #[test]
    fn missing_value_under_error_policy() {
        let contents = "#chr\ts\te\tid\tS1\tS2\nchr1\t0\t1\tG1\t1\t2\nchr1\t0\t1\tG2\tnan\t2\n";
        let (e, msg) = err(contents, NaPolicy::Error);
        assert!(matches!(e, ExpressionError::MissingValue { line: 3, .. }));
        for part in [":3:", "`G2`", "`S1`", "qc.expression_na: drop"] {
            assert!(msg.contains(part), "{part} missing from {msg}");
        }
        let (e, _) = err(
            "#chr\ts\te\tid\tS1\tS2\nchr1\t0\t1\tG1\t1\t\n",
            NaPolicy::Error,
        );
        assert!(matches!(e, ExpressionError::MissingValue { ref sample, .. } if sample == "S2"));
    }

    #[test]
    fn infinite_value() {
        let (e, msg) = err("#chr\ts\te\tid\tS1\nchr1\t0\t1\tG1\t-inf\n", NaPolicy::Keep);
        assert!(matches!(e, ExpressionError::NonFinite { .. }));
        for part in [":2:", "`G1`", "`S1`", "`-inf`"] {
            assert!(msg.contains(part), "{part} missing from {msg}");
        }
    }

    #[test]
    fn duplicate_gene_names_both_lines() {
        let contents =
            "#chr\ts\te\tid\tS1\nchr1\t0\t1\tG1\t1\nchr1\t5\t6\tG2\t1\nchr2\t0\t1\tG1\t1\n";
        let (e, msg) = err(contents, NaPolicy::Keep);
        assert!(matches!(
            e,
            ExpressionError::DuplicateGene {
                first: 2,
                second: 4,
                ..
            }
        ));
        assert!(
            msg.contains("`G1`") && msg.contains("lines 2 and 4"),
            "{msg}"
        );
    }

    #[test]
    fn unreadable_file_is_a_text_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_expression(&dir.path().join("absent.bed.gz"), NaPolicy::Keep).unwrap_err();
        assert!(matches!(e, ExpressionError::Text(_)));
        assert!(e.to_string().contains("absent.bed.gz"));
    }
}
