//! [`Command`]: a `std::process::Command` that spawns a kq [`Child`].

use std::ffi::OsStr;
use std::io;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{ExitStatus, Output, Stdio};

use super::child::Child;

/// A process builder, shaped like `tokio::process::Command` (it wraps a
/// [`std::process::Command`]).
///
/// # Examples
///
/// ```
/// # kq_runtime::Runtime::new()?.block_on(async {
/// use kq_process::process::Command;
///
/// let out = Command::new("echo").arg("hello").output().await?;
/// assert!(out.status.success());
/// assert_eq!(out.stdout, b"hello\n");
/// # Ok::<(), std::io::Error>(())
/// # })?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Command {
    std: std::process::Command,
    kill_on_drop: bool,
}

impl Command {
    /// A command running `program` (looked up in `PATH` when it has no `/`).
    pub fn new<S: AsRef<OsStr>>(program: S) -> Command {
        Command::from(std::process::Command::new(program))
    }

    /// Adds an argument.
    pub fn arg<S: AsRef<OsStr>>(&mut self, arg: S) -> &mut Command {
        self.std.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.std.args(args);
        self
    }

    /// Sets an environment variable.
    pub fn env<K: AsRef<OsStr>, V: AsRef<OsStr>>(&mut self, key: K, val: V) -> &mut Command {
        self.std.env(key, val);
        self
    }

    /// Sets environment variables.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.std.envs(vars);
        self
    }

    /// Removes an environment variable.
    pub fn env_remove<K: AsRef<OsStr>>(&mut self, key: K) -> &mut Command {
        self.std.env_remove(key);
        self
    }

    /// Clears the environment.
    pub fn env_clear(&mut self) -> &mut Command {
        self.std.env_clear();
        self
    }

    /// Sets the working directory.
    pub fn current_dir<P: AsRef<Path>>(&mut self, dir: P) -> &mut Command {
        self.std.current_dir(dir);
        self
    }

    /// The child's stdin (inherited by default for `spawn` and `status`).
    pub fn stdin<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.std.stdin(cfg);
        self
    }

    /// The child's stdout (inherited by default for `spawn` and `status`).
    pub fn stdout<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.std.stdout(cfg);
        self
    }

    /// The child's stderr (inherited by default for `spawn` and `status`).
    pub fn stderr<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.std.stderr(cfg);
        self
    }

    /// Kill the child (SIGKILL) when its [`Child`] is dropped before it exited. Off by default:
    /// a dropped child runs on and is reaped in the background when it exits.
    pub fn kill_on_drop(&mut self, kill_on_drop: bool) -> &mut Command {
        self.kill_on_drop = kill_on_drop;
        self
    }

    /// Puts the child in process group `pgroup` (0: a new group led by the child).
    pub fn process_group(&mut self, pgroup: i32) -> &mut Command {
        self.std.process_group(pgroup);
        self
    }

    /// Runs the child as user `id`.
    pub fn uid(&mut self, id: u32) -> &mut Command {
        self.std.uid(id);
        self
    }

    /// Runs the child as group `id`.
    pub fn gid(&mut self, id: u32) -> &mut Command {
        self.std.gid(id);
        self
    }

    /// Runs `f` in the child after fork, before exec.
    ///
    /// # Safety
    /// As [`std::os::unix::process::CommandExt::pre_exec`]: `f` runs in a forked copy of a
    /// possibly multi-threaded process and may only do async-signal-safe things (no allocation,
    /// no locks).
    pub unsafe fn pre_exec<F>(&mut self, f: F) -> &mut Command
    where
        F: FnMut() -> io::Result<()> + Send + Sync + 'static,
    {
        // SAFETY: the caller upholds pre_exec's contract.
        unsafe { self.std.pre_exec(f) };
        self
    }

    /// The wrapped std command.
    pub fn as_std(&self) -> &std::process::Command {
        &self.std
    }

    /// The wrapped std command, mutably.
    pub fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.std
    }

    /// Starts the child.
    ///
    /// Piped stdin/stdout/stderr are registered with the current kq runtime; waiting registers a
    /// PROC knote with the runtime that waits.
    ///
    /// # Errors
    /// `NotFound` (the program, or the working directory set with
    /// [`current_dir`](Self::current_dir), does not exist) or `PermissionDenied` (the program is
    /// not executable), with the program (or the directory) named in the message and the OS's
    /// error, errno included, as the error's [`source`](std::error::Error::source); the OS's
    /// other errors of fork/exec as they are (e.g. EMFILE, EAGAIN); with piped stdio, an error
    /// outside a kq runtime (the child is then killed and reaped).
    pub fn spawn(&mut self) -> io::Result<Child> {
        let child = self.std.spawn().map_err(|e| match e.kind() {
            // Which program (or directory) is missing or not executable is what the user needs
            // to know; the errno stays reachable as the source.
            io::ErrorKind::NotFound | io::ErrorKind::PermissionDenied => {
                let program = self.std.get_program().to_string_lossy().into_owned();
                let what = match self.std.get_current_dir() {
                    Some(dir) if !dir.is_dir() => format!(
                        "cannot run {program:?} in {:?}: the working directory is not there",
                        dir.display()
                    ),
                    _ => format!("cannot run {program:?}"),
                };
                io::Error::new(e.kind(), SpawnError { what, os: e })
            }
            _ => e, // with its errno (EMFILE, EAGAIN, ...)
        })?;
        Child::from_std(child, self.kill_on_drop)
    }

    /// Runs the child to completion and returns its exit status. Its stdio are inherited unless
    /// set; pipes, if set, are closed before waiting (so the child cannot block on them).
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn) and [`Child::wait`].
    pub async fn status(&mut self) -> io::Result<ExitStatus> {
        let mut child = self.spawn()?;
        drop(child.stdin.take());
        drop(child.stdout.take());
        drop(child.stderr.take());
        child.wait().await
    }

    /// Runs the child to completion, collecting its stdout and stderr (both set to piped; stdin
    /// is as configured, inherited by default, as in tokio).
    ///
    /// Returns once the child has exited **and** both pipes reached end-of-file: a grandchild
    /// that inherited them (e.g. `sh -c 'daemon &'`) keeps them open, and the output then ends
    /// when it exits or closes them, as with std and tokio.
    ///
    /// # Errors
    /// As [`spawn`](Self::spawn), [`Child::wait`] and reading the pipes.
    pub async fn output(&mut self) -> io::Result<Output> {
        self.std.stdout(Stdio::piped());
        self.std.stderr(Stdio::piped());
        self.spawn()?.wait_with_output().await
    }
}

impl From<std::process::Command> for Command {
    fn from(std: std::process::Command) -> Command {
        Command { std, kill_on_drop: false }
    }
}

/// A failed spawn that names what failed; the OS's error (with its errno) is its source.
#[derive(Debug)]
struct SpawnError {
    what: String,
    os: io::Error,
}

impl std::fmt::Display for SpawnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.what, self.os)
    }
}

impl std::error::Error for SpawnError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.os)
    }
}
