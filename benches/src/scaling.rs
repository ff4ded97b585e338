//! Workloads of the scaling curves (BENCHMARKS.md rows 15 and 16; row 17 is
//! [`crate::reactor::contention`], row 18 [`crate::net::echo_load`] with idle connections).
//!
//! - Row 15, idle registrations: `n` idle descriptors (eventfds nobody writes) registered for
//!   reading, plus one pipe that ping-pongs a byte: write, wait for the event, read. The time per
//!   collected event of kq's `Kqueue`, of raw epoll through mio, and of `poll(2)` over all
//!   `n + 1` descriptors.
//! - Row 16, armed timers: `n` timers pending (an hour away) while one 1 ms timer fires
//!   repeatedly; the CPU time of the whole process per firing (wall time would be the 1 ms
//!   itself), for kq's `sleep`, tokio's `sleep` and the reactor's TIMER knotes.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::pin::Pin;
use std::time::{Duration, Instant};

use kq_reactor::{note, Filter, Flags, Kevent, Kqueue};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use crate::reactor::pipe;

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the new soft limit.
///
/// # Errors
/// The OS error of `getrlimit(2)` or `setrlimit(2)`.
pub fn raise_nofile() -> io::Result<u64> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is a valid, writable rlimit.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: `lim` is a valid rlimit whose soft limit does not exceed its hard limit.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(lim.rlim_cur)
}

/// Descriptors open in this process now.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// `n` eventfds (non-blocking, close-on-exec) that nobody writes: idle descriptors.
///
/// # Errors
/// The OS error of `eventfd(2)` (`EMFILE` past the descriptor limit).
pub fn idle_fds(n: usize) -> io::Result<Vec<OwnedFd>> {
    (0..n)
        .map(|_| {
            // SAFETY: eventfd takes an initial value and flags; it returns a new fd or -1.
            let fd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `fd` was just opened and is owned by nothing else.
            Ok(unsafe { OwnedFd::from_raw_fd(fd) })
        })
        .collect()
}

fn write_byte(fd: RawFd) {
    // SAFETY: writes one byte from a valid one-byte buffer to an open pipe.
    let n = unsafe { libc::write(fd, b"x".as_ptr().cast(), 1) };
    assert_eq!(n, 1, "pipe write");
}

fn read_byte(fd: RawFd) {
    let mut b = [0u8; 1];
    // SAFETY: reads at most one byte into a valid one-byte buffer from an open pipe.
    let n = unsafe { libc::read(fd, b.as_mut_ptr().cast(), 1) };
    assert_eq!(n, 1, "pipe read");
}

/// Untimed round trips before the timed ones of row 15: the first waits may still carry
/// registration work (a backend may apply registrations lazily), which is set-up, not the cost
/// per event.
const WARM_UP: u64 = 8;

/// Row 15 for kq: `idle` and the pipe registered for READ on one `Kqueue`; `iters` round trips
/// (write, collect with a blocking `kevent`, read). Only the round trips after [`WARM_UP`] are
/// timed.
///
/// # Errors
/// The OS error of creating the pipe or the kqueue, or of a registration.
pub fn kq_idle(idle: &[OwnedFd], iters: u64) -> io::Result<Duration> {
    let (r, w) = pipe()?;
    let kq = Kqueue::new()?;
    let changes: Vec<Kevent> = idle
        .iter()
        .map(|fd| Kevent::new(fd.as_raw_fd() as usize, Filter::Read, Flags::ADD))
        .collect();
    for chunk in changes.chunks(1024) {
        kq.kevent(chunk, &mut [], None)?;
    }
    let active = r.as_raw_fd() as usize;
    kq.kevent(&[Kevent::new(active, Filter::Read, Flags::ADD)], &mut [], None)?;
    let mut events = [Kevent::default(); 4];
    let mut start = Instant::now();
    for i in 0..iters + WARM_UP {
        if i == WARM_UP {
            start = Instant::now();
        }
        write_byte(w.as_raw_fd());
        loop {
            let n = kq.kevent(&[], &mut events, None)?;
            if events[..n].iter().any(|e| e.ident == active) {
                break;
            }
        }
        read_byte(r.as_raw_fd());
    }
    Ok(start.elapsed())
}

/// Row 15 for raw epoll (mio, edge-triggered): the same round trips.
///
/// # Errors
/// The OS error of creating the pipe or the poll, or of a registration.
pub fn mio_idle(idle: &[OwnedFd], iters: u64) -> io::Result<Duration> {
    let (r, w) = pipe()?;
    let mut poll = Poll::new()?;
    for (i, fd) in idle.iter().enumerate() {
        poll.registry().register(
            &mut SourceFd(&fd.as_raw_fd()),
            Token(i + 1),
            Interest::READABLE,
        )?;
    }
    poll.registry().register(&mut SourceFd(&r.as_raw_fd()), Token(0), Interest::READABLE)?;
    let mut events = Events::with_capacity(4);
    let mut start = Instant::now();
    for i in 0..iters + WARM_UP {
        if i == WARM_UP {
            start = Instant::now();
        }
        write_byte(w.as_raw_fd());
        loop {
            poll.poll(&mut events, None)?;
            if events.iter().any(|e| e.token() == Token(0)) {
                break;
            }
        }
        read_byte(r.as_raw_fd());
    }
    Ok(start.elapsed())
}

