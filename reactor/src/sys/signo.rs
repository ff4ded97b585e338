//! Which signal numbers a SIGNAL knote may watch: one rule for every Unix backend.

/// The highest signal number of this OS.
#[cfg(target_os = "linux")]
fn max() -> i32 {
    // The C library's real limit; the kernel has no signal above 64 (`_NSIG`), the size of the
    // Linux source's tables.
    libc::SIGRTMAX().min(64)
}
/// The highest signal number of this OS (FreeBSD's and DragonFly's `_SIG_MAXSIG`).
#[cfg(any(target_os = "freebsd", target_os = "dragonfly"))]
fn max() -> i32 {
    128
}
/// The other kqueue systems have fewer than 64 signals: the kernel refuses the numbers above
/// its own limit with the same `EINVAL`.
#[cfg(not(any(target_os = "linux", target_os = "freebsd", target_os = "dragonfly")))]
fn max() -> i32 {
    63
}

/// The signal number of a SIGNAL ident: `EINVAL` for 0, numbers out of range, SIGKILL and SIGSTOP.
pub(crate) fn validate(ident: usize) -> Result<i32, i32> {
    match i32::try_from(ident) {
        Ok(sig) if (1..=max()).contains(&sig) && sig != libc::SIGKILL && sig != libc::SIGSTOP => {
            Ok(sig)
        }
        _ => Err(libc::EINVAL),
    }
}
