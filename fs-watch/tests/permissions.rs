//! An unreadable subdirectory is skipped with an error item naming it; the rest is watched.
//! The test runs as root, who reads everything: the watching thread switches its own effective
//! uid to `nobody` (a raw setresuid affects only the calling thread on Linux), which drops its
//! capabilities.
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
            // SAFETY: raw syscall; -1 leaves the real and saved uids alone; this thread only.
            let rc = unsafe { libc::syscall(libc::SYS_setresuid, -1i64, 65534i64, -1i64) };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
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
    let result = handle.join().expect("the watching thread panicked");
    // Let the temporary directory be removed.
    fs::set_permissions(root.join("locked"), fs::Permissions::from_mode(0o700))?;
    result
}
