//! Nesting: a [`Kqueue`](crate::Kqueue) registered for READ in another one.
//!
//! A process-wide registry maps each kqueue's fd to the kqueue, so that a READ registration on
//! that fd becomes a nested knote. Nesting changes are serialised by the registry's lock, under
//! which a registration that would close a cycle (a kqueue watching itself, directly or through
//! others) is refused with `EINVAL` instead of deadlocking later.
//!
//! A link is also *OS-nested* when the child's fd could be watched by the parent's poller, so
//! that the OS reports the child's readiness to the parent (and to whoever polls the parent's
//! fd). Linux refuses chains of epoll instances deeper than a few (`ELOOP`, its `EP_MAX_NESTS`);
//! FreeBSD has no such limit, so kq does not either: a link the OS refuses is followed by the
//! waiting thread instead, which polls the fds of such kqueues along with its own (see
//! `Shared::wait_os`). Only the parent's own fd, polled by someone else, misses them.
//!
//! Lock order: a parent's state lock, then the registry, then the small link lists; a child's
//! state lock is taken under its parent's, never the other way round (children notify parents only
//! after releasing their own lock).

use std::os::fd::RawFd;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use crate::sync::lock_std as lock;
use crate::wait::{Link, Shared, WeakShared};

type Registry = crate::core::hash::IntMap<RawFd, WeakShared>;

fn registry() -> MutexGuard<'static, Registry> {
    static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();
    lock(REGISTRY.get_or_init(Default::default))
}

pub(crate) fn register(fd: RawFd, shared: &Arc<Shared>) {
    registry().insert(fd, Arc::downgrade(shared));
}

pub(crate) fn unregister(fd: RawFd) {
    registry().remove(&fd);
}

/// The kqueue whose fd is `fd`, if any.
pub(crate) fn lookup(fd: usize) -> Option<Arc<Shared>> {
    let fd = RawFd::try_from(fd).ok()?;
    registry().get(&fd).and_then(Weak::upgrade)
}

/// Records that `parent` watches `child` under `ident`; `EINVAL` for a kqueue watching itself or
/// a registration that would close a cycle.
pub(crate) fn link(parent: &Shared, child: &Arc<Shared>, ident: usize) -> Result<(), i32> {
    let _serial = registry();
    if std::ptr::eq(parent, Arc::as_ptr(child)) || reaches(child, parent) {
        return Err(libc::EINVAL);
    }
    lock(parent.children()).push(Link { child: Arc::downgrade(child), ident, os_nested: false });
    lock(child.parents()).push(parent_weak(parent));
    Ok(())
}

/// Records that the OS reports the readiness of the child under `ident` to `parent`'s poller.
pub(crate) fn set_os_nested(parent: &Shared, ident: usize) {
    if let Some(link) = lock(parent.children()).iter_mut().find(|l| l.ident == ident) {
        link.os_nested = true;
    }
}

/// Undoes [`link`]: `parent` no longer watches the kqueue under `ident`.
pub(crate) fn unlink(parent: &Shared, ident: usize) {
    let _serial = registry();
    let mut children = lock(parent.children());
    let Some(pos) = children.iter().position(|l| l.ident == ident) else { return };
    let child = children.swap_remove(pos).child;
    drop(children);
    if let Some(child) = child.upgrade() {
        let me = parent_weak(parent);
        let mut parents = lock(child.parents());
        if let Some(pos) = parents.iter().position(|p| p.ptr_eq(&me)) {
            parents.swap_remove(pos);
        }
    }
}

fn parent_weak(parent: &Shared) -> WeakShared {
    parent.me_weak()
}

/// Does `from` watch `target`, directly or through other kqueues?
fn reaches(from: &Shared, target: &Shared) -> bool {
    let mut stack: Vec<Arc<Shared>> =
        lock(from.children()).iter().filter_map(|l| l.child.upgrade()).collect();
    let mut seen = 0usize;
    while let Some(k) = stack.pop() {
        if std::ptr::eq(Arc::as_ptr(&k), target) {
            return true;
        }
        seen += 1;
        if seen > 100_000 {
            return true; // absurd depth: refuse rather than loop
        }
        stack.extend(lock(k.children()).iter().filter_map(|l| l.child.upgrade()));
    }
    false
}

impl Shared {
    /// The kqueues below this one, at any depth, whose readiness the OS does not report to this
    /// one's poller: each one behind a link that is not OS-nested (the kqueues below an OS-nested
    /// link are reported through the child's own fd, as far as the links below it are OS-nested
    /// too).
    pub(crate) fn unnested_below(&self) -> Vec<Arc<Shared>> {
        let top = self;
        let links = |k: &Shared| -> Vec<(Arc<Shared>, bool)> {
            lock(k.children())
                .iter()
                .filter_map(|l| Some((l.child.upgrade()?, l.os_nested)))
                .collect()
        };
        let mut stack = links(top);
        let mut out: Vec<Arc<Shared>> = Vec::new();
        let mut seen = 0usize;
        while let Some((k, os_nested)) = stack.pop() {
            seen += 1;
            if seen > 100_000 {
                break; // absurd fan-out: the deepest are then only found by their parents
            }
            stack.extend(links(&k));
            if !os_nested && !out.iter().any(|o| Arc::ptr_eq(o, &k)) {
                out.push(k);
            }
        }
        out
    }
}
