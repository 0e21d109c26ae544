//! The HDF5 layer: atomic file creation (temporary name in the same directory, then rename),
//! typed dataset and attribute helpers, completeness checks, and a tree walker for `inspect`.
//! It knows how HDF5 is written, not what the datasets mean; the stages choose the layout.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use hdf5::types::VarLenUnicode;
use hdf5::{Group, H5Type, Location};
use thiserror::Error;

/// Version of the on-disk layouts written by this crate.
pub const FORMAT_VERSION: u32 = 1;

/// Errors from the HDF5 layer.
#[derive(Debug, Error)]
pub enum StoreError {
    /// An HDF5 call failed.
    #[error("{path}: HDF5 error at `{object}`: {source}")]
    Hdf5 {
        path: PathBuf,
        object: String,
        source: hdf5::Error,
    },
    /// Renaming the finished temporary file failed.
    #[error("cannot move {tmp} to {path}: {source}")]
    Rename {
        tmp: PathBuf,
        path: PathBuf,
        source: std::io::Error,
    },
    /// Creating the output directory failed.
    #[error("cannot create directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A string contained a NUL byte or was otherwise not storable.
    #[error("{path}: cannot store string in `{object}`: {message}")]
    BadString {
        path: PathBuf,
        object: String,
        message: String,
    },
}

/// An HDF5 file being written under a temporary name; [`H5Writer::finish`] marks it complete
/// and renames it into place, so a killed writer never leaves a file that looks complete.
pub struct H5Writer {
    file: hdf5::File,
    tmp: PathBuf,
    path: PathBuf,
}

impl H5Writer {
    /// Starts writing `path` (as `path.<pid>.tmp` in the same directory).
    pub fn create(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let tmp = tmp_name(path);
        let file = hdf5::File::create(&tmp).map_err(|source| StoreError::Hdf5 {
            path: tmp.clone(),
            object: "/".into(),
            source,
        })?;
        Ok(H5Writer {
            file,
            tmp,
            path: path.to_path_buf(),
        })
    }

    /// A handle that writes into the file, for the helpers below.
    pub fn out(&self) -> Out<'_> {
        Out {
            path: &self.tmp,
            group: &self.file,
        }
    }

    /// Writes `status = "complete"`, closes the file and renames it into place.
    pub fn finish(self) -> Result<PathBuf, StoreError> {
        self.out().attr_str("complete", "yes")?;
        let H5Writer { file, tmp, path } = self;
        file.close().map_err(|source| StoreError::Hdf5 {
            path: tmp.clone(),
            object: "/".into(),
            source,
        })?;
        std::fs::rename(&tmp, &path).map_err(|source| StoreError::Rename {
            tmp: tmp.clone(),
            path: path.clone(),
            source,
        })?;
        Ok(path)
    }
}

/// The temporary name used while `path` is written.
pub fn tmp_name(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.tmp", std::process::id()));
    path.with_file_name(name)
}

/// Writes `text` to `path` atomically (temporary name in the same directory, then rename).
pub fn write_text_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = tmp_name(path);
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}

/// True when `path` is an HDF5 file this crate finished writing.
pub fn is_complete(path: &Path) -> bool {
    let Ok(file) = hdf5::File::open(path) else {
        return false;
    };
    file.attr("complete")
        .and_then(|a| a.read_scalar::<VarLenUnicode>())
        .map(|v| v.as_str() == "yes")
        .unwrap_or(false)
}

/// A group of a file being written, with typed helpers that name the object in errors.
#[derive(Clone, Copy)]
pub struct Out<'a> {
    path: &'a Path,
    group: &'a Group,
}

