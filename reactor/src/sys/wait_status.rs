//! The wait status of an exited child, read without reaping it (PROC's NOTE_EXIT data, on every
//! Unix backend): `waitid(.., WEXITED | WNOWAIT | WNOHANG)` leaves the child to its owner.

/// The wait status (as `waitpid` gives it) of the exited child named by `(idtype, id)`, without
/// reaping it; `None` when it has not exited, is not our child or was already reaped.
pub(crate) fn peek(idtype: libc::idtype_t, id: libc::id_t) -> Option<i64> {
    // SAFETY: a zeroed siginfo_t is a valid out-value for waitid.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    let flags = libc::WEXITED | libc::WNOWAIT | libc::WNOHANG;
    // SAFETY: `info` is valid for writes.
    let rc = unsafe { libc::waitid(idtype, id, &mut info, flags) };
    // SAFETY: waitid filled `info` (or left it zeroed); si_pid/si_status read the SIGCHLD fields.
    let (pid, code, st) = unsafe { (info.si_pid(), info.si_code, info.si_status()) };
    if rc != 0 || pid == 0 {
        return None;
    }
    Some(i64::from(match code {
        libc::CLD_EXITED => (st & 0xff) << 8,
        libc::CLD_KILLED => st & 0x7f,
        libc::CLD_DUMPED => (st & 0x7f) | 0x80,
        _ => 0,
    }))
}
