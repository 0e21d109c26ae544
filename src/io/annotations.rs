//! Reader for extra per-variant annotation tables: a header `#chrom pos <name...>` then one row
//! per variant with one float per annotation (`NA`, `.` or empty = missing, kept as NaN). Rows
//! are stored per contig sorted by position for lookup by `(chrom, pos)`. This module only
//! parses and looks up; how annotations enter a prior is decided elsewhere.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::text::{lines, parse_float, Cell, TextError};

/// Per-variant annotation values, looked up by contig and 1-based position.
#[derive(Clone, Debug, PartialEq)]
pub struct VariantAnnotations {
    /// The file read.
    pub path: PathBuf,
    /// Annotation names in header order; each row holds one value per name.
    pub names: Vec<String>,
    by_chrom: HashMap<String, ChromRows>,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct ChromRows {
    positions: Vec<u64>,
    values: Vec<f64>,
}

/// Errors from [`read_variant_annotations`] and [`VariantAnnotations::select`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AnnotationError {
    /// The file could not be opened or read.
    #[error(transparent)]
    Text(#[from] TextError),
    /// The file is empty.
    #[error("{}: file is empty; expected a header `#chrom<TAB>pos<TAB><name>...`", path.display())]
    MissingHeader {
        /// The file.
        path: PathBuf,
    },
    /// The header does not start with `#chrom<TAB>pos` or names no annotation.
    #[error("{}:{line}: header is `{found}`; expected it to start with `#chrom<TAB>pos` followed by at least one annotation name", path.display())]
    BadHeader {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The header as written (truncated to 80 characters).
        found: String,
    },
    /// An annotation name appears twice in the header.
    #[error("{}:{line}: annotation `{name}` appears twice in the header, in columns {first} and {second}; expected unique names", path.display())]
    DuplicateName {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The repeated name.
        name: String,
        /// 1-based column of the first occurrence.
        first: usize,
        /// 1-based column of the second occurrence.
        second: usize,
    },
    /// A row has the wrong number of fields.
    #[error("{}:{line}: {found} fields; expected {expected} (chrom, pos, one per header annotation)", path.display())]
    FieldCount {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Fields required by the header.
        expected: usize,
        /// Fields found.
        found: usize,
    },
    /// The position is not a positive integer.
    #[error("{}:{line}: pos is `{token}`; expected a positive integer (1-based position)", path.display())]
    BadPosition {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The offending token.
        token: String,
    },
    /// A value is neither a finite number nor a missing-value token.
    #[error("{}:{line}: variant {chrom}:{pos}, annotation `{name}`: value `{token}` is not a finite number; expected a number or NA, `.` or empty for missing", path.display())]
    BadNumber {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The variant's contig.
        chrom: String,
        /// The variant's position.
        pos: u64,
        /// The annotation column.
        name: String,
        /// The offending token.
        token: String,
    },
    /// The same `chrom:pos` appears on two lines.
    #[error("{}: variant {chrom}:{pos} appears on lines {first} and {second}; expected one row per position", path.display())]
    DuplicateVariant {
        /// The file.
        path: PathBuf,
        /// The contig.
        chrom: String,
        /// The position.
        pos: u64,
        /// 1-based line of the first occurrence.
        first: usize,
        /// 1-based line of the second occurrence.
        second: usize,
    },
    /// A requested annotation name is not in the file.
    #[error("{}: no annotation named `{name}`; available: {}", path.display(), available.join(", "))]
    UnknownName {
        /// The file.
        path: PathBuf,
        /// The requested name.
        name: String,
        /// The names in the file.
        available: Vec<String>,
    },
}

/// Reads a per-variant annotation table (plain, gzip or BGZF).
///
/// With `chroms`, rows on other contigs are skipped unparsed to save memory. Blank lines are
/// skipped; rows may be in any order.
pub fn read_variant_annotations(
    path: &Path,
    chroms: Option<&[String]>,
) -> Result<VariantAnnotations, AnnotationError> {
    let path_buf = path.to_path_buf();
    let mut reader = lines(path)?.filter(|l| !matches!(l, Ok(l) if l.is_blank()));
    let header = reader
        .next()
        .ok_or_else(|| AnnotationError::MissingHeader {
            path: path_buf.clone(),
        })??;
    let fields = header.fields();
    if fields.len() < 3 || fields[0] != "#chrom" || fields[1] != "pos" {
        return Err(AnnotationError::BadHeader {
            path: path_buf,
            line: header.number,
            found: header.text.chars().take(80).collect(),
        });
    }
    let mut columns: HashMap<&str, usize> = HashMap::new();
    for (i, name) in fields.iter().enumerate().skip(2) {
        if let Some(&first) = columns.get(name) {
            return Err(AnnotationError::DuplicateName {
                path: path_buf,
                line: header.number,
                name: name.to_string(),
                first,
                second: i + 1,
            });
        }
        columns.insert(name, i + 1);
    }
    let names: Vec<String> = fields[2..].iter().map(|s| s.to_string()).collect();
    let k = names.len();

    let mut rows: HashMap<String, (ChromRows, Vec<usize>)> = HashMap::new();
    for line in reader {
        let line = line?;
        let f = line.fields();
        if let Some(keep) = chroms {
            if !keep.iter().any(|c| c == f[0]) {
                continue;
            }
        }
        if f.len() != k + 2 {
            return Err(AnnotationError::FieldCount {
                path: path_buf,
                line: line.number,
                expected: k + 2,
                found: f.len(),
            });
        }
        let pos = match f[1].parse::<u64>() {
            Ok(p) if p > 0 => p,
            _ => {
                return Err(AnnotationError::BadPosition {
                    path: path_buf,
                    line: line.number,
                    token: f[1].to_string(),
                })
            }
        };
        let (chrom_rows, line_numbers) = rows.entry(f[0].to_string()).or_default();
        for (token, name) in f[2..].iter().zip(&names) {
            let v = match parse_float(token) {
                Cell::Finite(v) => v,
                Cell::Missing => f64::NAN,
                Cell::Infinite | Cell::Invalid => {
                    return Err(AnnotationError::BadNumber {
                        path: path_buf,
                        line: line.number,
                        chrom: f[0].to_string(),
                        pos,
                        name: name.clone(),
                        token: token.to_string(),
                    })
                }
            };
            chrom_rows.values.push(v);
        }
        chrom_rows.positions.push(pos);
        line_numbers.push(line.number);
    }

    let mut by_chrom = HashMap::with_capacity(rows.len());
    for (chrom, (chrom_rows, line_numbers)) in rows {
        let sorted = sort_rows(chrom_rows, &line_numbers, k).map_err(|(pos, first, second)| {
            AnnotationError::DuplicateVariant {
                path: path_buf.clone(),
                chrom: chrom.clone(),
                pos,
                first,
                second,
            }
        })?;
        by_chrom.insert(chrom, sorted);
    }
    Ok(VariantAnnotations {
        path: path_buf,
        names,
        by_chrom,
    })
}

/// Sorts one contig's rows by position; a repeated position returns `(pos, first_line, second_line)`.
fn sort_rows(
    rows: ChromRows,
    line_numbers: &[usize],
    k: usize,
) -> Result<ChromRows, (u64, usize, usize)> {
    if rows.positions.windows(2).all(|w| w[0] < w[1]) {
        return Ok(rows);
    }
    let mut order: Vec<usize> = (0..rows.positions.len()).collect();
    order.sort_by_key(|&i| (rows.positions[i], line_numbers[i]));
    for w in order.windows(2) {
        if rows.positions[w[0]] == rows.positions[w[1]] {
            return Err((rows.positions[w[0]], line_numbers[w[0]], line_numbers[w[1]]));
        }
    }
    let mut sorted = ChromRows {
        positions: Vec::with_capacity(order.len()),
        values: Vec::with_capacity(rows.values.len()),
    };
    for &i in &order {
        sorted.positions.push(rows.positions[i]);
        sorted
            .values
            .extend_from_slice(&rows.values[i * k..(i + 1) * k]);
    }
    Ok(sorted)
}

impl VariantAnnotations {
    /// The annotation values (one per name, NaN = missing) at 1-based `pos` on `chrom`, if present.
    pub fn get(&self, chrom: &str, pos: u64) -> Option<&[f64]> {
        let rows = self.by_chrom.get(chrom)?;
        let i = rows.positions.binary_search(&pos).ok()?;
        let k = self.names.len();
        Some(&rows.values[i * k..(i + 1) * k])
    }

