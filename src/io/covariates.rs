//! Reader for GTEx-layout covariate tables: a header `ID <sample...>` and one row per covariate.
//! Covariates must be complete (no missing values). This module only parses; matching samples
//! and removing constant or collinear covariates (the caller's QR) happen elsewhere.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::text::{lines, parse_float, Cell, TextError};

/// A parsed covariate table.
#[derive(Clone, Debug, PartialEq)]
pub struct Covariates {
    /// The file read.
    pub path: PathBuf,
    /// Sample IDs in header order.
    pub samples: Vec<String>,
    /// Covariate names in file order.
    pub names: Vec<String>,
    /// `values[k][i]` = covariate `k`, sample `i`.
    pub values: Vec<Vec<f64>>,
}

/// Errors from [`read_covariates`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CovariateError {
    /// The file could not be opened or read.
    #[error(transparent)]
    Text(#[from] TextError),
    /// The file is empty.
    #[error("{}: file is empty; expected a header `ID<TAB><sample>...` then one row per covariate", path.display())]
    MissingHeader {
        /// The file.
        path: PathBuf,
    },
    /// The header is not `ID <sample...>`.
    #[error("{}:{line}: header starts with `{found}` and has {columns} columns; expected `ID` followed by at least one sample ID (GTEx layout: covariates in rows, samples in columns)", path.display())]
    BadHeader {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The first header field.
        found: String,
        /// Number of header columns.
        columns: usize,
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
    /// A covariate name appears on two lines.
    #[error("{}: covariate `{name}` appears on lines {first} and {second}; expected unique covariate names", path.display())]
    DuplicateCovariate {
        /// The file.
        path: PathBuf,
        /// The repeated name.
        name: String,
        /// 1-based line of the first occurrence.
        first: usize,
        /// 1-based line of the second occurrence.
        second: usize,
    },
    /// A row has the wrong number of fields.
    #[error("{}:{line}: covariate `{name}` has {found} fields; expected {expected} (name + one per header sample)", path.display())]
    FieldCount {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The covariate name (first field).
        name: String,
        /// Fields required by the header.
        expected: usize,
        /// Fields found.
        found: usize,
    },
    /// A value is missing, infinite or not a number.
    #[error("{}:{line}: covariate `{name}`, sample `{sample}`: value `{token}` is {problem}; expected a finite number (covariates must be complete)", path.display())]
    BadValue {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The covariate name.
        name: String,
        /// The sample whose column holds the value.
        sample: String,
        /// The offending token.
        token: String,
        /// `missing`, `not finite` or `not a number`.
        problem: &'static str,
    },
}

/// Reads a GTEx-layout covariate table (plain, gzip or BGZF). Blank lines are skipped.
///
/// The header's first field must be `ID` (case-insensitive, `#` prefix allowed). Constant
/// covariates are accepted.
pub fn read_covariates(path: &Path) -> Result<Covariates, CovariateError> {
    let path_buf = path.to_path_buf();
    let mut reader = lines(path)?.filter(|l| !matches!(l, Ok(l) if l.is_blank()));
    let header = reader
        .next()
        .ok_or_else(|| CovariateError::MissingHeader {
            path: path_buf.clone(),
        })??;
    let fields = header.fields();
    let first = fields[0].trim_start_matches('#');
    if !first.eq_ignore_ascii_case("id") || fields.len() < 2 {
        return Err(CovariateError::BadHeader {
            path: path_buf,
            line: header.number,
            found: fields[0].to_string(),
            columns: fields.len(),
        });
    }
    let mut columns: HashMap<&str, usize> = HashMap::new();
    for (i, s) in fields.iter().enumerate().skip(1) {
        if let Some(&first) = columns.get(s) {
            return Err(CovariateError::DuplicateSample {
                path: path_buf,
                line: header.number,
                sample: s.to_string(),
                first,
                second: i + 1,
            });
        }
        columns.insert(s, i + 1);
    }
    let samples: Vec<String> = fields[1..].iter().map(|s| s.to_string()).collect();

    let mut names = Vec::new();
    let mut values = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for line in reader {
        let line = line?;
        let f = line.fields();
        let name = f[0].to_string();
        if f.len() != samples.len() + 1 {
            return Err(CovariateError::FieldCount {
                path: path_buf,
                line: line.number,
                name,
                expected: samples.len() + 1,
                found: f.len(),
            });
        }
        if let Some(&first) = seen.get(&name) {
            return Err(CovariateError::DuplicateCovariate {
                path: path_buf,
                name,
                first,
                second: line.number,
            });
        }
        let mut row = Vec::with_capacity(samples.len());
        for (token, sample) in f[1..].iter().zip(&samples) {
            let problem = match parse_float(token) {
                Cell::Finite(v) => {
                    row.push(v);
                    continue;
                }
                Cell::Missing => "missing",
                Cell::Infinite => "not finite",
                Cell::Invalid => "not a number",
            };
            return Err(CovariateError::BadValue {
                path: path_buf,
                line: line.number,
                name,
                sample: sample.clone(),
                token: token.to_string(),
                problem,
            });
        }
        seen.insert(name.clone(), line.number);
        names.push(name);
        values.push(row);
    }
    Ok(Covariates {
        path: path_buf,
        samples,
        names,
        values,
    })
}

#[cfg(test)]
mod tests {
    use super::super::text::testutil::{plain, write_file, Compression};
    use super::*;

    fn err(contents: &str) -> (CovariateError, String) {
        let (_d, path) = plain("covs.txt", contents);
        let e = read_covariates(&path).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("covs.txt"), "{msg}");
        (e, msg)
    }

    #[test]
    fn parses_plain_and_gzip_with_constant_covariate() {
        let dir = tempfile::tempdir().unwrap();
        let body = "ID\tS1\tS2\tS3\nPC1\t0.1\t-0.2\t3e2\nsex\t1\t1\t1\n";
        for (name, c) in [
            ("c.txt", Compression::Plain),
            ("c.txt.gz", Compression::Gzip),
        ] {
            let path = write_file(&dir, name, body, c);
            let cov = read_covariates(&path).unwrap();
            assert_eq!(cov.path, path);
            assert_eq!(cov.samples, vec!["S1", "S2", "S3"]);
            assert_eq!(cov.names, vec!["PC1", "sex"]);
            assert_eq!(
                cov.values,
                vec![vec![0.1, -0.2, 300.0], vec![1.0, 1.0, 1.0]]
            );
        }
    }

    #[test]
    fn header_only_gives_no_covariates() {
        let (_d, path) = plain("c.txt", "id\tS1\n");
        let cov = read_covariates(&path).unwrap();
        assert!(cov.names.is_empty() && cov.values.is_empty());
    }

    #[test]
    fn empty_file() {
        let (e, _) = err("");
        assert!(matches!(e, CovariateError::MissingHeader { .. }));
    }

    #[test]
    fn bad_header() {
        let (e, msg) = err("sample\tPC1\tPC2\nS1\t1\t2\n");
        assert!(matches!(e, CovariateError::BadHeader { line: 1, .. }));
        assert!(msg.contains(":1:") && msg.contains("`sample`"), "{msg}");
        let (e, _) = err("ID\n");
        assert!(matches!(e, CovariateError::BadHeader { columns: 1, .. }));
    }

    #[test]
    fn duplicate_sample() {
        let (e, msg) = err("ID\tS1\tS1\n");
        assert!(matches!(
            e,
            CovariateError::DuplicateSample {
                first: 2,
                second: 3,
                ..
            }
        ));
        assert!(msg.contains("`S1`") && msg.contains("2 and 3"), "{msg}");
    }

    #[test]
    fn duplicate_covariate() {
        let (e, msg) = err("ID\tS1\nPC1\t1\nPC2\t2\nPC1\t3\n");
        assert!(matches!(
            e,
            CovariateError::DuplicateCovariate {
                first: 2,
                second: 4,
                ..
            }
        ));
        assert!(
            msg.contains("`PC1`") && msg.contains("lines 2 and 4"),
            "{msg}"
        );
    }

    #[test]
    fn wrong_field_count() {
        let (e, msg) = err("ID\tS1\tS2\nPC1\t1\n");
        assert!(matches!(
            e,
            CovariateError::FieldCount {
                expected: 3,
                found: 2,
                ..
            }
        ));
        assert!(msg.contains(":2:") && msg.contains("`PC1`"), "{msg}");
    }

    #[test]
    fn missing_infinite_and_non_numeric_values() {
        for (token, problem) in [
            ("NA", "missing"),
            ("inf", "not finite"),
            ("x1", "not a number"),
        ] {
            let (e, msg) = err(&format!("ID\tS1\tS2\nPC1\t1\t2\nPC2\t0\t{token}\n"));
            assert!(
                matches!(e, CovariateError::BadValue { line: 3, .. }),
                "{msg}"
            );
            for part in [":3:", "`PC2`", "`S2`", &format!("`{token}`"), problem] {
                assert!(msg.contains(part), "{part} missing from {msg}");
            }
        }
    }

    #[test]
    fn missing_file_is_a_text_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_covariates(&dir.path().join("none.txt")).unwrap_err();
        assert!(matches!(e, CovariateError::Text(_)));
    }
}
