//! Genotype reader: opens a bgzip-compressed, tabix- or CSI-indexed VCF and returns ALT-allele
//! dosages (from `GT` or `DS`) of biallelic sites in a 1-based inclusive region, for a chosen
//! list of samples. It owns the checks that make a VCF usable for region queries (BGZF framing,
//! EOF marker, index presence, sort order) and the error messages that tell the user how to fix
//! a file. It computes no statistics and never writes files.

use std::{
    fmt,
    fs::File,
    io::{self, BufRead, Read, Seek, SeekFrom},
    path::{Path, PathBuf},
    str::FromStr,
};

use noodles::{
    bgzf,
    core::{region::Interval, Position, Region},
    csi::{self, BinningIndex},
    tabix,
    vcf::{
        self,
        variant::record::{
            samples::series::{value::Array, Value},
            AlternateBases as _,
        },
    },
};
use serde::{Deserialize, Serialize};

/// The 28-byte empty BGZF block that terminates every complete bgzip file.
pub const BGZF_EOF: [u8; 28] = [
    0x1f, 0x8b, 0x08, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0x06, 0x00, 0x42, 0x43, 0x02, 0x00,
    0x1b, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];

/// Which FORMAT field the dosage is taken from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GenotypeField {
    /// Hard calls: dosage is the number of ALT alleles among the called alleles.
    #[serde(rename = "GT")]
    Gt,
    /// Imputed dosage: the `DS` value as written.
    #[serde(rename = "DS")]
    Ds,
}

impl GenotypeField {
    /// The FORMAT key of this field (`"GT"` or `"DS"`).
    pub fn key(self) -> &'static str {
        match self {
            Self::Gt => "GT",
            Self::Ds => "DS",
        }
    }
}

impl fmt::Display for GenotypeField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

impl FromStr for GenotypeField {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "GT" => Ok(Self::Gt),
            "DS" => Ok(Self::Ds),
            other => Err(format!(
                "unknown genotype field {other:?}: expected GT or DS"
            )),
        }
    }
}

/// One biallelic site with the ALT dosages of the requested samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Site {
    /// Contig name as written in the VCF.
    pub chrom: String,
    /// 1-based position (VCF `POS`).
    pub pos: u64,
    /// VCF `ID`, or `chrom:pos:ref:alt` when the ID is missing (`.`).
    pub id: String,
    /// Reference allele.
    pub ref_allele: String,
    /// The single alternate allele.
    pub alt_allele: String,
    /// ALT dosage per requested sample, in request order; `f32::NAN` when missing.
    pub dosage: Vec<f32>,
}

/// Counters describing what queries saw; they accumulate across queries.
#[derive(Default, Debug, Clone, PartialEq, Eq)]
pub struct QueryStats {
    /// Number of queries run.
    pub queries: usize,
    /// Records whose position lies in a queried region.
    pub records: usize,
    /// Records skipped because they have more than one ALT allele.
    pub multiallelic: usize,
    /// Records skipped because their ALT is missing (`.`) or symbolic (`<...>`, `*`, breakends).
    pub monomorphic: usize,
    /// Sample values set to NaN: a GT with any missing allele, or a missing DS.
    pub missing_calls: usize,
    /// Sites returned.
    pub kept: usize,
}

