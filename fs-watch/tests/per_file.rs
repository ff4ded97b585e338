//! Per-file knotes, the mode native kqueue (FreeBSD, macOS) needs because its directory knotes
//! do not hear their files' writes: run here on Linux through `per_file_knotes(true)`, so the code
//! the BSDs use is exercised, not only type-checked.
// Unix-only: kq-fs-watch's Watcher does not exist on Windows.
#![cfg(unix)]
mod util;

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;

use kq_fs_watch::{EventKind, RecursiveMode, Watcher};
use util::*;

#[test]
fn per_file_knotes_report_the_same_changes_with_a_descriptor_per_file() -> io::Result<()> {
    let (_t, root) = watched_tempdir()?;
    fs::create_dir(root.join("a"))?;
    for i in 0..10 {
        fs::write(root.join(format!("a/f{i}")), b"x")?;
    }
    block_on(async move {
        let mut w = Watcher::builder().per_file_knotes(true).build()?;
        w.watch(&root, RecursiveMode::Recursive)?;
        // 2 directories + 10 files, each with its descriptor and knote (+ the root's parent).
        assert_eq!(fds_under(&root), 12);
        assert_eq!(w.watch_counts(), (2, 13));
        let f = root.join("a/f3");
        OpenOptions::new().append(true).open(&f)?.write_all(b"more")?;
        expect(&mut w, DATA, &f).await;
        fs::set_permissions(&f, fs::Permissions::from_mode(0o600))?;
        expect(&mut w, META, &f).await;
        let g = root.join("g");
        fs::rename(&f, &g)?;
        expect(&mut w, rename(&f, &g), &f).await;
        // The moved file keeps its knote: a write to it is still seen.
        fs::write(&g, b"rewritten, longer")?;
        expect(&mut w, DATA, &g).await;
        let n = root.join("a/b/new");
        fs::create_dir(root.join("a/b"))?;
        fs::write(&n, b"")?;
        expect(&mut w, EventKind::Create, &n).await;
        fs::write(&n, b"content")?;
        expect(&mut w, DATA, &n).await;
        fs::remove_file(&g)?;
        expect(&mut w, EventKind::Remove, &g).await;
        // root, a, a/b, the 9 files left in a and a/b/new: the removed file's fd is closed.
        assert_eq!(fds_under(&root), 13);
        Ok(())
    })
}
