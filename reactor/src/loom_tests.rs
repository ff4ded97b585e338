//! loom models of the reactor's protocol: enqueue (a trigger), scan (collection), delete and the
//! wake-up of threads blocked in `kevent`, run on the real core, lock and wait loop with the
//! model backend of `sys/model.rs` standing in for the OS waker.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p kq-reactor --lib --release loom`.

use loom::sync::Arc;
use loom::thread;

use crate::{note, Filter, Flags, Kevent, Kqueue};

fn trigger(id: usize) -> Kevent {
    Kevent::new(id, Filter::User, Flags::empty()).with_fflags(note::TRIGGER)
}

/// A thread blocked in `kevent` with no timeout is woken by a trigger from another thread,
/// whichever of the two gets the lock first: no lost wake-up.
#[test]
fn loom_trigger_wakes_blocked_waiter() {
    loom::model(|| {
        let kq = Arc::new(Kqueue::new().unwrap());
        kq.kevent(
            &[Kevent::new(1, Filter::User, Flags::ADD | Flags::CLEAR).with_udata(5)],
            &mut [],
            None,
        )
        .unwrap();
        let kq2 = kq.clone();
        let t = thread::spawn(move || {
            kq2.kevent(&[trigger(1)], &mut [], None).unwrap();
        });
        let mut ev = [Kevent::default(); 2];
        let n = kq.kevent(&[], &mut ev, None).unwrap();
        assert_eq!(n, 1);
        // The trigger is a modify, and a modify overwrites udata (as on FreeBSD).
        assert_eq!((ev[0].ident, ev[0].filter), (1, Filter::User));
        t.join().unwrap();
    });
}

/// Two threads wait on one kqueue; two oneshot events are triggered from a third. Each waiter
/// gets exactly one of them: no event lost, none delivered twice, and the second waiter (on the
/// condition variable, not in the backend) is not forgotten.
#[test]
fn loom_two_waiters_each_get_one_oneshot() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(2);
    builder.check(|| {
        let kq = Arc::new(Kqueue::new().unwrap());
        let adds = [
            Kevent::new(1, Filter::User, Flags::ADD | Flags::ONESHOT).with_udata(1),
            Kevent::new(2, Filter::User, Flags::ADD | Flags::ONESHOT).with_udata(2),
        ];
        kq.kevent(&adds, &mut [], None).unwrap();
        let waiter = |kq: Arc<Kqueue>| {
            thread::spawn(move || {
                let mut ev = [Kevent::default(); 1];
                let n = kq.kevent(&[], &mut ev, None).unwrap();
                assert_eq!(n, 1);
                ev[0].ident
            })
        };
        let a = waiter(kq.clone());
        let b = waiter(kq.clone());
        kq.kevent(&[trigger(1), trigger(2)], &mut [], None).unwrap();
        let mut got = [a.join().unwrap(), b.join().unwrap()];
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        assert!(kq.is_empty(), "oneshot knotes are gone after delivery");
    });
}

/// A delete racing with a collection: once the delete has returned, the deleted knote's udata is
/// never returned, and it is returned at most once before.
#[test]
fn loom_delete_races_collection() {
    loom::model(|| {
        let kq = Arc::new(Kqueue::new().unwrap());
        let add = Kevent::new(1, Filter::User, Flags::ADD | Flags::CLEAR).with_udata(9);
        kq.kevent(&[add, trigger(1)], &mut [], None).unwrap();
        let kq2 = kq.clone();
        let deleter = thread::spawn(move || {
            kq2.kevent(&[Kevent::new(1, Filter::User, Flags::DELETE)], &mut [], None).unwrap();
        });
        let mut ev = [Kevent::default(); 2];
        let first = kq.kevent(&[], &mut ev, Some(std::time::Duration::ZERO)).unwrap();
        assert!(first <= 1);
        deleter.join().unwrap();
        let after = kq.kevent(&[], &mut ev, Some(std::time::Duration::ZERO)).unwrap();
        assert_eq!(after, 0, "no event of a deleted knote");
    });
}
