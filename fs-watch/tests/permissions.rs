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
    fs::set_permissions(root.join("locked"), fs::Permissions::from_mode(0o700))?;
    let root2 = root.clone();
    let handle = std::thread::spawn(move || -> io::Result<()> {
        // SAFETY: raw syscall; -1 leaves the real and saved uids alone; this thread only.
        let rc = unsafe { libc::syscall(libc::SYS_setresuid, -1i64, 65534i64, -1i64) };
        if rc != 0 {
            return Err(io::Error::last_os_error());
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
    handle.join().expect("the watching thread panicked")
}
