//! The `bsbslmm` binary: parses arguments, sets up logging, starts MPI when a launcher started
//! it (MPI build), calls one library function per subcommand, and maps the outcome to an exit
//! code (see PIPELINE.md, "Exit codes").

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    cli::init_logging(args.verbose, args.quiet);
    // The MPI session lives for all of main: dropping it finalizes MPI.
    #[cfg(feature = "mpi")]
    let session = match bsbslmm::dist::mpi::Session::init() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(cli::EXIT_ERROR);
        }
    };
    #[cfg(feature = "mpi")]
    let comm = session.comm();
    #[cfg(not(feature = "mpi"))]
    let comm = bsbslmm::dist::Comm::single();
    match cli::dispatch(args, comm) {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("error: {e:#}");
            #[cfg(feature = "mpi")]
            session.abort_if_parallel(i32::from(cli::EXIT_ERROR));
            ExitCode::from(cli::EXIT_ERROR)
        }
    }
}
