//! A tour of kqueue's delivery semantics through `kq::reactor`.
//!
//! One `Kqueue` watches a pipe (READ, level-triggered), a loopback TCP socket (READ with
//! `EV_CLEAR`, edge-triggered), a periodic TIMER and a USER event triggered from another thread;
//! then a ONESHOT knote, and the `EV_ERROR` entry of deleting a knote that is gone. Each step
//! prints what was delivered and one line on why. Runs in about half a second and exits 0.
//!
//! `cargo run --example reactor_tour`

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use kq::reactor::{note, Filter, Flags, Kevent, Kqueue};

const PIPE: u64 = 1;
const SOCKET: u64 = 2;
const TIMER: u64 = 3;
const USER: u64 = 4;
const ONESHOT: u64 = 5;

/// How long any single wait may block: the tour never hangs.
const LIMIT: Duration = Duration::from_secs(2);

fn name(udata: u64) -> &'static str {
    match udata {
        PIPE => "pipe",
        SOCKET => "socket",
        TIMER => "timer",
        USER => "user",
        ONESHOT => "oneshot",
        _ => "?",
    }
}

/// Collects what is ready (waiting at most `timeout`) and prints it.
fn collect(kq: &Kqueue, timeout: Duration) -> io::Result<Vec<Kevent>> {
    let mut events = [Kevent::default(); 8];
    let n = kq.kevent(&[], &mut events, Some(timeout))?;
    if n == 0 {
        println!("    (no event)");
    }
    for ev in &events[..n] {
        println!(
            "    {:<7} ident={} filter={:?} flags={} data={}",
            name(ev.udata),
            ev.ident,
            ev.filter,
            flag_names(ev.flags),
            ev.data
        );
    }
    Ok(events[..n].to_vec())
}

/// `EV_*` names of `flags`, `|`-separated ("-" for none).
fn flag_names(flags: Flags) -> String {
    let names: Vec<&str> = flags.iter_names().map(|(name, _)| name).collect();
    if names.is_empty() {
        "-".into()
    } else {
        names.join("|")
    }
}

fn step(title: &str) {
    println!("\n{title}");
}

fn why(text: &str) {
    println!("  why: {text}");
}

/// A pipe, both ends non-blocking: `(read end, write end)`.
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds: [RawFd; 2] = [-1, -1];
    // SAFETY: `fds` is an array of two ints, which is what pipe(2) writes.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    for fd in fds {
        // SAFETY: `fd` was just opened by pipe(2); F_GETFL/F_SETFL take int arguments.
        unsafe {
            let fl = libc::fcntl(fd, libc::F_GETFL);
            libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
        }
    }
    // SAFETY: pipe(2) succeeded: both fds are open and owned by nothing else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

