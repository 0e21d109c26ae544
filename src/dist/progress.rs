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
                "{}: {done}/{} genes, {}, elapsed {:.0} s, ETA {:.0} s",
                self.label,
                self.total,
                rate_text(rate),
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

/// A throughput for the log: genes per second when at least one a second, else seconds per
/// gene (a cohort at ±1 Mb runs ~20–40 s per gene, which "0.0 genes/s" would hide).
fn rate_text(genes_per_s: f64) -> String {
    if genes_per_s >= 1.0 {
        format!("{genes_per_s:.1} genes/s")
    } else if genes_per_s > 0.0 {
        format!("{:.1} s/gene", 1.0 / genes_per_s)
    } else {
        "no gene done yet".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::rate_text;

    #[test]
    fn slow_rates_are_shown_as_seconds_per_gene() {
        assert_eq!(rate_text(12.34), "12.3 genes/s");
        assert_eq!(rate_text(1.0 / 27.5), "27.5 s/gene");
        assert_eq!(rate_text(0.0), "no gene done yet");
    }
}
