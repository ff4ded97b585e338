//! The filter table, as FreeBSD's `struct filterops`: one module per filter with its operations,
//! and a knote keeps the operations of its filter. The changelist code (`Core::apply`) and the scan
//! call through them and never branch on the filter.
//!
//! Adding a filter: its number in `kevent.rs`, a module here implementing [`FilterOps`], a line in
//! [`ops`], and, when its source is outside the core, the platform side behind [`super::Io`].

use std::time::Instant;

use super::{Core, Io, Kind, Knote};
use crate::kevent::{Filter, Flags, Kevent};

mod platform_edge;
mod read_write;
#[cfg(all(unix, not(loom)))] // Asked by the unix platform side at attach time.
pub(crate) use read_write::edges_only;
mod timer;
mod user;
mod vnode;

/// What `attach` made: the knote's state, the flags its filter adds (an implicit EV_CLEAR), the
/// stored fflags, and for READ/WRITE whether no other knote of this kqueue watched the fd.
pub(crate) struct Attached<S: 'static> {
    pub kind: Kind<S>,
    pub flags: Flags,
    pub sfflags: u32,
    pub first: bool,
}

impl<S: 'static> Attached<S> {
    fn new(kind: Kind<S>, kev: &Kevent) -> Attached<S> {
        Attached { kind, flags: Flags::empty(), sfflags: kev.fflags, first: false }
    }
}

/// The fd identities the core knows: `(st_dev, st_ino)` of each fd with READ, WRITE or VNODE
/// knotes.
pub(crate) type Fds = crate::core::hash::IntMap<usize, (u64, u64)>;

/// The operations of one filter (FreeBSD's `f_isfd`, `f_attach`, `f_detach`, `f_event`,
/// `f_touch`, and what delivery copies out and resets).
pub(crate) trait FilterOps<S: 'static>: Sync {
    /// The ident is a file descriptor: its identity is checked at each change and the knote is
    /// dropped once the fd names another file.
    fn is_fd(&self) -> bool {
        false
    }
    /// f_attach: validates the request and sets the knote's source up (`identity`: the fd's, for
    /// fd filters).
    fn attach(
        &self,
        core: &mut Core<S>,
        kev: &Kevent,
        identity: Option<(u64, u64)>,
        io: &mut dyn Io<S>,
        now: Instant,
    ) -> Result<Attached<S>, i32>;
    /// The knote is in the table (before EV_DISABLE applies): a timer is armed here.
    fn inserted(&self, _core: &mut Core<S>, _key: usize) {}
    /// The first look at a new enabled knote: evaluates it and queues it if its condition holds.
    fn start(&self, core: &mut Core<S>, key: usize, _first: bool, io: &mut dyn Io<S>) {
        core.evaluate_and_queue(key, io);
    }
    /// f_detach: undoes `attach`; the knote is already out of the table.
    fn detach(&self, core: &mut Core<S>, kn: &Knote<S>, io: &mut dyn Io<S>);
    /// f_event: does the condition hold now? Updates the pending `data`, `fflags` and `eof`.
    /// `Err`: the knote's source is gone, and so is the knote.
    fn event(&self, kn: &mut Knote<S>, fds: &Fds, io: &mut dyn Io<S>) -> Result<bool, ()>;
    /// f_touch: a change on an existing knote. By default the request is replaced.
    fn touch(&self, core: &mut Core<S>, key: usize, kev: &Kevent, _now: Instant) {
        let kn = &mut core.knotes[key];
        kn.sfflags = kev.fflags;
        kn.sdata = kev.data;
    }
    /// A READ/WRITE knote that takes the backend's edges as they are, without evaluating.
    fn trusts_edges(&self, _kn: &Knote<S>) -> bool {
        false
    }
    /// What the delivered event carries beyond the pending output (USER: the stored fflags and
    /// data).
    fn deliver(&self, _kn: &Knote<S>, _ev: &mut Kevent) {}
    /// The reset after an EV_CLEAR delivery.
    fn clear(&self, kn: &mut Knote<S>) {
        kn.data = 0;
        kn.fflags = 0;
    }
}

/// The filters whose ident is a file descriptor (those whose operations say `is_fd`; checked by
/// a unit test): the one list, for looking up every knote on an fd.
pub(crate) const FD_FILTERS: [Filter; 3] = [Filter::Read, Filter::Write, Filter::Vnode];

/// The table: the operations of `filter`, `None` for a filter kq does not know.
pub(crate) fn ops<S: 'static>(filter: Filter) -> Option<&'static dyn FilterOps<S>> {
    Some(match filter {
        Filter::Read | Filter::Write => &read_write::ReadWrite,
        Filter::Vnode => &vnode::Vnode,
        Filter::Proc => &platform_edge::PlatformEdge,
        Filter::Signal => &platform_edge::PlatformEdge,
        Filter::Timer => &timer::Timer,
        Filter::User => &user::User,
        Filter::Unknown(_) => return None,
    })
}

/// True when the fd of an fd knote (READ, WRITE, VNODE) no longer names the file the knote was
/// made for: closed, or closed and its number reused by another file. FreeBSD drops knotes at
/// close; here they are dropped when next looked at, before they can report anything.
pub(crate) fn file_gone<S: 'static>(kn: &Knote<S>, fds: &Fds, io: &mut dyn Io<S>) -> bool {
    if !kn.ops.is_fd() {
        return false;
    }
    match fds.get(&kn.ident) {
        Some(&known) => io.identity(kn.ident) != Ok(known),
        None => true,
    }
}