/// Everything that can go wrong while opening or querying a VCF.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VcfError {
    /// The VCF file does not exist.
    #[error("{}: VCF file not found", path.display())]
    NotFound {
        /// The VCF path.
        path: PathBuf,
    },
    /// The file is not BGZF (plain text, plain gzip, or something else).
    #[error(
        "{}: not a bgzip (BGZF) file ({found}); compress with `bgzip` (or `bcftools view -Oz`) and index with `tabix -p vcf`",
        path.display()
    )]
    NotBgzf {
        /// The VCF path.
        path: PathBuf,
        /// What the file looks like instead.
        found: String,
    },
    /// The file does not end with the BGZF EOF block.
    #[error(
        "{}: truncated or incomplete bgzip file (the 28-byte BGZF end-of-file block is missing); re-copy or re-create it with `bgzip`",
        path.display()
    )]
    Truncated {
        /// The VCF path.
        path: PathBuf,
    },
    /// A BGZF block could not be read or decompressed.
    #[error(
        "{}: corrupt or truncated bgzip block while reading {context}: {source}",
        path.display()
    )]
    Corrupt {
        /// The VCF path.
        path: PathBuf,
        /// What was being read (header, region, line).
        context: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The VCF header could not be parsed.
    #[error("{}: invalid VCF header: {source}", path.display())]
    Header {
        /// The VCF path.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
    /// Neither `FILE.tbi` nor `FILE.csi` exists (and the file is sorted).
    #[error(
        "{}: no index found (expected {}.tbi or {}.csi); run `tabix -p vcf {}`",
        path.display(), path.display(), path.display(), path.display()
    )]
    NoIndex {
        /// The VCF path.
        path: PathBuf,
    },
    /// The file has no index and its records are not sorted.
    #[error(
        "{}: not sorted and not indexed: line {line} ({chrom}:{pos}) comes after {prev_chrom}:{prev_pos}; run `bcftools sort -Oz -o sorted.vcf.gz {} && tabix -p vcf sorted.vcf.gz`",
        path.display(), path.display()
    )]
    UnsortedFile {
        /// The VCF path.
        path: PathBuf,
        /// 1-based line number (header lines included) of the first out-of-order record.
        line: u64,
        /// Contig of the earlier record.
        prev_chrom: String,
        /// Position of the earlier record.
        prev_pos: u64,
        /// Contig of the out-of-order record.
        chrom: String,
        /// Position of the out-of-order record.
        pos: u64,
    },
    /// The index file exists but could not be read.
    #[error("{}: cannot read index: {message}", index.display())]
    Index {
        /// The index path.
        index: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The queried contig is not in the index.
    #[error(
        "{}: contig {chrom:?} not in the index; available contigs: {}",
        path.display(), available.join(", ")
    )]
    UnknownContig {
        /// The VCF path.
        path: PathBuf,
        /// The requested contig.
        chrom: String,
        /// Contigs present in the index.
        available: Vec<String>,
    },
    /// The queried region is not a valid 1-based inclusive interval.
    #[error(
        "{}: invalid region {chrom}:{start}-{end}: {message}",
        path.display()
    )]
    InvalidRegion {
        /// The VCF path.
        path: PathBuf,
        /// Contig.
        chrom: String,
        /// Start (1-based).
        start: u64,
        /// End (1-based, inclusive).
        end: u64,
        /// What is wrong.
        message: String,
    },
    /// A query returned records out of position order.
    #[error(
        "{}: records out of order on {chrom}: {pos} comes after {prev_pos}; sort with `bcftools sort -Oz -o sorted.vcf.gz {}` and re-index with `tabix -p vcf sorted.vcf.gz`",
        path.display(), path.display()
    )]
    Unsorted {
        /// The VCF path.
        path: PathBuf,
        /// Contig.
        chrom: String,
        /// Position of the earlier record.
        prev_pos: u64,
        /// Position of the out-of-order record.
        pos: u64,
    },
    /// A record could not be parsed.
    #[error("{}: malformed record at {record}: {message}", path.display())]
    Malformed {
        /// The VCF path.
        path: PathBuf,
        /// The record (`chrom:pos`, optionally with the sample, or the record after one).
        record: String,
        /// What was expected.
        message: String,
    },
    /// A record lacks the requested FORMAT field.
    #[error(
        "{}: record {chrom}:{pos} has no FORMAT/{field} (FORMAT is {format:?}){hint}",
        path.display()
    )]
    MissingField {
        /// The VCF path.
        path: PathBuf,
        /// Contig.
        chrom: String,
        /// Position.
        pos: u64,
        /// The requested field.
        field: GenotypeField,
        /// The record's FORMAT column.
        format: String,
        /// Suggestion, e.g. that GT is available.
        hint: String,
    },
    /// A requested sample index is out of range.
    #[error(
        "{}: sample index {index} out of range (the file has {n_samples} samples)",
        path.display()
    )]
    SampleIndex {
        /// The VCF path.
        path: PathBuf,
        /// The bad index.
        index: usize,
        /// Number of samples in the header.
        n_samples: usize,
    },
    /// Any other I/O failure.
    #[error("{}: I/O error: {source}", path.display())]
    Io {
        /// The file path.
        path: PathBuf,
        /// The underlying error.
        source: io::Error,
    },
}

/// Marks an `io::Error` as coming from the BGZF layer, so that block faults can be told apart
/// from record-parsing failures after they pass through noodles.
#[derive(Debug)]
struct BlockFault(io::Error);

impl fmt::Display for BlockFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::error::Error for BlockFault {}

fn tag(e: io::Error) -> io::Error {
    io::Error::new(e.kind(), BlockFault(e))
}

fn is_block_fault(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<BlockFault>())
}

/// A BGZF reader whose errors are tagged as [`BlockFault`]s.
struct Blocks(bgzf::io::Reader<File>);

impl Read for Blocks {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf).map_err(tag)
    }
}

impl BufRead for Blocks {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.0.fill_buf().map_err(tag)
    }

    fn consume(&mut self, amt: usize) {
        self.0.consume(amt);
    }
}

impl bgzf::io::Read for Blocks {
    fn virtual_position(&self) -> bgzf::VirtualPosition {
        self.0.virtual_position()
    }
}

impl bgzf::io::BufRead for Blocks {}

impl bgzf::io::Seek for Blocks {
    fn seek_to_virtual_position(
        &mut self,
        pos: bgzf::VirtualPosition,
    ) -> io::Result<bgzf::VirtualPosition> {
        self.0.seek_to_virtual_position(pos).map_err(tag)
    }

    fn seek_with_index(&mut self, index: &bgzf::gzi::Index, pos: SeekFrom) -> io::Result<u64> {
        self.0.seek_with_index(index, pos).map_err(tag)
    }
}

/// An open, indexed VCF ready for region queries.
pub struct VcfReader {
    path: PathBuf,
    reader: vcf::io::Reader<Blocks>,
    header: vcf::Header,
    index: vcf::Index,
    samples: Vec<String>,
}

impl fmt::Debug for VcfReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VcfReader")
            .field("path", &self.path)
            .field("samples", &self.samples.len())
            .finish_non_exhaustive()
    }
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn io_error(path: &Path, e: io::Error) -> VcfError {
    if e.kind() == io::ErrorKind::NotFound {
        VcfError::NotFound {
            path: path.to_owned(),
        }
    } else {
        VcfError::Io {
            path: path.to_owned(),
            source: e,
        }
    }
}

