//! What every runner prints about the run: the date and the machine.

use std::time::{SystemTime, UNIX_EPOCH};

/// `YYYY-MM-DD` (UTC) of now.
pub fn today() -> String {
    let days = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs() / 86_400;
    // Civil from days (Howard Hinnant's algorithm), for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// CPU model, core count, OS and kernel release.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown cpu".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| format!("{} {}", std::env::consts::OS, s.trim()))
        .unwrap_or_else(|_| std::env::consts::OS.to_string());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores, {cpu}, {kernel}")
}

/// The workspace's `Cargo.lock` as it was when this crate was built.
const CARGO_LOCK: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock"));

/// The version(s) of package `name` in the build's `Cargo.lock` (`"-"` when absent).
pub fn locked_version(name: &str) -> String {
    let mut versions = Vec::new();
    let mut lines = CARGO_LOCK.lines();
    while let Some(line) = lines.next() {
        if line.trim() == format!("name = \"{name}\"") {
            if let Some(v) = lines.next().and_then(|l| l.trim().strip_prefix("version = ")) {
                versions.push(v.trim_matches('"').to_string());
            }
        }
    }
    if versions.is_empty() {
        "-".into()
    } else {
        versions.join(", ")
    }
}

/// kq's version (with the git commit when the source tree is a checkout) and the versions of
/// the rivals (those in the build), from the build's `Cargo.lock`.
pub fn versions() -> String {
    let commit = std::process::Command::new("git")
        .args(["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "--short", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| format!(" ({})", String::from_utf8_lossy(&o.stdout).trim()))
        .unwrap_or_default();
    let mut s = format!("kq {}{commit}", env!("CARGO_PKG_VERSION"));
    for rival in ["tokio", "mio", "hyper", "notify"] {
        let v = locked_version(rival);
        if v != "-" {
            s.push_str(&format!(", {rival} {v}"));
        }
    }
    s
}

/// The load average (1, 5, 15 minutes) now.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Where the runners write: `$CARGO_TARGET_DIR` or the workspace's `target/`, then `sub`.
pub fn out_dir(sub: &str) -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target"))
        })
        .join(sub)
}
