//! Which work items a task runs. Every mode slices the same global order (chromosome order of
//! the pipeline file, then TSS, then gene id): a Slurm array task takes a contiguous block, a
//! static MPI rank takes every `size`-th item, and the dynamic MPI queue hands items out
//! largest-first. Pure functions over indices; nothing here knows about genes or files.

use std::ops::Range;

use thiserror::Error;

/// Errors in a task specification (command line or Slurm environment).
#[derive(Debug, Error, PartialEq)]
pub enum PartitionError {
    #[error("--task `{0}`: expected K/N with 1 <= K <= N (e.g. --task 3/7)")]
    BadTask(String),
    #[error("{var}=`{value}`: expected a non-negative integer")]
    BadEnv { var: String, value: String },
    #[error(
        "SLURM_ARRAY_TASK_ID={id} is below SLURM_ARRAY_TASK_MIN={min}: not a task of this array"
    )]
    BelowMin { id: usize, min: usize },
}

/// One item with its place in the global order.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderKey<'a> {
    /// Index of the chromosome in the pipeline file.
    pub chrom_rank: usize,
    pub tss: u64,
    pub id: &'a str,
}

/// The permutation that puts `keys` in the global order (chromosome, TSS, id).
pub fn global_order(keys: &[OrderKey<'_>]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..keys.len()).collect();
    idx.sort_by(|&a, &b| {
        let (x, y) = (&keys[a], &keys[b]);
        (x.chrom_rank, x.tss, x.id).cmp(&(y.chrom_rank, y.tss, y.id))
    });
    idx
}

/// How an array task picks its slice of the global order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArraySlice {
    /// Task `k` (0-based) of an array with `genes_per_task` items per task; `last` when it is
    /// the array's highest task (`SLURM_ARRAY_TASK_ID == SLURM_ARRAY_TASK_MAX`).
    PerTask {
        k: usize,
        genes_per_task: usize,
        last: bool,
    },
    /// Task `k` (1-based) of `n` near-equal contiguous blocks (`--task K/N`).
    OfN { k: usize, n: usize },
}

impl ArraySlice {
    /// Parses `--task K/N` (1-based K).
    pub fn parse_task(s: &str) -> Result<Self, PartitionError> {
        let bad = || PartitionError::BadTask(s.to_string());
        let (k, n) = s.split_once('/').ok_or_else(bad)?;
        let k: usize = k.trim().parse().map_err(|_| bad())?;
        let n: usize = n.trim().parse().map_err(|_| bad())?;
        if k == 0 || n == 0 || k > n {
            return Err(bad());
        }
        Ok(ArraySlice::OfN { k, n })
    }

    /// The slice of a Slurm array task from `SLURM_ARRAY_TASK_ID` and `SLURM_ARRAY_TASK_MIN`
    /// (default 0), read through `var`; `None` outside an array job.
    pub fn from_slurm(
        var: impl Fn(&str) -> Option<String>,
        genes_per_task: usize,
    ) -> Result<Option<Self>, PartitionError> {
        let num = |name: &str| -> Result<Option<usize>, PartitionError> {
            match var(name) {
                None => Ok(None),
                Some(v) => v
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| PartitionError::BadEnv {
                        var: name.to_string(),
                        value: v,
                    }),
            }
        };
        let Some(id) = num("SLURM_ARRAY_TASK_ID")? else {
            return Ok(None);
        };
        let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
        if id < min {
            return Err(PartitionError::BelowMin { id, min });
        }
        let max = num("SLURM_ARRAY_TASK_MAX")?;
        Ok(Some(ArraySlice::PerTask {
            k: id - min,
            genes_per_task: genes_per_task.max(1),
            last: max == Some(id),
        }))
    }

    /// The positions (in the global order of `len` items) this task runs.
    pub fn range(&self, len: usize) -> Range<usize> {
        match *self {
            ArraySlice::PerTask {
                k, genes_per_task, ..
            } => {
                let start = k.saturating_mul(genes_per_task).min(len);
                start..start.saturating_add(genes_per_task).min(len)
            }
            ArraySlice::OfN { k, n } => (k - 1) * len / n..k * len / n,
        }
    }

    /// Positions no task of the array reaches (an array sized too small), seen from its last
    /// task; empty for every other task.
    pub fn uncovered(&self, len: usize) -> Range<usize> {
        match *self {
            ArraySlice::PerTask { last: true, .. } => self.range(len).end..len,
            _ => len..len,
        }
    }
}

/// Number of array tasks needed for `len` items at `genes_per_task` each (at least 1).
pub fn n_tasks(len: usize, genes_per_task: usize) -> usize {
    len.div_ceil(genes_per_task.max(1)).max(1)
}

