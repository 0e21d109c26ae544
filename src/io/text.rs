//! Opening line-oriented text inputs (plain, gzip or BGZF, told apart by magic bytes) and
//! walking them as numbered, tab-split lines. Every table reader in `io` goes through here so
//! that decompression, line numbering and line-ending handling live in one place. This module
//! knows nothing about any particular format.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;

/// Errors from opening or reading a text file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TextError {
    /// The file could not be opened (or its first bytes could not be read).
    #[error("cannot open {}: {source}", path.display())]
    Open {
        /// The file.
        path: PathBuf,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// A line could not be read (I/O error, corrupt compression, or invalid UTF-8).
    #[error("{}:{line}: cannot read line: {source} (expected UTF-8 text, plain, gzip or BGZF)", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// 1-based number of the line that failed.
        line: usize,
        /// The underlying I/O error.
        source: std::io::Error,
    },
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Opens a text file that may be plain, gzip or BGZF compressed (by magic bytes), as buffered lines.
///
/// BGZF is a series of gzip members, so one multi-member gzip decoder reads both compressed forms.
pub fn open_text(path: &Path) -> Result<Box<dyn BufRead + Send>, TextError> {
    let open_err = |source| TextError::Open {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(open_err)?;
    let mut magic = [0u8; 2];
    let mut filled = 0;
    while filled < magic.len() {
        match file.read(&mut magic[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(open_err(e)),
        }
    }
    file.seek(SeekFrom::Start(0)).map_err(open_err)?;
    if filled == magic.len() && magic == GZIP_MAGIC {
        Ok(Box::new(BufReader::new(MultiGzDecoder::new(file))))
    } else {
        Ok(Box::new(BufReader::new(file)))
    }
}

/// Opens `path` with [`open_text`] and returns an iterator over its numbered lines.
pub fn lines(path: &Path) -> Result<TextLines, TextError> {
    Ok(TextLines {
        path: path.to_path_buf(),
        reader: open_text(path)?,
        line: 0,
    })
}

/// One line of a text file, without its line terminator (`\n` or `\r\n`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// 1-based line number in the (decompressed) file.
    pub number: usize,
    /// The line's text.
    pub text: String,
}

impl Line {
    /// The line split on tabs (an empty line gives one empty field).
    pub fn fields(&self) -> Vec<&str> {
        self.text.split('\t').collect()
    }

    /// True when the line is empty or only whitespace.
    pub fn is_blank(&self) -> bool {
        self.text.trim().is_empty()
    }

    /// True for lines a BED reader skips: blank, `#` comments, `track` and `browser` lines.
    pub fn is_bed_meta(&self) -> bool {
        let t = self.text.as_str();
        self.is_blank() || t.starts_with('#') || t.starts_with("track") || t.starts_with("browser")
    }
}

/// Iterator over the numbered lines of a text file; see [`lines`].
pub struct TextLines {
    path: PathBuf,
    reader: Box<dyn BufRead + Send>,
    line: usize,
}

impl TextLines {
    /// The file being read.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Iterator for TextLines {
    type Item = Result<Line, TextError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut text = String::new();
        self.line += 1;
        match self.reader.read_line(&mut text) {
            Ok(0) => None,
            Ok(_) => {
                if text.ends_with('\n') {
                    text.pop();
                    if text.ends_with('\r') {
                        text.pop();
                    }
                }
                Some(Ok(Line {
                    number: self.line,
                    text,
                }))
            }
            Err(source) => Some(Err(TextError::Read {
                path: self.path.clone(),
                line: self.line,
                source,
            })),
        }
    }
}

/// What a numeric table cell holds, as classified by [`parse_float`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cell {
    /// A finite number.
    Finite(f64),
    /// A missing-value token: empty, `NA`, `na`, `.`, or any spelling of NaN (`nan`, `NaN`).
    Missing,
    /// An infinite value (`inf`, `-Infinity`, or a literal too large for `f64`).
    Infinite,
    /// Anything else.
    Invalid,
}

/// Classifies one table cell as a finite number, a missing value, an infinity, or garbage.
pub fn parse_float(token: &str) -> Cell {
    match token {
        "" | "NA" | "na" | "." => return Cell::Missing,
        _ => {}
    }
    match token.parse::<f64>() {
        Ok(v) if v.is_nan() => Cell::Missing,
        Ok(v) if v.is_infinite() => Cell::Infinite,
        Ok(v) => Cell::Finite(v),
        Err(_) => Cell::Invalid,
    }
}

/// Test helpers shared by the readers in `io`: write fixture text to a temporary file.
#[cfg(test)]
pub(crate) mod testutil {
    use std::io::Write;
    use std::path::PathBuf;

    /// How a fixture is written to disk.
    #[derive(Clone, Copy, Debug)]
    pub(crate) enum Compression {
        Plain,
        Gzip,
        Bgzf,
    }

