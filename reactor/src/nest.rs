//! Nesting: a [`Kqueue`](crate::Kqueue) registered for READ in another one.
//!
//! A process-wide registry maps each kqueue's fd to the kqueue, so that a READ registration on
//! that fd becomes a nested knote. Nesting changes are serialised by the registry's lock, under
//! which a registration that would close a cycle (a kqueue watching itself, directly or through
//! others) is refused with `EINVAL` instead of deadlocking later.
//!
//! Lock order: a parent's state lock, then the registry, then the small link lists; a child's
//! state lock is taken under its parent's, never the other way round (children notify parents only
//! after releasing their own lock).

use std::collections::HashMap;
use std::os::fd::RawFd;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use crate::kqueue::{Shared, WeakShared};
use crate::sync::lock_std as lock;

fn registry() -> MutexGuard<'static, HashMap<RawFd, WeakShared>> {
    static REGISTRY: OnceLock<Mutex<HashMap<RawFd, WeakShared>>> = OnceLock::new();
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
    lock(parent.children()).push((Arc::downgrade(child), ident));
    lock(child.parents()).push(parent_weak(parent));
    Ok(())
}

/// Undoes [`link`].
pub(crate) fn unlink(parent: &Shared, child: &WeakShared, ident: usize) {
    let _serial = registry();
    lock(parent.children()).retain(|(c, i)| !(c.ptr_eq(child) && *i == ident));
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
        lock(from.children()).iter().filter_map(|(c, _)| c.upgrade()).collect();
    let mut seen = 0usize;
    while let Some(k) = stack.pop() {
        if std::ptr::eq(Arc::as_ptr(&k), target) {
            return true;
        }
        seen += 1;
        if seen > 100_000 {
            return true; // absurd depth: refuse rather than loop
        }
        stack.extend(lock(k.children()).iter().filter_map(|(c, _)| c.upgrade()));
    }
    false
}