/// Checks the BGZF magic at the start of the file and the EOF block at its end.
fn check_bgzf(path: &Path, file: &mut File) -> Result<(), VcfError> {
    let mut head = Vec::with_capacity(18);
    file.by_ref()
        .take(18)
        .read_to_end(&mut head)
        .map_err(|e| io_error(path, e))?;
    let not_bgzf = |found: &str| VcfError::NotBgzf {
        path: path.to_owned(),
        found: found.to_owned(),
    };
    if head.is_empty() {
        return Err(not_bgzf("the file is empty"));
    }
    if !head.starts_with(&[0x1f, 0x8b]) {
        return Err(not_bgzf("it looks like uncompressed text"));
    }
    let is_bgzf = head.len() == 18
        && head[2] == 0x08
        && head[3] & 0x04 != 0
        && head[10..12] == [0x06, 0x00]
        && head[12..14] == *b"BC"
        && head[14..16] == [0x02, 0x00];
    if !is_bgzf {
        return Err(not_bgzf(
            "it is plain gzip, which cannot be indexed; decompress it with `gunzip` first",
        ));
    }
    let len = file.metadata().map_err(|e| io_error(path, e))?.len();
    if len < BGZF_EOF.len() as u64 {
        return Err(VcfError::Truncated {
            path: path.to_owned(),
        });
    }
    let mut tail = [0u8; 28];
    file.seek(SeekFrom::End(-(BGZF_EOF.len() as i64)))
        .and_then(|_| file.read_exact(&mut tail))
        .map_err(|e| io_error(path, e))?;
    if tail != BGZF_EOF {
        return Err(VcfError::Truncated {
            path: path.to_owned(),
        });
    }
    file.seek(SeekFrom::Start(0))
        .map_err(|e| io_error(path, e))?;
    Ok(())
}

/// Reads `FILE.tbi` or `FILE.csi`; `Ok(None)` when neither exists.
fn read_index(path: &Path) -> Result<Option<vcf::Index>, VcfError> {
    let tbi = with_suffix(path, ".tbi");
    let csi_path = with_suffix(path, ".csi");
    let index_error = |index: &Path, e: io::Error| VcfError::Index {
        index: index.to_owned(),
        message: format!("{e}; re-create it with `tabix -p vcf {}`", path.display()),
    };
    let (index, index_path) = if tbi.exists() {
        let index = tabix::fs::read(&tbi).map_err(|e| index_error(&tbi, e))?;
        (vcf::Index::Tabix(index), tbi)
    } else if csi_path.exists() {
        let index = csi::fs::read(&csi_path).map_err(|e| index_error(&csi_path, e))?;
        (vcf::Index::Csi(index), csi_path)
    } else {
        return Ok(None);
    };
    if index.header().is_none() {
        return Err(VcfError::Index {
            index: index_path,
            message: format!(
                "the index has no contig names (not a VCF index?); re-create it with `tabix -p vcf {}`",
                path.display()
            ),
        });
    }
    let modified = |p: &Path| p.metadata().and_then(|m| m.modified()).ok();
    if let (Some(data), Some(idx)) = (modified(path), modified(&index_path)) {
        if idx < data {
            tracing::warn!(
            "{}: index {} is older than the data file; re-index with `tabix -p vcf` if the file changed",
            path.display(),
                index_path.display()
            );
        }
    }
    Ok(Some(index))
}

/// Scans an unindexed file for the first out-of-order record.
fn scan_unsorted(path: &Path) -> Result<(), VcfError> {
    let file = File::open(path).map_err(|e| io_error(path, e))?;
    let mut reader = bgzf::io::Reader::new(file);
    let mut line = String::new();
    let mut line_no = 0u64;
    let mut seen: Vec<String> = Vec::new();
    let mut prev: Option<(String, u64)> = None;
    loop {
        line.clear();
        let n = reader.read_line(&mut line).map_err(|e| VcfError::Corrupt {
            path: path.to_owned(),
            context: format!("line {}", line_no + 1),
            source: e,
        })?;
        if n == 0 {
            return Ok(());
        }
        line_no += 1;
        if line.starts_with('#') {
            continue;
        }
        let mut fields = line.trim_end_matches(['\n', '\r']).splitn(3, '\t');
        let (Some(chrom), Some(pos)) = (fields.next(), fields.next()) else {
            return Err(VcfError::Malformed {
                path: path.to_owned(),
                record: format!("line {line_no}"),
                message: "expected tab-separated CHROM and POS columns".into(),
            });
        };
        let pos: u64 = pos.parse().map_err(|_| VcfError::Malformed {
            path: path.to_owned(),
            record: format!("line {line_no} ({chrom}:{pos})"),
            message: format!("expected an integer POS, found {pos:?}"),
        })?;
        if let Some((prev_chrom, prev_pos)) = &prev {
            let out_of_order = if prev_chrom == chrom {
                pos < *prev_pos
            } else {
                seen.iter().any(|c| c == chrom)
            };
            if out_of_order {
                return Err(VcfError::UnsortedFile {
                    path: path.to_owned(),
                    line: line_no,
                    prev_chrom: prev_chrom.clone(),
                    prev_pos: *prev_pos,
                    chrom: chrom.to_owned(),
                    pos,
                });
            }
        }
        if prev.as_ref().is_none_or(|(c, _)| c != chrom) {
            seen.push(chrom.to_owned());
        }
        prev = Some((chrom.to_owned(), pos));
    }
}

fn is_symbolic(alt: &str) -> bool {
    alt == "*" || alt.starts_with('<') || alt.contains(['[', ']'])
}

impl VcfReader {
    /// Opens a bgzip-compressed VCF and its `FILE.tbi` or `FILE.csi` index, reading the header.
    ///
    /// Fails when the file is missing, not BGZF, lacks the BGZF EOF block, has an unreadable
    /// header, or has no index (in which case the file is scanned so that an unsorted file is
    /// reported as [`VcfError::UnsortedFile`] rather than [`VcfError::NoIndex`]).
    pub fn open(path: &Path) -> Result<Self, VcfError> {
        let mut file = File::open(path).map_err(|e| io_error(path, e))?;
        check_bgzf(path, &mut file)?;
        let mut reader = vcf::io::Reader::new(Blocks(bgzf::io::Reader::new(file)));
        let header = reader.read_header().map_err(|e| {
            if is_block_fault(&e) {
                VcfError::Corrupt {
                    path: path.to_owned(),
                    context: "the header".into(),
                    source: e,
                }
            } else {
                VcfError::Header {
                    path: path.to_owned(),
                    source: e,
                }
            }
        })?;
        let Some(index) = read_index(path)? else {
            scan_unsorted(path)?;
            return Err(VcfError::NoIndex {
                path: path.to_owned(),
            });
        };
        let samples = header.sample_names().iter().cloned().collect();
        Ok(Self {
            path: path.to_owned(),
            reader,
            header,
            index,
            samples,
        })
    }