    /// Column indices of `names`, in the order given; an unknown name is an error listing the available ones.
    pub fn select(&self, names: &[String]) -> Result<Vec<usize>, AnnotationError> {
        names
            .iter()
            .map(|n| {
                self.names
                    .iter()
                    .position(|m| m == n)
                    .ok_or_else(|| AnnotationError::UnknownName {
                        path: self.path.clone(),
                        name: n.clone(),
                        available: self.names.clone(),
                    })
            })
            .collect()
    }

    /// Number of variants held.
    pub fn len(&self) -> usize {
        self.by_chrom.values().map(|r| r.positions.len()).sum()
    }

    /// True when no variant is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::super::text::testutil::{plain, write_file, Compression};
    use super::*;

    const GOOD: &str = "#chrom\tpos\tcadd\tdnase\n\
                        chr1\t500\t12.5\t1\n\
                        chr1\t100\tNA\t0\n\
                        chr2\t100\t-0.5\t.\n\
                        chr1\t300\t3\t\n";

    fn err(contents: &str) -> (AnnotationError, String) {
        let (_d, path) = plain("annot.tsv", contents);
        let e = read_variant_annotations(&path, None).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("annot.tsv"), "{msg}");
        (e, msg)
    }

    #[test]
    fn parses_unsorted_rows_with_missing_values() {
        let dir = tempfile::tempdir().unwrap();
        for (name, c) in [
            ("a.tsv", Compression::Plain),
            ("a.tsv.gz", Compression::Gzip),
        ] {
            let path = write_file(&dir, name, GOOD, c);
            let a = read_variant_annotations(&path, None).unwrap();
            assert_eq!(a.names, vec!["cadd", "dnase"]);
            assert_eq!(a.len(), 4);
            assert_eq!(a.get("chr1", 500), Some(&[12.5, 1.0][..]));
            let v = a.get("chr1", 100).unwrap();
            assert!(v[0].is_nan() && v[1] == 0.0);
            let v = a.get("chr1", 300).unwrap();
            assert!(v[0] == 3.0 && v[1].is_nan());
            let v = a.get("chr2", 100).unwrap();
            assert!(v[0] == -0.5 && v[1].is_nan());
            assert_eq!(a.get("chr1", 101), None);
            assert_eq!(a.get("chr3", 100), None);
        }
    }

