//! Command-line surface (clap derive). Each subcommand resolves its inputs once and calls one
//! library function; errors become messages and exit codes here, never inside the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use bsbslmm::config::{Config, STAGES};
use bsbslmm::dist::partition::{n_tasks, ArraySlice};
use bsbslmm::dist::{self, Comm, Exec, Mode};
use bsbslmm::stages;

/// Exit code: a fatal error (bad configuration or input) stopped the command.
pub const EXIT_ERROR: u8 = 1;
/// Exit code: the command finished, but some genes or chromosomes failed (see `status`).
pub const EXIT_PARTIAL: u8 = 3;

const ABOUT: &str =
    "Block-sparse Bayesian sparse linear mixed models (bsBSLMM) for cis-eQTL expression \
prediction, gene by gene, at cluster scale.";

const AFTER: &str = "\
Quick start (demo cohort):
  bsbslmm simulate --out data/demo
  bsbslmm run pipeline.yaml
  bsbslmm status pipeline.yaml

Exit codes: 0 success, 1 fatal error, 2 usage error, 3 finished with failed genes or chromosomes.
Logging: -v / -q, or RUST_LOG=bsbslmm=debug. See PIPELINE.md for the full guide.";

#[derive(Parser)]
#[command(name = "bsbslmm", version, about = ABOUT, after_help = AFTER)]
pub struct Cli {
    /// More log output (repeat for trace).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only warnings and errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Write a synthetic cohort (VCF+tabix, expression BED, GTF, covariates, peaks, GWAS, truth).
    #[command(after_help = "\
Example:
  bsbslmm simulate --out data/demo --seed 1 --chroms 2 --genes-per-chrom 40 --samples 400

The same seed always gives byte-identical files. The generative model and the truth files
are described in PIPELINE.md (\"The simulated cohort\").")]
    Simulate(SimulateArgs),
    /// Run pipeline stages in order (prepare, fit, finalize, twas, report), or the named ones alone.
    #[command(after_help = "\
Examples:
  bsbslmm run pipeline.yaml                          # every available stage, all chromosomes
  bsbslmm run pipeline.yaml --stage prepare --chrom chr2
  bsbslmm run pipeline.yaml --stage prepare --force  # redo outputs that are already complete
  bsbslmm run pipeline.yaml --stage fit --chrom chr1 --task 3/7     # one slice of 7
  mpirun -np 8 bsbslmm run pipeline.yaml --stage fit --chrom chr1   # MPI build: dynamic queue

How the fit is shared out: --task K/N, else mpirun (MPI build), else SLURM_ARRAY_TASK_ID
(minus SLURM_ARRAY_TASK_MIN) with resources.genes_per_task genes per task, else everything.
Completed outputs are skipped unless --force. Inputs are checked before any work starts.
Exit codes: 0 all done, 1 fatal error, 2 usage, 3 some genes or chromosomes failed.")]
    Run(RunArgs),
    /// Report per stage and chromosome what is done, failed (with reasons) or pending.
    #[command(after_help = "\
Example:
  bsbslmm status pipeline.yaml")]
    Status(StatusArgs),
    /// Print the number of Slurm array tasks the fit of the given chromosome(s) needs.
    #[command(after_help = "\
Example (what job/submit.sh does):
  N=$(bsbslmm plan pipeline.yaml --chrom chr1)
  sbatch --array=1-$N job/bsbslmm_array.sbatch chr1

Counts the prepared genes when the prepare caches are complete; otherwise the expression-file
genes on those chromosomes (an upper bound: tasks past the last prepared gene run nothing).")]
    Plan(PlanArgs),
    /// Describe an HDF5 file written by bsbslmm (groups, datasets, attributes).
    #[command(after_help = "\
Examples:
  bsbslmm inspect results/cache/chr1.h5
  bsbslmm inspect results/cache/chr1.h5 --path /genes/ENSG90100000001.1 --depth 2")]
    Inspect(InspectArgs),
}