    /// The path this reader was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Sample names in header order; [`VcfReader::query`] takes indices into this slice.
    pub fn samples(&self) -> &[String] {
        &self.samples
    }

    /// Contigs present in the index, in index order.
    pub fn contigs(&self) -> Vec<String> {
        self.index
            .header()
            .map(|h| {
                h.reference_sequence_names()
                    .iter()
                    .map(|name| String::from_utf8_lossy(name).into_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Whether `chrom` is present in the index.
    pub fn has_contig(&self, chrom: &str) -> bool {
        self.index
            .header()
            .is_some_and(|h| h.reference_sequence_names().contains(chrom.as_bytes()))
    }

    /// Sites with `start <= pos <= end` (1-based, inclusive) on `chrom`, in file order, with
    /// dosages for `samples` (indices into [`VcfReader::samples`], in that output order).
    ///
    /// Multi-allelic and monomorphic/symbolic records are skipped and counted in `stats`.
    pub fn query(
        &mut self,
        chrom: &str,
        start: u64,
        end: u64,
        field: GenotypeField,
        samples: &[usize],
        stats: &mut QueryStats,
    ) -> Result<Vec<Site>, VcfError> {
        let region_error = |message: &str| VcfError::InvalidRegion {
            path: self.path.clone(),
            chrom: chrom.to_owned(),
            start,
            end,
            message: message.to_owned(),
        };
        if !self.has_contig(chrom) {
            return Err(VcfError::UnknownContig {
                path: self.path.clone(),
                chrom: chrom.to_owned(),
                available: self.contigs(),
            });
        }
        if start == 0 || end < start {
            return Err(region_error(
                "expected 1 <= start <= end (1-based, inclusive)",
            ));
        }
        let to_position = |p: u64| {
            usize::try_from(p)
                .ok()
                .and_then(|p| Position::try_from(p).ok())
                .ok_or_else(|| region_error("position does not fit in memory"))
        };
        let interval = Interval::from(to_position(start)?..=to_position(end)?);
        let region = Region::new(chrom, interval);

        let n_samples = self.samples.len();
        let mut wanted: Vec<(usize, usize)> = Vec::with_capacity(samples.len());
        for (slot, &index) in samples.iter().enumerate() {
            if index >= n_samples {
                return Err(VcfError::SampleIndex {
                    path: self.path.clone(),
                    index,
                    n_samples,
                });
            }
            wanted.push((index, slot));
        }
        wanted.sort_unstable();

        stats.queries += 1;
        let path = &self.path;
        let header = &self.header;
        let query = self
            .reader
            .query(header, &self.index, &region)
            .map_err(|e| VcfError::InvalidRegion {
                path: path.clone(),
                chrom: chrom.to_owned(),
                start,
                end,
                message: e.to_string(),
            })?;

        let mut sites = Vec::new();
        let mut prev_pos: Option<u64> = None;
        for result in query.records() {
            let record = result.map_err(|e| {
                let after = match prev_pos {
                    Some(p) => format!("after {chrom}:{p}"),
                    None => format!("at the start of {chrom}:{start}-{end}"),
                };
                if is_block_fault(&e) {
                    VcfError::Corrupt {
                        path: path.clone(),
                        context: format!("region {chrom}:{start}-{end} ({after})"),
                        source: e,
                    }
                } else {
                    VcfError::Malformed {
                        path: path.clone(),
                        record: format!("the record {after}"),
                        message: e.to_string(),
                    }
                }
            })?;
            let pos = match record.variant_start() {
                Some(Ok(p)) => p.get() as u64,
                Some(Err(e)) => {
                    return Err(VcfError::Malformed {
                        path: path.clone(),
                        record: format!("the record after {chrom}:{}", prev_pos.unwrap_or(0)),
                        message: format!("invalid POS: {e}"),
                    });
                }
                None => {
                    return Err(VcfError::Malformed {
                        path: path.clone(),
                        record: format!("the record after {chrom}:{}", prev_pos.unwrap_or(0)),
                        message: "missing POS".into(),
                    });
                }
            };
            if let Some(prev) = prev_pos.filter(|&prev| pos < prev) {
                return Err(VcfError::Unsorted {
                    path: path.clone(),
                    chrom: chrom.to_owned(),
                    prev_pos: prev,
                    pos,
                });
            }
            prev_pos = Some(pos);
            if pos < start || pos > end {
                continue;
            }
            stats.records += 1;

            let malformed = |message: String| VcfError::Malformed {
                path: path.clone(),
                record: format!("{chrom}:{pos}"),
                message,
            };
            let alts = record.alternate_bases();
            let alt = match alts.len() {
                0 => {
                    stats.monomorphic += 1;
                    continue;
                }
                1 => match alts.iter().next() {
                    Some(Ok(a)) => a,
                    Some(Err(e)) => return Err(malformed(format!("invalid ALT: {e}"))),
                    None => return Err(malformed("missing ALT".into())),
                },
                _ => {
                    stats.multiallelic += 1;
                    continue;
                }
            };
            if alt == "." || is_symbolic(alt) {
                stats.monomorphic += 1;
                continue;
            }
            let ref_allele = record.reference_bases();
            if ref_allele.is_empty() || ref_allele == "." {
                return Err(malformed("expected a REF allele, found none".into()));
            }
            let raw_id = record.ids();
            let raw_id: &str = raw_id.as_ref();
            let id = if raw_id.is_empty() || raw_id == "." {
                format!("{chrom}:{pos}:{ref_allele}:{alt}")
            } else {
                raw_id.to_owned()
            };

            let mut dosage = vec![f32::NAN; samples.len()];
            if !wanted.is_empty() {
                let record_samples = record.samples();
                let keys = record_samples.keys();
                let Some(key_index) = keys.iter().position(|k| k == field.key()) else {
                    let format: Vec<&str> = keys.iter().collect();
                    let hint = match field {
                        GenotypeField::Ds if format.contains(&"GT") => {
                            "; GT is available: set the genotype field to GT".to_owned()
                        }
                        _ => String::new(),
                    };
                    return Err(VcfError::MissingField {
                        path: path.clone(),
                        chrom: chrom.to_owned(),
                        pos,
                        field,
                        format: format.join(":"),
                        hint,
                    });
                };
                let mut next = 0;
                let mut n_columns = 0;
                for (column, sample) in record_samples.iter().enumerate() {
                    n_columns = column + 1;
                    if next >= wanted.len() {
                        break;
                    }
                    if wanted[next].0 != column {
                        continue;
                    }
                    let sample_error = |message: String| VcfError::Malformed {
                        path: path.clone(),
                        record: format!("{chrom}:{pos}, sample {}", self.samples[column]),
                        message,
                    };
                    let value = match sample.get_index(header, key_index) {
                        None | Some(None) => None,
                        Some(Some(Ok(v))) => Some(v),
                        Some(Some(Err(e))) => {
                            return Err(sample_error(format!(
                                "invalid {field} value {:?}: {e}",
                                sample.as_ref()
                            )));
                        }
                    };
                    let d = match field {
                        GenotypeField::Gt => gt_dosage(value),
                        GenotypeField::Ds => ds_dosage(value),
                    }
                    .map_err(|message| {
                        sample_error(format!("{message} (sample column {:?})", sample.as_ref()))
                    })?;
                    while next < wanted.len() && wanted[next].0 == column {
                        dosage[wanted[next].1] = d;
                        if d.is_nan() {
                            stats.missing_calls += 1;
                        }
                        next += 1;
                    }
                }
                if next < wanted.len() {
                    return Err(malformed(format!(
                        "expected {n_samples} sample columns (from the header), found {n_columns}"
                    )));
                }
            }
            stats.kept += 1;
            sites.push(Site {
                chrom: chrom.to_owned(),
                pos,
                id,
                ref_allele: ref_allele.to_owned(),
                alt_allele: alt.to_owned(),
                dosage,
            });
        }
        Ok(sites)
    }
}

/// ALT count of a biallelic GT; NaN when any allele is missing.
fn gt_dosage(value: Option<Value<'_>>) -> Result<f32, String> {
    let genotype = match value {
        None => return Ok(f32::NAN),
        Some(Value::Genotype(g)) => g,
        Some(other) => return Err(format!("expected a genotype, found {other:?}")),
    };
    let mut alt = 0u32;
    let mut missing = false;
    let mut n = 0usize;
    for allele in genotype.iter() {
        let (position, _) = allele.map_err(|e| format!("invalid GT: {e}"))?;
        n += 1;
        match position {
            None => missing = true,
            Some(0) => {}
            Some(1) => alt += 1,
            Some(i) => {
                return Err(format!(
                    "GT allele index {i} but the record has a single ALT allele"
                ));
            }
        }
    }
    if n == 0 {
        return Err("expected at least one allele in GT".into());
    }
    Ok(if missing { f32::NAN } else { alt as f32 })
}

/// The DS value; NaN when missing.
fn ds_dosage(value: Option<Value<'_>>) -> Result<f32, String> {
    let parsed = match value {
        None => None,
        Some(Value::Float(x)) => Some(x),
        Some(Value::Integer(x)) => Some(x as f32),
        Some(Value::String(s)) => Some(
            s.parse::<f32>()
                .map_err(|_| format!("expected a numeric DS, found {s:?}"))?,
        ),
        Some(Value::Array(Array::Float(values))) => {
            if values.len() != 1 {
                return Err(format!(
                    "expected one DS value for a biallelic site, found {}",
                    values.len()
                ));
            }
            match values.iter().next() {
                Some(Ok(x)) => x,
                Some(Err(e)) => return Err(format!("invalid DS: {e}")),
                None => None,
            }
        }
        Some(Value::Array(Array::Integer(values))) => match values.iter().next() {
            Some(Ok(x)) => x.map(|x| x as f32),
            Some(Err(e)) => return Err(format!("invalid DS: {e}")),
            None => None,
        },
        Some(other) => return Err(format!("expected a numeric DS, found {other:?}")),
    };
    match parsed {
        None => Ok(f32::NAN),
        Some(x) if x.is_finite() => Ok(x),
        Some(x) => Err(format!("expected a finite DS, found {x}")),
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use noodles::csi::binning_index::index::reference_sequence::bin::Chunk;

    use super::*;

    const HEADER: &str = "##fileformat=VCFv4.2
##contig=<ID=1,length=100000>
##contig=<ID=2,length=100000>
##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">
##FORMAT=<ID=DS,Number=A,Type=Float,Description=\"ALT dosage\">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tA\tB\tC
";
    const HEADER_LINES: u64 = 6;

    fn line(chrom: &str, pos: u64, format: &str, cells: &str) -> String {
        format!("{chrom}\t{pos}\t.\tA\tG\t.\tPASS\t.\t{format}\t{cells}\n")
    }

    /// BGZF bytes with the header in the first block and the records in later blocks.
    fn bgzf_bytes(body: &str) -> Vec<u8> {
        let mut writer = bgzf::io::Writer::new(Vec::new());
        writer.write_all(HEADER.as_bytes()).unwrap();
        writer.flush().unwrap();
        writer.write_all(body.as_bytes()).unwrap();
        writer.finish().unwrap()
    }

    fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn write_indexed(dir: &Path, body: &str) -> PathBuf {
        let path = write_file(dir, "x.vcf.gz", &bgzf_bytes(body));
        match vcf::fs::index(&path).unwrap() {
            vcf::Index::Tabix(index) => tabix::fs::write(with_suffix(&path, ".tbi"), &index),
            vcf::Index::Csi(index) => csi::fs::write(with_suffix(&path, ".csi"), &index),
        }
        .unwrap();
        path
    }

    fn sorted_body() -> String {
        [
            line("1", 100, "GT:DS", "0/1:0.9\t1|1:2\t./.:."),
            line("1", 200, "GT:DS", "0|0:0.1\t1:1\t0/.:."),
            line("2", 50, "GT:DS", "1/1:1.8\t0/0:0\t0/1:1"),
        ]
        .concat()
    }

    /// Asserts that `err` is the expected variant and that its message mentions every needle.
    fn assert_error(err: &VcfError, is_expected: fn(&VcfError) -> bool, needles: &[&str]) {
        assert!(is_expected(err), "unexpected variant: {err:?}");
        let msg = err.to_string();
        for needle in needles {
            assert!(msg.contains(needle), "{msg:?} does not mention {needle:?}");
        }
    }

    fn query_one(path: &Path, field: GenotypeField) -> Result<Vec<Site>, VcfError> {
        let mut reader = VcfReader::open(path)?;
        reader.query("1", 1, 1000, field, &[0, 1, 2], &mut QueryStats::default())
    }

    #[test]
    fn reads_gt_and_ds_of_a_small_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_indexed(dir.path(), &sorted_body());
        let mut reader = VcfReader::open(&path).unwrap();
        assert_eq!(reader.samples(), ["A", "B", "C"]);
        assert_eq!(reader.contigs(), ["1", "2"]);
        let mut stats = QueryStats::default();
        let gt = reader
            .query("1", 1, 1000, GenotypeField::Gt, &[2, 0, 1], &mut stats)
            .unwrap();
        assert_eq!(gt.len(), 2);
        assert_eq!(gt[0].id, "1:100:A:G");
        assert!(gt[0].dosage[0].is_nan());
        assert_eq!(gt[0].dosage[1..], [1.0, 2.0]);
        assert!(gt[1].dosage[0].is_nan());
        assert_eq!(gt[1].dosage[1..], [0.0, 1.0]);
        let ds = reader
            .query("1", 150, 200, GenotypeField::Ds, &[1, 0], &mut stats)
            .unwrap();
        assert_eq!(ds.len(), 1);
        assert_eq!(ds[0].pos, 200);
        assert_eq!(ds[0].dosage, [1.0, 0.1]);
        assert_eq!(
            stats,
            QueryStats {
                queries: 2,
                records: 3,
                multiallelic: 0,
                monomorphic: 0,
                missing_calls: 2,
                kept: 3,
            }
        );
    }

    #[test]
    fn genotype_field_parses_from_yaml_and_str() {
        let f: GenotypeField = serde_yaml::from_str("DS").unwrap();
        assert_eq!(f, GenotypeField::Ds);
        let f: GenotypeField = serde_yaml::from_str("GT").unwrap();
        assert_eq!(f, GenotypeField::Gt);
        assert!(serde_yaml::from_str::<GenotypeField>("gt").is_err());
        assert_eq!("DS".parse::<GenotypeField>(), Ok(GenotypeField::Ds));
        assert!("HDS".parse::<GenotypeField>().is_err());
    }

    #[test]
    fn not_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing.vcf.gz");
        let err = VcfReader::open(&path).unwrap_err();
        assert_error(
            &err,
            |e| matches!(e, VcfError::NotFound { .. }),
            &["missing.vcf.gz"],
        );
    }

    #[test]
    fn directory_is_an_io_error() {
        let dir = tempfile::tempdir().unwrap();
        let err = VcfReader::open(dir.path()).unwrap_err();
        assert!(matches!(err, VcfError::Io { .. }), "{err}");
    }

    #[test]
    fn plain_text_is_not_bgzf() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(
            dir.path(),
            "x.vcf.gz",
            (HEADER.to_owned() + &sorted_body()).as_bytes(),
        );
        let err = VcfReader::open(&path).unwrap_err();
        assert_error(
            &err,
            |e| matches!(e, VcfError::NotBgzf { .. }),
            &["x.vcf.gz", "uncompressed text", "compress with `bgzip`"],
        );
    }

    #[test]
    fn plain_gzip_is_not_bgzf() {
        let dir = tempfile::tempdir().unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all((HEADER.to_owned() + &sorted_body()).as_bytes())
            .unwrap();
        let path = write_file(dir.path(), "x.vcf.gz", &gz.finish().unwrap());
        let err = VcfReader::open(&path).unwrap_err();
        assert_error(
            &err,
            |e| matches!(e, VcfError::NotBgzf { .. }),
            &["plain gzip", "compress with `bgzip`"],
        );
    }

    #[test]
    fn empty_file_is_not_bgzf() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(dir.path(), "x.vcf.gz", b"");
        let err = VcfReader::open(&path).unwrap_err();
        assert_error(&err, |e| matches!(e, VcfError::NotBgzf { .. }), &["empty"]);
    }

    #[test]
    fn missing_eof_block_is_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = bgzf_bytes(&sorted_body());
        assert_eq!(bytes[bytes.len() - 28..], BGZF_EOF);
        for cut in [28, 40] {
            let path = write_file(dir.path(), "x.vcf.gz", &bytes[..bytes.len() - cut]);
            let err = VcfReader::open(&path).unwrap_err();
            assert_error(
                &err,
                |e| matches!(e, VcfError::Truncated { .. }),
                &["truncated or incomplete bgzip file"],
            );
        }
    }

