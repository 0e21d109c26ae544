//! Genomic interval sets read from BED/narrowPeak files (e.g. ATAC peaks), kept per contig as
//! sorted, merged, 0-based half-open intervals for fast membership tests of 1-based variant
//! positions. This module only reads and queries intervals; what a peak means to a model is
//! decided elsewhere.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::text::{lines, TextError};

/// Sorted, merged, 0-based half-open intervals per contig.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IntervalSet {
    by_chrom: BTreeMap<String, Vec<(u64, u64)>>,
}

/// Errors from [`read_bed_intervals`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IntervalError {
    /// The file could not be opened or read.
    #[error(transparent)]
    Text(#[from] TextError),
    /// A line has fewer than 3 columns.
    #[error("{}:{line}: {found} tab-separated columns; expected at least 3 (chrom, start, end)", path.display())]
    TooFewColumns {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Columns found.
        found: usize,
    },
    /// `start` or `end` is not a non-negative integer.
    #[error("{}:{line}: column `{column}` is `{token}`; expected a non-negative integer", path.display())]
    BadInteger {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// `start` or `end`.
        column: &'static str,
        /// The offending token.
        token: String,
    },
    /// `start` > `end`.
    #[error("{}:{line}: start {start} is after end {end}; expected start <= end (BED is 0-based half-open)", path.display())]
    StartAfterEnd {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Start as written.
        start: u64,
        /// End as written.
        end: u64,
    },
}

/// Reads a BED or narrowPeak file (plain, gzip or BGZF) into an [`IntervalSet`].
///
/// Only the first three columns are used. `track`, `browser`, `#` and blank lines are skipped;
/// empty intervals (`start == end`) are accepted and contain nothing.
pub fn read_bed_intervals(path: &Path) -> Result<IntervalSet, IntervalError> {
    let mut raw = Vec::new();
    for line in lines(path)? {
        let line = line?;
        if line.is_bed_meta() {
            continue;
        }
        let f = line.fields();
        if f.len() < 3 {
            return Err(IntervalError::TooFewColumns {
                path: path.to_path_buf(),
                line: line.number,
                found: f.len(),
            });
        }
        let int = |column: &'static str, token: &str| {
            token.parse::<u64>().map_err(|_| IntervalError::BadInteger {
                path: path.to_path_buf(),
                line: line.number,
                column,
                token: token.to_string(),
            })
        };
        let start = int("start", f[1])?;
        let end = int("end", f[2])?;
        if start > end {
            return Err(IntervalError::StartAfterEnd {
                path: path.to_path_buf(),
                line: line.number,
                start,
                end,
            });
        }
        raw.push((f[0].to_string(), start, end));
    }
    Ok(IntervalSet::from_intervals(raw))
}

impl IntervalSet {
    /// Builds a set from `(chrom, start, end)` 0-based half-open intervals, in any order.
    ///
    /// Overlapping and touching intervals are merged; empty or inverted intervals are dropped.
    pub fn from_intervals(iter: impl IntoIterator<Item = (String, u64, u64)>) -> Self {
        let mut by_chrom: BTreeMap<String, Vec<(u64, u64)>> = BTreeMap::new();
        for (chrom, start, end) in iter {
            if start < end {
                by_chrom.entry(chrom).or_default().push((start, end));
            }
        }
        for ivs in by_chrom.values_mut() {
            ivs.sort_unstable();
            let mut merged: Vec<(u64, u64)> = Vec::with_capacity(ivs.len());
            for &(s, e) in ivs.iter() {
                match merged.last_mut() {
                    Some(last) if s <= last.1 => last.1 = last.1.max(e),
                    _ => merged.push((s, e)),
                }
            }
            *ivs = merged;
        }
        IntervalSet { by_chrom }
    }

    /// True if the 1-based position `pos1` on `chrom` lies inside any interval.
    pub fn contains(&self, chrom: &str, pos1: u64) -> bool {
        let Some(ivs) = self.by_chrom.get(chrom) else {
            return false;
        };
        let Some(pos0) = pos1.checked_sub(1) else {
            return false;
        };
        let idx = ivs.partition_point(|&(s, _)| s <= pos0);
        idx > 0 && ivs[idx - 1].1 > pos0
    }

    /// Number of merged intervals.
    pub fn len(&self) -> usize {
        self.by_chrom.values().map(Vec::len).sum()
    }

