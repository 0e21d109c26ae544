//! Command-line surface (clap derive). Each subcommand resolves its inputs once and calls one
//! library function; errors become messages and exit codes here, never inside the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use bsbslmm::config::{Config, STAGES};
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

Completed outputs are skipped unless --force. Inputs are checked before any work starts.")]
    Run(RunArgs),
    /// Report per stage and chromosome what is done, failed (with reasons) or pending.
    #[command(after_help = "\
Example:
  bsbslmm status pipeline.yaml")]
    Status(StatusArgs),
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

/// Runs one subcommand.
pub fn dispatch(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Simulate(a) => simulate(a),
        Command::Run(a) => run(a),
        Command::Status(a) => status(a),
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

fn run(a: RunArgs) -> Result<ExitCode> {
    let config = Config::load(&a.pipeline)?;
    for s in &a.stages {
        if !STAGES.contains(&s.as_str()) {
            bail!("unknown stage `{s}`; stages are {}", STAGES.join(", "));
        }
    }
    for c in &a.chroms {
        if !config.chromosomes.contains(c) {
            bail!(
                "--chrom {c}: not in {} (chromosomes: {})",
                a.pipeline.display(),
                config.chromosomes.join(", ")
            );
        }
    }
    let chroms = if a.chroms.is_empty() {
        config.chromosomes.clone()
    } else {
        a.chroms.clone()
    };
    let requested: Vec<&str> = if a.stages.is_empty() {
        stages::AVAILABLE.to_vec()
    } else {
        STAGES
            .iter()
            .copied()
            .filter(|s| a.stages.iter().any(|x| x == s))
            .collect()
    };
    let n_threads = threads(a.threads, &config);
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(n_threads)
        .build()
        .context("starting the worker threads")?;
    tracing::info!(
        "pipeline {}: stages [{}], chromosomes [{}], {} thread(s), output {}",
        a.pipeline.display(),
        requested.join(", "),
        chroms.join(", "),
        n_threads,
        config.output_dir.display()
    );
    let mut partial = false;
    for stage in requested {
        let outcome = pool.install(|| stages::run_stage(stage, &config, &chroms, a.force))?;
        partial |= outcome.failures > 0;
    }
    Ok(if partial {
        ExitCode::from(EXIT_PARTIAL)
    } else {
        ExitCode::SUCCESS
    })
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