    #[test]
    fn corrupt_block_mid_query() {
        let dir = tempfile::tempdir().unwrap();
        let first = line("1", 100, "GT", "0/1\t0/0\t1/1");
        let rest = line("1", 200, "GT", "0/1\t0/0\t1/1");
        let mut writer = bgzf::io::Writer::new(Vec::new());
        for part in [HEADER, first.as_str(), rest.as_str()] {
            writer.write_all(part.as_bytes()).unwrap();
            writer.flush().unwrap();
        }
        let mut bytes = writer.finish().unwrap();
        let path = write_file(dir.path(), "x.vcf.gz", &bytes);
        let index = vcf::fs::index(&path).unwrap();
        let vcf::Index::Tabix(index) = index else {
            panic!("expected a tabix index")
        };
        tabix::fs::write(with_suffix(&path, ".tbi"), &index).unwrap();

        let block_len =
            |at: usize| usize::from(u16::from_le_bytes([bytes[at + 16], bytes[at + 17]])) + 1;
        let third = block_len(0) + block_len(block_len(0));
        for b in &mut bytes[third + 20..third + 30] {
            *b ^= 0xff;
        }
        std::fs::write(&path, &bytes).unwrap();
        let err = query_one(&path, GenotypeField::Gt).unwrap_err();
        assert_error(
            &err,
            |e| matches!(e, VcfError::Corrupt { .. }),
            &["corrupt or truncated bgzip block", "after 1:100"],
        );
    }

