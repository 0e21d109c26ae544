//! Gene annotation readers: GENCODE-style GTF (`gene` features only) or a BED6 gene table,
//! each turned into [`Gene`] records with a strand-aware 1-based TSS. This module only parses;
//! choosing cis windows around the TSS and matching genes to expression belong to the caller.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::text::{lines, TextError};

/// Strand of a gene; required, because it decides where the TSS is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strand {
    /// `+`: the TSS is the gene start.
    Plus,
    /// `-`: the TSS is the gene end.
    Minus,
}

/// One gene with 1-based inclusive coordinates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Gene {
    /// Gene identifier as written (version suffix kept; see [`strip_version`]).
    pub gene_id: String,
    /// `gene_name` attribute; the gene ID when absent (always the gene ID for BED input).
    pub gene_name: String,
    /// `gene_type` (or `gene_biotype`) attribute; empty when absent (always empty for BED input).
    pub gene_type: String,
    /// Contig name as written (e.g. `chr1`).
    pub chrom: String,
    /// 1-based first base.
    pub start: u64,
    /// 1-based last base (inclusive).
    pub end: u64,
    /// Strand.
    pub strand: Strand,
    /// 1-based transcription start site: `start` on `+`, `end` on `-`.
    pub tss: u64,
}

/// Errors from the gene readers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GeneError {
    /// The file could not be opened or read.
    #[error(transparent)]
    Text(#[from] TextError),
    /// The file name ends with neither a GTF nor a BED extension.
    #[error("{}: cannot tell the gene annotation format from the file name; expected a name ending in .gtf, .gtf.gz, .bed or .bed.gz", path.display())]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },
    /// A GTF line does not have exactly 9 tab-separated columns.
    #[error("{}:{line}: {found} tab-separated columns; expected 9 GTF columns (seqname, source, feature, start, end, score, strand, frame, attributes)", path.display())]
    GtfColumns {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Columns found.
        found: usize,
    },
    /// A BED gene line has fewer than 6 columns.
    #[error("{}:{line}: {found} tab-separated columns; expected 6 (chrom, start, end, gene_id, score, strand): the strand is required to place the TSS", path.display())]
    BedColumns {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Columns found.
        found: usize,
    },
    /// A coordinate is not a non-negative integer.
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
    /// The strand is not `+` or `-`.
    #[error("{}:{line}: gene `{gene}`: strand is `{token}`; expected `+` or `-` (the strand places the TSS)", path.display())]
    BadStrand {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The gene ID.
        gene: String,
        /// The offending token.
        token: String,
    },
    /// A GTF `gene` line has no `gene_id` attribute.
    #[error("{}:{line}: `gene` line has no gene_id attribute; expected `gene_id \"...\";` in column 9", path.display())]
    MissingGeneId {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
    },
    /// A gene ID appears on two lines.
    #[error("{}: gene `{gene}` is defined on lines {first} and {second}; expected one definition per gene", path.display())]
    DuplicateGene {
        /// The file.
        path: PathBuf,
        /// The repeated gene ID.
        gene: String,
        /// 1-based line of the first definition.
        first: usize,
        /// 1-based line of the second definition.
        second: usize,
    },
    /// The gene's start lies after its end.
    #[error("{}:{line}: gene `{gene}`: start {start} is after end {end}; expected start <= end ({convention})", path.display())]
    StartAfterEnd {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The gene ID.
        gene: String,
        /// Start as written in the file.
        start: u64,
        /// End as written in the file.
        end: u64,
        /// The coordinate convention of the file.
        convention: &'static str,
    },
}

/// Removes an Ensembl-style version suffix: `"ENSG1.5"` -> `"ENSG1"`.
///
/// Only a final `.` followed by digits is removed, so `"ENSG1.5_PAR_Y"` and `"ABC"` are unchanged.
pub fn strip_version(id: &str) -> &str {
    match id.rsplit_once('.') {
        Some((base, v))
            if !base.is_empty() && !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) =>
        {
            base
        }
        _ => id,
    }
}

/// Reads genes from a GTF or BED file, chosen by file name: `*.gtf`/`*.gtf.gz` or `*.bed`/`*.bed.gz`.
pub fn read_genes(path: &Path) -> Result<Vec<Gene>, GeneError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if name.ends_with(".gtf") || name.ends_with(".gtf.gz") {
        read_gtf(path)
    } else if name.ends_with(".bed") || name.ends_with(".bed.gz") {
        read_gene_bed(path)
    } else {
        Err(GeneError::UnknownFormat {
            path: path.to_path_buf(),
        })
    }
}

