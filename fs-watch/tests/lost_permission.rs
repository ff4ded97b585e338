//! A watched subdirectory that loses its search permission (`chmod 000`, `chmod 600`) gives
//! its Modify(Metadata) and an error item naming it, never a Remove of the files still in it,
//! and getting the permission back gives no Create of them. (The watcher keeps the directory's
//! fd, which still lists the names; it is looking them up that fails, with `EACCES`.)
//!
//! The check needs a user without `CAP_DAC_OVERRIDE`; the suite runs as root, so the watching
//! thread switches its own effective uid to `nobody` (65534; a raw setresuid changes only the
//! calling thread on Linux and drops its capabilities), and the test checks that the files
//! really cannot be looked up from that thread. Linux only: elsewhere uids are per process.
#![cfg(target_os = "linux")]
mod util;

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;

use kq_fs_watch::{EventKind, RecursiveMode, Watcher};
use util::*;

const NOBODY: u32 = 65534;

/// Switches the calling thread's effective uid and gid to `nobody` (when root).
fn become_nobody() -> io::Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Ok(());
    }
    // SAFETY: raw syscalls; -1 leaves the real and saved ids alone; this thread only. The gid
    // first: without the uid 0 it could not be changed.
    let rc = unsafe {
        let g = libc::syscall(libc::SYS_setresgid, -1i64, i64::from(NOBODY), -1i64);
        if g == 0 {
            libc::syscall(libc::SYS_setresuid, -1i64, i64::from(NOBODY), -1i64)
        } else {
            g
        }
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn lose_search_permission(mode: u32) -> io::Result<()> {
    let (_t, base) = watched_tempdir()?;
    let (d, s) = (base.join("d"), base.join("d/s"));
    fs::create_dir_all(&s)?;
    let files: Vec<_> = (0..3).map(|i| s.join(format!("f{i}"))).collect();
    for f in &files {
        fs::write(f, b"1")?;
    }
    // As root: the tree is given to `nobody`, who watches it (and may chmod it).
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        fs::set_permissions(&base, fs::Permissions::from_mode(0o755))?;
        for p in [&d, &s].into_iter().chain(&files) {
            std::os::unix::fs::chown(p, Some(NOBODY), Some(NOBODY))?;
        }
    }
    let s2 = s.clone();
    let r = bounded(move || {
        become_nobody().and_then(|()| {
            block_on(async move {
                let mut w = Watcher::new()?;
                w.watch(&d, RecursiveMode::Recursive)?;
                fs::set_permissions(&s, fs::Permissions::from_mode(mode))?;
                // The condition under test is real: the names cannot be looked up.
                let denied = fs::symlink_metadata(&files[0]).map_err(|e| e.kind());
                assert_eq!(denied.err(), Some(io::ErrorKind::PermissionDenied), "mode {mode:o}");
                // Its knote and its parent's fire together: both are diffed by the sync.
                let mut seen = until(&mut w, |seen| seen.has(&META, &s)).await;
                let rest = sync(&mut w, &d, "locked").await;
                seen.events.extend(rest.events);
                seen.errors.extend(rest.errors);
                let removes = seen.events.iter().filter(|e| e.kind == EventKind::Remove);
                assert_eq!(removes.count(), 0, "mode {mode:o}: {seen:#?}");
                let err = seen.errors.first().expect("an error item");
                assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{err}");
                assert!(err.to_string().contains(&*s.to_string_lossy()), "{err}");

                fs::set_permissions(&s, fs::Permissions::from_mode(0o755))?;
                let mut seen = until(&mut w, |seen| seen.has(&META, &s)).await;
                let rest = sync(&mut w, &s, "open").await;
                seen.events.extend(rest.events);
                let stray = seen.events.iter().filter(|e| {
                    matches!(e.kind, EventKind::Create | EventKind::Remove)
                        && !e.paths[0].to_string_lossy().contains(".sync-")
                });
                assert_eq!(stray.count(), 0, "mode {mode:o}: {seen:#?}");
                assert!(seen.errors.is_empty(), "{seen:#?}");
                // Still watched.
                fs::write(&files[1], b"22")?;
                expect(&mut w, DATA, &files[1]).await;
                Ok::<_, io::Error>(())
            })
        })
    });
    // Let the temporary directory be removed whatever happened.
    let _ = fs::set_permissions(&s2, fs::Permissions::from_mode(0o755));
    r
}

#[test]
fn chmod_000_on_a_watched_directory_removes_nothing() -> io::Result<()> {
    lose_search_permission(0o000)
}

#[test]
fn chmod_600_on_a_watched_directory_removes_nothing() -> io::Result<()> {
    lose_search_permission(0o600)
}
