//! A process supervisor on kq (`unix.rs`): `cargo run --example supervisor [N [PROGRAM ARGS...]]`.
//!
//! Unix only (`kq::process` and `kq::signal` are: PROC and SIGNAL knotes); on Windows it says
//! so and exits 2.

#[cfg(unix)]
mod unix;

#[cfg(unix)]
use unix::main;

#[cfg(not(unix))]
fn main() {
    eprintln!("supervisor: Unix only (kq::process and kq::signal need PROC and SIGNAL knotes)");
    std::process::exit(2);
}
