//! Tab-separated tables with a header line: reading them by column name (with errors that name
//! the file, the line and the column) and writing them. Used for the truth files of the simulated
//! cohort, the finalize tables and the twas table. It knows nothing about what the columns mean.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::io::text::{self, TextError};

/// Errors from reading a headed TSV file.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum TsvError {
    /// Opening or reading the file failed.
    #[error(transparent)]
    Text(#[from] TextError),
    /// The file has no header line.
    #[error("{}: empty file; expected a header line with columns {expected}", path.display())]
    Empty { path: PathBuf, expected: String },
    /// A required column is absent from the header.
    #[error("{}:{line}: no column `{column}` in the header (columns: {found})", path.display())]
    MissingColumn {
        path: PathBuf,
        line: usize,
        column: String,
        found: String,
    },
    /// A row has a different number of fields than the header.
    #[error("{}:{line}: {found} fields, expected {expected} (as in the header)", path.display())]
    FieldCount {
        path: PathBuf,
        line: usize,
        found: usize,
        expected: usize,
    },
    /// A value could not be parsed.
    #[error("{}:{line}: column `{column}`: `{value}` is not {expected}", path.display())]
    Value {
        path: PathBuf,
        line: usize,
        column: String,
        value: String,
        expected: &'static str,
    },
}

/// A headed TSV table read into memory.
#[derive(Debug, Clone)]
pub struct Table {
    path: PathBuf,
    header: Vec<String>,
    rows: Vec<(usize, Vec<String>)>,
}

/// One row of a [`Table`], with typed accessors by column name.
pub struct Row<'a> {
    table: &'a Table,
    line: usize,
    fields: &'a [String],
}

impl Table {
    /// Reads `path` (plain or gzip). Before the header, comment lines (`# ...` with a space, or
    /// `##...`) are skipped; a header may itself start with `#` (`#chrom ...`). Blank lines are
    /// skipped. `required` columns must be present in the header.
    pub fn read(path: &Path, required: &[&str]) -> Result<Table, TsvError> {
        let mut header: Option<(usize, Vec<String>)> = None;
        let mut rows = Vec::new();
        for line in text::lines(path)? {
            let line = line?;
            if line.is_blank() {
                continue;
            }
            match &header {
                None => {
                    if line.text.starts_with("##") || line.text.starts_with("# ") {
                        continue;
                    }
                    let t = line.text.trim_start_matches('#');
                    header = Some((line.number, t.split('\t').map(str::to_string).collect()));
                }
                Some((_, h)) => {
                    let f: Vec<String> = line.text.split('\t').map(str::to_string).collect();
                    if f.len() != h.len() {
                        return Err(TsvError::FieldCount {
                            path: path.to_path_buf(),
                            line: line.number,
                            found: f.len(),
                            expected: h.len(),
                        });
                    }
                    rows.push((line.number, f));
                }
            }
        }
        let Some((hline, header)) = header else {
            return Err(TsvError::Empty {
                path: path.to_path_buf(),
                expected: required.join(", "),
            });
        };
        for c in required {
            if !header.iter().any(|h| h == c) {
                return Err(TsvError::MissingColumn {
                    path: path.to_path_buf(),
                    line: hline,
                    column: c.to_string(),
                    found: header.join(", "),
                });
            }
        }
        Ok(Table {
            path: path.to_path_buf(),
            header,
            rows,
        })
    }

    /// The file the table came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the header has `column`.
    pub fn has(&self, column: &str) -> bool {
        self.header.iter().any(|h| h == column)
    }

    /// The rows, in file order.
    pub fn rows(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(|(line, fields)| Row {
            table: self,
            line: *line,
            fields,
        })
    }

    /// Number of data rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when the table has no data rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

impl Row<'_> {
    /// 1-based line number of the row.
    pub fn line(&self) -> usize {
        self.line
    }

    /// The raw text of `column` (which must exist: checked by [`Table::read`] or [`Table::has`]).
    pub fn str(&self, column: &str) -> Result<&str, TsvError> {
        match self.table.header.iter().position(|h| h == column) {
            Some(i) => Ok(self.fields[i].as_str()),
            None => Err(TsvError::MissingColumn {
                path: self.table.path.clone(),
                line: self.line,
                column: column.to_string(),
                found: self.table.header.join(", "),
            }),
        }
    }

