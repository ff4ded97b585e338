//! The examples as a user runs them.
//!
//! - A kq program that stops on Ctrl-C the way `examples/echo_server.rs` does
//!   (`kq::signal::ctrl_c()`, selected against `accept`) exits cleanly when sent SIGINT. The
//!   program is this test binary re-run as a child process (an env var selects the child role):
//!   it serves echo on 127.0.0.1:0 and prints its address; the parent echoes through it on two
//!   connections, sends SIGINT, and expects exit status 0 and the example's goodbye line.
//! - `examples/supervisor/` (the built example binary) restarts failing workers, and on SIGINT
//!   kills them, prints its summary and exits 0, leaving no worker behind.
// Unix-only: the examples are stopped with SIGINT sent by kill(2), and read signals.
#![cfg(unix)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use futures_util::future::{select, Either};
use futures_util::{AsyncReadExt, AsyncWriteExt};
use kq::net::{TcpListener, TcpStream};

const CHILD_VAR: &str = "KQ_EXAMPLES_SIGINT_CHILD";
const TEST_NAME: &str = "sigint_stops_an_echo_server_cleanly";

/// The example's echo loop.
async fn echo(mut stream: TcpStream) -> io::Result<u64> {
    let mut buf = vec![0u8; 16 * 1024];
    let mut total = 0;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(total);
        }
        stream.write_all(&buf[..n]).await?;
        total += n as u64;
    }
}

/// The example's `main`, on 127.0.0.1:0.
#[kq::main]
async fn echo_server_main() -> io::Result<()> {
    let mut ctrl_c = kq::signal::ctrl_c();
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("echo server listening on {}", listener.local_addr()?);
    io::stdout().flush()?;
    let mut connections = 0u64;
    loop {
        let accept = Box::pin(listener.accept());
        match select(accept, &mut ctrl_c).await {
            Either::Left((accepted, _)) => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        eprintln!("accept failed: {e} (retrying in 100 ms)");
                        kq::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                connections += 1;
                stream.set_nodelay(true)?;
                kq::spawn(async move {
                    if let Err(e) = echo(stream).await {
                        eprintln!("{peer}: {e}");
                    }
                });
            }
            Either::Right((stopped, _)) => {
                stopped?;
                println!("\nCtrl-C: stopping after {connections} connections");
                return Ok(());
            }
        }
    }
}

/// The child process: killed (SIGKILL) and reaped if the test ends before it exits, so no child
/// outlives a failed test.
struct KillOnDrop(Option<std::process::Child>);

impl KillOnDrop {
    fn get(&mut self) -> &mut std::process::Child {
        self.0.as_mut().expect("child")
    }

    fn pid(&self) -> libc::pid_t {
        self.0.as_ref().expect("child").id() as libc::pid_t
    }

    /// Reaps the child (which has closed its stdout, so it has exited or is exiting).
    fn wait(mut self) -> std::process::ExitStatus {
        self.0.take().expect("child").wait().expect("wait")
    }
}

