//! A real Slurm cluster on localhost (munged + slurmctld + slurmd, started as in RECIPES.md and
//! stopped by PID even when the test panics) runs `job/submit.sh` for the small cohort:
//! prepare -> fit array -> finalize per chromosome run in dependency order, every gene is
//! complete and equal to a run without Slurm, and so is `--mode mpi` (mpirun inside the job, MPI
//! build). Then a planted bad gene: the other genes complete,
//! `.failed` holds the reason, `status` reports it, the array task exits 3 and the chromosome's
//! finalize (afterok) never starts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::common::{copy_cohort, require, text, write_pipeline};
use crate::dist::{assert_same_fits, count_complete, run, GENES, METHODS, N_METHODS};

const START: &str = r#"
set -eu
D=$1; H=$(hostname -s); mkdir -p $D/state $D/spool $D/log
cat > $D/slurm.conf <<EOF
ClusterName=local
SlurmctldHost=${H}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
StateSaveLocation=$D/state
SlurmdSpoolDir=$D/spool
SlurmctldPidFile=$D/slurmctld.pid
SlurmdPidFile=$D/slurmd.pid
SlurmctldLogFile=$D/log/slurmctld.log
SlurmdLogFile=$D/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=pmix
ReturnToService=2
MailProg=/bin/true
MinJobAge=300
KillWait=5
NodeName=${H} NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=16000 State=UNKNOWN
PartitionName=debug Nodes=${H} Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$D/slurm.conf
install -d -o munge -g munge -m 755 /run/munge
if ! munge -n >/dev/null 2>&1; then
  setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F >$D/log/munged.out 2>&1 & echo $! >$D/munged.mypid
  for i in $(seq 50); do munge -n >/dev/null 2>&1 && break; sleep 0.1; done
fi
slurmctld -D -c -f $SLURM_CONF >$D/log/slurmctld.out 2>&1 & echo $! >$D/slurmctld.mypid
slurmd -D -f $SLURM_CONF >$D/log/slurmd.out 2>&1 & echo $! >$D/slurmd.mypid
for i in $(seq 150); do [ "$(sinfo -h -o %T 2>/dev/null)" = idle ] && exit 0; sleep 0.2; done
echo "slurm did not come up" >&2; exit 1
"#;

/// The local cluster; dropping it stops the daemons this test started, each by its PID.
struct Cluster {
    dir: tempfile::TempDir,
}

