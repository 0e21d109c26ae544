//! The distributed driver end to end: the same genes fitted as one task, as 7 `--task` slices,
//! as Slurm array tasks (from SLURM_ARRAY_TASK_ID / _MIN), with 1 and 2 threads, and under
//! `mpirun -np 1/2/3` (dynamic queue and static split) give per-gene outputs identical to the
//! byte; a fit killed with SIGKILL and rerun gives the uninterrupted outputs, and no
//! half-written file ever counts as done; `plan` sizes arrays.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::{require, small_cohort, text, write_pipeline};

/// Short schedules: one gated sampler, ridge and the elastic net (with inner CV).
pub const METHODS: &str = "cv:
  folds: 3
methods:
  - {model: bsbslmm, chains: 2, burnin: 20, samples: 40}
  - {model: ridge}
  - {model: enet, inner_folds: 3}
";

/// Genes in the small cohort (2 chromosomes x 6) and methods above.
pub const GENES: usize = 12;
pub const N_METHODS: usize = 3;

/// Attributes allowed to differ between two runs of the same fit: timing only.
pub const EXEMPT_ATTRS: [&str; 1] = ["wall_time_s"];

/// Walks two trees of per-gene outputs (`<root>/<method>/<chrom>/<gene>.h5`): the same files,
/// the same groups, every dataset and every attribute identical to the byte (numbers by their
/// bytes, strings by value), except the attributes in argv[3] (comma-separated).
const COMPARE: &str = r#"
import h5py, numpy as np, sys, os, glob
a, b, exempt = sys.argv[1], sys.argv[2], set(sys.argv[3].split(","))
fa = sorted(os.path.relpath(f, a) for f in glob.glob(a + "/*/*/*.h5"))
fb = sorted(os.path.relpath(f, b) for f in glob.glob(b + "/*/*/*.h5"))
assert fa == fb and len(fa) > 0, ("different files", fa, fb)
stats = {"datasets": 0, "attributes": 0}
def same(u, v):
    u, v = np.asarray(u), np.asarray(v)
    if u.dtype.kind == "O" or v.dtype.kind == "O":
        return u.shape == v.shape and list(u.ravel()) == list(v.ravel())
    return u.dtype == v.dtype and u.shape == v.shape and u.tobytes() == v.tobytes()
def walk(g, h, rel, path):
    assert sorted(g.attrs.keys()) == sorted(h.attrs.keys()), (rel, path, "attribute names")
    for k in g.attrs:
        if k in exempt:
            continue
        assert same(g.attrs[k], h.attrs[k]), (rel, path, k)
        stats["attributes"] += 1
    assert sorted(g.keys()) == sorted(h.keys()), (rel, path, "members")
    for k in g:
        if isinstance(g[k], h5py.Group):
            walk(g[k], h[k], rel, path + "/" + k)
        else:
            assert same(g[k][()], h[k][()]), (rel, path + "/" + k)
            walk_attrs = g[k].attrs
            assert sorted(walk_attrs.keys()) == sorted(h[k].attrs.keys()), (rel, path + "/" + k)
            for an in walk_attrs:
                assert same(walk_attrs[an], h[k].attrs[an]), (rel, path + "/" + k, an)
            stats["datasets"] += 1
for rel in fa:
    walk(h5py.File(os.path.join(a, rel)), h5py.File(os.path.join(b, rel)), rel, "")
print("identical:", len(fa), "files,", stats["datasets"], "datasets,", stats["attributes"], "attributes")
"#;

/// Asserts two fit trees are identical (see [`COMPARE`]); returns the number of files.
pub fn assert_same_fits(a: &Path, b: &Path) -> usize {
    let out = Command::new("python3")
        .arg("-c")
        .arg(COMPARE)
        .arg(a)
        .arg(b)
        .arg(EXEMPT_ATTRS.join(","))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} and {} differ:\n{}",
        a.display(),
        b.display(),
        text(&out)
    );
    let s = String::from_utf8_lossy(&out.stdout);
    s.split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("comparator output")
}

