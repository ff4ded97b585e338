//! Shared helpers of the kq benchmarks.
//!
//! [`reactor`] holds the reactor workloads of BENCHMARKS.md (rows 7, 8, 15 and 17), each written
//! once for `kq-reactor` and once for raw `mio` (the floor), so that the criterion bench
//! (`benches/reactor.rs`) and the plain runner (`src/bin/reactor_compare.rs`) measure the very
//! same code.

pub mod net;
pub mod process_workloads;
pub mod progress;
pub mod report;
pub mod results;
pub mod runtime_workloads;
pub mod scaling;
pub mod svg;
pub mod watch_workloads;

pub mod reactor {
    //! Reactor workloads: kq next to the raw mio floor.
    //!
    //! Every workload has a `run(iters) -> Duration` that times `iters` operations and nothing
    //! else (set-up, thread start and tear-down are outside the timed span), which is what
    //! criterion's `iter_custom` and the interleaved runner both want.

    use std::hint::black_box;
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
    use std::sync::{Arc, Barrier};
    use std::thread;
    use std::time::{Duration, Instant};

    use kq_reactor::{note, Filter, Flags, Kevent, Kqueue, LockStats};
    use mio::unix::SourceFd;
    use mio::{Events, Interest, Poll, Token, Waker};

    /// A non-blocking, close-on-exec pipe: `(read end, write end)`.
    ///
    /// # Errors
    /// The OS error of `pipe(2)` or `fcntl(2)`.
    pub fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
        let mut fds: [RawFd; 2] = [-1, -1];
        // SAFETY: `fds` is an array of two ints, which is what pipe(2) writes.
        if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: pipe(2) succeeded, so both fds are open and owned by nothing else.
        let ends = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        for fd in [fds[0], fds[1]] {
            // SAFETY: `fd` is open (owned by `ends`); F_GETFL/F_SETFL/F_SETFD take int arguments.
            let ok = unsafe {
                let fl = libc::fcntl(fd, libc::F_GETFL);
                fl >= 0
                    && libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK) == 0
                    && libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) == 0
            };
            if !ok {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(ends)
    }

    fn user_add(ident: usize) -> Kevent {
        Kevent::new(ident, Filter::User, Flags::ADD | Flags::CLEAR).with_udata(ident as u64)
    }

    fn user_trigger(ident: usize) -> Kevent {
        Kevent::new(ident, Filter::User, Flags::empty()).with_fflags(note::TRIGGER)
    }

    /// Blocks in `kq` until it delivers one event.
    fn kq_wait_one(kq: &Kqueue, events: &mut [Kevent; 1]) {
        while kq.kevent(&[], events, None).expect("kevent wait") == 0 {}
    }

    /// Blocks in `poll` until it delivers at least one event.
    fn mio_wait_one(poll: &mut Poll, events: &mut Events) {
        loop {
            poll.poll(events, None).expect("epoll wait");
            if !events.is_empty() {
                return;
            }
        }
    }

    // ---- a. user_roundtrip_1thread ------------------------------------------------------------

    /// kq: trigger a USER `EV_CLEAR` knote and collect it in the same `kevent` call (zero
    /// timeout, one-event buffer).
    pub struct KqUserRoundtrip {
        kq: Kqueue,
        events: [Kevent; 1],
    }

    impl KqUserRoundtrip {
        /// A kqueue with USER knote 1 (`EV_CLEAR`) registered.
        ///
        /// # Errors
        /// The OS error of creating the kqueue.
        pub fn new() -> io::Result<Self> {
            let kq = Kqueue::new()?;
            kq.kevent(&[user_add(1)], &mut [], None)?;
            Ok(KqUserRoundtrip { kq, events: [Kevent::default(); 1] })
        }

        /// One round trip: trigger and collect.
        pub fn op(&mut self) {
            let n = self
                .kq
                .kevent(&[user_trigger(1)], &mut self.events, Some(Duration::ZERO))
                .expect("kevent");
            assert_eq!(n, 1, "the triggered USER event is collected");
            black_box(&self.events);
        }

        /// Times `iters` round trips.
        pub fn run(&mut self, iters: u64) -> Duration {
            let start = Instant::now();
            for _ in 0..iters {
                self.op();
            }
            start.elapsed()
        }
    }

    /// mio floor: `Waker::wake()` then `poll(Some(ZERO))` (an eventfd write and an `epoll_wait`).
    pub struct MioUserRoundtrip {
        poll: Poll,
        events: Events,
        waker: Waker,
    }

    impl MioUserRoundtrip {
        /// A poll with one waker.
        ///
        /// # Errors
        /// The OS error of creating the epoll instance or the eventfd.
        pub fn new() -> io::Result<Self> {
            let poll = Poll::new()?;
            let waker = Waker::new(poll.registry(), Token(1))?;
            Ok(MioUserRoundtrip { poll, events: Events::with_capacity(8), waker })
        }

        /// One round trip: wake and poll.
        pub fn op(&mut self) {
            self.waker.wake().expect("wake");
            self.poll.poll(&mut self.events, Some(Duration::ZERO)).expect("epoll");
            assert!(!self.events.is_empty(), "the wake is collected");
            black_box(&self.events);
        }

        /// Times `iters` round trips.
        pub fn run(&mut self, iters: u64) -> Duration {
            let start = Instant::now();
            for _ in 0..iters {
                self.op();
            }
            start.elapsed()
        }
    }

    // ---- b. user_roundtrip_2threads -----------------------------------------------------------

    /// kq ping-pong between two threads; times `iters` round trips as seen by thread A.
    ///
    /// Two kqueues, as mio needs two polls: thread A triggers knote 1 (in B's kqueue) and blocks
    /// in `kevent(None)` on its own kqueue for knote 2; thread B blocks for knote 1 and triggers
    /// knote 2. (With one shared kqueue, A's blocking `kevent` would collect its own trigger.)
    pub fn kq_ping_pong(iters: u64) -> Duration {
        let kq_a = Arc::new(Kqueue::new().expect("kqueue"));
        let kq_b = Arc::new(Kqueue::new().expect("kqueue"));
        kq_a.kevent(&[user_add(2)], &mut [], None).expect("add knote 2");
        kq_b.kevent(&[user_add(1)], &mut [], None).expect("add knote 1");
        let barrier = Arc::new(Barrier::new(2));
        let b = {
            let (kq_a, kq_b, barrier) = (kq_a.clone(), kq_b.clone(), barrier.clone());
            thread::spawn(move || {
                let mut events = [Kevent::default(); 1];
                barrier.wait();
                for _ in 0..iters {
                    kq_wait_one(&kq_b, &mut events);
                    kq_a.kevent(&[user_trigger(2)], &mut [], None).expect("trigger 2");
                }
            })
        };
        let mut events = [Kevent::default(); 1];
        barrier.wait();
        let start = Instant::now();
        for _ in 0..iters {
            kq_b.kevent(&[user_trigger(1)], &mut [], None).expect("trigger 1");
            kq_wait_one(&kq_a, &mut events);
        }
        let elapsed = start.elapsed();
        b.join().expect("thread B");
        elapsed
    }

    /// mio floor of [`kq_ping_pong`]: two polls, two wakers, the same ping-pong.
    pub fn mio_ping_pong(iters: u64) -> Duration {
        let mut poll_a = Poll::new().expect("poll");
        let mut poll_b = Poll::new().expect("poll");
        let waker_a = Arc::new(Waker::new(poll_a.registry(), Token(2)).expect("waker"));
        let waker_b = Waker::new(poll_b.registry(), Token(1)).expect("waker");
        let barrier = Arc::new(Barrier::new(2));
        let b = {
            let (waker_a, barrier) = (waker_a.clone(), barrier.clone());
            thread::spawn(move || {
                let mut events = Events::with_capacity(8);
                barrier.wait();
                for _ in 0..iters {
                    mio_wait_one(&mut poll_b, &mut events);
                    waker_a.wake().expect("wake A");
                }
            })
        };
        let mut events = Events::with_capacity(8);
        barrier.wait();
        let start = Instant::now();
        for _ in 0..iters {
            waker_b.wake().expect("wake B");
            mio_wait_one(&mut poll_a, &mut events);
        }
        let elapsed = start.elapsed();
        b.join().expect("thread B");
        elapsed
    }

    // ---- c. registration_churn ----------------------------------------------------------------

    /// kq: `EV_ADD` then `EV_DELETE` of READ on a pipe's read end, one `kevent` call each.
    pub struct KqChurn {
        kq: Kqueue,
        read: OwnedFd,
        _write: OwnedFd,
    }

    impl KqChurn {
        /// A kqueue and an empty pipe.
        ///
        /// # Errors
        /// The OS error of creating either.
        pub fn new() -> io::Result<Self> {
            let (read, write) = pipe()?;
            Ok(KqChurn { kq: Kqueue::new()?, read, _write: write })
        }

        /// One add + delete.
        pub fn op(&mut self) {
            let fd = self.read.as_raw_fd() as usize;
            let add = Kevent::new(fd, Filter::Read, Flags::ADD);
            let delete = Kevent::new(fd, Filter::Read, Flags::DELETE);
            self.kq.kevent(&[add], &mut [], None).expect("EV_ADD");
            self.kq.kevent(&[delete], &mut [], None).expect("EV_DELETE");
        }

        /// Times `iters` add + delete pairs.
        pub fn run(&mut self, iters: u64) -> Duration {
            let start = Instant::now();
            for _ in 0..iters {
                self.op();
            }
            start.elapsed()
        }
    }

    /// mio floor: `register` + `deregister` of the same pipe fd (`SourceFd`, READABLE).
    pub struct MioChurn {
        poll: Poll,
        read: OwnedFd,
        _write: OwnedFd,
    }

    impl MioChurn {
        /// A poll and an empty pipe.
        ///
        /// # Errors
        /// The OS error of creating either.
        pub fn new() -> io::Result<Self> {
            let (read, write) = pipe()?;
            Ok(MioChurn { poll: Poll::new()?, read, _write: write })
        }

        /// One register + deregister.
        pub fn op(&mut self) {
            let fd = self.read.as_raw_fd();
            let registry = self.poll.registry();
            registry.register(&mut SourceFd(&fd), Token(0), Interest::READABLE).expect("register");
            registry.deregister(&mut SourceFd(&fd)).expect("deregister");
        }

        /// Times `iters` register + deregister pairs.
        pub fn run(&mut self, iters: u64) -> Duration {
            let start = Instant::now();
            for _ in 0..iters {
                self.op();
            }
            start.elapsed()
        }
    }

    // ---- d. timer_arm -------------------------------------------------------------------------

    /// kq: add `batch` TIMER knotes with a one-hour deadline in one `kevent` call, then delete
    /// them in a second call that also collects (zero timeout), over `background` timers that
    /// stay armed the whole time.
    ///
    /// The delete call collects because the timer heap drops its stale entries (left by deleted
    /// timers) only on the collection path; a program that only registers and deletes would see
    /// the heap grow.
    pub struct TimerArm {
        kq: Kqueue,
        adds: Vec<Kevent>,
        deletes: Vec<Kevent>,
        events: [Kevent; 1],
    }

    impl TimerArm {
        /// A kqueue with `background` armed one-hour timers, ready to churn `batch` more.
        ///
        /// # Errors
        /// The OS error of creating the kqueue.
        pub fn new(batch: usize, background: usize) -> io::Result<Self> {
            let timer = |ident: usize, flags: Flags| {
                Kevent::new(ident, Filter::Timer, flags).with_fflags(note::SECONDS).with_data(3600)
            };
            let kq = Kqueue::new()?;
            let pinned: Vec<Kevent> =
                (0..background).map(|i| timer(batch + 1 + i, Flags::ADD)).collect();
            for chunk in pinned.chunks(4096) {
                kq.kevent(chunk, &mut [], None)?;
            }
            let adds = (1..=batch).map(|i| timer(i, Flags::ADD)).collect();
            let deletes = (1..=batch).map(|i| timer(i, Flags::DELETE)).collect();
            Ok(TimerArm { kq, adds, deletes, events: [Kevent::default(); 1] })
        }

        /// The number of timers added and deleted by one [`op`](TimerArm::op).
        pub fn batch(&self) -> usize {
            self.adds.len()
        }

        /// Adds and deletes the batch.
        pub fn op(&mut self) {
            self.kq.kevent(&self.adds, &mut [], None).expect("add timers");
            let n = self
                .kq
                .kevent(&self.deletes, &mut self.events, Some(Duration::ZERO))
                .expect("delete timers");
            assert_eq!(n, 0, "no timer is due within the hour");
        }

        /// Times `iters` batches.
        pub fn run(&mut self, iters: u64) -> Duration {
            let start = Instant::now();
            for _ in 0..iters {
                self.op();
            }
            start.elapsed()
        }
    }

    // ---- lock contention (rows 8 and 17) ------------------------------------------------------

    /// The outcome of [`contention`].
    #[derive(Clone, Copy, Debug)]
    pub struct Contention {
        /// Threads that shared the kqueue.
        pub threads: usize,
        /// Operations done, all threads together.
        pub ops: u64,
        /// Wall time from the start barrier until the last thread finished.
        pub elapsed: Duration,
        /// Events collected (by whichever thread): at most `ops`, fewer when a knote was deleted
        /// before anybody collected it.
        pub collected: u64,
        /// `lock_stats()` of the shared kqueue (the core lock).
        pub lock: LockStats,
        /// `poll_lock_stats()` of the shared kqueue (the backend's poll lock).
        pub poll_lock: LockStats,
        /// CPU time (user + system) of the whole process during the run: `cpu / elapsed` tells
        /// how many cores the threads really kept busy.
        pub cpu: Duration,
    }

    impl Contention {
        /// Operations per second, all threads together.
        pub fn ops_per_sec(&self) -> f64 {
            self.ops as f64 / self.elapsed.as_secs_f64()
        }
    }

    /// `threads` threads share one kqueue; each does `ops_per_thread` operations on its own USER
    /// knote. One operation is three `kevent` calls: register (`EV_ADD | EV_CLEAR`), trigger and
    /// collect (zero timeout, 4-event buffer: it may collect another thread's event), delete.
    pub fn contention(threads: usize, ops_per_thread: u64) -> Contention {
        let kq = Arc::new(Kqueue::new().expect("kqueue"));
        let barrier = Arc::new(Barrier::new(threads + 1));
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let (kq, barrier) = (kq.clone(), barrier.clone());
                thread::spawn(move || {
                    let ident = t + 1;
                    let delete = Kevent::new(ident, Filter::User, Flags::DELETE);
                    let mut events = [Kevent::default(); 4];
                    let mut collected = 0u64;
                    barrier.wait();
                    for _ in 0..ops_per_thread {
                        kq.kevent(&[user_add(ident)], &mut [], None).expect("register");
                        let n = kq
                            .kevent(&[user_trigger(ident)], &mut events, Some(Duration::ZERO))
                            .expect("trigger + collect");
                        collected += n as u64;
                        kq.kevent(&[delete], &mut [], None).expect("delete");
                    }
                    collected
                })
            })
            .collect();
        barrier.wait();
        let start = Instant::now();
        let cpu_start = process_cpu_time();
        let collected = workers.into_iter().map(|w| w.join().expect("worker")).sum();
        let elapsed = start.elapsed();
        let cpu = process_cpu_time().saturating_sub(cpu_start);
        Contention {
            threads,
            ops: threads as u64 * ops_per_thread,
            elapsed,
            collected,
            lock: kq.lock_stats(),
            poll_lock: kq.poll_lock_stats(),
            cpu,
        }
    }

    /// User + system CPU time of this process so far.
    pub fn process_cpu_time() -> Duration {
        // SAFETY: an all-zero `rusage` is a valid value for getrusage(2) to overwrite.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `ru` is a valid, writable rusage.
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
            return Duration::ZERO;
        }
        let tv = |t: libc::timeval| {
            Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
        };
        tv(ru.ru_utime) + tv(ru.ru_stime)
    }
}
