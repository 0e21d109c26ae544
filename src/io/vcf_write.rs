//! Writes a bgzip-compressed VCF (GT only) and its tabix index, atomically: both files are
//! written under temporary names in the destination directory and renamed only when complete
//! (the `.vcf.gz` first, then the `.tbi`, with any stale index removed before). A reader that
//! finds the `.tbi` therefore finds a complete, indexed VCF. Records must arrive sorted by
//! contig (in header order) and position. Formats only: no statistics here.

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use noodles::bgzf;
use noodles::tabix;
use noodles::vcf;

/// Errors from writing a VCF; each names the file it concerns.
#[derive(Debug, thiserror::Error)]
pub enum VcfWriteError {
    /// Creating, writing or renaming a file failed.
    #[error("cannot write VCF {path}: {source}")]
    Io {
        /// The file being written.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Building or writing the tabix index failed.
    #[error("cannot index VCF {path}: {source}")]
    Index {
        /// The VCF being indexed.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// A record does not fit the header or the sort order.
    #[error("invalid record for VCF {path} at {chrom}:{pos}: expected {expected}")]
    Record {
        /// The file being written.
        path: PathBuf,
        /// Contig of the offending record.
        chrom: String,
        /// Position of the offending record.
        pos: u64,
        /// What the record should have been.
        expected: String,
    },
    /// The header specification is unusable.
    #[error("invalid header for VCF {path}: expected {expected}")]
    Header {
        /// The file being written.
        path: PathBuf,
        /// What the header should have been.
        expected: String,
    },
}

/// What goes into the VCF header.
#[derive(Debug, Clone)]
pub struct VcfHeaderSpec {
    /// Contig names and lengths, in the order records will be written.
    pub contigs: Vec<(String, u64)>,
    /// Sample IDs, in column order.
    pub samples: Vec<String>,
    /// Value of the `##source` line.
    pub source: String,
}

/// An unphased diploid genotype: allele indices (0 = REF), or `None` for a missing call (`./.`).
pub type Genotype = Option<(u8, u8)>;

/// One VCF record with a GT column per sample.
#[derive(Debug, Clone, Copy)]
pub struct VcfSite<'a> {
    /// Contig name; must be declared in the header.
    pub chrom: &'a str,
    /// 1-based position.
    pub pos: u64,
    /// The ID column (`.` when empty).
    pub id: &'a str,
    /// Reference allele.
    pub ref_allele: &'a str,
    /// Alternate alleles (at least one).
    pub alt_alleles: &'a [&'a str],
    /// One genotype per header sample.
    pub genotypes: &'a [Genotype],
}

/// The files produced by [`VcfWriter::finish`].
#[derive(Debug, Clone)]
pub struct VcfWritten {
    /// The `.vcf.gz` file.
    pub path: PathBuf,
    /// The `.tbi` index beside it.
    pub index_path: PathBuf,
    /// Number of records written.
    pub n_records: usize,
}

/// A streaming writer for a bgzipped, tabix-indexed VCF.
pub struct VcfWriter {
    path: PathBuf,
    tmp_path: PathBuf,
    writer: Option<bgzf::io::Writer<File>>,
    contigs: Vec<(String, u64)>,
    n_samples: usize,
    contig_idx: usize,
    last_pos: u64,
    n_records: usize,
    line: String,
}

/// The temporary sibling of `path` used until the file is complete.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp{}", std::process::id()))
}