pub fn main() -> io::Result<()> {
    let started = Instant::now();
    let kq = Arc::new(Kqueue::new()?);
    let (pipe_r, pipe_w) = pipe()?;
    let mut pipe_r = std::fs::File::from(pipe_r);
    let mut pipe_w = std::fs::File::from(pipe_w);
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let mut client = TcpStream::connect(listener.local_addr()?)?;
    let (mut server, _) = listener.accept()?;
    server.set_nonblocking(true)?;

    let pipe_fd = pipe_r.as_raw_fd() as usize;
    let sock_fd = server.as_raw_fd() as usize;
    let user_ident = 100;
    let timer_ident = 200;

    step("1. register: pipe READ (level), socket READ|CLEAR (edge), USER 100 (CLEAR)");
    kq.kevent(
        &[
            Kevent::new(pipe_fd, Filter::Read, Flags::ADD).with_udata(PIPE),
            Kevent::new(sock_fd, Filter::Read, Flags::ADD | Flags::CLEAR).with_udata(SOCKET),
            Kevent::new(user_ident, Filter::User, Flags::ADD | Flags::CLEAR).with_udata(USER),
        ],
        &mut [],
        None,
    )?;
    collect(&kq, Duration::ZERO)?;
    why("nothing has happened yet: registering only arms the knotes");

    step("2. write 5 bytes to the pipe, collect");
    pipe_w.write_all(b"hello")?;
    collect(&kq, Duration::ZERO)?;
    why("level-triggered READ: the pipe is readable, data = bytes waiting");

    step("3. collect again without reading");
    collect(&kq, Duration::ZERO)?;
    why("level: it fires again, and will on every collection while the data is there");

    step("4. read the 5 bytes, collect");
    let mut buf = [0u8; 256];
    let n = pipe_r.read(&mut buf)?;
    println!("    read {n} bytes: {:?}", String::from_utf8_lossy(&buf[..n]));
    collect(&kq, Duration::ZERO)?;
    why("drained: the condition no longer holds, so the level knote goes quiet");

    step("5. write 100 bytes into the TCP socket pair, collect");
    client.write_all(&[b'x'; 100])?;
    collect(&kq, LIMIT)?;
    why("EV_CLEAR: the arrival is an edge, delivered once with data = bytes waiting");

    step("6. collect again without reading");
    collect(&kq, Duration::ZERO)?;
    why("edge: state was reset at delivery; 100 bytes still unread, but no new event");

    step("7. write 20 more bytes, collect, then read everything");
    client.write_all(&[b'y'; 20])?;
    collect(&kq, LIMIT)?;
    let mut total = 0;
    while total < 120 {
        match server.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => total += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(1))
            }
            Err(e) => return Err(e),
        }
    }
    println!("    read {total} bytes");
    why("new data is a new edge; data counts all 120 bytes waiting, not just the 20 new");

    step("8. add TIMER 200, periodic every 50 ms; sleep 175 ms, collect");
    let timer = Kevent::new(timer_ident, Filter::Timer, Flags::ADD)
        .with_fflags(note::MSECONDS)
        .with_data(50)
        .with_udata(TIMER);
    kq.kevent(&[timer], &mut [], None)?;
    thread::sleep(Duration::from_millis(175));
    collect(&kq, LIMIT)?;
    why("a timer is EV_CLEAR: one event, data = expirations since the last delivery (~3)");

    step("9. collect with a 2 s limit");
    let t = Instant::now();
    collect(&kq, LIMIT)?;
    println!("    waited {:.0} ms", t.elapsed().as_secs_f64() * 1000.0);
    why("periods keep their 50 ms grid: the wait ends at the 200 ms tick, with data = 1");
    kq.kevent(&[Kevent::new(timer_ident, Filter::Timer, Flags::DELETE)], &mut [], None)?;

    step("10. block in kevent; another thread triggers USER 100 after 100 ms");
    let trigger = {
        let kq = kq.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(100));
            let ev = Kevent::new(user_ident, Filter::User, Flags::empty())
                .with_fflags(note::TRIGGER)
                .with_data(42)
                .with_udata(USER);
            kq.kevent(&[ev], &mut [], None).map(|_| ())
        })
    };
    let t = Instant::now();
    collect(&kq, LIMIT)?;
    println!("    woke after {:.0} ms", t.elapsed().as_secs_f64() * 1000.0);
    trigger.join().expect("trigger thread")?;
    why("NOTE_TRIGGER from another thread wakes the thread blocked in kevent (data = 42)");
    // (A change to an existing knote also replaces its udata, as in kqueue(2): hence the udata
    // on the trigger too.)

    step("11. add WRITE|ONESHOT on the pipe's write end, collect twice");
    let write_fd = pipe_w.as_raw_fd() as usize;
    let oneshot = Kevent::new(write_fd, Filter::Write, Flags::ADD | Flags::ONESHOT);
    kq.kevent(&[oneshot.with_udata(ONESHOT)], &mut [], None)?;
    let knotes = kq.len();
    collect(&kq, Duration::ZERO)?;
    collect(&kq, Duration::ZERO)?;
    println!("    knotes registered: {knotes} before, {} after", kq.len());
    why("ONESHOT: delivered once (data = room in the pipe), then the knote is deleted");

    step("12. EV_DELETE the ONESHOT knote again");
    let mut events = [Kevent::default(); 1];
    let delete = Kevent::new(write_fd, Filter::Write, Flags::DELETE);
    let n = kq.kevent(&[delete], &mut events, Some(Duration::ZERO))?;
    for ev in &events[..n] {
        let err = ev.error().map(|e| e.to_string()).unwrap_or_default();
        println!("    ident={} flags={} data={} ({err})", ev.ident, flag_names(ev.flags), ev.data);
    }
    why("a failed change comes back as an EV_ERROR entry, data = errno (ENOENT: no such knote)");

    // Delete the knotes before their fds are closed, as the crate docs advise.
    kq.kevent(
        &[
            Kevent::new(pipe_fd, Filter::Read, Flags::DELETE),
            Kevent::new(sock_fd, Filter::Read, Flags::DELETE),
            Kevent::new(user_ident, Filter::User, Flags::DELETE),
        ],
        &mut [],
        None,
    )?;
    println!(
        "\ndone in {:.0} ms; {} knotes left",
        started.elapsed().as_secs_f64() * 1000.0,
        kq.len()
    );
    Ok(())
}
