//! An unreadable subdirectory is skipped with an error item naming it; the rest is watched.
//! The test runs as root, who reads everything: the watching thread switches its own effective
//! uid to `nobody` (a raw setresuid affects only the calling thread on Linux), which drops its
//! capabilities. Where uids are per process (the BSDs, macOS) the process's effective uid is
//! switched instead and switched back after the watch: this is the binary's only test.
// Unix-only: kq-fs-watch's Watcher does not exist on Windows.
#![cfg(unix)]
mod util;

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;

use kq_fs_watch::{EventKind, RecursiveMode, Watcher};
use util::*;

#[test]
fn an_unreadable_subdirectory_is_an_error_item_and_the_rest_is_watched() -> io::Result<()> {
    let (_t, root) = watched_tempdir()?;
    fs::set_permissions(&root, fs::Permissions::from_mode(0o777))?;
    fs::create_dir_all(root.join("open/inner"))?;
    fs::set_permissions(root.join("open/inner"), fs::Permissions::from_mode(0o777))?;
    fs::create_dir_all(root.join("locked/secret"))?;
    // SAFETY: geteuid has no preconditions.
    let root_user = unsafe { libc::geteuid() } == 0;
    // As root: owner-only, and the watching thread is not the owner. Otherwise: no access.
    let mode = if root_user { 0o700 } else { 0o000 };
    fs::set_permissions(root.join("locked"), fs::Permissions::from_mode(mode))?;
    let root2 = root.clone();
    let handle = std::thread::spawn(move || -> io::Result<()> {
        if root_user {
            become_nobody()?;
        }
        let root = root2;
        block_on(async move {
            let mut w = Watcher::new()?;
            w.watch(&root, RecursiveMode::Recursive)?;
            let seen = until(&mut w, |s| !s.errors.is_empty()).await;
            let err = seen.errors.first().expect("an error item");
            assert_eq!(err.kind(), io::ErrorKind::PermissionDenied, "{err}");
            assert!(err.to_string().contains(&*root.join("locked").to_string_lossy()), "{err}");
            assert_eq!(w.watch_counts().0, 3, "root, open, open/inner");
            let f = root.join("open/inner/new");
            fs::write(&f, b"")?;
            expect(&mut w, EventKind::Create, &f).await;
            Ok(())
        })
    });
    let joined = handle.join();
    if root_user {
        back_to_root()?;
    }
    let result = joined.expect("the watching thread panicked");
    // Let the temporary directory be removed.
    fs::set_permissions(root.join("locked"), fs::Permissions::from_mode(0o700))?;
    result
}

/// Switches the calling thread's effective uid to `nobody` (65534).
#[cfg(target_os = "linux")] // Linux: the raw syscall changes this thread's uid only.
fn become_nobody() -> io::Result<()> {
    // SAFETY: raw syscall; -1 leaves the real and saved uids alone; this thread only.
    let rc = unsafe { libc::syscall(libc::SYS_setresuid, -1i64, 65534i64, -1i64) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Switches the process's effective uid to `nobody` (65534): uids are per process here.
#[cfg(not(target_os = "linux"))] // Off Linux there is no per-thread uid: the process switches.
fn become_nobody() -> io::Result<()> {
    // SAFETY: seteuid has no memory preconditions; the real and saved uids stay 0.
    if unsafe { libc::seteuid(65534) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Undoes [`become_nobody`] for the process (a no-op on Linux, where only the watching thread,
/// now gone, switched).
fn back_to_root() -> io::Result<()> {
    #[cfg(not(target_os = "linux"))] // Off Linux the process switched: switch it back.
    // SAFETY: seteuid has no memory preconditions; the saved uid is 0, so this is allowed.
    if unsafe { libc::seteuid(0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
