//! The core against a fake platform: no fd, no syscall. The test decides what each fake fd's
//! identity and readiness are, and checks what the changelist code and the scan make of them.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::knote::FdType;
use super::{ready, Core, Io, Kind, Knote};
use crate::kevent::{note, Filter, Flags, Kevent};

/// A fake fd: its identity and what a READ evaluation finds (bytes readable, hung up).
#[derive(Clone, Copy, Default)]
struct FakeFd {
    identity: (u64, u64),
    readable: i64,
    eof: bool,
}

/// The fake platform: fds by number, and what the core asked of it.
#[derive(Default)]
struct FakeIo {
    fds: HashMap<usize, FakeFd>,
    watched: HashMap<usize, u32>,
    evaluations: usize,
}

impl FakeIo {
    fn open(&mut self, fd: usize, inode: u64) {
        self.fds.insert(fd, FakeFd { identity: (1, inode), ..FakeFd::default() });
    }

    fn set(&mut self, fd: usize, readable: i64, eof: bool) {
        let f = self.fds.get_mut(&fd).expect("open fake fd");
        f.readable = readable;
        f.eof = eof;
    }
}

impl Io<()> for FakeIo {
    fn identity(&self, fd: usize) -> Result<(u64, u64), i32> {
        self.fds.get(&fd).map(|f| f.identity).ok_or(libc::EBADF)
    }

    fn attach_fd(
        &mut self,
        kev: &Kevent,
        identity: (u64, u64),
        first: bool,
    ) -> Result<Kind<()>, i32> {
        if first {
            *self.watched.entry(kev.ident).or_default() += 1;
        }
        Ok(Kind::Fd { ty: FdType::Other, identity })
    }

    fn arm_edges(&mut self, _kn: &Knote<()>, _first: bool) -> bool {
        true
    }

    fn detach_fd(&mut self, kn: &Knote<()>, last: bool) {
        if last {
            self.watched.remove(&kn.ident);
        }
    }

    fn attach_os(&mut self, _kev: &Kevent) -> Result<Kind<()>, i32> {
        Err(crate::errno::EOPNOTSUPP)
    }

    fn detach_os(&mut self, _kn: &Knote<()>) {}

    fn evaluate(&mut self, kn: &mut Knote<()>) -> Result<bool, ()> {
        self.evaluations += 1;
        let Kind::Fd { identity, .. } = kn.kind else { return Ok(false) };
        let f = self.fds.get(&kn.ident).ok_or(())?;
        if f.identity != identity {
            return Err(());
        }
        let ready = match kn.filter {
            Filter::Write => true,
            _ => f.readable > 0 || f.eof,
        };
        kn.data = if kn.filter == Filter::Write { 4096 } else { f.readable };
        kn.eof = f.eof;
        Ok(ready)
    }
}

fn scan(core: &mut Core<()>, io: &mut FakeIo) -> Vec<Kevent> {
    let mut out = [Kevent::default(); 16];
    let n = core.scan(&mut out, io);
    out[..n].to_vec()
}

fn add(ident: usize, filter: Filter, flags: Flags) -> Kevent {
    Kevent::new(ident, filter, Flags::ADD | flags)
}

#[test]
fn a_level_read_knote_follows_the_fake_readiness() {
    let (mut core, mut io, now) = (Core::default(), FakeIo::default(), Instant::now());
    io.open(5, 100);
    core.apply(&add(5, Filter::Read, Flags::empty()), &mut io, now).unwrap();
    assert_eq!(io.watched.get(&5), Some(&1), "the fd is watched once");
    assert!(scan(&mut core, &mut io).is_empty(), "not readable yet");

    io.set(5, 7, false);
    let key = core.key_of(5, Filter::Read).unwrap();
    core.activate(key, &mut io);
    let events = scan(&mut core, &mut io);
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].ident, events[0].data), (5, 7));
    assert_eq!(scan(&mut core, &mut io).len(), 1, "level: reported while it holds");

    io.set(5, 0, false);
    assert!(scan(&mut core, &mut io).is_empty(), "the scan re-evaluates and drops it");
    assert_eq!(core.pending(), 0);
}

#[test]
fn an_fd_closed_and_reused_drops_its_knotes() {
    let (mut core, mut io, now) = (Core::default(), FakeIo::default(), Instant::now());
    io.open(5, 100);
    io.set(5, 1, false);
    core.apply(&add(5, Filter::Read, Flags::empty()), &mut io, now).unwrap();
    core.apply(&add(5, Filter::Write, Flags::empty()), &mut io, now).unwrap();
    assert_eq!(core.len(), 2);
    io.open(5, 200); // closed, and the number reused by another file
    assert!(scan(&mut core, &mut io).is_empty(), "nothing about the old file is reported");
    assert_eq!(core.len(), 0, "both knotes are gone");
    assert!(io.watched.is_empty(), "and the watch with them");
    assert_eq!(
        core.apply(&Kevent::new(5, Filter::Read, Flags::DELETE), &mut io, now),
        Err(libc::ENOENT)
    );
}

