//! Helpers shared by the runtime's integration tests.
#![allow(dead_code)] // each test file uses a subset

use std::any::Any;
#[cfg(unix)]
use std::io;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use kq_runtime::task;
use kq_runtime::time::timeout;

use kq_runtime::runtime::Builder;
use kq_runtime::Runtime;

/// Runs `f` on its own thread and fails the test if it has not returned after `secs` seconds.
pub fn bounded<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let worker = thread::Builder::new()
        .name("test-body".into())
        .spawn(move || {
            let r = catch_unwind(AssertUnwindSafe(f));
            let _ = tx.send(r);
        })
        .unwrap();
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(Ok(v)) => {
            let _ = worker.join();
            v
        }
        Ok(Err(panic)) => resume_unwind(panic),
        Err(_) => panic!("the test body did not finish within {secs} s: it hangs"),
    }
}

pub fn current() -> Runtime {
    Builder::new_current_thread().build().unwrap()
}

pub fn multi() -> Runtime {
    Builder::new_multi_thread().worker_threads(2).build().unwrap()
}

/// Both flavors, each with its name.
pub fn flavors() -> Vec<(&'static str, Runtime)> {
    vec![("current_thread", current()), ("multi_thread", multi())]
}

/// A minimal oneshot channel (futures-util's channels are not enabled here).
pub mod oneshot {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll, Waker};

    struct Inner<T> {
        value: Option<T>,
        waker: Option<Waker>,
        closed: bool,
    }

    pub struct Sender<T>(Arc<Mutex<Inner<T>>>);
    pub struct Receiver<T>(Arc<Mutex<Inner<T>>>);

    pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
        let inner = Arc::new(Mutex::new(Inner { value: None, waker: None, closed: false }));
        (Sender(inner.clone()), Receiver(inner))
    }

    impl<T> Sender<T> {
        pub fn send(self, v: T) {
            let waker = {
                let mut g = self.0.lock().unwrap();
                g.value = Some(v);
                g.waker.take()
            };
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    impl<T> Drop for Sender<T> {
        fn drop(&mut self) {
            let waker = {
                let mut g = self.0.lock().unwrap();
                g.closed = true;
                g.waker.take()
            };
            if let Some(w) = waker {
                w.wake();
            }
        }
    }

    /// Resolves to `Some(value)`, or `None` if the sender was dropped without sending.
    impl<T> Future for Receiver<T> {
        type Output = Option<T>;
        fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
            let mut g = self.0.lock().unwrap();
            if let Some(v) = g.value.take() {
                return Poll::Ready(Some(v));
            }
            if g.closed {
                return Poll::Ready(None);
            }
            g.waker = Some(cx.waker().clone());
            Poll::Pending
        }
    }
}

/// The text of a panic payload (`&str` or `String`).
pub fn payload_text(p: &(dyn Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string payload>".to_string()
    }
}

/// Waits (yielding) until `cond` holds, failing after 10 s.
pub async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let r = timeout(Duration::from_secs(10), async {
        while !cond() {
            task::yield_now().await;
        }
    })
    .await;
    assert!(r.is_ok(), "timed out waiting until {what}");
}

/// Sets a flag when dropped.
pub struct DropFlag(pub Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

/// Closes an fd when dropped. (Unix only, as are the pipe helpers below: the portable tests run
/// under wine too, see tools/windows-test.)
#[cfg(unix)]
pub struct Fd(pub libc::c_int);

#[cfg(unix)]
impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: the fd was returned by pipe2 and is owned by this guard; it is closed once.
        unsafe {
            libc::close(self.0);
        }
    }
}

/// A pipe: (read end non-blocking, write end blocking).
#[cfg(unix)]
pub fn pipe() -> (Fd, Fd) {
    let mut fds = [0 as libc::c_int; 2];
    // pipe2 sets both flags atomically (no window in which a concurrent fork+exec inherits the
    // fds); Apple has no pipe2, so there pipe and fcntl set them.
    #[cfg(not(target_vendor = "apple"))] // Apple lacks pipe2.
    // SAFETY: `fds` is a valid array of two c_ints for pipe2 to fill.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
    #[cfg(target_vendor = "apple")] // Apple lacks pipe2.
    // SAFETY: `fds` is a valid array of two c_ints for pipe to fill.
    let r = unsafe { libc::pipe(fds.as_mut_ptr()) };
    assert_eq!(r, 0, "pipe: {}", io::Error::last_os_error());
    let (rd, wr) = (Fd(fds[0]), Fd(fds[1]));
    #[cfg(target_vendor = "apple")] // Apple lacks pipe2.
    for fd in [rd.0, wr.0] {
        // SAFETY: fcntl on an fd we own, with flag arguments only.
        let r = unsafe {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC)
                | libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK)
        };
        assert_eq!(r, 0, "fcntl: {}", io::Error::last_os_error());
    }
    // The writer thread blocks instead of spinning on a full pipe.
    // SAFETY: fcntl on an fd we own, with valid commands.
    let r = unsafe {
        let fl = libc::fcntl(wr.0, libc::F_GETFL);
        libc::fcntl(wr.0, libc::F_SETFL, fl & !libc::O_NONBLOCK)
    };
    assert_eq!(r, 0, "fcntl: {}", io::Error::last_os_error());
    (rd, wr)
}

#[cfg(unix)]
pub fn read_fd(fd: libc::c_int, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}