impl<'a> Out<'a> {
    fn err(&self, object: &str) -> impl Fn(hdf5::Error) -> StoreError + '_ {
        let object = format!("{}/{}", self.group.name().trim_end_matches('/'), object);
        move |source| StoreError::Hdf5 {
            path: self.path.to_path_buf(),
            object: object.clone(),
            source,
        }
    }

    fn vlu(&self, object: &str, s: &str) -> Result<VarLenUnicode, StoreError> {
        s.parse::<VarLenUnicode>()
            .map_err(|e| StoreError::BadString {
                path: self.path.to_path_buf(),
                object: object.to_string(),
                message: e.to_string(),
            })
    }

    /// Creates a child group and returns a handle to it. The group lives as long as the file.
    pub fn group(&self, name: &str) -> Result<OwnedOut, StoreError> {
        let g = self.group.create_group(name).map_err(self.err(name))?;
        Ok(OwnedOut {
            path: self.path.to_path_buf(),
            group: g,
        })
    }

    /// Opens an existing child group.
    pub fn group_at(&self, name: &str) -> Result<OwnedOut, StoreError> {
        let g = self.group.group(name).map_err(self.err(name))?;
        Ok(OwnedOut {
            path: self.path.to_path_buf(),
            group: g,
        })
    }

    /// A string attribute.
    pub fn attr_str(&self, name: &str, value: &str) -> Result<(), StoreError> {
        let v = self.vlu(name, value)?;
        self.group
            .new_attr::<VarLenUnicode>()
            .create(name)
            .and_then(|a| a.write_scalar(&v))
            .map_err(self.err(name))
    }

    /// A numeric scalar attribute.
    pub fn attr<T: H5Type>(&self, name: &str, value: T) -> Result<(), StoreError> {
        self.group
            .new_attr::<T>()
            .create(name)
            .and_then(|a| a.write_scalar(&value))
            .map_err(self.err(name))
    }

    /// A dataset of the given shape (row-major, C order) from a flat slice.
    pub fn data<T: H5Type>(
        &self,
        name: &str,
        data: &[T],
        shape: &[usize],
    ) -> Result<(), StoreError> {
        debug_assert_eq!(data.len(), shape.iter().product::<usize>());
        let arr = ndarray::ArrayView::from_shape(shape.to_vec(), data).map_err(|e| {
            StoreError::BadString {
                path: self.path.to_path_buf(),
                object: name.to_string(),
                message: format!("shape {shape:?} does not fit {} values: {e}", data.len()),
            }
        })?;
        self.group
            .new_dataset_builder()
            .with_data(&arr)
            .create(name)
            .map(|_| ())
            .map_err(self.err(name))
    }

    /// A 1-D dataset.
    pub fn vec<T: H5Type>(&self, name: &str, data: &[T]) -> Result<(), StoreError> {
        self.data(name, data, &[data.len()])
    }

    /// A 1-D dataset of variable-length UTF-8 strings.
    pub fn strings<S: AsRef<str>>(&self, name: &str, data: &[S]) -> Result<(), StoreError> {
        let v = data
            .iter()
            .map(|s| self.vlu(name, s.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        self.vec(name, &v)
    }
}

/// An owned group handle (see [`Out::group`]).
pub struct OwnedOut {
    path: PathBuf,
    group: Group,
}

impl OwnedOut {
    /// Borrow as [`Out`].
    pub fn out(&self) -> Out<'_> {
        Out {
            path: &self.path,
            group: &self.group,
        }
    }
}

impl<'a> Out<'a> {
    /// Copies every attribute and member of `src` (recursively) into this group, except the
    /// members and attributes whose name `skip` accepts (called with the path relative to `src`,
    /// e.g. `hyper` or `cv/predictions`). Datasets of f64, f32, u8, u32, u64, i64 and
    /// variable-length UTF-8 strings are copied with their shape; other types are reported as
    /// [`StoreError::BadString`] naming the object.
    pub fn copy_from(&self, src: &Group, skip: &dyn Fn(&str) -> bool) -> Result<(), StoreError> {
        self.copy_rel(src, "", skip)
    }

    fn copy_rel(
        &self,
        src: &Group,
        rel: &str,
        skip: &dyn Fn(&str) -> bool,
    ) -> Result<(), StoreError> {
        let join = |name: &str| {
            if rel.is_empty() {
                name.to_string()
            } else {
                format!("{rel}/{name}")
            }
        };
        let src_err = |object: String| {
            let path = PathBuf::from(src.filename());
            move |source| StoreError::Hdf5 {
                path,
                object,
                source,
            }
        };
        let attr_names = src.attr_names().map_err(src_err(src.name()))?;
        for name in attr_names {
            if skip(&join(&name)) {
                continue;
            }
            let a = src
                .attr(&name)
                .map_err(src_err(format!("{}@{name}", src.name())))?;
            self.copy_attr(&a, &name)?;
        }
        let members = src.member_names().map_err(src_err(src.name()))?;
        for name in members {
            let rel_name = join(&name);
            if skip(&rel_name) {
                continue;
            }
            if let Ok(ds) = src.dataset(&name) {
                self.copy_dataset(&ds, &name)?;
            } else if let Ok(g) = src.group(&name) {
                let sub = self.group(&name)?;
                sub.out().copy_rel(&g, &rel_name, skip)?;
            }
        }
        Ok(())
    }