/// Reads the `gene` features of a GENCODE-style GTF (plain, gzip or BGZF).
///
/// `#` lines and blank lines are skipped; other features (transcripts, exons) are ignored
/// after their column count is checked.
pub fn read_gtf(path: &Path) -> Result<Vec<Gene>, GeneError> {
    let mut genes = Vec::new();
    let mut seen = HashMap::new();
    for line in lines(path)? {
        let line = line?;
        if line.is_blank() || line.text.starts_with('#') {
            continue;
        }
        let f = line.fields();
        if f.len() != 9 {
            return Err(GeneError::GtfColumns {
                path: path.to_path_buf(),
                line: line.number,
                found: f.len(),
            });
        }
        if f[2] != "gene" {
            continue;
        }
        let attrs = parse_attributes(f[8]);
        let gene_id = attrs
            .get("gene_id")
            .ok_or(GeneError::MissingGeneId {
                path: path.to_path_buf(),
                line: line.number,
            })?
            .to_string();
        let start = parse_int(path, line.number, "start", f[3])?;
        let end = parse_int(path, line.number, "end", f[4])?;
        if start > end {
            return Err(GeneError::StartAfterEnd {
                path: path.to_path_buf(),
                line: line.number,
                gene: gene_id,
                start,
                end,
                convention: "GTF is 1-based inclusive",
            });
        }
        let strand = parse_strand(path, line.number, &gene_id, f[6])?;
        let gene_name = attrs
            .get("gene_name")
            .unwrap_or(&gene_id.as_str())
            .to_string();
        let gene_type = attrs
            .get("gene_type")
            .or_else(|| attrs.get("gene_biotype"))
            .unwrap_or(&"")
            .to_string();
        let gene = new_gene(f[0], start, end, strand, gene_id, gene_name, gene_type);
        push_unique(path, &mut genes, &mut seen, line.number, gene)?;
    }
    Ok(genes)
}

/// Reads a BED6 gene table `chrom start end gene_id score strand` (0-based half-open; plain,
/// gzip or BGZF). `#`, `track` and `browser` lines and blank lines are skipped; columns after
/// the sixth are ignored.
pub fn read_gene_bed(path: &Path) -> Result<Vec<Gene>, GeneError> {
    let mut genes = Vec::new();
    let mut seen = HashMap::new();
    for line in lines(path)? {
        let line = line?;
        if line.is_bed_meta() {
            continue;
        }
        let f = line.fields();
        if f.len() < 6 {
            return Err(GeneError::BedColumns {
                path: path.to_path_buf(),
                line: line.number,
                found: f.len(),
            });
        }
        let bed_start = parse_int(path, line.number, "start", f[1])?;
        let end = parse_int(path, line.number, "end", f[2])?;
        let gene_id = f[3].to_string();
        if bed_start >= end {
            return Err(GeneError::StartAfterEnd {
                path: path.to_path_buf(),
                line: line.number,
                gene: gene_id,
                start: bed_start,
                end,
                convention: "BED is 0-based half-open, so start must be below end",
            });
        }
        let strand = parse_strand(path, line.number, &gene_id, f[5])?;
        let start = bed_start + 1;
        let gene = new_gene(
            f[0],
            start,
            end,
            strand,
            gene_id.clone(),
            gene_id,
            String::new(),
        );
        push_unique(path, &mut genes, &mut seen, line.number, gene)?;
    }
    Ok(genes)
}

fn new_gene(
    chrom: &str,
    start: u64,
    end: u64,
    strand: Strand,
    gene_id: String,
    gene_name: String,
    gene_type: String,
) -> Gene {
    let tss = match strand {
        Strand::Plus => start,
        Strand::Minus => end,
    };
    Gene {
        gene_id,
        gene_name,
        gene_type,
        chrom: chrom.to_string(),
        start,
        end,
        strand,
        tss,
    }
}

fn push_unique(
    path: &Path,
    genes: &mut Vec<Gene>,
    seen: &mut HashMap<String, usize>,
    line: usize,
    gene: Gene,
) -> Result<(), GeneError> {
    if let Some(&first) = seen.get(&gene.gene_id) {
        return Err(GeneError::DuplicateGene {
            path: path.to_path_buf(),
            gene: gene.gene_id,
            first,
            second: line,
        });
    }
    seen.insert(gene.gene_id.clone(), line);
    genes.push(gene);
    Ok(())
}

fn parse_int(
    path: &Path,
    line: usize,
    column: &'static str,
    token: &str,
) -> Result<u64, GeneError> {
    token.parse().map_err(|_| GeneError::BadInteger {
        path: path.to_path_buf(),
        line,
        column,
        token: token.to_string(),
    })
}

fn parse_strand(path: &Path, line: usize, gene: &str, token: &str) -> Result<Strand, GeneError> {
    match token {
        "+" => Ok(Strand::Plus),
        "-" => Ok(Strand::Minus),
        _ => Err(GeneError::BadStrand {
            path: path.to_path_buf(),
            line,
            gene: gene.to_string(),
            token: token.to_string(),
        }),
    }
}

