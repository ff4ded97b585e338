//! Out of descriptors: the directories that could not be opened come as error items carrying a
//! `LimitError` that names RLIMIT_NOFILE, and what was opened stays watched. Alone in its test
//! binary, as the limit is per process.
// Unix-only: kq-fs-watch's Watcher does not exist on Windows.
#![cfg(unix)]
mod util;

use std::fs;
use std::io;

use kq_fs_watch::{EventKind, Limit, LimitError, RecursiveMode, Watcher};
use util::*;

fn nofile() -> libc::rlimit {
    // SAFETY: a zeroed rlimit is a valid out-value.
    let mut rl: libc::rlimit = unsafe { std::mem::zeroed() };
    // SAFETY: valid pointer.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl) }, 0);
    rl
}

fn set_nofile(rl: &libc::rlimit) {
    // SAFETY: valid pointer.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, rl) };
    assert_eq!(rc, 0, "{}", io::Error::last_os_error());
}

#[test]
fn out_of_descriptors_is_a_typed_error_naming_the_limit() -> io::Result<()> {
    let (_t, root) = fast_tempdir()?;
    for d in 0..300 {
        fs::create_dir(root.join(format!("d{d:03}")))?;
    }
    block_on(async move {
        let mut w = Watcher::new()?;
        // Make the reactor's inotify instance before the squeeze.
        w.watch(root.join("d000"), RecursiveMode::Recursive)?;
        w.unwatch(root.join("d000"))?;
        let saved = nofile();
        let squeezed = libc::rlimit { rlim_cur: (open_fds() + 100) as libc::rlim_t, ..saved };
        set_nofile(&squeezed);
        let result = w.watch(&root, RecursiveMode::Recursive);
        set_nofile(&saved);
        result?;
        let (dirs, _) = w.watch_counts();
        assert!(dirs > 1 && dirs < 301, "{dirs} directories watched");
        let seen = until(&mut w, |s| !s.errors.is_empty()).await;
        let err = &seen.errors[0];
        let limit = err.get_ref().and_then(|e| e.downcast_ref::<LimitError>());
        let limit = limit.unwrap_or_else(|| panic!("not a LimitError: {err:?}"));
        assert_eq!(limit.limit, Limit::Descriptors);
        assert!(limit.path.starts_with(&root), "{limit:?}");
        assert!(err.to_string().contains("RLIMIT_NOFILE"), "{err}");
        // What was opened is watched.
        let f = root.join("still-watched");
        fs::write(&f, b"")?;
        expect(&mut w, EventKind::Create, &f).await;
        Ok(())
    })
}