    fn copy_attr(&self, a: &hdf5::Attribute, name: &str) -> Result<(), StoreError> {
        use hdf5::types::{FloatSize, IntSize, TypeDescriptor as T};
        let bad = |what: String| StoreError::BadString {
            path: self.path.to_path_buf(),
            object: name.to_string(),
            message: what,
        };
        let read_err = |source| StoreError::Hdf5 {
            path: PathBuf::from(a.filename()),
            object: a.name(),
            source,
        };
        if !a.is_scalar() {
            return Err(bad(format!(
                "attribute shape {:?} is not scalar",
                a.shape()
            )));
        }
        let td = a
            .dtype()
            .and_then(|t| t.to_descriptor())
            .map_err(read_err)?;
        match td {
            T::VarLenUnicode => {
                let v = a.read_scalar::<VarLenUnicode>().map_err(read_err)?;
                self.attr_str(name, v.as_str())
            }
            T::Float(FloatSize::U8) => self.attr(name, a.read_scalar::<f64>().map_err(read_err)?),
            T::Float(FloatSize::U4) => self.attr(name, a.read_scalar::<f32>().map_err(read_err)?),
            T::Unsigned(IntSize::U1) => self.attr(name, a.read_scalar::<u8>().map_err(read_err)?),
            T::Unsigned(IntSize::U4) => self.attr(name, a.read_scalar::<u32>().map_err(read_err)?),
            T::Unsigned(IntSize::U8) => self.attr(name, a.read_scalar::<u64>().map_err(read_err)?),
            T::Integer(IntSize::U8) => self.attr(name, a.read_scalar::<i64>().map_err(read_err)?),
            other => Err(bad(format!("attribute type {other} cannot be copied"))),
        }
    }

    fn copy_dataset(&self, ds: &hdf5::Dataset, name: &str) -> Result<(), StoreError> {
        use hdf5::types::{FloatSize, IntSize, TypeDescriptor as T};
        let read_err = |source| StoreError::Hdf5 {
            path: PathBuf::from(ds.filename()),
            object: ds.name(),
            source,
        };
        let shape = ds.shape();
        let td = ds
            .dtype()
            .and_then(|t| t.to_descriptor())
            .map_err(read_err)?;
        match td {
            T::VarLenUnicode => {
                let v = ds.read_raw::<VarLenUnicode>().map_err(read_err)?;
                self.data(name, &v, &shape)
            }
            T::Float(FloatSize::U8) => {
                self.data(name, &ds.read_raw::<f64>().map_err(read_err)?, &shape)
            }
            T::Float(FloatSize::U4) => {
                self.data(name, &ds.read_raw::<f32>().map_err(read_err)?, &shape)
            }
            T::Unsigned(IntSize::U1) => {
                self.data(name, &ds.read_raw::<u8>().map_err(read_err)?, &shape)
            }
            T::Unsigned(IntSize::U4) => {
                self.data(name, &ds.read_raw::<u32>().map_err(read_err)?, &shape)
            }
            T::Unsigned(IntSize::U8) => {
                self.data(name, &ds.read_raw::<u64>().map_err(read_err)?, &shape)
            }
            T::Integer(IntSize::U8) => {
                self.data(name, &ds.read_raw::<i64>().map_err(read_err)?, &shape)
            }
            other => Err(StoreError::BadString {
                path: self.path.to_path_buf(),
                object: name.to_string(),
                message: format!("dataset type {other} cannot be copied"),
            }),
        }
    }
}

/// Reads a numeric scalar attribute, if present and of a type convertible to `T`.
pub fn read_attr<T: H5Type>(loc: &Location, name: &str) -> Option<T> {
    loc.attr(name).and_then(|a| a.read_scalar::<T>()).ok()
}

/// Reads a string attribute, if present.
pub fn read_attr_str(loc: &Location, name: &str) -> Option<String> {
    loc.attr(name)
        .and_then(|a| a.read_scalar::<VarLenUnicode>())
        .ok()
        .map(|v| v.as_str().to_string())
}

/// Reads a 1-D string dataset.
pub fn read_strings(group: &Group, name: &str) -> hdf5::Result<Vec<String>> {
    Ok(group
        .dataset(name)?
        .read_raw::<VarLenUnicode>()?
        .into_iter()
        .map(|v| v.as_str().to_string())
        .collect())
}

/// A human-readable listing of an HDF5 file's groups, datasets (shape, type) and attributes,
/// down to `max_depth` levels below `start` (a group path such as `/` or `/genes/G1`).
pub fn describe_tree(path: &Path, start: &str, max_depth: usize) -> hdf5::Result<String> {
    let file = hdf5::File::open(path)?;
    let root = file.group(start)?;
    let mut out = String::new();
    let _ = writeln!(out, "{} {}", path.display(), start);
    describe_attrs(&root, 1, &mut out);
    describe_group(&root, 1, max_depth, &mut out)?;
    Ok(out)
}

