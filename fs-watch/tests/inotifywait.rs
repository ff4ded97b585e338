//! One scripted sequence watched by kq and by `inotifywait` (Debian's inotify-tools, which
//! `.ci/run` installs) at once: every change inotifywait saw must be in kq's events. Where
//! inotifywait is not installed the test says so and checks kq alone.
// Unix-only: kq-fs-watch's Watcher does not exist on Windows.
#![cfg(unix)]
mod util;

use std::fs::{self, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kq_fs_watch::{Event, EventKind, RecursiveMode, Watcher};
use util::*;

struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `inotifywait -m -r` on `root`; returns it and a channel of its lines, once its watches
/// are established. None when it is not installed.
fn start_inotifywait(root: &Path) -> Option<(Child, mpsc::Receiver<String>)> {
    let mut child = Command::new("inotifywait")
        .args(["-m", "-r", "--format", "%e\t%w%f"])
        .args(["-e", "create,delete,modify,attrib,moved_from,moved_to"])
        .arg(root)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    let stderr = child.stderr.take()?;
    let stdout = child.stdout.take()?;
    let child = Child(child);
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if line.contains("Watches established") {
                let _ = ready_tx.send(());
            }
        }
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    ready_rx.recv_timeout(LIMIT).ok()?;
    Some((child, rx))
}

/// Does kq report what inotifywait's `events` on `path` say?
fn covered(kq: &[Event], events: &str, path: &Path) -> bool {
    let first =
        |k: &dyn Fn(&EventKind) -> bool| kq.iter().any(|e| k(&e.kind) && e.paths[0] == path);
    events.split(',').filter(|e| *e != "ISDIR").all(|e| match e {
        "CREATE" => {
            first(&|k| *k == EventKind::Create)
                || kq
                    .iter()
                    .any(|ev| matches!(&ev.kind, EventKind::Rename { to, .. } if to == path))
        }
        "DELETE" => first(&|k| *k == EventKind::Remove),
        "MODIFY" | "ATTRIB" => first(&|k| matches!(k, EventKind::Modify(_) | EventKind::Create)),
        "MOVED_FROM" => kq.iter().any(|ev| match &ev.kind {
            EventKind::Rename { from, .. } => from == path,
            EventKind::Remove => ev.paths[0] == path,
            _ => false,
        }),
        "MOVED_TO" => kq.iter().any(|ev| match &ev.kind {
            EventKind::Rename { to, .. } => to == path,
            EventKind::Create => ev.paths[0] == path,
            _ => false,
        }),
        _ => true,
    })
}

#[test]
fn every_change_inotifywait_sees_kq_reports() -> io::Result<()> {
    let (_t, root) = watched_tempdir()?;
    let iw = start_inotifywait(&root);
    if iw.is_none() {
        eprintln!("inotifywait is not installed (Debian: inotify-tools): checking kq alone");
    }
    let r = root.clone();
    let kq_events = block_on(async move {
        let root = r;
        let mut w = Watcher::new()?;
        w.watch(&root, RecursiveMode::Recursive)?;
        let mut all = Vec::new();
        // Each step is followed by a marker, so that kq looks between steps (no coalescing).
        let mut step = 0;
        macro_rules! step {
            ($dir:expr, $body:block) => {{
                $body
                step += 1;
                all.extend(sync(&mut w, &$dir, &format!("step{step}")).await.events);
            }};
        }
        let p = |s: &str| root.join(s);
        step!(root, { fs::create_dir(p("a"))? });
        step!(p("a"), { fs::create_dir_all(p("a/b/c"))? });
        step!(p("a/b/c"), { fs::write(p("a/b/c/f"), b"hello")? });
        step!(p("a/b/c"), {
            OpenOptions::new().append(true).open(p("a/b/c/f"))?.write_all(b" more")?
        });
        step!(p("a/b/c"), {
            fs::set_permissions(p("a/b/c/f"), fs::Permissions::from_mode(0o600))?
        });
        step!(p("a/b/c"), { OpenOptions::new().write(true).open(p("a/b/c/f"))?.set_len(1)? });
        step!(p("a"), { fs::rename(p("a/b/c/f"), p("a/g"))? });
        step!(root, { fs::rename(p("a/g"), p("top"))? });
        step!(root, { fs::write(p("top.tmp"), b"new")? });
        step!(root, { fs::rename(p("top.tmp"), p("top"))? });
        step!(root, { fs::create_dir(p("d"))? });
        step!(p("d"), { fs::rename(p("a"), p("d/a"))? });
        step!(p("d/a/b/c"), { fs::write(p("d/a/b/c/after-move"), b"")? });
        step!(root, { fs::remove_file(p("top"))? });
        step!(root, { fs::remove_dir_all(p("d"))? });
        let end = root.join(".end");
        fs::write(&end, b"")?;
        all.extend(expect(&mut w, EventKind::Create, &end).await.events);
        Ok::<_, io::Error>(all)
    })?;
    let Some((_child, lines)) = iw else { return Ok(()) };
    let deadline = Instant::now() + LIMIT;
    let mut seen: Vec<(String, PathBuf)> = Vec::new();
    while Instant::now() < deadline {
        let Ok(line) = lines.recv_timeout(Duration::from_millis(200)) else { continue };
        let Some((events, path)) = line.split_once('\t') else { continue };
        let path = PathBuf::from(path);
        let end = path == root.join(".end");
        seen.push((events.to_string(), path));
        if end {
            break;
        }
    }
    assert!(
        seen.iter().any(|(_, p)| p == &root.join(".end")),
        "inotifywait never saw the end: {seen:#?}"
    );
    // inotifywait names the contents of a moved directory by their old path until it has
    // renamed its own watches, and not at all when it missed the move's second half (its watch
    // on the new parent not yet added): accept kq's events under the new path for those, the
    // move being one that kq reported (and inotifywait's MOVED_FROM is checked against it).
    let moves: Vec<(PathBuf, PathBuf)> = kq_events
        .iter()
        .filter(|e| e.file_type == Some(kq_fs_watch::FileType::Dir))
        .filter_map(|e| match &e.kind {
            EventKind::Rename { from, to } => Some((from.clone(), to.clone())),
            _ => None,
        })
        .collect();
    let covered_somewhere = |e: &str, p: &Path| {
        covered(&kq_events, e, p)
            || moves.iter().any(|(from, to)| {
                p.strip_prefix(from).is_ok_and(|rest| covered(&kq_events, e, &to.join(rest)))
            })
    };
    let missing: Vec<_> = seen.iter().filter(|(e, p)| !covered_somewhere(e, p)).collect();
    assert!(missing.is_empty(), "inotifywait saw, kq did not: {missing:#?}\nkq: {kq_events:#?}");
    eprintln!("{} inotifywait events, all in kq's {} events", seen.len(), kq_events.len());
    Ok(())
}
