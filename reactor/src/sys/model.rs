//! The loom model backend (`--cfg loom` only): no OS sources, a wait that blocks until woken.
//! It stands for the eventfd/EVFILT_USER waker of the real backends so that loom can explore the
//! reactor's wait/wake protocol.

use std::io;
use std::time::Duration;

use super::Backend;
use crate::sync::{Condvar, Mutex};

pub(crate) struct ModelBackend {
    woken: Mutex<bool>,
    cond: Condvar,
}

impl Backend for ModelBackend {
    fn new() -> io::Result<ModelBackend> {
        Ok(ModelBackend { woken: Mutex::new(false), cond: Condvar::new() })
    }

    fn wait(
        &self,
        _events: &mut Vec<super::BackendEvent>,
        timeout: Option<Duration>,
    ) -> io::Result<usize> {
        let mut woken = self.woken.lock().unwrap_or_else(|p| p.into_inner());
        // loom has no clock: a timed wait returns at once, like a timeout that already passed.
        if timeout.is_none() {
            while !*woken {
                woken = self.cond.wait(woken).unwrap_or_else(|p| p.into_inner());
            }
        }
        *woken = false;
        Ok(0)
    }

    /// The model has no OS sources: nothing to harvest.
    fn harvest(&self, _events: &mut Vec<super::BackendEvent>) -> io::Result<super::Harvest> {
        Ok(super::Harvest::default())
    }

    fn wake(&self) {
        *self.woken.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.cond.notify_one();
    }

    fn lock_stats(&self) -> crate::LockStats {
        crate::LockStats::default()
    }
}
