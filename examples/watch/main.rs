//! A file watcher (`unix.rs`): `cargo run --example watch DIR [DIR...]`.
//!
//! Unix only (`kq::fs_watch` is: VNODE knotes); on Windows it says so and exits 2.

#[cfg(unix)]
mod unix;

#[cfg(unix)]
use unix::main;

#[cfg(not(unix))]
fn main() {
    eprintln!("watch: Unix only (kq::fs_watch needs VNODE knotes)");
    std::process::exit(2);
}