/// Parses GTF attributes `key "value"; key value;` into a map; the first occurrence of a key wins.
fn parse_attributes(column: &str) -> HashMap<&str, &str> {
    let mut map = HashMap::new();
    for item in column.split(';') {
        let item = item.trim();
        if let Some((key, value)) = item.split_once(char::is_whitespace) {
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            map.entry(key).or_insert(value);
        }
    }
    map
}

#[cfg(test)]
mod tests {
    use super::super::text::testutil::{plain, write_file, Compression};
    use super::*;

    const GTF: &str = "##description: test\n\
        #comment\n\
        chr1\tHAVANA\tgene\t11869\t14409\t.\t+\t.\tgene_id \"ENSG00000223972.5\"; gene_type \"transcribed_unprocessed_pseudogene\"; gene_name \"DDX11L1\"; level 2;\n\
        chr1\tHAVANA\ttranscript\t11869\t14409\t.\t+\t.\tgene_id \"ENSG00000223972.5\"; transcript_id \"ENST1\";\n\
        chr1\tHAVANA\tgene\t14404\t29570\t.\t-\t.\tgene_id \"ENSG00000227232.5\"; gene_biotype \"unprocessed_pseudogene\";\n";

    fn gtf_err(contents: &str) -> (GeneError, String) {
        let (_d, path) = plain("genes.gtf", contents);
        let e = read_gtf(&path).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("genes.gtf"), "{msg}");
        (e, msg)
    }

    fn bed_err(contents: &str) -> (GeneError, String) {
        let (_d, path) = plain("genes.bed", contents);
        let e = read_gene_bed(&path).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("genes.bed"), "{msg}");
        (e, msg)
    }

    fn gtf_gene_line(id: &str, start: &str, end: &str, strand: &str) -> String {
        format!("chr1\tS\tgene\t{start}\t{end}\t.\t{strand}\t.\tgene_id \"{id}\";\n")
    }

    #[test]
    fn gtf_genes_with_plus_and_minus_tss() {
        let dir = tempfile::tempdir().unwrap();
        for (name, c) in [
            ("a.gtf", Compression::Plain),
            ("a.gtf.gz", Compression::Gzip),
        ] {
            let path = write_file(&dir, name, GTF, c);
            let genes = read_genes(&path).unwrap();
            assert_eq!(
                genes,
                vec![
                    Gene {
                        gene_id: "ENSG00000223972.5".into(),
                        gene_name: "DDX11L1".into(),
                        gene_type: "transcribed_unprocessed_pseudogene".into(),
                        chrom: "chr1".into(),
                        start: 11869,
                        end: 14409,
                        strand: Strand::Plus,
                        tss: 11869,
                    },
                    Gene {
                        gene_id: "ENSG00000227232.5".into(),
                        gene_name: "ENSG00000227232.5".into(),
                        gene_type: "unprocessed_pseudogene".into(),
                        chrom: "chr1".into(),
                        start: 14404,
                        end: 29570,
                        strand: Strand::Minus,
                        tss: 29570,
                    },
                ]
            );
        }
    }

    #[test]
    fn bed_genes_with_plus_and_minus_tss() {
        let dir = tempfile::tempdir().unwrap();
        let body = "#chrom\tstart\tend\tgene_id\tscore\tstrand\n\
                    chr2\t99\t200\tG1\t0\t+\n\
                    chr2\t299\t400\tG2\t0\t-\textra\n";
        for (name, c) in [
            ("g.bed", Compression::Plain),
            ("g.bed.gz", Compression::Bgzf),
        ] {
            let path = write_file(&dir, name, body, c);
            let genes = read_genes(&path).unwrap();
            assert_eq!(genes.len(), 2);
            assert_eq!(
                (genes[0].start, genes[0].end, genes[0].strand, genes[0].tss),
                (100, 200, Strand::Plus, 100)
            );
            assert_eq!(
                (genes[1].start, genes[1].end, genes[1].strand, genes[1].tss),
                (300, 400, Strand::Minus, 400)
            );
            assert_eq!(genes[1].gene_name, "G2");
            assert_eq!(genes[1].gene_type, "");
            assert_eq!(genes[1].chrom, "chr2");
        }
    }

    #[test]
    fn strip_version_only_removes_numeric_suffix() {
        assert_eq!(strip_version("ENSG1.5"), "ENSG1");
        assert_eq!(strip_version("ENSG00000223972.15"), "ENSG00000223972");
        assert_eq!(strip_version("ENSG1"), "ENSG1");
        assert_eq!(strip_version("ENSG1.5_PAR_Y"), "ENSG1.5_PAR_Y");
        assert_eq!(strip_version("ABC.x"), "ABC.x");
        assert_eq!(strip_version(".5"), ".5");
        assert_eq!(strip_version("G."), "G.");
    }

    #[test]
    fn unknown_extension() {
        let (_d, path) = plain("genes.tsv", "x\n");
        let msg = read_genes(&path).unwrap_err().to_string();
        assert!(
            msg.contains("genes.tsv") && msg.contains(".gtf.gz") && msg.contains(".bed"),
            "{msg}"
        );
    }

    #[test]
    fn gtf_wrong_column_count() {
        let (e, msg) = gtf_err("#c\nchr1 S gene 1 2 . + . gene_id \"G\";\n");
        assert!(matches!(
            e,
            GeneError::GtfColumns {
                line: 2,
                found: 1,
                ..
            }
        ));
        assert!(msg.contains(":2:") && msg.contains("expected 9"), "{msg}");
    }

    #[test]
    fn gtf_bad_integer() {
        let (e, msg) = gtf_err(&gtf_gene_line("G1", "1", "2k", "+"));
        assert!(matches!(e, GeneError::BadInteger { column: "end", .. }));
        assert!(msg.contains(":1:") && msg.contains("`2k`"), "{msg}");
    }

    #[test]
    fn gtf_dot_strand_is_an_error() {
        let (e, msg) = gtf_err(&gtf_gene_line("G1", "1", "5", "."));
        assert!(matches!(e, GeneError::BadStrand { .. }));
        assert!(
            msg.contains(":1:") && msg.contains("`G1`") && msg.contains("`.`"),
            "{msg}"
        );
    }

    #[test]
    fn gtf_missing_gene_id() {
        let (e, msg) = gtf_err("chr1\tS\tgene\t1\t5\t.\t+\t.\tgene_name \"X\";\n");
        assert!(matches!(e, GeneError::MissingGeneId { line: 1, .. }));
        assert!(msg.contains(":1:") && msg.contains("gene_id"), "{msg}");
    }

    #[test]
    fn gtf_duplicate_gene() {
        let body = gtf_gene_line("G1", "1", "5", "+")
            + &gtf_gene_line("G2", "1", "5", "+")
            + &gtf_gene_line("G1", "7", "9", "-");
        let (e, msg) = gtf_err(&body);
        assert!(matches!(
            e,
            GeneError::DuplicateGene {
                first: 1,
                second: 3,
                ..
            }
        ));
        assert!(
            msg.contains("`G1`") && msg.contains("lines 1 and 3"),
            "{msg}"
        );
    }

    #[test]
    fn gtf_start_after_end() {
        let (e, msg) = gtf_err(&gtf_gene_line("G1", "10", "9", "+"));
        assert!(matches!(
            e,
            GeneError::StartAfterEnd {
                start: 10,
                end: 9,
                ..
            }
        ));
        assert!(msg.contains(":1:") && msg.contains("`G1`"), "{msg}");
    }

    #[test]
    fn bed_without_strand_is_an_error() {
        let (e, msg) = bed_err("chr1\t0\t10\tG1\n");
        assert!(matches!(
            e,
            GeneError::BedColumns {
                line: 1,
                found: 4,
                ..
            }
        ));
        assert!(msg.contains(":1:") && msg.contains("strand"), "{msg}");
    }

    #[test]
    fn bed_bad_integer_strand_and_interval() {
        let (e, msg) = bed_err("chr1\tx\t10\tG1\t0\t+\n");
        assert!(matches!(
            e,
            GeneError::BadInteger {
                column: "start",
                ..
            }
        ));
        assert!(msg.contains("`x`"), "{msg}");
        let (e, msg) = bed_err("chr1\t0\t10\tG1\t0\t.\n");
        assert!(matches!(e, GeneError::BadStrand { .. }));
        assert!(msg.contains(":1:") && msg.contains("`G1`"), "{msg}");
        let (e, msg) = bed_err("chr1\t0\t10\tG1\t0\t+\nchr1\t10\t10\tG2\t0\t+\n");
        assert!(matches!(e, GeneError::StartAfterEnd { line: 2, .. }));
        assert!(msg.contains(":2:") && msg.contains("`G2`"), "{msg}");
    }

    #[test]
    fn bed_duplicate_gene() {
        let (e, msg) = bed_err("chr1\t0\t10\tG1\t0\t+\nchr1\t0\t10\tG1\t0\t+\n");
        assert!(matches!(
            e,
            GeneError::DuplicateGene {
                first: 1,
                second: 2,
                ..
            }
        ));
        assert!(msg.contains("`G1`"), "{msg}");
    }

    #[test]
    fn missing_file_is_a_text_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = read_genes(&dir.path().join("absent.gtf")).unwrap_err();
        assert!(matches!(e, GeneError::Text(_)));
    }
}