    /// Writes `contents` to `dir/name` with the given compression and returns the path.
    pub(crate) fn write_file(
        dir: &tempfile::TempDir,
        name: &str,
        contents: &str,
        compression: Compression,
    ) -> PathBuf {
        let path = dir.path().join(name);
        let file = std::fs::File::create(&path).unwrap();
        match compression {
            Compression::Plain => {
                let mut f = file;
                f.write_all(contents.as_bytes()).unwrap();
            }
            Compression::Gzip => {
                let mut enc = flate2::write::GzEncoder::new(file, flate2::Compression::default());
                enc.write_all(contents.as_bytes()).unwrap();
                enc.finish().unwrap();
            }
            Compression::Bgzf => {
                let mut w = noodles::bgzf::io::Writer::new(file);
                w.write_all(contents.as_bytes()).unwrap();
                w.finish().unwrap();
            }
        }
        path
    }

    /// Writes a plain-text fixture in a fresh temporary directory.
    pub(crate) fn plain(name: &str, contents: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = write_file(&dir, name, contents, Compression::Plain);
        (dir, path)
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::{write_file, Compression};
    use super::*;

    fn collect(path: &Path) -> Vec<(usize, String)> {
        lines(path)
            .unwrap()
            .map(|l| {
                let l = l.unwrap();
                (l.number, l.text)
            })
            .collect()
    }

    #[test]
    fn reads_plain_gzip_and_bgzf_identically() {
        let dir = tempfile::tempdir().unwrap();
        let body = "a\tb\r\nc\n\nlast";
        let expected = vec![
            (1, "a\tb".to_string()),
            (2, "c".to_string()),
            (3, String::new()),
            (4, "last".to_string()),
        ];
        for (name, c) in [
            ("p.txt", Compression::Plain),
            ("g.txt.gz", Compression::Gzip),
            ("b.txt.gz", Compression::Bgzf),
        ] {
            let path = write_file(&dir, name, body, c);
            assert_eq!(collect(&path), expected, "{c:?}");
        }
    }

    #[test]
    fn multi_member_gzip_is_read_to_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let a = write_file(&dir, "a.gz", "x\n", Compression::Gzip);
        let b = write_file(&dir, "b.gz", "y\n", Compression::Gzip);
        let mut bytes = std::fs::read(&a).unwrap();
        bytes.extend(std::fs::read(&b).unwrap());
        let both = dir.path().join("both.gz");
        std::fs::write(&both, bytes).unwrap();
        assert_eq!(
            collect(&both),
            vec![(1, "x".to_string()), (2, "y".to_string())]
        );
    }

    #[test]
    fn empty_and_one_byte_files_are_plain() {
        let dir = tempfile::tempdir().unwrap();
        let e = write_file(&dir, "e.txt", "", Compression::Plain);
        assert!(collect(&e).is_empty());
        let one = write_file(&dir, "one.txt", "\x1f", Compression::Plain);
        assert_eq!(collect(&one), vec![(1, "\x1f".to_string())]);
    }

    #[test]
    fn fields_split_on_tabs_only() {
        let l = Line {
            number: 1,
            text: "a b\t\tc".to_string(),
        };
        assert_eq!(l.fields(), vec!["a b", "", "c"]);
        assert!(!l.is_blank());
        for (text, meta) in [
            ("", true),
            ("  ", true),
            ("#chrom\tstart", true),
            ("track name=x", true),
            ("browser hide all", true),
            ("chr1\t0\t1", false),
        ] {
            let l = Line {
                number: 1,
                text: text.to_string(),
            };
            assert_eq!(l.is_bed_meta(), meta, "{text:?}");
        }
    }

    #[test]
    fn cells_are_classified() {
        assert_eq!(parse_float("1.5"), Cell::Finite(1.5));
        assert_eq!(parse_float("-2e-3"), Cell::Finite(-0.002));
        for t in ["", "NA", "na", ".", "nan", "NaN"] {
            assert_eq!(parse_float(t), Cell::Missing, "{t}");
        }
        for t in ["inf", "-inf", "Infinity", "1e400"] {
            assert_eq!(parse_float(t), Cell::Infinite, "{t}");
        }
        for t in ["abc", "1,5", " 1", "1.2.3"] {
            assert_eq!(parse_float(t), Cell::Invalid, "{t}");
        }
    }

    #[test]
    fn missing_file_is_an_open_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.bed");
        let err = open_text(&path).err().unwrap();
        assert!(matches!(err, TextError::Open { .. }));
        assert!(err.to_string().contains("nope.bed"), "{err}");
    }

    #[test]
    fn invalid_utf8_is_a_read_error_naming_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.txt");
        std::fs::write(&path, b"ok\n\xff\xfe\n").unwrap();
        let results: Vec<_> = lines(&path).unwrap().collect();
        assert!(results[0].is_ok());
        let err = results[1].as_ref().unwrap_err();
        assert!(matches!(err, TextError::Read { line: 2, .. }));
        let msg = err.to_string();
        assert!(msg.contains("bad.txt:2"), "{msg}");
    }

    #[test]
    fn corrupt_gzip_is_a_read_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("corrupt.gz");
        std::fs::write(&path, [0x1f, 0x8b, 0x08, 0x00, 0xde, 0xad]).unwrap();
        let first = lines(&path).unwrap().next().unwrap();
        let msg = first.unwrap_err().to_string();
        assert!(msg.contains("corrupt.gz:1"), "{msg}");
    }
}