/// Positions (in the global order) a static MPI rank runs: every `size`-th, starting at `rank`.
pub fn strided(len: usize, rank: usize, size: usize) -> Vec<usize> {
    (rank..len).step_by(size.max(1)).collect()
}

/// The dynamic queue's order: positions sorted by decreasing cost, ties by position.
pub fn largest_first(costs: &[f64]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..costs.len()).collect();
    idx.sort_by(|&a, &b| costs[b].total_cmp(&costs[a]).then(a.cmp(&b)));
    idx
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let v: Vec<(String, String)> = pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        move |k| v.iter().find(|(a, _)| a == k).map(|(_, b)| b.clone())
    }

    #[test]
    fn global_order_is_chrom_then_tss_then_id() {
        let keys = [
            OrderKey {
                chrom_rank: 1,
                tss: 5,
                id: "a",
            },
            OrderKey {
                chrom_rank: 0,
                tss: 900,
                id: "b",
            },
            OrderKey {
                chrom_rank: 0,
                tss: 100,
                id: "z",
            },
            OrderKey {
                chrom_rank: 0,
                tss: 100,
                id: "c",
            },
        ];
        assert_eq!(global_order(&keys), vec![3, 2, 1, 0]);
    }

    #[test]
    fn of_n_blocks_cover_everything_once() {
        for len in [0, 1, 6, 7, 13, 100] {
            for n in 1..=9 {
                let mut seen = Vec::new();
                for k in 1..=n {
                    seen.extend(ArraySlice::OfN { k, n }.range(len));
                }
                assert_eq!(seen, (0..len).collect::<Vec<_>>(), "len {len} n {n}");
            }
        }
        // 13 items in 7 tasks: sizes 1,2,2,2,2,2,2 (floor boundaries).
        let sizes: Vec<usize> = (1..=7)
            .map(|k| ArraySlice::OfN { k, n: 7 }.range(13).len())
            .collect();
        assert_eq!(sizes, vec![1, 2, 2, 2, 2, 2, 2]);
    }

    #[test]
    fn per_task_slices_and_task_count() {
        let s = |k| ArraySlice::PerTask {
            k,
            genes_per_task: 4,
            last: k == 1,
        };
        assert_eq!(s(0).range(10), 0..4);
        assert_eq!(s(2).range(10), 8..10);
        assert_eq!(s(3).range(10), 10..10);
        assert_eq!(n_tasks(10, 4), 3);
        assert_eq!(n_tasks(8, 4), 2);
        assert_eq!(n_tasks(0, 4), 1);
        assert_eq!(s(1).uncovered(10), 8..10);
        assert_eq!(s(0).uncovered(10), 10..10);
    }

    #[test]
    fn slurm_ids_are_offset_by_the_array_minimum() {
        let e = env(&[
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_MAX", "3"),
        ]);
        assert_eq!(
            ArraySlice::from_slurm(e, 10),
            Ok(Some(ArraySlice::PerTask {
                k: 2,
                genes_per_task: 10,
                last: true
            }))
        );
        let e = env(&[("SLURM_ARRAY_TASK_ID", "0")]);
        assert_eq!(
            ArraySlice::from_slurm(e, 5).unwrap(),
            Some(ArraySlice::PerTask {
                k: 0,
                genes_per_task: 5,
                last: false
            })
        );
        assert_eq!(ArraySlice::from_slurm(env(&[]), 5), Ok(None));
        let e = env(&[("SLURM_ARRAY_TASK_ID", "x")]);
        assert!(matches!(
            ArraySlice::from_slurm(e, 5),
            Err(PartitionError::BadEnv { .. })
        ));
        let e = env(&[("SLURM_ARRAY_TASK_ID", "0"), ("SLURM_ARRAY_TASK_MIN", "1")]);
        assert_eq!(
            ArraySlice::from_slurm(e, 5),
            Err(PartitionError::BelowMin { id: 0, min: 1 })
        );
    }

    #[test]
    fn task_flag_parsing() {
        assert_eq!(
            ArraySlice::parse_task("3/7"),
            Ok(ArraySlice::OfN { k: 3, n: 7 })
        );
        for bad in ["0/7", "8/7", "3", "a/b", "3/0", ""] {
            assert!(ArraySlice::parse_task(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn strided_and_largest_first() {
        assert_eq!(strided(7, 1, 3), vec![1, 4]);
        assert_eq!(strided(2, 2, 3), Vec::<usize>::new());
        assert_eq!(largest_first(&[1.0, 5.0, 5.0, 0.5]), vec![1, 2, 0, 3]);
    }
}