    fn bad(&self, column: &str, value: &str, expected: &'static str) -> TsvError {
        TsvError::Value {
            path: self.table.path.clone(),
            line: self.line,
            column: column.to_string(),
            value: value.to_string(),
            expected,
        }
    }

    /// `column` as a float; `NA`, `nan` and the empty string are NaN.
    pub fn f64(&self, column: &str) -> Result<f64, TsvError> {
        let v = self.str(column)?;
        if v.is_empty() || v == "NA" || v.eq_ignore_ascii_case("nan") {
            return Ok(f64::NAN);
        }
        v.parse().map_err(|_| self.bad(column, v, "a number"))
    }

    /// `column` as an unsigned integer.
    pub fn u64(&self, column: &str) -> Result<u64, TsvError> {
        let v = self.str(column)?;
        v.parse()
            .map_err(|_| self.bad(column, v, "a non-negative integer"))
    }
}

/// Formats a float for a TSV cell: `NA` for NaN, otherwise the shortest representation that
/// reads back to the same value, in scientific notation (`1.5e-12`) below 1e-4 or from 1e15 on.
pub fn fmt_f64(v: f64) -> String {
    let a = v.abs();
    if v.is_nan() {
        "NA".to_string()
    } else if a != 0.0 && a.is_finite() && !(1e-4..1e15).contains(&a) {
        format!("{v:e}")
    } else {
        format!("{v}")
    }
}

/// Renders a header and rows as TSV text (one trailing newline).
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = header.join("\t");
    out.push('\n');
    for r in rows {
        let _ = writeln!(out, "{}", r.join("\t"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::text::testutil::plain;

    #[test]
    fn reads_by_column_name_and_parses_values() {
        let (_d, p) = plain("t.tsv", "# comment\na\tb\tc\n1\tx\tNA\n\n2\ty\t0.5\n");
        let t = Table::read(&p, &["a", "c"]).unwrap();
        assert_eq!(t.len(), 2);
        let rows: Vec<_> = t.rows().collect();
        assert_eq!(rows[0].u64("a").unwrap(), 1);
        assert!(rows[0].f64("c").unwrap().is_nan());
        assert_eq!(rows[1].f64("c").unwrap(), 0.5);
        assert_eq!(rows[1].str("b").unwrap(), "y");
        assert_eq!(rows[1].line(), 5);
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let (_d, p) = plain("t.tsv", "a\tb\n1\t2\n3\n");
        let e = Table::read(&p, &["a"]).unwrap_err().to_string();
        assert!(e.contains("t.tsv:3: 1 fields, expected 2"), "{e}");
        let (_d, p) = plain("t.tsv", "a\tb\n1\t2\n");
        let e = Table::read(&p, &["zz"]).unwrap_err().to_string();
        assert!(e.contains("t.tsv:1: no column `zz`"), "{e}");
        let (_d, p) = plain("t.tsv", "a\tb\nq\t2\n");
        let t = Table::read(&p, &["a"]).unwrap();
        let e = t.rows().next().unwrap().u64("a").unwrap_err().to_string();
        assert!(
            e.contains("t.tsv:2: column `a`: `q` is not a non-negative integer"),
            "{e}"
        );
        let (_d, p) = plain("t.tsv", "");
        assert!(matches!(
            Table::read(&p, &["a"]),
            Err(TsvError::Empty { .. })
        ));
    }

    #[test]
    fn floats_round_trip_through_fmt() {
        assert_eq!(fmt_f64(1.22694293935422e-51), "1.22694293935422e-51");
        assert_eq!(fmt_f64(0.25), "0.25");
        for v in [0.1, 1.0 / 3.0, -2.5e-300, 6.02e23, 0.0, 1e-4, 9.99e-5] {
            assert_eq!(fmt_f64(v).parse::<f64>().unwrap(), v);
        }
        assert_eq!(fmt_f64(f64::NAN), "NA");
        assert_eq!(
            render(&["a", "b"], &[vec!["1".into(), "2".into()]]),
            "a\tb\n1\t2\n"
        );
    }
}
