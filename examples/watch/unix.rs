//! A file watcher: `cargo run --example watch DIR [DIR...]` prints every change below each DIR as
//! it comes, one line per event (`create  file /path`, `rename  dir  /a -> /b`, ...), until the
//! watched directories are gone or Ctrl-C.

use std::io;

use futures_util::StreamExt;
use kq::fs_watch::{RecursiveMode, Watcher};

#[kq::main]
pub async fn main() -> io::Result<()> {
    let dirs: Vec<String> = std::env::args().skip(1).collect();
    if dirs.is_empty() {
        eprintln!("usage: watch DIR [DIR...]");
        std::process::exit(2);
    }
    let mut watcher = Watcher::new()?;
    for dir in &dirs {
        watcher.watch(dir, RecursiveMode::Recursive)?;
    }
    let (dirs, knotes) = watcher.watch_counts();
    eprintln!("watching {} ({dirs} directories, {knotes} knotes)", dirs_list(&watcher));
    while let Some(item) = watcher.next().await {
        match item {
            Ok(event) => println!("{event}"),
            Err(e) => eprintln!("error: {e}"),
        }
    }
    eprintln!("nothing left to watch");
    Ok(())
}

fn dirs_list(w: &Watcher) -> String {
    let paths: Vec<String> = w.watched_paths().iter().map(|p| p.display().to_string()).collect();
    paths.join(", ")
}