    /// True when the set holds no intervals.
    pub fn is_empty(&self) -> bool {
        self.by_chrom.is_empty()
    }

    /// Total bases covered by the merged intervals.
    pub fn total_bp(&self) -> u64 {
        self.by_chrom
            .values()
            .flat_map(|v| v.iter().map(|&(s, e)| e - s))
            .sum()
    }

    /// Contig names with at least one interval, sorted.
    pub fn chroms(&self) -> Vec<String> {
        self.by_chrom.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::super::text::testutil::{plain, write_file, Compression};
    use super::*;

    fn err(contents: &str) -> (IntervalError, String) {
        let (_d, path) = plain("peaks.bed", contents);
        let e = read_bed_intervals(&path).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("peaks.bed"), "{msg}");
        (e, msg)
    }

    #[test]
    fn merges_sorts_and_queries_half_open() {
        let set = IntervalSet::from_intervals([
            ("chr1".to_string(), 20, 30),
            ("chr1".to_string(), 0, 10),
            ("chr1".to_string(), 10, 15),
            ("chr1".to_string(), 25, 40),
            ("chr1".to_string(), 50, 50),
            ("chr2".to_string(), 100, 101),
            ("chr3".to_string(), 9, 3),
        ]);
        assert_eq!(set.len(), 3);
        assert_eq!(set.total_bp(), 15 + 20 + 1);
        assert_eq!(set.chroms(), vec!["chr1", "chr2"]);
        // chr1 intervals: [0,15) [20,40) -> 1-based 1..=15, 21..=40
        for (pos, inside) in [
            (0, false),
            (1, true),
            (15, true),
            (16, false),
            (20, false),
            (21, true),
            (40, true),
            (41, false),
            (51, false),
        ] {
            assert_eq!(set.contains("chr1", pos), inside, "chr1:{pos}");
        }
        assert!(!set.contains("chr2", 100));
        assert!(set.contains("chr2", 101));
        assert!(!set.contains("chr2", 102));
        assert!(!set.contains("chrX", 5));
        assert!(IntervalSet::from_intervals(Vec::new()).is_empty());
    }

    #[test]
    fn reads_narrowpeak_plain_and_gzip() {
        let dir = tempfile::tempdir().unwrap();
        let body = "track name=peaks\nbrowser position chr1:1-100\n# comment\n\
                    chr1\t99\t200\tpeak1\t500\t.\t5.1\t3.2\t2.1\t50\n\
                    chr1\t150\t260\tpeak2\n\
                    chr5\t0\t1\n";
        for (name, c) in [
            ("p.narrowPeak", Compression::Plain),
            ("p.bed.gz", Compression::Gzip),
        ] {
            let path = write_file(&dir, name, body, c);
            let set = read_bed_intervals(&path).unwrap();
            assert_eq!(set.len(), 2);
            assert_eq!(set.total_bp(), 161 + 1);
            assert!(!set.contains("chr1", 99));
            assert!(set.contains("chr1", 100));
            assert!(set.contains("chr1", 260));
            assert!(!set.contains("chr1", 261));
            assert!(set.contains("chr5", 1));
        }
    }

    #[test]
    fn too_few_columns() {
        let (e, msg) = err("chr1\t1\t5\nchr1\t7\n");
        assert!(matches!(
            e,
            IntervalError::TooFewColumns {
                line: 2,
                found: 2,
                ..
            }
        ));
        assert!(msg.contains(":2:") && msg.contains("at least 3"), "{msg}");
    }

    #[test]
    fn bad_integer() {
        let (e, msg) = err("chr1\t1e3\t5000\n");
        assert!(matches!(
            e,
            IntervalError::BadInteger {
                column: "start",
                line: 1,
                ..
            }
        ));
        assert!(msg.contains(":1:") && msg.contains("`1e3`"), "{msg}");
    }

    #[test]
    fn start_after_end() {
        let (e, msg) = err("chr1\t1\t5\nchr1\t9\t8\n");
        assert!(matches!(
            e,
            IntervalError::StartAfterEnd {
                line: 2,
                start: 9,
                end: 8,
                ..
            }
        ));
        assert!(msg.contains(":2:") && msg.contains("start 9"), "{msg}");
    }

    #[test]
    fn missing_file_is_a_text_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_bed_intervals(&dir.path().join("nope.bed")).unwrap_err();
        assert!(matches!(e, IntervalError::Text(_)));
    }
}
