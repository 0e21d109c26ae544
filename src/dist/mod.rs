//! Who runs what, and how it is reported: progress bars on a terminal, periodic log lines
//! under Slurm or a pipe. (Work slicing across array tasks and MPI ranks lives here too.)

pub mod progress;
