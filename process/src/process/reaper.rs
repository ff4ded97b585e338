//! Children dropped before they exit are reaped in the background, whatever the program is doing.
//!
//! One thread of kq-process's own (started with the first orphan) waits in a [`Kqueue`] of its
//! own on a PROC NOTE_EXIT knote per orphan, so neither a busy, blocked or dropped runtime nor the
//! lack of a SIGCHLD handler can leave a zombie behind. Each orphan is reaped through its own
//! [`ProcHandle`] (`waitid` on its pidfd on Linux): the status of a child that kq did not spawn is
//! never taken. An orphan whose status someone else took (ECHILD) is simply forgotten.

use std::collections::HashMap;
use std::sync::Mutex;

use kq_reactor::{note, Filter, Flags, Kevent, Kqueue};

use crate::sync::lock;
use crate::sys::ProcHandle;

/// The USER knote that tells the thread new orphans are waiting.
const WAKE: usize = 0;

struct Reaper {
    kq: Kqueue,
    incoming: Mutex<Vec<ProcHandle>>,
}

/// The reaper of this process, with the pid it was started in: after a `fork()` the child has
/// no reaper thread (threads do not survive fork), so it starts its own.
static REAPER: Mutex<Option<(u32, &'static Reaper)>> = Mutex::new(None);

fn reaper() -> Option<&'static Reaper> {
    let me = std::process::id();
    let mut current = lock(&REAPER);
    if let Some((pid, reaper)) = *current {
        if pid == me {
            return Some(reaper);
        }
    }
    let kq = Kqueue::new().ok()?;
    let wake = Kevent::new(WAKE, Filter::User, Flags::ADD | Flags::CLEAR);
    kq.kevent(&[wake], &mut [], None).ok()?;
    // Leaked: the thread runs for the life of the process.
    let reaper: &'static Reaper =
        Box::leak(Box::new(Reaper { kq, incoming: Mutex::new(Vec::new()) }));
    std::thread::Builder::new().name("kq-process-reaper".into()).spawn(move || run(reaper)).ok()?;
    *current = Some((me, reaper));
    Some(reaper)
}

/// Takes over a child that nobody will wait for: reaped now if it has exited, else as soon as
/// it does.
pub(crate) fn adopt(child: ProcHandle) {
    if !matches!(child.try_reap(), Ok(None)) {
        return; // reaped now, or its status was taken elsewhere (ECHILD)
    }
    let Some(reaper) = reaper() else {
        // No thread and no kqueue could be had (fd or thread exhaustion): a last resort that
        // still reaps only this child, blocking a thread of its own if one can be spawned.
        let _ = std::thread::Builder::new().spawn(move || blocking_reap(child));
        return;
    };
    lock(&reaper.incoming).push(child);
    let trigger = Kevent::new(WAKE, Filter::User, Flags::empty()).with_fflags(note::TRIGGER);
    let _ = reaper.kq.kevent(&[trigger], &mut [], None);
}

/// Reaps one child by polling (used only when the reaper thread cannot exist).
fn blocking_reap(child: ProcHandle) {
    let mut delay = std::time::Duration::from_millis(1);
    while let Ok(None) = child.try_reap() {
        std::thread::sleep(delay);
        delay = (delay * 2).min(std::time::Duration::from_millis(500));
    }
}

fn run(reaper: &'static Reaper) {
    // pid -> the orphans with that pid (more than one only when someone else reaped an orphan and
    // its pid was reused by a later child of ours).
    let mut orphans: HashMap<usize, Vec<ProcHandle>> = HashMap::new();
    let mut events = vec![Kevent::default(); 64];
    loop {
        let n = match reaper.kq.kevent(&[], &mut events, None) {
            Ok(n) => n,
            Err(_) => {
                // Should not happen; do not spin.
                std::thread::sleep(std::time::Duration::from_millis(10));
                0
            }
        };
        for ev in &events[..n] {
            match ev.filter {
                Filter::User => {
                    let incoming = std::mem::take(&mut *lock(&reaper.incoming));
                    for child in incoming {
                        watch(reaper, &mut orphans, child);
                    }
                }
                Filter::Proc => {
                    let Some(list) = orphans.remove(&ev.ident) else { continue };
                    for child in list {
                        // Exited (reaped now) or taken elsewhere; a pid reused by a later child
                        // that is still running is watched again.
                        if let Ok(None) = child.try_reap() {
                            watch(reaper, &mut orphans, child);
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

/// Registers a NOTE_EXIT knote for `child` (it fires at once for a zombie).
fn watch(reaper: &Reaper, orphans: &mut HashMap<usize, Vec<ProcHandle>>, child: ProcHandle) {
    let pid = child.pid() as usize;
    let exit = Kevent::new(pid, Filter::Proc, Flags::ADD | Flags::RECEIPT).with_fflags(note::EXIT);
    let mut out = [Kevent::default()];
    let failed = match reaper.kq.kevent(&[exit], &mut out, None) {
        Ok(1) => out[0].error().is_some(),
        _ => true,
    };
    if failed {
        // ESRCH: the process is gone (reaped by someone else); anything else: try once more
        // and, if it still runs, fall back to a thread of its own.
        if let Ok(None) = child.try_reap() {
            let _ = std::thread::Builder::new().spawn(move || blocking_reap(child));
        }
        return;
    }
    orphans.entry(pid).or_default().push(child);
}
