//! Progress lines of the long runners: what runs, how far the run is, and an estimate of the
//! time left.
//!
//! The plan is a total of *weights* (a-priori guesses of seconds per step); the estimate scales
//! the weight still to do by the seconds actually spent per unit of weight so far, so it corrects
//! itself on a slow (or loaded) machine.

use std::time::{Duration, Instant};

/// Progress of one runner over a planned amount of work.
#[derive(Debug)]
pub struct Progress {
    name: &'static str,
    start: Instant,
    planned: f64,
    done: f64,
}

/// `1m05s`, `42s`.
pub fn fmt_secs(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

impl Progress {
    /// A runner called `name` with `planned` units of work ahead.
    pub fn new(name: &'static str, planned: f64) -> Progress {
        Progress { name, start: Instant::now(), planned: planned.max(1e-9), done: 0.0 }
    }

    /// Adds work to the plan (a part discovered late, such as a skipped row that is not).
    pub fn plan_more(&mut self, weight: f64) {
        self.planned += weight;
    }

    /// Time since the start.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Records that a step of `weight` finished and prints `what` with the progress.
    pub fn step(&mut self, weight: f64, what: &str) {
        STEPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.done = (self.done + weight).min(self.planned);
        let elapsed = self.start.elapsed();
        let left = if self.done > 0.0 {
            Duration::from_secs_f64(
                elapsed.as_secs_f64() / self.done * (self.planned - self.done).max(0.0),
            )
        } else {
            Duration::ZERO
        };
        eprintln!(
            "{} [{:>3.0}%] {what}  ({} elapsed, ~{} left)",
            self.name,
            100.0 * self.done / self.planned,
            fmt_secs(elapsed),
            fmt_secs(left)
        );
    }

    /// Prints a line without advancing (a header, a skip).
    pub fn say(&self, what: &str) {
        eprintln!("{} [{:>3.0}%] {what}", self.name, 100.0 * self.done / self.planned);
    }
}

static STEPS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Exits the process with status 2 when no [`Progress::step`] happens within `stall` (a stuck
/// run, such as a lost wake-up, fails the runner instead of hanging CI).
pub fn watchdog(name: &'static str, stall: Duration) {
    std::thread::spawn(move || {
        let mut last = u64::MAX;
        loop {
            std::thread::sleep(stall);
            let now = STEPS.load(std::sync::atomic::Ordering::Relaxed);
            if now == last {
                eprintln!("{name}: no progress in {}: stuck, giving up", fmt_secs(stall));
                std::process::exit(2);
            }
            last = now;
        }
    });
}
