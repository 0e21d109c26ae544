//! Progress for long loops: an indicatif bar with ETA when stderr is a terminal, otherwise a
//! `tracing` line every `every` items or every minute, with the same figures (done/total, rate, ETA).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

/// A thread-safe progress reporter.
pub struct Progress {
    label: String,
    total: usize,
    done: AtomicUsize,
    start: Instant,
    bar: Option<ProgressBar>,
    last_log: Mutex<Instant>,
    every: usize,
}

impl Progress {
    /// A reporter for `total` items; `every` = log-line period when not on a terminal.
    pub fn new(label: &str, total: usize, every: usize) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = ProgressBar::new(total as u64);
            b.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {pos}/{len} genes  {per_sec}  ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            b.set_prefix(label.to_string());
            b
        });
        Progress {
            label: label.to_string(),
            total,
            done: AtomicUsize::new(0),
            start: Instant::now(),
            bar,
            last_log: Mutex::new(Instant::now()),
            every: every.max(1),
        }
    }

    /// Marks `n` more items done.
    pub fn inc(&self, n: usize) {
        let done = self.done.fetch_add(n, Ordering::Relaxed) + n;
        if let Some(b) = &self.bar {
            b.inc(n as u64);
            return;
        }
        let mut last = self.last_log.lock().unwrap_or_else(|e| e.into_inner());
        let crossed = done / self.every != (done - n) / self.every;
        if crossed || last.elapsed() >= Duration::from_secs(60) || done == self.total {
            *last = Instant::now();
            let el = self.start.elapsed().as_secs_f64();
            let rate = done as f64 / el.max(1e-9);
            let eta = (self.total.saturating_sub(done)) as f64 / rate.max(1e-9);
            tracing::info!(
                "{}: {done}/{} genes, {:.1} genes/s, elapsed {:.0} s, ETA {:.0} s",
                self.label,
                self.total,
                rate,
                el,
                eta
            );
        }
    }

    /// Removes the bar (log lines are unaffected).
    pub fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