impl Cluster {
    fn start() -> Cluster {
        for t in [
            "munged",
            "slurmctld",
            "slurmd",
            "sbatch",
            "scontrol",
            "squeue",
        ] {
            require(t);
        }
        let dir = tempfile::tempdir().unwrap();
        let c = Cluster { dir };
        let out = Command::new("bash")
            .arg("-c")
            .arg(START)
            .arg("start")
            .arg(c.dir.path())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}\n{}", text(&out), c.logs());
        c
    }

    fn conf(&self) -> PathBuf {
        self.dir.path().join("slurm.conf")
    }

    fn logs(&self) -> String {
        let mut s = String::new();
        for f in ["slurmctld.log", "slurmd.log", "slurmctld.out", "slurmd.out"] {
            let t =
                std::fs::read_to_string(self.dir.path().join("log").join(f)).unwrap_or_default();
            let tail: Vec<&str> = t.lines().rev().take(15).collect();
            s += &format!(
                "--- {f}\n{}\n",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        s
    }

    /// Runs a Slurm client command against this cluster.
    fn cmd(&self, prog: &str, args: &[&str]) -> String {
        let out = Command::new(prog)
            .args(args)
            .env("SLURM_CONF", self.conf())
            .output()
            .unwrap();
        assert!(out.status.success(), "{prog} {args:?}: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits until every job of ours has ended, except jobs held forever by an unsatisfiable
    /// dependency (returned).
    fn wait(&self, ids: &[String]) -> Vec<String> {
        let t = Instant::now();
        loop {
            let q = self.cmd("squeue", &["-h", "-o", "%i %T %r"]);
            let ours: Vec<&str> = q
                .lines()
                .filter(|l| {
                    let id = l.split_whitespace().next().unwrap_or("");
                    ids.iter()
                        .any(|x| id == x || id.starts_with(&format!("{x}_")))
                })
                .collect();
            if ours.iter().all(|l| l.ends_with("DependencyNeverSatisfied")) {
                return ours
                    .iter()
                    .map(|l| l.split_whitespace().next().unwrap().to_string())
                    .collect();
            }
            assert!(
                t.elapsed() < Duration::from_secs(900),
                "jobs still running after 15 min:\n{q}\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// `scontrol -o show job ID`: one map of fields per job (array tasks: one per task).
    fn jobs(&self, id: &str) -> Vec<BTreeMap<String, String>> {
        self.cmd("scontrol", &["-o", "show", "job", id])
            .lines()
            .map(|l| {
                l.split_whitespace()
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect()
            })
            .collect()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let mut pids = Vec::new();
        for name in ["slurmd", "slurmctld", "munged"] {
            let f = self.dir.path().join(format!("{name}.mypid"));
            if let Ok(pid) = std::fs::read_to_string(&f) {
                let pid = pid.trim().to_string();
                let _ = Command::new("kill").arg(&pid).status();
                pids.push(pid);
            }
        }
        for pid in pids {
            for _ in 0..100 {
                if !Path::new(&format!("/proc/{pid}")).exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

/// A working directory with a cohort copy, a pipeline and a cluster.env for the test cluster.
fn workdir(dir: &Path) -> (PathBuf, PathBuf) {
    let cohort = copy_cohort(dir);
    let p = write_pipeline(dir, &cohort.to_string_lossy(), "chr1, chr2", METHODS);
    let base = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/cluster.env"))
        .unwrap();
    let env = format!(
        "{base}\n# test overrides\nBSBSLMM_BIN={}\nBSBSLMM_PIPELINE={}\nBSBSLMM_LOG_DIR={}\n\
         BSBSLMM_GENES_PER_TASK=2\nBSBSLMM_PREPARE_CPUS=1\nBSBSLMM_PREPARE_MEM=500M\n\
         BSBSLMM_PREPARE_TIME=00:10:00\nBSBSLMM_CPUS_PER_TASK=1\nBSBSLMM_MEM_PER_TASK=500M\n\
         BSBSLMM_TIME_PER_TASK=00:10:00\nBSBSLMM_FINALIZE_CPUS=1\nBSBSLMM_FINALIZE_MEM=500M\n\
         BSBSLMM_FINALIZE_TIME=00:10:00\nBSBSLMM_BIN_MPI={}\nBSBSLMM_MPI_NTASKS=2\n\
         BSBSLMM_MPI_CPUS_PER_TASK=1\nBSBSLMM_MPI_MEM_PER_CPU=250M\nBSBSLMM_MPI_TIME=00:10:00\n\
         BSBSLMM_MPIRUN_ARGS=\"--allow-run-as-root --oversubscribe\"\n",
        crate::common::bin(),
        p.display(),
        dir.join("logs").display(),
        crate::common::bin()
    );
    let env_path = dir.join("cluster.env");
    std::fs::write(&env_path, env).unwrap();
    (p, env_path)
}

/// Runs job/submit.sh; returns chromosome -> (prepare, fit, finalize) job ids, and the id of the
/// genome-wide job (export, twas, report) when finalize was submitted.
fn submit(
    c: &Cluster,
    dir: &Path,
    env: &Path,
    opts: &[&str],
) -> (BTreeMap<String, [String; 3]>, Option<String>) {
    let out = Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/job/submit.sh"))
        .args(["--env", env.to_str().unwrap()])
        .args(opts)
        .args(["chr1", "chr2"])
        .current_dir(dir)
        .env("SLURM_CONF", c.conf())
        .output()
        .unwrap();
    assert!(out.status.success(), "submit.sh: {}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut ids = BTreeMap::new();
    let mut genome = None;
    for l in stdout.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f[0] == "genome" {
            genome = Some(f[1].strip_prefix("finalize=").expect(l).to_string());
            continue;
        }
        let id = |k: &str| {
            f.iter()
                .find_map(|x| x.strip_prefix(&format!("{k}=")))
                .unwrap_or_else(|| panic!("no {k}= in `{l}`"))
                .to_string()
        };
        ids.insert(f[0].to_string(), [id("prepare"), id("fit"), id("finalize")]);
    }
    assert_eq!(ids.len(), 2, "{stdout}");
    (ids, genome)
}

/// `[bsbslmm-job] start|end <epoch>` from a job log.
fn stamps(log: &Path) -> (f64, f64) {
    let t = std::fs::read_to_string(log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
    let get = |w: &str| -> f64 {
        t.lines()
            .find_map(|l| l.strip_prefix(&format!("[bsbslmm-job] {w} ")))
            .and_then(|r| r.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("{}: no {w} stamp:\n{t}", log.display()))
    };
    (get("start"), get("end"))
}

fn all_ids(ids: &BTreeMap<String, [String; 3]>) -> Vec<String> {
    ids.values().flat_map(|v| v.iter().cloned()).collect()
}

#[test]
fn slurm_submit_chains_jobs_and_matches_plain_run_then_reports_a_bad_gene() {
    require("python3");
    let cluster = Cluster::start();

    // Case 1: the whole pipeline through submit.sh.
    let work = tempfile::tempdir().unwrap();
    let d = work.path();
    let (p, env) = workdir(d);
    let (ids, genome) = submit(&cluster, d, &env, &[]);
    let genome = genome.expect("submit.sh prints the genome-wide job");
    let mut wanted = all_ids(&ids);
    wanted.push(genome.clone());
    let held = cluster.wait(&wanted);
    assert!(held.is_empty(), "held jobs: {held:?}\n{}", cluster.logs());
    // The genome-wide job (export, twas, report) starts after every chromosome's finalize.
    let g = &cluster.jobs(&genome)[0];
    assert_eq!(
        (g["JobState"].as_str(), g["ExitCode"].as_str()),
        ("COMPLETED", "0:0")
    );
    for [_, _, fin] in ids.values() {
        assert!(
            cluster.jobs(fin)[0]["EndTime"] <= g["StartTime"],
            "genome job order"
        );
    }
    for f in [
        "final/genes.tsv",
        "final/predictdb/bsbslmm.db",
        "report.html",
    ] {
        assert!(
            d.join("results").join(f).is_file(),
            "{f} missing after the genome job"
        );
    }
    for (chrom, [prep, fit, fin]) in &ids {
        let tasks = cluster.jobs(fit);
        // 6 genes per chromosome, 2 per task: 3 tasks (sized by `bsbslmm plan` before prepare).
        assert_eq!(tasks.len(), 3, "{chrom}: {tasks:?}");
        for j in cluster
            .jobs(prep)
            .iter()
            .chain(&tasks)
            .chain(&cluster.jobs(fin))
        {
            assert_eq!(j["JobState"], "COMPLETED", "{chrom}: {j:?}");
            assert_eq!(j["ExitCode"], "0:0", "{chrom}: {j:?}");
        }
        // Dependency order, from the jobs' own sub-second stamps and from Slurm's times.
        let logs = d.join("logs");
        let (_, prep_end) = stamps(&logs.join(format!("bsbslmm_prepare_{chrom}_{prep}.out")));
        let (fin_start, _) = stamps(&logs.join(format!("bsbslmm_finalize_{chrom}_{fin}.out")));
        for t in &tasks {
            let k = &t["ArrayTaskId"];
            let (s, e) = stamps(&logs.join(format!("bsbslmm_fit_{chrom}_{fit}_{k}.out")));
            assert!(prep_end <= s && e <= fin_start, "{chrom} task {k}: order");
            let slurm_start = &t["StartTime"];
            assert!(cluster.jobs(prep)[0]["EndTime"] <= *slurm_start);
            assert!(t["EndTime"] <= cluster.jobs(fin)[0]["StartTime"]);
        }
        let fin_log =
            std::fs::read_to_string(logs.join(format!("bsbslmm_finalize_{chrom}_{fin}.out")))
                .unwrap();
        assert!(fin_log.contains("stage finalize"), "{fin_log}");
    }
    let fit = d.join("results/fit");
    assert_eq!(count_complete(&fit), (GENES * N_METHODS, 0));
    std::fs::rename(&fit, d.join("fit_slurm")).unwrap();
    let out = run(d, &["run", p.to_str().unwrap(), "--stage", "fit"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        assert_same_fits(&d.join("fit_slurm"), &fit),
        GENES * N_METHODS
    );

    // The mpirun job script (MPI build): 2 ranks per chromosome, the cache from case 1.
    #[cfg(feature = "mpi")]
    {
        let plain = d.join("fit_plain");
        std::fs::rename(&fit, &plain).unwrap();
        let (ids, genome) = submit(
            &cluster,
            d,
            &env,
            &["--mode", "mpi", "--no-prepare", "--no-finalize"],
        );
        assert_eq!(genome, None, "--no-finalize submits no genome-wide job");
        assert!(cluster.wait(&all_ids(&ids)).is_empty());
        for (chrom, [prep, job, fin]) in &ids {
            assert_eq!((prep.as_str(), fin.as_str()), ("-", "-"));
            let j = &cluster.jobs(job)[0];
            assert_eq!(j["JobState"], "COMPLETED", "{j:?}");
            let log =
                std::fs::read_to_string(d.join(format!("logs/bsbslmm_fit_mpi_{chrom}_{job}.out")))
                    .unwrap();
            assert!(log.contains("balance (dynamic, 2 ranks)"), "{log}");
        }
        assert_eq!(assert_same_fits(&plain, &fit), GENES * N_METHODS);
    }

    // Case 2: a gene whose expression varies only in fold-1 samples passes prepare (it varies
    // over all samples) but its fold-1 training set is constant, so every method fails on it.
    let work2 = tempfile::tempdir().unwrap();
    let d = work2.path();
    let (p, env) = workdir(d);
    let out = run(
        d,
        &[
            "run",
            p.to_str().unwrap(),
            "--stage",
            "prepare",
            "--chrom",
            "chr1",
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    let plant = r#"
import gzip, sys, h5py
cache, expr = sys.argv[1], sys.argv[2]
h = h5py.File(cache, "r")
ids = [s.decode() if isinstance(s, bytes) else s for s in h["samples/id"][:]]
fold = dict(zip(ids, h["samples/fold"][:]))
gene = [g.decode() if isinstance(g, bytes) else g for g in h["gene_table/gene_id"][:]][2]
lines = gzip.open(expr, "rt").read().splitlines()
head = lines[0].split("\t")
out = []
for l in lines:
    f = l.split("\t")
    if f[3] == gene:
        f = f[:4] + [v if fold.get(s) == 1 else "0.0" for s, v in zip(head[4:], f[4:])]
    out.append("\t".join(f))
h.close()
gzip.open(expr, "wt").write("\n".join(out) + "\n")
print(gene)
"#;
    let out = Command::new("python3")
        .args(["-c", plant])
        .arg(d.join("results/cache/chr1.h5"))
        .arg(d.join("cohort/expression/expression.bed.gz"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let bad = String::from_utf8_lossy(&out.stdout).trim().to_string();
    std::fs::remove_dir_all(d.join("results")).unwrap();

    let (ids, genome) = submit(&cluster, d, &env, &[]);
    let genome = genome.expect("submit.sh prints the genome-wide job");
    let held = cluster.wait(&all_ids(&ids));
    let [_, fit1, fin1] = &ids["chr1"];
    assert_eq!(held, vec![fin1.clone()], "only chr1's finalize is held");
    // The genome-wide job waits on chr1's finalize, so it never starts either.
    assert_eq!(cluster.jobs(&genome)[0]["JobState"], "PENDING");
    cluster.cmd("scancel", &[fin1, &genome]);
    // The task with the bad gene (3rd gene, 2 genes per task: task 2) exits 3; the others 0.
    for t in cluster.jobs(fit1) {
        let (state, code) = if t["ArrayTaskId"] == "2" {
            ("FAILED", "3:0")
        } else {
            ("COMPLETED", "0:0")
        };
        assert_eq!(
            (t["JobState"].as_str(), t["ExitCode"].as_str()),
            (state, code),
            "{t:?}"
        );
    }
    for j in cluster
        .jobs(&ids["chr2"][1])
        .iter()
        .chain(&cluster.jobs(&ids["chr2"][2]))
    {
        assert_eq!(j["JobState"], "COMPLETED", "{j:?}");
    }
    let fit = d.join("results/fit");
    assert_eq!(count_complete(&fit), (GENES * N_METHODS - N_METHODS, 0));
    for m in ["bsbslmm", "ridge", "enet"] {
        let reason = std::fs::read_to_string(fit.join(format!("{m}/chr1/{bad}.failed"))).unwrap();
        assert!(
            reason.contains(&bad) && reason.contains("fold 1") && reason.contains("zero variance"),
            "{reason}"
        );
    }
    let st = run(d, &["status", p.to_str().unwrap()], &[]);
    assert_eq!(st.status.code(), Some(3));
    let st = text(&st);
    assert!(st.contains("5/6 genes fitted, 1 failed, 0 pending"), "{st}");
    // Nothing pending but a gene failed: the row says so instead of "done".
    assert!(
        crate::common::has_row(&st, "fit:enet", "chr1", "failures"),
        "{st}"
    );
    assert!(
        st.contains(&format!(
            "fit:enet chr1 {bad}: failed: gene {bad}, method enet: fold 1"
        )),
        "{st}"
    );
    drop(cluster);
}