impl VcfWriter {
    /// Creates `path` (under a temporary name until [`finish`](Self::finish)) and writes the header.
    pub fn create(path: impl AsRef<Path>, header: &VcfHeaderSpec) -> Result<Self, VcfWriteError> {
        let path = path.as_ref().to_path_buf();
        if header.contigs.is_empty() {
            return Err(VcfWriteError::Header {
                path,
                expected: "at least one contig".into(),
            });
        }
        if let Some(bad) = header
            .samples
            .iter()
            .find(|s| s.is_empty() || s.contains(char::is_whitespace))
        {
            return Err(VcfWriteError::Header {
                path,
                expected: format!("sample IDs without whitespace, found {bad:?}"),
            });
        }
        let tmp_path = temp_path(&path);
        let file = File::create(&tmp_path).map_err(|source| VcfWriteError::Io {
            path: tmp_path.clone(),
            source,
        })?;
        let mut text = String::new();
        text.push_str("##fileformat=VCFv4.2\n");
        text.push_str("##FILTER=<ID=PASS,Description=\"All filters passed\">\n");
        let _ = writeln!(text, "##source={}", header.source);
        for (name, len) in &header.contigs {
            let _ = writeln!(text, "##contig=<ID={name},length={len}>");
        }
        text.push_str("##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">\n");
        text.push_str("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT");
        for s in &header.samples {
            text.push('\t');
            text.push_str(s);
        }
        text.push('\n');
        let mut writer = bgzf::io::Writer::new(file);
        writer
            .write_all(text.as_bytes())
            .map_err(|source| VcfWriteError::Io {
                path: tmp_path.clone(),
                source,
            })?;
        Ok(Self {
            path,
            tmp_path,
            writer: Some(writer),
            contigs: header.contigs.clone(),
            n_samples: header.samples.len(),
            contig_idx: 0,
            last_pos: 0,
            n_records: 0,
            line: String::new(),
        })
    }

    /// Appends one record.
    pub fn write_site(&mut self, site: &VcfSite<'_>) -> Result<(), VcfWriteError> {
        let bad = |expected: String| VcfWriteError::Record {
            path: self.path.clone(),
            chrom: site.chrom.to_string(),
            pos: site.pos,
            expected,
        };
        let idx = self
            .contigs
            .iter()
            .position(|(c, _)| c == site.chrom)
            .ok_or_else(|| bad("a contig declared in the header".into()))?;
        if idx < self.contig_idx || (idx == self.contig_idx && site.pos < self.last_pos) {
            return Err(bad(
                "records sorted by contig (header order) and position".into()
            ));
        }
        if site.pos == 0 || site.pos > self.contigs[idx].1 {
            return Err(bad(format!(
                "a position in 1..={} (the contig length)",
                self.contigs[idx].1
            )));
        }
        if site.genotypes.len() != self.n_samples {
            return Err(bad(format!(
                "{} genotypes (one per sample), found {}",
                self.n_samples,
                site.genotypes.len()
            )));
        }
        if site.alt_alleles.is_empty() || site.ref_allele.is_empty() {
            return Err(bad("non-empty REF and at least one ALT allele".into()));
        }
        let n_alleles = 1 + site.alt_alleles.len();
        let line = &mut self.line;
        line.clear();
        let id = if site.id.is_empty() { "." } else { site.id };
        let _ = write!(
            line,
            "{}\t{}\t{}\t{}\t{}\t.\tPASS\t.\tGT",
            site.chrom,
            site.pos,
            id,
            site.ref_allele,
            site.alt_alleles.join(",")
        );
        for gt in site.genotypes {
            match gt {
                None => line.push_str("\t./."),
                Some((a, b)) => {
                    if usize::from(*a) >= n_alleles || usize::from(*b) >= n_alleles {
                        let expected = format!("allele indices below {n_alleles}");
                        return Err(VcfWriteError::Record {
                            path: self.path.clone(),
                            chrom: site.chrom.to_string(),
                            pos: site.pos,
                            expected,
                        });
                    }
                    let _ = write!(line, "\t{a}/{b}");
                }
            }
        }
        line.push('\n');
        let writer = self.writer.as_mut().ok_or_else(|| VcfWriteError::Io {
            path: self.tmp_path.clone(),
            source: io::Error::other("writer already finished"),
        })?;
        writer
            .write_all(line.as_bytes())
            .map_err(|source| VcfWriteError::Io {
                path: self.tmp_path.clone(),
                source,
            })?;
        self.contig_idx = idx;
        self.last_pos = site.pos;
        self.n_records += 1;
        Ok(())
    }

    /// Finishes the BGZF stream (with its EOF block), builds the tabix index and renames both
    /// files into place.
    pub fn finish(mut self) -> Result<VcfWritten, VcfWriteError> {
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| VcfWriteError::Io { path, source }
        };
        let writer = self.writer.take().ok_or_else(|| VcfWriteError::Io {
            path: self.tmp_path.clone(),
            source: io::Error::other("writer already finished"),
        })?;
        let file = writer.finish().map_err(io_err(&self.tmp_path))?;
        file.sync_all().map_err(io_err(&self.tmp_path))?;
        drop(file);

        let index = vcf::fs::index(&self.tmp_path).map_err(|source| VcfWriteError::Index {
            path: self.tmp_path.clone(),
            source,
        })?;
        let tabix_index = match index {
            vcf::Index::Tabix(ix) => ix,
            vcf::Index::Csi(_) => {
                return Err(VcfWriteError::Index {
                    path: self.path.clone(),
                    source: io::Error::other("contig longer than 2^29 bp needs CSI, not tabix"),
                });
            }
        };
        let index_path = tbi_path(&self.path);
        let index_tmp = temp_path(&index_path);
        tabix::fs::write(&index_tmp, &tabix_index).map_err(io_err(&index_tmp))?;

        match fs::remove_file(&index_path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(VcfWriteError::Io {
                    path: index_path,
                    source,
                })
            }
        }
        fs::rename(&self.tmp_path, &self.path).map_err(io_err(&self.path))?;
        fs::rename(&index_tmp, &index_path).map_err(io_err(&index_path))?;
        Ok(VcfWritten {
            path: self.path.clone(),
            index_path,
            n_records: self.n_records,
        })
    }
}

