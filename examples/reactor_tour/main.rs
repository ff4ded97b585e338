//! A tour of kqueue's delivery semantics through `kq::reactor` (`unix.rs`): pipes, a loopback
//! socket, a periodic TIMER and a USER event. `cargo run --example reactor_tour`
//!
//! Unix only (pipes and `fcntl`); on Windows it says so and exits 2: the `echo_server` and
//! `http_hello` examples run there.

#[cfg(unix)]
mod unix;

#[cfg(unix)]
use unix::main;

#[cfg(not(unix))]
fn main() {
    eprintln!("reactor_tour: Unix only (pipes, fcntl); try the echo_server or http_hello example");
    std::process::exit(2);
}
