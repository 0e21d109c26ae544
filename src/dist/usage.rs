//! Resources used by this process, read from `/proc/self` (Linux): peak resident memory
//! (`VmHWM`) and CPU time (user + system, all threads). Both are `None` when `/proc` is absent.

/// Peak resident set size in KiB (`VmHWM` in `/proc/self/status`).
pub fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_vmhwm(&s)
}

fn parse_vmhwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU seconds used so far by every thread of this process (`utime + stime` of
/// `/proc/self/stat`, in the kernel's fixed 100 Hz user ticks).
pub fn cpu_seconds() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    parse_cpu(&s)
}

fn parse_cpu(stat: &str) -> Option<f64> {
    // Fields after the parenthesized command name (which may contain spaces): state is field 3,
    // utime field 14, stime field 15.
    let rest = &stat[stat.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = f.get(11)?.parse().ok()?;
    let stime: u64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_formats() {
        let status = "Name:\tbsbslmm\nVmPeak:\t  20000 kB\nVmHWM:\t    5120 kB\nVmRSS:\t 4000 kB\n";
        assert_eq!(parse_vmhwm(status), Some(5120));
        assert_eq!(parse_vmhwm("Name: x\n"), None);
        let stat = "4242 (bs bs) R 1 2 3 4 5 6 7 8 9 10 250 75 0 0 20 0 3 0";
        assert_eq!(parse_cpu(stat), Some(3.25));
        assert!(peak_rss_kib().unwrap() > 0);
        assert!(cpu_seconds().is_some());
    }
}