/// Number of complete (`complete = "yes"`) and other `.h5` files under a fit tree, checked with
/// h5py (independently of bsbslmm's own `is_complete`).
pub fn count_complete(fit: &Path) -> (usize, usize) {
    let script = r#"
import h5py, glob, sys
ok = bad = 0
for f in glob.glob(sys.argv[1] + "/*/*/*.h5"):
    try:
        c = h5py.File(f).attrs.get("complete")
        ok += (c == "yes" or c == b"yes")
        bad += not (c == "yes" or c == b"yes")
    except OSError:
        bad += 1
print(ok, bad)
"#;
    let out = Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(fit)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let s = String::from_utf8_lossy(&out.stdout);
    let v: Vec<usize> = s.split_whitespace().map(|x| x.parse().unwrap()).collect();
    (v[0], v[1])
}

/// A directory with a pipeline over the small cohort (both chromosomes) and its prepare cache.
pub fn prepared(dir: &Path) -> PathBuf {
    let cohort = small_cohort();
    let p = write_pipeline(dir, &cohort.to_string_lossy(), "chr1, chr2", METHODS);
    let out = run(
        dir,
        &["run", p.to_str().unwrap(), "--stage", "prepare"],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    p
}

/// Runs the binary in `dir` with extra environment variables.
pub fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(crate::common::bin());
    c.args(args).current_dir(dir).env("RUST_LOG", "info");
    for v in [
        "SLURM_ARRAY_TASK_ID",
        "SLURM_ARRAY_TASK_MIN",
        "SLURM_ARRAY_TASK_MAX",
        "SLURM_CPUS_PER_TASK",
    ] {
        c.env_remove(v);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("cannot start bsbslmm")
}

/// Moves `dir/results/fit` to `dir/<name>` (so every variant writes to the same output path and
/// the stored config is the same).
fn stash(dir: &Path, name: &str) -> PathBuf {
    let to = dir.join(name);
    std::fs::rename(dir.join("results/fit"), &to).unwrap();
    to
}

/// A `fit` run that must succeed; returns its log.
fn fit_ok(dir: &Path, p: &Path, extra: &[&str], env: &[(&str, &str)]) -> String {
    let mut args = vec!["run", p.to_str().unwrap(), "--stage", "fit"];
    args.extend_from_slice(extra);
    let out = run(dir, &args, env);
    assert!(out.status.success(), "{extra:?} {env:?}:\n{}", text(&out));
    text(&out)
}

/// Genes this task ran, from its log line "this task ran N of M genes".
fn ran(log: &str) -> Vec<usize> {
    log.lines()
        .filter_map(|l| l.split("this task ran ").nth(1))
        .map(|r| r.split_whitespace().next().unwrap().parse().unwrap())
        .collect()
}

#[test]
fn dist_array_slices_and_threads_match_one_task() {
    require("python3");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = prepared(d);

    let log = fit_ok(d, &p, &["--threads", "1"], &[]);
    assert!(log.contains("one process"), "{log}");
    assert!(log.contains(&format!("{} done, 0 skipped", GENES * N_METHODS)));
    let one = stash(d, "fit_one_task");

    // 7 slices of the global order: together every gene exactly once.
    let mut per_task = Vec::new();
    for k in 1..=7 {
        let log = fit_ok(d, &p, &["--threads", "1", "--task", &format!("{k}/7")], &[]);
        assert!(
            log.contains(", 0 skipped"),
            "task {k} refitted or skipped: {log}"
        );
        per_task.extend(ran(&log));
    }
    // 12 genes in 7 blocks at floor(k * 12 / 7): 1, 2, 2, 1, 2, 2, 2.
    assert_eq!(per_task, vec![1, 2, 2, 1, 2, 2, 2]);
    let seven = stash(d, "fit_seven_tasks");
    assert_eq!(assert_same_fits(&one, &seven), GENES * N_METHODS);

    // Slurm array tasks 1..=4 with 5 genes per task (ids offset by SLURM_ARRAY_TASK_MIN = 1):
    // 5 + 5 + 2 genes, and a fourth task past the last gene that runs nothing.
    let mut per_task = Vec::new();
    for k in 1..=4 {
        let id = k.to_string();
        let log = fit_ok(
            d,
            &p,
            &["--genes-per-task", "5"],
            &[
                ("SLURM_ARRAY_TASK_ID", &id),
                ("SLURM_ARRAY_TASK_MIN", "1"),
                ("SLURM_CPUS_PER_TASK", "2"),
            ],
        );
        assert!(log.contains("2 thread(s)"), "{log}");
        per_task.extend(ran(&log));
    }
    assert_eq!(per_task, vec![5, 5, 2, 0]);
    // The last task of an array sized too small (2 tasks for 12 genes) says which genes no task
    // runs.
    let log = fit_ok(
        d,
        &p,
        &["--genes-per-task", "5"],
        &[
            ("SLURM_ARRAY_TASK_ID", "2"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_MAX", "2"),
        ],
    );
    assert!(
        log.contains("items 11..12 of 12 are beyond the last task of this array"),
        "{log}"
    );
    let slurm = stash(d, "fit_slurm_env");
    assert_same_fits(&one, &slurm);

    // 2 threads in one task.
    fit_ok(d, &p, &["--threads", "2"], &[]);
    let two = stash(d, "fit_two_threads");
    assert_same_fits(&one, &two);
}

#[cfg(feature = "mpi")]
#[test]
fn dist_mpi_dynamic_and_static_match_one_process() {
    require("python3");
    require("mpirun");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = prepared(d);
    // The MPI build without a launcher runs as one process.
    let log = fit_ok(d, &p, &["--threads", "1"], &[]);
    assert!(log.contains("one process"), "{log}");
    let one = stash(d, "fit_plain");
    for (np, static_split) in [(1, false), (2, false), (3, false), (2, true), (3, true)] {
        let mut args: Vec<String> = [
            "--allow-run-as-root",
            "--oversubscribe",
            "-np",
            &np.to_string(),
            crate::common::bin(),
            "run",
            p.to_str().unwrap(),
            "--stage",
            "fit",
            "--threads",
            "1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if static_split {
            args.push("--mpi-static".into());
        }
        let out = Command::new("mpirun")
            .args(&args)
            .current_dir(d)
            .env("RUST_LOG", "info")
            .output()
            .unwrap();
        let log = text(&out);
        assert!(
            out.status.success(),
            "np {np} static {static_split}:\n{log}"
        );
        let how = if static_split { "static" } else { "dynamic" };
        assert!(
            log.contains(&format!("balance ({how}, {np} ranks)")),
            "not {np} MPI ranks ({how}):\n{log}"
        );
        // Every rank reports the genes it ran; together each gene once.
        let items: usize = log
            .lines()
            .filter(|l| l.contains("fit: rank "))
            .map(|l| {
                l.split(": ")
                    .nth(2)
                    .unwrap()
                    .split_whitespace()
                    .next()
                    .unwrap()
                    .parse::<usize>()
                    .unwrap()
            })
            .sum();
        assert_eq!(items, GENES, "{log}");
        // Rank 0 alone reports the totals.
        assert_eq!(log.matches("task summary:").count(), 1, "{log}");
        assert!(
            log.contains(&format!("{} done, 0 skipped", GENES * N_METHODS)),
            "{log}"
        );
        let name = format!("fit_np{np}_{how}");
        let got = stash(d, &name);
        assert_eq!(assert_same_fits(&one, &got), GENES * N_METHODS, "{name}");
    }
}

#[test]
fn dist_kill_9_then_rerun_matches_uninterrupted() {
    require("python3");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let p = prepared(d);
    fit_ok(d, &p, &["--threads", "1"], &[]);
    let whole = stash(d, "fit_uninterrupted");

    // Start a fit, SIGKILL it once a few outputs are complete.
    let fit_dir = d.join("results/fit");
    let mut child = Command::new(crate::common::bin())
        .args([
            "run",
            p.to_str().unwrap(),
            "--stage",
            "fit",
            "--threads",
            "1",
        ])
        .current_dir(d)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut complete_at_kill = 0;
    for _ in 0..6000 {
        let n = walk_h5(&fit_dir)
            .iter()
            .filter(|f| f.extension().is_some_and(|e| e == "h5"))
            .count();
        if n >= 4 {
            complete_at_kill = n;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let kill = Command::new("kill")
        .args(["-9", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = child.wait().unwrap();
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(9),
        "the fit finished before it could be killed ({complete_at_kill} files)"
    );
    let (done, _) = count_complete(&fit_dir);
    assert!(
        (4..GENES * N_METHODS).contains(&done),
        "killed mid-way: {done} complete outputs"
    );

    // Plant what a crash could leave: a truncated copy of a complete output under another gene's
    // final name, a stale temporary file, and an HDF5 file without the `complete` mark.
    let files = walk_h5(&fit_dir);
    let h5: Vec<&PathBuf> = files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "h5"))
        .collect();
    let donor = std::fs::read(h5[0]).unwrap();
    let all_genes = gene_names(&whole.join("bsbslmm/chr2"));
    let missing: Vec<&String> = all_genes
        .iter()
        .filter(|g| !fit_dir.join(format!("bsbslmm/chr2/{g}.h5")).exists())
        .collect();
    assert!(
        missing.len() >= 2,
        "need two unfitted chr2 genes: {missing:?}"
    );
    let chr2 = fit_dir.join("bsbslmm/chr2");
    std::fs::create_dir_all(&chr2).unwrap();
    let truncated = chr2.join(format!("{}.h5", missing[0]));
    std::fs::write(&truncated, &donor[..donor.len() / 2]).unwrap();
    let stale = chr2.join(format!("{}.h5.999999.tmp", missing[1]));
    std::fs::write(&stale, &donor).unwrap();
    let py = Command::new("python3")
        .arg("-c")
        .arg("import h5py, sys; f = h5py.File(sys.argv[1], 'w'); f.attrs['kind'] = 'gene_fit'")
        .arg(chr2.join(format!("{}.h5.unmarked", missing[1])))
        .status()
        .unwrap();
    assert!(py.success());
    std::fs::rename(
        chr2.join(format!("{}.h5.unmarked", missing[1])),
        chr2.join(format!("{}.h5", missing[1])),
    )
    .unwrap();

    // status counts only complete outputs as done.
    let (done, not_done) = count_complete(&fit_dir);
    assert!(not_done >= 2);
    let st = text(&run(d, &["status", p.to_str().unwrap()], &[]));
    let fitted: usize = st
        .lines()
        .filter(|l| l.starts_with("fit:"))
        .filter_map(|l| l.split_whitespace().nth(3))
        .filter_map(|x| x.split('/').next()?.parse::<usize>().ok())
        .sum();
    assert_eq!(fitted, done, "{st}");

    // The rerun fits exactly the rest, removes the stale temporary file, and matches.
    let log = fit_ok(d, &p, &["--threads", "2"], &[]);
    assert!(
        log.contains(&format!(
            "{} done, {done} skipped",
            GENES * N_METHODS - done
        )),
        "{log}"
    );
    assert!(!stale.exists(), "stale temporary file left behind");
    assert!(
        walk_h5(&fit_dir)
            .iter()
            .all(|f| !f.to_string_lossy().ends_with(".tmp")),
        "temporary files left"
    );
    let rerun = stash(d, "fit_rerun");
    assert_eq!(assert_same_fits(&whole, &rerun), GENES * N_METHODS);
}

fn walk_h5(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk_h5(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn gene_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_suffix(".h5")
                .map(str::to_string)
        })
        .collect();
    v.sort();
    v
}

#[test]
fn dist_plan_sizes_arrays_and_array_tasks_run_fit_only() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let cohort = small_cohort();
    let p = write_pipeline(d, &cohort.to_string_lossy(), "chr1, chr2", METHODS);
    // Before prepare: genes of the expression file on chr1 (counted here with zcat).
    let zcat = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "zcat {}/expression/expression.bed.gz | awk '$1 == \"chr1\"' | wc -l",
            cohort.display()
        ))
        .output()
        .unwrap();
    let in_file: usize = String::from_utf8_lossy(&zcat.stdout)
        .trim()
        .parse()
        .unwrap();
    assert_eq!(in_file, 6);
    let plan = |extra: &[&str]| {
        let mut args = vec!["plan", p.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = run(d, &args, &[]);
        assert!(out.status.success(), "{}", text(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(plan(&["--chrom", "chr1", "--genes-per-task", "4"]), "2");
    assert_eq!(plan(&["--genes-per-task", "5"]), "3");
    assert_eq!(plan(&["--chrom", "chr1", "--genes-per-task", "100"]), "1");
    // An array task refuses to run stages other than fit (they would race between tasks).
    let out = run(d, &["run", p.to_str().unwrap(), "--task", "1/2"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("add `--stage fit`"), "{}", text(&out));
    let out = run(
        d,
        &["run", p.to_str().unwrap(), "--stage", "prepare"],
        &[("SLURM_ARRAY_TASK_ID", "1")],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let out = run(d, &["run", p.to_str().unwrap(), "--task", "3/2"], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("expected K/N"), "{}", text(&out));
}