    #[test]
    fn chrom_filter_skips_other_contigs() {
        let (_d, path) = plain("a.tsv", &format!("{GOOD}chr9\tbad\tbad\n"));
        let a = read_variant_annotations(&path, Some(&["chr2".to_string()])).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a.get("chr1", 500), None);
        assert!(a.get("chr2", 100).is_some());
    }

    #[test]
    fn select_gives_indices_or_lists_available() {
        let (_d, path) = plain("annot.tsv", GOOD);
        let a = read_variant_annotations(&path, None).unwrap();
        assert_eq!(
            a.select(&["dnase".into(), "cadd".into()]).unwrap(),
            vec![1, 0]
        );
        let e = a.select(&["phylop".into()]).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, AnnotationError::UnknownName { .. }));
        assert!(
            msg.contains("annot.tsv") && msg.contains("`phylop`") && msg.contains("cadd, dnase"),
            "{msg}"
        );
    }

    #[test]
    fn empty_file() {
        let (e, _) = err("");
        assert!(matches!(e, AnnotationError::MissingHeader { .. }));
    }

    #[test]
    fn header_must_start_with_chrom_pos() {
        let (e, msg) = err("chrom\tpos\tcadd\n");
        assert!(matches!(e, AnnotationError::BadHeader { line: 1, .. }));
        assert!(
            msg.contains(":1:") && msg.contains("#chrom<TAB>pos"),
            "{msg}"
        );
        let (e, _) = err("#chrom\tpos\n");
        assert!(matches!(e, AnnotationError::BadHeader { .. }));
    }

    #[test]
    fn duplicate_name() {
        let (e, msg) = err("#chrom\tpos\ta\tb\ta\n");
        assert!(matches!(
            e,
            AnnotationError::DuplicateName {
                first: 3,
                second: 5,
                ..
            }
        ));
        assert!(msg.contains("`a`"), "{msg}");
    }

    #[test]
    fn wrong_field_count() {
        let (e, msg) = err("#chrom\tpos\ta\tb\nchr1\t5\t1\n");
        assert!(matches!(
            e,
            AnnotationError::FieldCount {
                line: 2,
                expected: 4,
                found: 3,
                ..
            }
        ));
        assert!(msg.contains(":2:"), "{msg}");
    }

    #[test]
    fn bad_position() {
        let (e, msg) = err("#chrom\tpos\ta\nchr1\t0\t1\n");
        assert!(matches!(e, AnnotationError::BadPosition { line: 2, .. }));
        assert!(msg.contains(":2:") && msg.contains("`0`"), "{msg}");
    }

    #[test]
    fn bad_number() {
        let (e, msg) = err("#chrom\tpos\ta\tb\nchr1\t5\t1\tyes\n");
        assert!(matches!(e, AnnotationError::BadNumber { line: 2, .. }));
        for part in [":2:", "chr1:5", "`b`", "`yes`"] {
            assert!(msg.contains(part), "{part} missing from {msg}");
        }
    }

    #[test]
    fn duplicate_variant_names_both_lines() {
        let (e, msg) = err("#chrom\tpos\ta\nchr1\t9\t1\nchr1\t5\t1\nchr2\t9\t1\nchr1\t9\t2\n");
        assert!(matches!(
            e,
            AnnotationError::DuplicateVariant {
                pos: 9,
                first: 2,
                second: 5,
                ..
            }
        ));
        assert!(
            msg.contains("chr1:9") && msg.contains("lines 2 and 5"),
            "{msg}"
        );
    }

    #[test]
    fn missing_file_is_a_text_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_variant_annotations(&dir.path().join("none.tsv"), None).unwrap_err();
        assert!(matches!(e, AnnotationError::Text(_)));
    }
}