#[test]
fn an_edge_knote_takes_the_backends_readiness_without_evaluating() {
    let (mut core, mut io, now) = (Core::default(), FakeIo::default(), Instant::now());
    io.open(9, 1);
    let change = Kevent { fflags: note::NODATA, ..add(9, Filter::Read, Flags::CLEAR) };
    core.apply(&change, &mut io, now).unwrap();
    let key = core.key_of(9, Filter::Read).unwrap();
    let before = io.evaluations;
    core.activate_edge(key, ready::WRITE, &mut io);
    assert!(scan(&mut core, &mut io).is_empty(), "a WRITE edge is not a READ event");
    core.activate_edge(key, ready::READ | ready::RDHUP, &mut io);
    let events = scan(&mut core, &mut io);
    assert_eq!(events.len(), 1);
    assert!(events[0].flags.contains(Flags::EOF), "RDHUP is EOF: {:?}", events[0]);
    assert!(scan(&mut core, &mut io).is_empty(), "EV_CLEAR: once per edge");
    assert_eq!(io.evaluations, before, "the fd was never evaluated");
}

#[test]
fn dispatch_delivers_once_until_enabled() {
    let (mut core, mut io, now) = (Core::default(), FakeIo::default(), Instant::now());
    io.open(3, 1);
    io.set(3, 2, false);
    core.apply(&add(3, Filter::Read, Flags::DISPATCH), &mut io, now).unwrap();
    assert_eq!(scan(&mut core, &mut io).len(), 1);
    assert!(scan(&mut core, &mut io).is_empty(), "disabled after delivery");
    core.apply(&Kevent::new(3, Filter::Read, Flags::ENABLE), &mut io, now).unwrap();
    assert_eq!(scan(&mut core, &mut io).len(), 1, "enabled, and still readable");
}

#[test]
fn user_events_trigger_copy_fflags_and_clear() {
    let (mut core, mut io, now) = (Core::default(), FakeIo::default(), Instant::now());
    core.apply(&add(1, Filter::User, Flags::CLEAR), &mut io, now).unwrap();
    assert!(scan(&mut core, &mut io).is_empty());
    let trigger = Kevent {
        fflags: note::TRIGGER | note::FFCOPY | 0x5,
        data: 42,
        ..Kevent::new(1, Filter::User, Flags::empty())
    };
    core.apply(&trigger, &mut io, now).unwrap();
    let events = scan(&mut core, &mut io);
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].fflags, events[0].data), (0x5, 42), "{:?}", events[0]);
    assert!(scan(&mut core, &mut io).is_empty(), "EV_CLEAR reset the trigger");
}

#[test]
fn a_periodic_timer_counts_expirations() {
    let (mut core, mut io, now) = (Core::default(), FakeIo::default(), Instant::now());
    core.apply(&Kevent { data: 10, ..add(7, Filter::Timer, Flags::empty()) }, &mut io, now)
        .unwrap();
    assert_eq!(core.next_deadline(), Some(now + Duration::from_millis(10)));
    core.fire_timers(now + Duration::from_millis(35));
    let events = scan(&mut core, &mut io);
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].data, 3, "three periods passed");
    assert!(events[0].flags.contains(Flags::CLEAR), "EV_CLEAR is implicit");
    assert!(scan(&mut core, &mut io).is_empty(), "and the count was reset");
    core.apply(&Kevent::new(7, Filter::Timer, Flags::DELETE), &mut io, now).unwrap();
    // Heap entries are removed lazily: a stale deadline may remain, but it fires nothing.
    core.fire_timers(now + Duration::from_secs(3600));
    assert!(scan(&mut core, &mut io).is_empty(), "a deleted timer fires nothing");
    assert_eq!(core.pending(), 0);
}

#[test]
fn bad_changes_are_refused_with_their_errno() {
    let (mut core, mut io, now) = (Core::default(), FakeIo::default(), Instant::now());
    assert_eq!(
        core.apply(&add(1, Filter::Unknown(-42), Flags::empty()), &mut io, now),
        Err(libc::EINVAL)
    );
    assert_eq!(core.apply(&add(77, Filter::Read, Flags::empty()), &mut io, now), Err(libc::EBADF));
    assert_eq!(
        core.apply(&add(1, Filter::Proc, Flags::empty()), &mut io, now),
        Err(crate::errno::EOPNOTSUPP)
    );
    assert_eq!(
        core.apply(&add(1, Filter::User, Flags::ENABLE | Flags::DISABLE), &mut io, now),
        Err(libc::EINVAL)
    );
    assert_eq!(core.len(), 0, "nothing was registered");
}

#[test]
fn the_fd_filters_are_those_whose_operations_say_so() {
    let all = [
        Filter::Read,
        Filter::Write,
        Filter::Vnode,
        Filter::Proc,
        Filter::Signal,
        Filter::Timer,
        Filter::User,
    ];
    for f in all {
        let ops = super::filter::ops::<()>(f).expect("a known filter has operations");
        assert_eq!(ops.is_fd(), super::filter::FD_FILTERS.contains(&f), "{f:?}");
        assert_eq!(ops.is_fd(), f.is_fd(), "{f:?}");
    }
    assert!(super::filter::ops::<()>(Filter::Unknown(-99)).is_none());
}
