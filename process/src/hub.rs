//! One PROC or SIGNAL knote per (runtime, filter, ident), shared by every stream that wants it.
//!
//! A kqueue has one knote per `(ident, filter)`: two [`EventSource`]s on the same pid or signal
//! in one runtime would overwrite each other's udata, and dropping one would delete the other's
//! knote. So every PROC and SIGNAL stream of kq-process subscribes to a hub: the hub owns the one
//! `EventSource`, and each event it yields is copied into the queue of every subscriber. Whoever
//! polls pumps the source with a waker that wakes all subscribers.
//!
//! Hubs are created and destroyed under the registry lock, so a knote is never re-added for a key
//! while an older source for that key could still delete it. Lock order: registry, then a hub's
//! state, then its wakers; no waker is woken under a lock of ours.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use kq_reactor::{note, Filter, Flags, Kevent};
use kq_runtime::io::EventSource;
use kq_runtime::runtime::Handle;

use crate::sync::lock;

type Key = (usize, Filter, usize);

static HUBS: Mutex<Option<HashMap<Key, Arc<Hub>>>> = Mutex::new(None);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// At most this many undelivered events are kept per subscriber (PROC FORK/EXEC of a process
/// nobody reads); older same-kind events are merged into newer ones.
const MAX_QUEUE: usize = 64;

struct State {
    source: Option<EventSource>,
    queues: HashMap<u64, VecDeque<Kevent>>,
    /// The source ended (PROC exit, or the runtime's reactor gave up).
    ended: bool,
    /// The event that ended it, for subscribers that join late.
    last: Option<Kevent>,
}

struct Hub {
    key: Key,
    state: Mutex<State>,
    wakers: Arc<Wakers>,
}

/// The subscribers' wakers; also the waker the source is polled with (it wakes them all).
#[derive(Default)]
struct Wakers(Mutex<HashMap<u64, Waker>>);

impl Wake for Wakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        let wakers: Vec<Waker> = lock(&self.0).drain().map(|(_, w)| w).collect();
        for w in wakers {
            w.wake();
        }
    }
}

/// One stream's share of a hub.
pub(crate) struct Subscription {
    hub: Arc<Hub>,
    id: u64,
}

impl Subscription {
    /// Subscribes to the knote `change` describes (ident and filter; fflags for PROC) in the
    /// current runtime, registering it if this runtime has no subscriber for it yet.
    ///
    /// # Errors
    /// Outside a runtime, or the reactor's error for the registration (ESRCH, EINVAL,
    /// EOPNOTSUPP...).
    pub(crate) fn new(change: Kevent) -> io::Result<Subscription> {
        let handle = Handle::try_current().map_err(|e| io::Error::other(e.to_string()))?;
        let key = (handle.id(), change.filter, change.ident);
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let mut hubs = lock(&HUBS);
        let hubs = hubs.get_or_insert_with(HashMap::new);
        if let Some(hub) = hubs.get(&key) {
            let mut st = lock(&hub.state);
            if change.filter == Filter::Signal {
                // Deliveries the source holds that no subscriber has read yet were made before
                // this stream existed: they go to the others' queues first (a signal stream
                // sees the deliveries made after it was created, as tokio's does). Polled with
                // the subscribers' own waker, which stays registered.
                let all = Waker::from(hub.wakers.clone());
                let mut cx = Context::from_waker(&all);
                while let Some(Poll::Ready(Some(ev))) =
                    st.source.as_mut().map(|s| s.poll_next_event(&mut cx))
                {
                    for q in st.queues.values_mut() {
                        push(q, ev);
                    }
                }
            }
            let queue = st.last.into_iter().collect();
            st.queues.insert(id, queue);
            drop(st);
            return Ok(Subscription { hub: hub.clone(), id });
        }
        let source = EventSource::new(change)?;
        let state = State {
            source: Some(source),
            queues: HashMap::from([(id, VecDeque::new())]),
            ended: false,
            last: None,
        };
        let hub = Arc::new(Hub { key, state: Mutex::new(state), wakers: Arc::default() });
        hubs.insert(key, hub.clone());
        Ok(Subscription { hub, id })
    }

    /// The runtime this subscription's knote lives in ([`Handle::id`]).
    pub(crate) fn runtime(&self) -> usize {
        self.hub.key.0
    }

    /// The next event for this subscriber; `None` once the source ended and everything was read.
    pub(crate) fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<Kevent>> {
        let hub = &self.hub;
        let mut st = lock(&hub.state);
        let mut retire = false;
        let out = loop {
            if let Some(ev) = st.queues.get_mut(&self.id).and_then(VecDeque::pop_front) {
                break Poll::Ready(Some(ev));
            }
            if st.ended {
                break Poll::Ready(None);
            }
            lock(&hub.wakers.0).insert(self.id, cx.waker().clone());
            let all = Waker::from(hub.wakers.clone());
            let polled = match st.source.as_mut() {
                Some(source) => source.poll_next_event(&mut Context::from_waker(&all)),
                None => Poll::Ready(None),
            };
            match polled {
                Poll::Pending => break Poll::Pending,
                Poll::Ready(Some(ev)) => {
                    for q in st.queues.values_mut() {
                        push(q, ev);
                    }
                    if is_final(&ev) {
                        st.ended = true;
                        st.last = Some(ev);
                        retire = true;
                    }
                }
                Poll::Ready(None) => {
                    st.ended = true;
                    retire = true;
                }
            }
        };
        drop(st);
        if retire {
            // Others may be waiting on the source we consumed: they find the event queued.
            hub.wakers.wake_by_ref();
            retire_hub(hub);
        }
        out
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut hubs = lock(&HUBS);
        let mut st = lock(&self.hub.state);
        st.queues.remove(&self.id);
        lock(&self.hub.wakers.0).remove(&self.id);
        if !st.queues.is_empty() {
            return;
        }
        let source = st.source.take();
        drop(st);
        if let Some(map) = hubs.as_mut() {
            if map.get(&self.hub.key).is_some_and(|h| Arc::ptr_eq(h, &self.hub)) {
                map.remove(&self.hub.key);
            }
        }
        drop(source); // deletes the knote, still under the registry lock
        drop(hubs);
    }
}

/// A source that ended leaves the registry (with its knote deleted) so that a later subscriber
/// registers afresh; its subscribers keep the queued events.
fn retire_hub(hub: &Arc<Hub>) {
    let mut hubs = lock(&HUBS);
    let source = lock(&hub.state).source.take();
    if let Some(map) = hubs.as_mut() {
        if map.get(&hub.key).is_some_and(|h| Arc::ptr_eq(h, hub)) {
            map.remove(&hub.key);
        }
    }
    drop(source);
    drop(hubs);
}

/// Is this the last event of its knote (a PROC exit, or a oneshot)?
fn is_final(ev: &Kevent) -> bool {
    ev.flags.contains(Flags::ONESHOT)
        || (ev.filter == Filter::Proc
            && (ev.fflags & note::EXIT != 0 || ev.flags.contains(Flags::EOF)))
}

/// Queues `ev`, merging counts: SIGNAL deliveries add up, and a long queue of PROC notes merges
/// into its last entry.
fn push(q: &mut VecDeque<Kevent>, ev: Kevent) {
    let merge = ev.filter == Filter::Signal || (q.len() >= MAX_QUEUE && !is_final(&ev));
    if let Some(back) = q.back_mut() {
        if merge {
            back.data = back.data.saturating_add(ev.data);
            back.fflags |= ev.fflags;
            return;
        }
    }
    q.push_back(ev);
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("filter", &self.hub.key.1)
            .field("ident", &self.hub.key.2)
            .finish()
    }
}