#[derive(Args)]
pub struct SimulateArgs {
    /// Output directory (created).
    #[arg(long)]
    pub out: PathBuf,
    /// Random seed; the same seed gives the same files, byte for byte.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Number of chromosomes.
    #[arg(long, default_value_t = 2)]
    pub chroms: usize,
    /// Genes per chromosome.
    #[arg(long, default_value_t = 40)]
    pub genes_per_chrom: usize,
    /// Genotyped samples (about 97% also get expression).
    #[arg(long, default_value_t = 400)]
    pub samples: usize,
    /// Individuals in the simulated GWAS behind the summary statistics.
    #[arg(long, default_value_t = 5000)]
    pub gwas_samples: usize,
    /// Sample-noise structure: identity, random, or lowrank:K.
    #[arg(long, default_value = "identity")]
    pub noise: String,
    /// Fraction of the noise variance that is structured (random/lowrank).
    #[arg(long, default_value_t = 0.0)]
    pub noise_fraction: f64,
}

#[derive(Args)]
pub struct RunArgs {
    /// Pipeline file.
    #[arg(default_value = "pipeline.yaml")]
    pub pipeline: PathBuf,
    /// Run only this stage (repeatable): prepare, fit, finalize, twas, report.
    #[arg(long = "stage", value_name = "NAME")]
    pub stages: Vec<String>,
    /// Only this chromosome (repeatable); default: all in the pipeline file.
    #[arg(long = "chrom", value_name = "C")]
    pub chroms: Vec<String>,
    /// Redo outputs that are already complete.
    #[arg(long)]
    pub force: bool,
    /// Worker threads (default: SLURM_CPUS_PER_TASK, else all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Fit only slice K of N (1-based) of the genes' global order; overrides Slurm array variables.
    #[arg(long, value_name = "K/N")]
    pub task: Option<String>,
    /// Genes per Slurm array task (default: resources.genes_per_task).
    #[arg(long, value_name = "G")]
    pub genes_per_task: Option<usize>,
    /// Under mpirun: a fixed strided split of the genes instead of the dynamic queue.
    #[arg(long)]
    pub mpi_static: bool,
}

#[derive(Args)]
pub struct PlanArgs {
    /// Pipeline file.
    #[arg(default_value = "pipeline.yaml")]
    pub pipeline: PathBuf,
    /// Chromosome (repeatable); default: all in the pipeline file.
    #[arg(long = "chrom", value_name = "C")]
    pub chroms: Vec<String>,
    /// Genes per array task (default: resources.genes_per_task).
    #[arg(long, value_name = "G")]
    pub genes_per_task: Option<usize>,
}

#[derive(Args)]
pub struct StatusArgs {
    /// Pipeline file.
    #[arg(default_value = "pipeline.yaml")]
    pub pipeline: PathBuf,
}

#[derive(Args)]
pub struct InspectArgs {
    /// An HDF5 file written by bsbslmm.
    pub file: PathBuf,
    /// Group to start from.
    #[arg(long, default_value = "/")]
    pub path: String,
    /// How many group levels to descend.
    #[arg(long, default_value_t = 2)]
    pub depth: usize,
}

/// Sets up `tracing` on stderr; RUST_LOG overrides the level.
pub fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        _ => "trace",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

/// Runs one subcommand; `comm` is the MPI world (a single process outside mpirun).
pub fn dispatch(cli: Cli, comm: Comm<'_>) -> Result<ExitCode> {
    match cli.command {
        Command::Simulate(a) => simulate(a),
        Command::Run(a) => run(a, comm),
        Command::Status(a) => status(a),
        Command::Plan(a) => plan(a),
        Command::Inspect(a) => inspect(a),
    }
}