/// The child's stdout, line by line, read on a thread of its own.
fn stdout_lines(child: &mut KillOnDrop) -> mpsc::Receiver<String> {
    let (line_tx, lines) = mpsc::channel();
    let stdout = child.get().stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line_tx.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits for the next stdout line of the child, until `deadline`.
fn next_line(lines: &mpsc::Receiver<String>, deadline: Instant, what: &str) -> String {
    let left = deadline.saturating_duration_since(Instant::now());
    lines.recv_timeout(left).unwrap_or_else(|e| panic!("child's stdout, waiting for {what}: {e}"))
}

#[test]
fn sigint_stops_an_echo_server_cleanly() {
    if std::env::var(CHILD_VAR).is_ok() {
        echo_server_main().expect("echo server");
        return;
    }
    let child = Command::new(std::env::current_exe().expect("current_exe"))
        .args([TEST_NAME, "--exact", "--test-threads=1", "--nocapture"])
        .env(CHILD_VAR, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the child");
    let mut child = KillOnDrop(Some(child));
    let pid = child.pid();
    let lines = stdout_lines(&mut child);
    let mut stderr = child.get().stderr.take().expect("stderr");
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });

    let deadline = Instant::now() + Duration::from_secs(30);
    let addr: SocketAddr = loop {
        let line = next_line(&lines, deadline, "the address");
        // (libtest's "test NAME ... " may share the line.)
        const PREFIX: &str = "echo server listening on ";
        if let Some(at) = line.find(PREFIX) {
            break line[at + PREFIX.len()..].parse().expect("address");
        }
    };

    // Two connections through the server; the second stays open across the SIGINT.
    let mut streams = Vec::new();
    for msg in [&b"first connection\n"[..], b"second connection\n"] {
        let mut s = std::net::TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10))).expect("read timeout");
        s.write_all(msg).expect("write");
        let mut back = vec![0u8; msg.len()];
        s.read_exact(&mut back).expect("echo");
        assert_eq!(back, msg);
        streams.push(s);
    }
    drop(streams.remove(0));

    // SAFETY: kill(2) sends SIGINT to our own child, not reaped yet (only `KillOnDrop` waits).
    let rc = unsafe { libc::kill(pid, libc::SIGINT) };
    assert_eq!(rc, 0, "kill: {}", io::Error::last_os_error());

    // The rest of stdout, up to its end: the child exits (bounded by the deadline).
    let mut rest = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => rest.push(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                drop(child); // SIGKILL, so that stderr ends
                panic!(
                    "the child did not exit within 30 s of starting (SIGINT sent); killed. \
                     stdout after the address: {rest:?}\n--- stderr\n{}",
                    stderr.join().unwrap_or_default()
                );
            }
        }
    }
    let exit = child.wait();
    let stderr = stderr.join().unwrap_or_default();
    assert!(exit.success(), "exit status {exit} after SIGINT\n--- stderr\n{stderr}");
    assert!(
        rest.iter().any(|l| l == "Ctrl-C: stopping after 2 connections"),
        "goodbye line missing; stdout after the address: {rest:?}\n--- stderr\n{stderr}"
    );
    assert!(rest.iter().any(|l| l.contains("1 passed")), "child test result: {rest:?}");

    // The open connection was closed when the program ended.
    let mut s = streams.pop().expect("second stream");
    let mut buf = [0u8; 8];
    match s.read(&mut buf) {
        Ok(0) => {}
        Ok(n) => panic!("unexpected bytes after exit: {:?}", &buf[..n]),
        Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e:?}"),
    }
}

/// The `supervisor` example binary, built next to this test by `cargo test`.
fn example_binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    // target/<profile>/deps/examples-HASH -> target/<profile>/examples/NAME
    let dir = exe.parent().and_then(|d| d.parent()).expect("target dir");
    dir.join("examples").join(name)
}

#[test]
fn supervisor_restarts_failures_and_stops_on_sigint() {
    let bin = example_binary("supervisor");
    assert!(bin.exists(), "{} not built (cargo test builds the examples)", bin.display());
    // Default workers: worker 0 succeeds, workers 1 and 2 fail and are restarted.
    let child = Command::new(&bin)
        .arg("3")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the supervisor");
    let mut child = KillOnDrop(Some(child));
    let pid = child.pid();
    let lines = stdout_lines(&mut child);
    let mut stderr = child.get().stderr.take().expect("stderr");
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    // Running, then a second failure of one worker (a restart with the doubled back-off).
    loop {
        let line = next_line(&lines, deadline, "a restart with back-off");
        seen.push(line.clone());
        if line.contains("restart in 200 ms") {
            break;
        }
    }
    assert!(seen.iter().any(|l| l.starts_with("supervisor: 3 workers")), "{seen:?}");
    // SAFETY: kill(2) sends SIGINT to our own child, not reaped yet (only `KillOnDrop` waits).
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                drop(child);
                panic!("the supervisor did not stop after SIGINT: {seen:?}");
            }
        }
    }
    let exit = child.wait();
    let stderr = stderr.join().unwrap_or_default();
    assert!(exit.success(), "exit status {exit}\n{seen:?}\n--- stderr\n{stderr}");
    assert!(seen.iter().any(|l| l.starts_with("supervisor: stopped;")), "{seen:?}");
    assert!(
        seen.iter().any(|l| l.contains("worker 0: 1 starts, 0 failures, 1 clean exits")),
        "{seen:?}"
    );
    // Every worker it started is gone (killed and reaped before the summary). A pid reused since
    // would belong to another program: this test binary runs no other shells.
    for line in &seen {
        let Some(at) = line.find(": started (pid ") else { continue };
        let digits: String = line[at + 15..].chars().take_while(char::is_ascii_digit).collect();
        let worker: u32 = digits.parse().expect("pid");
        // A missing /proc (not Linux) would make this check pass without looking.
        assert!(std::path::Path::new("/proc/self/stat").exists(), "reads Linux's /proc");
        let stat = std::fs::read_to_string(format!("/proc/{worker}/stat")).unwrap_or_default();
        assert!(
            !stat.contains("(sh)") && !stat.contains("(sleep)"),
            "worker {worker} outlived the supervisor: {stat}"
        );
    }
}

