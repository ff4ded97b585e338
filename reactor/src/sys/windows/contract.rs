//! The Windows backend keeps the backend contract (`sys::Backend`, `sys::FdBackend`): the
//! compiler checks it here, and the reactor calls the backend through it.

use std::io;
use std::time::Duration;

use super::Backend as WindowsBackend;
use crate::sys::{Backend, BackendEvent, FdBackend, Harvest};

impl Backend for WindowsBackend {
    fn new() -> io::Result<Self> {
        WindowsBackend::new()
    }

    fn wait(&self, events: &mut Vec<BackendEvent>, timeout: Option<Duration>) -> io::Result<usize> {
        WindowsBackend::wait(self, events, timeout)
    }

    fn harvest(&self, events: &mut Vec<BackendEvent>) -> io::Result<Harvest> {
        WindowsBackend::harvest(self, events)
    }

    fn wake(&self) {
        WindowsBackend::wake(self)
    }

    fn lock_stats(&self) -> crate::LockStats {
        WindowsBackend::lock_stats(self)
    }
}

impl FdBackend for WindowsBackend {
    fn watch_fd(&self, fd: usize) -> io::Result<()> {
        WindowsBackend::watch_fd(self, fd)
    }

    fn rearm_fd(&self, fd: usize) -> io::Result<()> {
        WindowsBackend::rearm_fd(self, fd)
    }

    fn unwatch_fd(&self, fd: usize) {
        WindowsBackend::unwatch_fd(self, fd)
    }
}