/// Row 15 for `poll(2)`: every round trip passes all `idle.len() + 1` descriptors to the kernel
/// and scans them for the ready one.
///
/// # Errors
/// The OS error of creating the pipe or of `poll(2)`.
pub fn poll_idle(idle: &[OwnedFd], iters: u64) -> io::Result<Duration> {
    let (r, w) = pipe()?;
    let mut fds: Vec<libc::pollfd> = idle
        .iter()
        .map(|fd| libc::pollfd { fd: fd.as_raw_fd(), events: libc::POLLIN, revents: 0 })
        .collect();
    fds.push(libc::pollfd { fd: r.as_raw_fd(), events: libc::POLLIN, revents: 0 });
    let mut start = Instant::now();
    for i in 0..iters + WARM_UP {
        if i == WARM_UP {
            start = Instant::now();
        }
        write_byte(w.as_raw_fd());
        loop {
            // SAFETY: `fds` is a valid array of `fds.len()` pollfds.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            let ready = fds.iter().position(|p| p.revents != 0);
            if ready == Some(fds.len() - 1) {
                break;
            }
        }
        read_byte(r.as_raw_fd());
    }
    Ok(start.elapsed())
}

/// CPU time (user + system, all threads) of this process so far.
pub fn cpu_now() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec.
    if unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// What `firings` firings of the short timer cost.
#[derive(Clone, Copy, Debug)]
pub struct Firings {
    /// Firings measured.
    pub firings: u32,
    /// CPU time of the process (all threads) during them.
    pub cpu: Duration,
    /// Wall time.
    pub wall: Duration,
    /// Time to arm the `n` pending timers (outside the measurement).
    pub arm: Duration,
}

impl Firings {
    /// CPU nanoseconds per firing.
    pub fn cpu_ns(&self) -> f64 {
        self.cpu.as_nanos() as f64 / f64::from(self.firings.max(1))
    }
}

/// The short timer of row 16.
pub const SHORT: Duration = Duration::from_millis(1);
const PENDING: Duration = Duration::from_secs(3600);

/// Arms `n` pending sleeps (each polled once, which registers it), then awaits `firings`
/// sleeps of [`SHORT`] and measures them; the pending sleeps are dropped afterwards. Written
/// once for both runtimes.
macro_rules! sleep_firings {
    ($name:ident, $krate:ident, $build:path, $doc:literal) => {
        #[doc = $doc]
        pub fn $name(n: usize, firings: u32) -> Firings {
            use ::$krate::task::yield_now;
            use ::$krate::time::sleep;
            let rt = $build(1);
            rt.block_on(async move {
                ::$krate::spawn(async move {
                    let t0 = Instant::now();
                    let mut armed: Vec<Pin<Box<_>>> = Vec::with_capacity(n);
                    for i in 0..n {
                        let mut s = Box::pin(sleep(PENDING));
                        let polled = futures_util::poll!(s.as_mut());
                        assert!(polled.is_pending(), "an hour-long sleep is pending");
                        armed.push(s);
                        if i % 32 == 31 {
                            yield_now().await;
                        }
                    }
                    let arm = t0.elapsed();
                    sleep(SHORT).await;
                    let (cpu0, wall0) = (cpu_now(), Instant::now());
                    for _ in 0..firings {
                        sleep(SHORT).await;
                    }
                    let r = Firings { firings, cpu: cpu_now() - cpu0, wall: wall0.elapsed(), arm };
                    drop(armed);
                    r
                })
                .await
                .expect("timer task")
            })
        }
    };
}

sleep_firings!(
    kq_sleep_firings,
    kq_runtime,
    crate::runtime_workloads::kq::build,
    "Row 16 for kq's `sleep` (multi-thread runtime, 1 worker)."
);
sleep_firings!(
    tokio_sleep_firings,
    tokio,
    crate::runtime_workloads::tk::build,
    "Row 16 for tokio's `sleep` (multi-thread runtime, 1 worker)."
);

/// Row 16 for the reactor's TIMER knotes: `n` one-hour TIMER knotes and one periodic 1 ms
/// TIMER knote on one `Kqueue`, `firings` collections of the periodic one.
///
/// # Errors
/// The OS error of creating the kqueue or of a registration.
pub fn reactor_timer_firings(n: usize, firings: u32) -> io::Result<Firings> {
    let kq = Kqueue::new()?;
    let t0 = Instant::now();
    let pending: Vec<Kevent> = (1..=n)
        .map(|i| {
            Kevent::new(i, Filter::Timer, Flags::ADD).with_fflags(note::SECONDS).with_data(3600)
        })
        .collect();
    for chunk in pending.chunks(4096) {
        kq.kevent(chunk, &mut [], None)?;
    }
    let arm = t0.elapsed();
    let short = Kevent::new(0, Filter::Timer, Flags::ADD)
        .with_fflags(note::MSECONDS)
        .with_data(SHORT.as_millis() as i64);
    kq.kevent(&[short], &mut [], None)?;
    let mut events = [Kevent::default(); 1];
    let (cpu0, wall0) = (cpu_now(), Instant::now());
    let mut got = 0;
    while got < firings {
        if kq.kevent(&[], &mut events, None)? == 1 {
            got += 1;
        }
    }
    Ok(Firings { firings, cpu: cpu_now() - cpu0, wall: wall0.elapsed(), arm })
}