fn simulate(a: SimulateArgs) -> Result<ExitCode> {
    use stages::simulate::{NoiseModel, SimulateOptions};
    let noise = match a.noise.as_str() {
        "identity" => NoiseModel::Identity,
        "random" => NoiseModel::Random,
        s => match s.strip_prefix("lowrank:").map(str::parse::<usize>) {
            Some(Ok(rank)) if rank > 0 => NoiseModel::LowRank { rank },
            _ => bail!("--noise must be identity, random or lowrank:K (K >= 1), got `{s}`"),
        },
    };
    if !(0.0..=1.0).contains(&a.noise_fraction) {
        bail!(
            "--noise-fraction must be in [0, 1], got {}",
            a.noise_fraction
        );
    }
    let opts = SimulateOptions {
        out: a.out.clone(),
        seed: a.seed,
        chroms: a.chroms,
        genes_per_chrom: a.genes_per_chrom,
        samples: a.samples,
        gwas_samples: a.gwas_samples,
        noise,
        noise_fraction: a.noise_fraction,
    };
    let t = std::time::Instant::now();
    let summary = stages::simulate::simulate(&opts)
        .with_context(|| format!("simulating a cohort into {}", a.out.display()))?;
    tracing::info!(
        "simulated {} chromosome(s) x {} genes x {} samples into {} in {:.1} s ({} files)",
        a.chroms,
        a.genes_per_chrom,
        a.samples,
        a.out.display(),
        t.elapsed().as_secs_f64(),
        summary.files.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn threads(requested: Option<usize>, config: &Config) -> usize {
    let from_env = std::env::var("SLURM_CPUS_PER_TASK")
        .ok()
        .and_then(|v| v.parse::<usize>().ok());
    let n = requested
        .or((config.resources.threads > 0).then_some(config.resources.threads))
        .or(from_env)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    n.max(1)
}

fn chromosomes(
    config: &Config,
    pipeline: &std::path::Path,
    given: &[String],
) -> Result<Vec<String>> {
    for c in given {
        if !config.chromosomes.contains(c) {
            bail!(
                "--chrom {c}: not in {} (chromosomes: {})",
                pipeline.display(),
                config.chromosomes.join(", ")
            );
        }
    }
    Ok(if given.is_empty() {
        config.chromosomes.clone()
    } else {
        given.to_vec()
    })
}

/// How this process shares out the fit: --task, else mpirun, else a Slurm array, else alone.
fn mode(a: &RunArgs, config: &Config, comm: &Comm<'_>) -> Result<Mode> {
    let per_task = a.genes_per_task.unwrap_or(config.resources.genes_per_task);
    if per_task == 0 {
        bail!("--genes-per-task must be at least 1");
    }
    let from_env = ArraySlice::from_slurm(|k| std::env::var(k).ok(), per_task)?;
    let under_mpi = comm.is_mpi();
    if let Some(t) = &a.task {
        if under_mpi {
            bail!(
                "--task cannot be combined with mpirun: the ranks share out the genes themselves"
            );
        }
        return Ok(Mode::Array(ArraySlice::parse_task(t)?));
    }
    if under_mpi {
        if from_env.is_some() {
            bail!("mpirun inside a Slurm array task: use either an array (job/bsbslmm_array.sbatch) or mpirun over the chromosome (job/bsbslmm_mpi_chr.sbatch), not both");
        }
        return Ok(Mode::Mpi {
            static_split: a.mpi_static,
        });
    }
    if a.mpi_static {
        tracing::warn!(
            "--mpi-static: not running under mpirun (or not an MPI build); running as one process"
        );
    }
    Ok(from_env.map_or(Mode::Plain, Mode::Array))
}

fn run(a: RunArgs, comm: Comm<'_>) -> Result<ExitCode> {
    let t0 = std::time::Instant::now();
    let config = Config::load(&a.pipeline)?;
    for s in &a.stages {
        if !STAGES.contains(&s.as_str()) {
            bail!("unknown stage `{s}`; stages are {}", STAGES.join(", "));
        }
    }
    let chroms = chromosomes(&config, &a.pipeline, &a.chroms)?;
    let requested: Vec<&str> = if a.stages.is_empty() {
        stages::AVAILABLE.to_vec()
    } else {
        STAGES
            .iter()
            .copied()
            .filter(|s| a.stages.iter().any(|x| x == s))
            .collect()
    };
    let mode = mode(&a, &config, &comm)?;
    if matches!(mode, Mode::Array(_)) && requested != ["fit"] {
        bail!(
            "an array task (--task or SLURM_ARRAY_TASK_ID) runs one slice of the fit stage only; \
             add `--stage fit` (stages requested: {}); run prepare before the array and finalize \
             after it (job/submit.sh chains them)",
            requested.join(", ")
        );
    }
    let n_threads = threads(a.threads, &config);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(n_threads)
        .build()
        .context("starting the worker threads")?;
    let exec = Exec {
        pool: &pool,
        threads: n_threads,
        mode,
        comm,
    };
    let where_ = match mode {
        Mode::Plain => "one process".to_string(),
        Mode::Array(s) => format!("array task {s:?}"),
        Mode::Mpi { static_split } => format!(
            "MPI rank {} of {} ({})",
            comm.rank(),
            comm.size(),
            if static_split {
                "static split"
            } else {
                "dynamic queue"
            }
        ),
    };
    if comm.is_root() {
        tracing::info!(
            "pipeline {}: stages [{}], chromosomes [{}], {where_}, {} thread(s), output {}",
            a.pipeline.display(),
            requested.join(", "),
            chroms.join(", "),
            n_threads,
            config.output_dir.display()
        );
    }
    let mut total = stages::StageOutcome::default();
    for stage in requested {
        let o = stages::run_stage(stage, &config, &chroms, a.force, &exec)?;
        total.done += o.done;
        total.skipped += o.skipped;
        total.failures += o.failures;
    }
    let usage = dist::usage_over_ranks(&comm);
    if comm.is_root() {
        tracing::info!(
            "task summary: {} done, {} skipped (already complete), {} failed; wall {:.1} s, cpu {:.1} s, peak memory {:.1} MiB{}",
            total.done,
            total.skipped,
            total.failures,
            t0.elapsed().as_secs_f64(),
            usage.cpu_s,
            usage.peak_kib as f64 / 1024.0,
            if usage.ranks > 1 {
                format!(" (max over {} ranks; cpu summed)", usage.ranks)
            } else {
                String::new()
            }
        );
    }
    Ok(if total.failures > 0 {
        ExitCode::from(EXIT_PARTIAL)
    } else {
        ExitCode::SUCCESS
    })
}

fn plan(a: PlanArgs) -> Result<ExitCode> {
    let config = Config::load(&a.pipeline)?;
    let chroms = chromosomes(&config, &a.pipeline, &a.chroms)?;
    let per_task = a.genes_per_task.unwrap_or(config.resources.genes_per_task);
    if per_task == 0 {
        bail!("--genes-per-task must be at least 1");
    }
    let (genes, exact) = stages::fit::count_genes(&config, &chroms)?;
    let tasks = n_tasks(genes, per_task);
    tracing::info!(
        "{} [{}]: {genes} genes ({}), {per_task} per task: {tasks} array task(s)",
        a.pipeline.display(),
        chroms.join(", "),
        if exact {
            "prepared"
        } else {
            "in the expression file; an upper bound until prepare has run"
        }
    );
    println!("{tasks}");
    Ok(ExitCode::SUCCESS)
}

fn status(a: StatusArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&a.pipeline)
        .with_context(|| format!("reading {}", a.pipeline.display()))?;
    let config = Config::from_yaml(&text, &a.pipeline)?;
    let report = stages::status::collect(&config);
    print!("{}", report.render());
    Ok(if report.any_failed() {
        ExitCode::from(EXIT_PARTIAL)
    } else {
        ExitCode::SUCCESS
    })
}

fn inspect(a: InspectArgs) -> Result<ExitCode> {
    if !a.file.exists() {
        bail!("{}: no such file", a.file.display());
    }
    let text = bsbslmm::io::store::describe_tree(&a.file, &a.path, a.depth).with_context(|| {
        format!(
            "{}: not a readable HDF5 file or no group {}",
            a.file.display(),
            a.path
        )
    })?;
    print!("{text}");
    Ok(ExitCode::SUCCESS)
}
