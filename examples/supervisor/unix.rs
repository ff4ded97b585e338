//! A process supervisor on kq: `cargo run --example supervisor [N [PROGRAM ARGS...]]`.
//!
//! Runs N workers (by default a shell that works for a moment and fails, except worker 0 which
//! succeeds), restarts each one that fails with an exponential back-off (100 ms doubling up to
//! 3.2 s, reset after a clean exit), and on Ctrl-C kills the workers still running (each in a
//! process group of its own, killed as a group), waits for them and prints a summary. Exits come from PROC knotes (`Child::wait`), Ctrl-C from a SIGNAL
//! knote: every worker has its own `kq::signal::signal(SIGINT)` stream, all sharing one knote.

use std::io;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use futures_util::future::{select, Either};
use kq::process::Command;
use kq::signal::Signal;

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_millis(3200);

/// What one worker did.
#[derive(Debug, Default)]
struct Report {
    starts: u32,
    failures: u32,
    clean_exits: u32,
    last: Option<ExitStatus>,
    killed_at_stop: bool,
}

async fn supervise(id: usize, program: Vec<String>, mut sigint: Signal) -> io::Result<Report> {
    let mut report = Report::default();
    let mut backoff = FIRST_BACKOFF;
    loop {
        // Each worker leads a process group of its own: a Ctrl-C typed in the terminal reaches
        // the supervisor only, which then stops every worker's whole group.
        let mut child = Command::new(&program[0])
            .args(&program[1..])
            .process_group(0)
            .kill_on_drop(true)
            .spawn()?;
        report.starts += 1;
        let pid = child.id().unwrap_or(0);
        println!("worker {id}: started (pid {pid})");
        let exited = match select(Box::pin(child.wait()), Box::pin(sigint.recv())).await {
            Either::Left((status, _)) => Some(status),
            Either::Right(_) => None, // Ctrl-C
        };
        let Some(status) = exited else {
            if let Some(leader) = child.id() {
                // SAFETY: killpg(2) on the group our unreaped child leads (the id is still ours).
                unsafe { libc::killpg(leader as libc::pid_t, libc::SIGKILL) };
            }
            child.kill().await?; // in case it left its group; Ok once it has exited
            report.last = child.wait().await.ok();
            report.killed_at_stop = true;
            return Ok(report);
        };
        let status = status?;
        report.last = Some(status);
        if status.success() {
            report.clean_exits += 1;
            println!("worker {id}: pid {pid} exited cleanly; done");
            return Ok(report);
        }
        report.failures += 1;
        println!("worker {id}: pid {pid} failed ({status}); restart in {} ms", backoff.as_millis());
        let pause = kq::time::sleep(backoff);
        if let Either::Right(_) = select(Box::pin(pause), Box::pin(sigint.recv())).await {
            return Ok(report);
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

#[kq::main]
pub async fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(Ok(4), |a| a.parse()).map_err(io::Error::other)?;
    let program: Vec<String> = args.collect();
    let started = Instant::now();
    let mut workers = Vec::with_capacity(n);
    for id in 0..n {
        let program = if program.is_empty() {
            // Work for a moment, then fail (worker 0 succeeds).
            let code = if id == 0 { 0 } else { 1 };
            vec!["sh".into(), "-c".into(), format!("sleep 0.{}; exit {code}", 2 + id % 7)]
        } else {
            program.clone()
        };
        // Watched before anything is printed, so an early Ctrl-C is not missed.
        let sigint = kq::signal::signal(libc::SIGINT)?;
        workers.push(kq::spawn(supervise(id, program, sigint)));
    }
    println!("supervisor: {n} workers (pid {}); Ctrl-C to stop", std::process::id());
    let mut reports = Vec::with_capacity(n);
    for w in workers {
        // A worker whose program cannot be spawned ends with that error (reported below).
        let report = w.await.map_err(|e| io::Error::other(e.to_string()))?;
        reports.push(report.unwrap_or_else(|e| {
            eprintln!("a worker stopped: {e}");
            Report::default()
        }));
    }
    println!("\nsummary after {:.1} s:", started.elapsed().as_secs_f64());
    for (id, r) in reports.iter().enumerate() {
        let last = r.last.map_or_else(|| "-".to_string(), |s| s.to_string());
        let stop = if r.killed_at_stop { ", killed at stop" } else { "" };
        println!(
            "  worker {id}: {} starts, {} failures, {} clean exits, last {last}{stop}",
            r.starts, r.failures, r.clean_exits
        );
    }
    let starts: u32 = reports.iter().map(|r| r.starts).sum();
    let failures: u32 = reports.iter().map(|r| r.failures).sum();
    println!("supervisor: stopped; {starts} starts, {failures} failures");
    Ok(())
}