impl Drop for VcfWriter {
    fn drop(&mut self) {
        if self.writer.take().is_some() {
            let _ = fs::remove_file(&self.tmp_path);
        }
    }
}

/// `x.vcf.gz` -> `x.vcf.gz.tbi`.
pub fn tbi_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(".tbi");
    PathBuf::from(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> VcfHeaderSpec {
        VcfHeaderSpec {
            contigs: vec![("chr1".into(), 1000)],
            samples: vec!["A".into(), "B".into()],
            source: "test".into(),
        }
    }

    #[test]
    fn rejects_unsorted_and_malformed_records() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.vcf.gz");
        let mut w = VcfWriter::create(&path, &spec()).expect("create");
        let gts = [Some((0, 1)), None];
        let site = |pos| VcfSite {
            chrom: "chr1",
            pos,
            id: "",
            ref_allele: "A",
            alt_alleles: &["G"],
            genotypes: &gts,
        };
        w.write_site(&site(10)).expect("first record");
        assert!(matches!(
            w.write_site(&site(5)),
            Err(VcfWriteError::Record { .. })
        ));
        assert!(matches!(
            w.write_site(&site(2000)),
            Err(VcfWriteError::Record { .. })
        ));
        let bad_allele = [Some((0, 2)), None];
        let mut s = site(20);
        s.genotypes = &bad_allele;
        assert!(matches!(
            w.write_site(&s),
            Err(VcfWriteError::Record { .. })
        ));
        let mut s = site(20);
        s.chrom = "chr2";
        assert!(matches!(
            w.write_site(&s),
            Err(VcfWriteError::Record { .. })
        ));
        drop(w);
        let leftovers = fs::read_dir(dir.path()).expect("read dir").count();
        assert_eq!(leftovers, 0, "an abandoned writer leaves no files");
    }

    #[test]
    fn written_file_is_bgzf_with_eof_and_index() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("x.vcf.gz");
        let mut w = VcfWriter::create(&path, &spec()).expect("create");
        let gts = [Some((0, 1)), Some((1, 1))];
        for pos in [3, 7, 7, 900] {
            w.write_site(&VcfSite {
                chrom: "chr1",
                pos,
                id: "v",
                ref_allele: "C",
                alt_alleles: &["T"],
                genotypes: &gts,
            })
            .expect("record");
        }
        let out = w.finish().expect("finish");
        assert_eq!(out.n_records, 4);
        let bytes = fs::read(&path).expect("read vcf");
        let eof: [u8; 28] = [
            0x1f, 0x8b, 0x08, 0x04, 0, 0, 0, 0, 0, 0xff, 0x06, 0, 0x42, 0x43, 0x02, 0, 0x1b, 0,
            0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        assert!(bytes.ends_with(&eof), "BGZF EOF marker present");
        let tbi = fs::read(&out.index_path).expect("read tbi");
        assert!(tbi.len() > 28);
        assert_eq!(fs::read_dir(dir.path()).expect("read dir").count(), 2);
    }
}