/// CPU time (user + system) of process `pid`, in clock ticks (`/proc/PID/stat` fields 14-15).
#[cfg(target_os = "linux")] // /proc/PID/stat
fn cpu_ticks(pid: libc::pid_t) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc/PID/stat");
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let rest = &stat[stat.rfind(')').expect("stat format") + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

/// `examples/echo_server` out of descriptors (a hostile user: more connections than its
/// RLIMIT_NOFILE): it keeps serving the connections it has, neither spins a core nor floods
/// stderr while `accept` fails with EMFILE, and serves the connections that waited once
/// descriptors are freed. (Its accept loop used to retry at once: 100 % of a core and
/// megabytes of "accept failed" a second.)
#[cfg(target_os = "linux")] // /proc/PID/stat
#[test]
fn echo_server_out_of_descriptors_neither_spins_nor_floods_and_recovers() {
    use std::os::unix::process::CommandExt;
    let bin = example_binary("echo_server");
    assert!(bin.exists(), "{} not built (cargo test builds the examples)", bin.display());
    let mut cmd = Command::new(&bin);
    cmd.arg("127.0.0.1:0").stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe; the closure allocates nothing.
    unsafe {
        cmd.pre_exec(|| {
            let rl = libc::rlimit { rlim_cur: 40, rlim_max: 40 };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &rl) != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = KillOnDrop(Some(cmd.spawn().expect("spawn echo_server")));
    let pid = child.pid();
    let lines = stdout_lines(&mut child);
    // stderr is read (and counted) all along: a pipe left full would stop a flood by blocking.
    let mut stderr = child.get().stderr.take().expect("stderr");
    let err_bytes = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = err_bytes.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 64 * 1024];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            counter.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let line = next_line(&lines, deadline, "the address line");
    let addr: SocketAddr = line.rsplit(' ').next().and_then(|a| a.parse().ok()).expect(&line);

    // More clients than the server has descriptors for: the last ones wait in the backlog.
    let mut clients: Vec<std::net::TcpStream> =
        (0..70).map(|_| std::net::TcpStream::connect(addr).expect("connect")).collect();
    let echoes = |s: &mut std::net::TcpStream| -> bool {
        s.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        let mut buf = [0u8; 4];
        s.write_all(b"ping").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"ping"
    };
    assert!(echoes(&mut clients[0]), "the first connection is served");
    std::thread::sleep(Duration::from_millis(300));
    let (ticks0, bytes0) = (cpu_ticks(pid), err_bytes.load(std::sync::atomic::Ordering::Relaxed));
    std::thread::sleep(Duration::from_secs(1));
    let ticks = cpu_ticks(pid) - ticks0;
    let bytes = err_bytes.load(std::sync::atomic::Ordering::Relaxed) - bytes0;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    assert!(ticks * 4 < hz, "out of descriptors, the server used {ticks}/{hz} s of CPU in 1 s");
    assert!(bytes < 16 * 1024, "out of descriptors, {bytes} bytes of stderr in 1 s");
    assert!(echoes(&mut clients[1]), "connections accepted before keep being served");

    // Descriptors freed: the connections that waited are accepted and served.
    let last = clients.split_off(60);
    drop(clients);
    for (i, mut s) in last.into_iter().enumerate() {
        assert!(echoes(&mut s), "waiting connection {i} was not served after fds were freed");
    }
    // SAFETY: kill(2) sends SIGINT to our own child, not reaped yet (only `KillOnDrop` waits).
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    assert!(child.wait().success());
}