fn describe_attrs(loc: &Location, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    for name in loc.attr_names().unwrap_or_default() {
        let Ok(a) = loc.attr(&name) else { continue };
        let value = if let Ok(s) = a.read_scalar::<VarLenUnicode>() {
            let s = s.as_str();
            let first = s.lines().next().unwrap_or("");
            if s.lines().count() > 1 {
                format!("\"{first} ...\" ({} lines)", s.lines().count())
            } else {
                format!("\"{first}\"")
            }
        } else if let Ok(v) = a.read_scalar::<f64>() {
            format!("{v}")
        } else if let Ok(v) = a.read_scalar::<u64>() {
            format!("{v}")
        } else if let Ok(v) = a.read_scalar::<i64>() {
            format!("{v}")
        } else {
            format!("{:?}", a.shape())
        };
        let _ = writeln!(out, "{pad}@{name} = {value}");
    }
}

fn describe_group(g: &Group, depth: usize, max_depth: usize, out: &mut String) -> hdf5::Result<()> {
    let pad = "  ".repeat(depth);
    let names = g.member_names()?;
    let groups: Vec<&String> = names.iter().filter(|n| g.group(n).is_ok()).collect();
    if depth > max_depth {
        if !names.is_empty() {
            let _ = writeln!(out, "{pad}... {} members", names.len());
        }
        return Ok(());
    }
    const SHOW: usize = 12;
    let mut shown_groups = 0;
    for name in &names {
        if let Ok(ds) = g.dataset(name) {
            let dtype = ds
                .dtype()
                .and_then(|t| t.to_descriptor())
                .map(|d| d.to_string())
                .unwrap_or_else(|_| "?".into());
            let _ = writeln!(out, "{pad}{name}  {:?} {dtype}", ds.shape());
            describe_attrs(&ds, depth + 1, out);
        } else if let Ok(sub) = g.group(name) {
            shown_groups += 1;
            if shown_groups > SHOW {
                continue;
            }
            let _ = writeln!(out, "{pad}{name}/");
            describe_attrs(&sub, depth + 1, out);
            describe_group(&sub, depth + 1, max_depth, out)?;
        }
    }
    if groups.len() > SHOW {
        let _ = writeln!(
            out,
            "{pad}... and {} more groups (use --path to look inside one)",
            groups.len() - SHOW
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_then_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/x.h5");
        let w = H5Writer::create(&path).unwrap();
        assert!(!path.exists(), "final name must not exist before finish");
        w.out().attr_str("gene_id", "G1").unwrap();
        w.out().attr("n", 5u64).unwrap();
        let g = w.out().group("snps").unwrap();
        g.out().vec("pos", &[10u64, 20, 30]).unwrap();
        g.out().strings("id", &["rs1", "rs2", "rs3"]).unwrap();
        g.out()
            .data("m", &[1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0], &[2, 3])
            .unwrap();
        assert!(!is_complete(&path));
        w.finish().unwrap();
        assert!(is_complete(&path));
        assert!(!tmp_name(&path).exists());

        let f = hdf5::File::open(&path).unwrap();
        assert_eq!(read_attr_str(&f, "gene_id").as_deref(), Some("G1"));
        assert_eq!(f.attr("n").unwrap().read_scalar::<u64>().unwrap(), 5);
        let snps = f.group("snps").unwrap();
        assert_eq!(read_strings(&snps, "id").unwrap(), ["rs1", "rs2", "rs3"]);
        let m = snps.dataset("m").unwrap().read_2d::<f64>().unwrap();
        assert_eq!(m[[1, 0]], 4.0);
        let text = describe_tree(&path, "/", 3).unwrap();
        let copy = dir.path().join("copy.h5");
        let w2 = H5Writer::create(&copy).unwrap();
        w2.out()
            .copy_from(&f, &|rel| rel == "snps/m" || rel == "complete")
            .unwrap();
        w2.finish().unwrap();
        let c = hdf5::File::open(&copy).unwrap();
        assert_eq!(read_attr_str(&c, "gene_id").as_deref(), Some("G1"));
        assert_eq!(read_attr::<u64>(&c, "n"), Some(5));
        let cs = c.group("snps").unwrap();
        assert_eq!(read_strings(&cs, "id").unwrap(), ["rs1", "rs2", "rs3"]);
        assert_eq!(
            cs.dataset("pos").unwrap().read_raw::<u64>().unwrap(),
            [10, 20, 30]
        );
        assert!(
            cs.dataset("m").is_err(),
            "skipped member must not be copied"
        );
        assert!(text.contains("pos  [3] uint64"), "{text}");
        assert!(text.contains("@gene_id = \"G1\""), "{text}");
    }

    #[test]
    fn unfinished_file_is_not_complete() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("y.h5");
        let w = H5Writer::create(&path).unwrap();
        w.out().attr_str("gene_id", "G1").unwrap();
        let tmp = tmp_name(&path);
        drop(w);
        assert!(
            !is_complete(&tmp),
            "a file without the completion mark is incomplete"
        );
        assert!(!is_complete(&path));
    }
}