    #[test]
    fn invalid_header() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = bgzf::io::Writer::new(Vec::new());
        writer
            .write_all(b"##fileformat=VCFv4.2\n#CHROM\tPOS\n1\t100\n")
            .unwrap();
        let path = write_file(dir.path(), "x.vcf.gz", &writer.finish().unwrap());
        let err = VcfReader::open(&path).unwrap_err();
        assert!(matches!(err, VcfError::Header { .. }), "{err}");
    }

    #[test]
    fn no_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(dir.path(), "x.vcf.gz", &bgzf_bytes(&sorted_body()));
        let err = VcfReader::open(&path).unwrap_err();
        let expected = format!("run `tabix -p vcf {}`", path.display());
        assert_error(
            &err,
            |e| matches!(e, VcfError::NoIndex { .. }),
            &[&expected],
        );
    }

    #[test]
    fn no_index_and_unsorted() {
        let dir = tempfile::tempdir().unwrap();
        let body = [
            line("1", 100, "GT", "0/1\t0/0\t1/1"),
            line("1", 300, "GT", "0/1\t0/0\t1/1"),
            line("1", 200, "GT", "0/1\t0/0\t1/1"),
        ]
        .concat();
        let path = write_file(dir.path(), "x.vcf.gz", &bgzf_bytes(&body));
        let err = VcfReader::open(&path).unwrap_err();
        match &err {
            VcfError::UnsortedFile {
                line,
                prev_pos,
                pos,
                ..
            } => assert_eq!((*line, *prev_pos, *pos), (HEADER_LINES + 3, 300, 200)),
            other => panic!("expected UnsortedFile, got {other}"),
        }
        let msg = err.to_string();
        assert!(msg.contains("line 9 (1:200) comes after 1:300"), "{msg}");
        assert!(
            msg.contains("bcftools sort -Oz -o sorted.vcf.gz")
                && msg.contains("tabix -p vcf sorted.vcf.gz"),
            "{msg}"
        );

        let body = [
            line("1", 100, "GT", "0/1\t0/0\t1/1"),
            line("2", 50, "GT", "0/1\t0/0\t1/1"),
            line("1", 400, "GT", "0/1\t0/0\t1/1"),
        ]
        .concat();
        let path = write_file(dir.path(), "y.vcf.gz", &bgzf_bytes(&body));
        let err = VcfReader::open(&path).unwrap_err();
        assert!(
            err.to_string().contains("line 9 (1:400) comes after 2:50"),
            "{err}"
        );
    }

    #[test]
    fn unreadable_index() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(dir.path(), "x.vcf.gz", &bgzf_bytes(&sorted_body()));
        std::fs::write(with_suffix(&path, ".tbi"), b"not an index").unwrap();
        let err = VcfReader::open(&path).unwrap_err();
        assert_error(
            &err,
            |e| matches!(e, VcfError::Index { .. }),
            &["x.vcf.gz.tbi"],
        );
    }

    #[test]
    fn unknown_contig() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_indexed(dir.path(), &sorted_body());
        let mut reader = VcfReader::open(&path).unwrap();
        let err = reader
            .query(
                "chr1",
                1,
                10,
                GenotypeField::Gt,
                &[0],
                &mut QueryStats::default(),
            )
            .unwrap_err();
        assert_error(
            &err,
            |e| matches!(e, VcfError::UnknownContig { .. }),
            &["\"chr1\"", "available contigs: 1, 2"],
        );
    }

    #[test]
    fn invalid_region() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_indexed(dir.path(), &sorted_body());
        let mut reader = VcfReader::open(&path).unwrap();
        for (start, end) in [(0, 10), (20, 10)] {
            let err = reader
                .query(
                    "1",
                    start,
                    end,
                    GenotypeField::Gt,
                    &[0],
                    &mut QueryStats::default(),
                )
                .unwrap_err();
            let region = format!("1:{start}-{end}");
            assert_error(
                &err,
                |e| matches!(e, VcfError::InvalidRegion { .. }),
                &[&region],
            );
        }
    }

    #[test]
    fn sample_index_out_of_range() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_indexed(dir.path(), &sorted_body());
        let mut reader = VcfReader::open(&path).unwrap();
        let err = reader
            .query(
                "1",
                1,
                10,
                GenotypeField::Gt,
                &[0, 3],
                &mut QueryStats::default(),
            )
            .unwrap_err();
        assert!(
            matches!(
                err,
                VcfError::SampleIndex {
                    index: 3,
                    n_samples: 3,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn unsorted_records_in_a_query() {
        let dir = tempfile::tempdir().unwrap();
        let body = [
            line("1", 100, "GT", "0/1\t0/0\t1/1"),
            line("1", 300, "GT", "0/1\t0/0\t1/1"),
            line("1", 200, "GT", "0/1\t0/0\t1/1"),
        ]
        .concat();
        let path = write_file(dir.path(), "x.vcf.gz", &bgzf_bytes(&body));
        let mut reader = File::open(&path)
            .map(bgzf::io::Reader::new)
            .map(vcf::io::Reader::new)
            .unwrap();
        reader.read_header().unwrap();
        let start = reader.get_ref().virtual_position();
        let mut record = vcf::Record::default();
        while reader.read_record(&mut record).unwrap() != 0 {}
        let end = reader.get_ref().virtual_position();
        let mut indexer = tabix::index::Indexer::default();
        let p = |x: usize| Position::try_from(x).unwrap();
        indexer
            .add_record("1", p(100), p(300), Chunk::new(start, end))
            .unwrap();
        tabix::fs::write(with_suffix(&path, ".tbi"), &indexer.build()).unwrap();

        let err = query_one(&path, GenotypeField::Gt).unwrap_err();
        assert!(
            matches!(
                err,
                VcfError::Unsorted {
                    prev_pos: 300,
                    pos: 200,
                    ..
                }
            ),
            "{err}"
        );
        let msg = err.to_string();
        assert!(
            msg.contains("x.vcf.gz") && msg.contains("200 comes after 300"),
            "{msg}"
        );
    }

    #[test]
    fn malformed_records() {
        let cases = [
            (line("1", 100, "GT", "0/1\t0/x\t1/1"), "1:100, sample B"),
            (line("1", 100, "GT", "0/1\t0/2\t1/1"), "1:100, sample B"),
            (
                line("1", 100, "GT:DS", "0/1:0.5\t0/1\t1/1:abc"),
                "1:100, sample C",
            ),
            (line("1", 100, "GT", "0/1\t0/0"), "1:100"),
            (
                "1\t100\t.\tA\n".to_owned(),
                "the record at the start of 1:1-1000",
            ),
        ];
        for (i, (body, record)) in cases.iter().enumerate() {
            let dir = tempfile::tempdir().unwrap();
            let path = write_file(dir.path(), "x.vcf.gz", &bgzf_bytes(body));
            let mut indexer = tabix::index::Indexer::default();
            let bytes = bgzf_bytes("");
            let data_start =
                bgzf::VirtualPosition::try_from(((bytes.len() - 28) as u64, 0)).unwrap();
            let data_end =
                bgzf::VirtualPosition::try_from(((bytes.len() - 28) as u64, body.len() as u16))
                    .unwrap();
            let p = |x: usize| Position::try_from(x).unwrap();
            indexer
                .add_record("1", p(100), p(100), Chunk::new(data_start, data_end))
                .unwrap();
            tabix::fs::write(with_suffix(&path, ".tbi"), &indexer.build()).unwrap();
            let field = if i == 2 {
                GenotypeField::Ds
            } else {
                GenotypeField::Gt
            };
            let err = query_one(&path, field).unwrap_err();
            assert_error(&err, |e| matches!(e, VcfError::Malformed { .. }), &[record]);
        }
    }

    #[test]
    fn ds_requested_but_absent() {
        let dir = tempfile::tempdir().unwrap();
        let path = write_indexed(dir.path(), &line("1", 100, "GT", "0/1\t0/0\t1/1"));
        let err = query_one(&path, GenotypeField::Ds).unwrap_err();
        assert_error(
            &err,
            |e| matches!(e, VcfError::MissingField { .. }),
            &["x.vcf.gz", "1:100", "GT is available"],
        );
    }

    #[test]
    fn multiallelic_and_monomorphic_are_skipped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let body = [
            "1\t100\trs1\tA\tG,T\t.\tPASS\t.\tGT\t0/1\t0/2\t1/1\n",
            "1\t110\trs2\tA\t.\t.\tPASS\t.\tGT\t0/0\t0/0\t0/0\n",
            "1\t120\trs3\tA\t<DEL>\t.\tPASS\t.\tGT\t0/1\t0/0\t0/0\n",
            "1\t130\trs4\tA\tC\t.\tPASS\t.\tGT\t0/1\t0/0\t1|1\n",
        ]
        .concat();
        let path = write_indexed(dir.path(), &body);
        let mut reader = VcfReader::open(&path).unwrap();
        let mut stats = QueryStats::default();
        let sites = reader
            .query("1", 1, 1000, GenotypeField::Gt, &[2], &mut stats)
            .unwrap();
        assert_eq!(sites.len(), 1);
        assert_eq!((sites[0].id.as_str(), sites[0].dosage[0]), ("rs4", 2.0));
        assert_eq!(
            (
                stats.records,
                stats.multiallelic,
                stats.monomorphic,
                stats.kept
            ),
            (4, 1, 2, 1)
        );
    }
}
