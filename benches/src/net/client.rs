//! The load side of `net_compare`: the out-of-process TCP and UDP clients, and wrk.

use super::*;

pub(crate) fn percentile(sorted: &[u64], q: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

pub(crate) fn print_result(count: usize, secs: f64, mut rtts: Vec<u64>, errors: usize) {
    rtts.sort_unstable();
    println!(
        "RESULT count={count} secs={secs:.3} rate={:.1} p50_us={:.1} p99_us={:.1} errors={errors}",
        count as f64 / secs,
        percentile(&rtts, 0.50) as f64 / 1e3,
        percentile(&rtts, 0.99) as f64 / 1e3,
    );
}

/// Writes all of `buf` to a non-blocking stream (spinning on the rare `WouldBlock`).
pub(crate) fn write_all_nb(s: &mut mio::net::TcpStream, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        match s.write(buf) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => thread::yield_now(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `client-tcp ADDR CONNS WARMUP_MS SECS [IDLE]`: `IDLE` idle connections opened first and held
/// open, then `CONNS` connections each ping-ponging `MSG` bytes (one message in flight per
/// connection), all driven by this one thread through mio.
pub(crate) fn tcp_client(
    addr: SocketAddr,
    conns: usize,
    idle: usize,
    warmup: Duration,
    secs: f64,
) -> io::Result<()> {
    struct Conn {
        stream: mio::net::TcpStream,
        sent: Instant,
        got: usize,
    }
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut idle_conns = Vec::with_capacity(idle);
    for _ in 0..idle {
        idle_conns.push(StdTcpStream::connect_timeout(&addr, Duration::from_secs(5))?);
    }
    let mut cs = Vec::with_capacity(conns);
    for i in 0..conns {
        let s = StdTcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        s.set_nodelay(true)?;
        s.set_nonblocking(true)?;
        let mut stream = mio::net::TcpStream::from_std(s);
        poll.registry().register(&mut stream, Token(i), Interest::READABLE)?;
        cs.push(Conn { stream, sent: Instant::now(), got: 0 });
    }
    let msg = [0xabu8; MSG];
    let mut buf = vec![0u8; 64 * 1024];
    for c in cs.iter_mut() {
        c.sent = Instant::now();
        write_all_nb(&mut c.stream, &msg)?;
    }
    let begin = Instant::now() + warmup;
    let end = begin + Duration::from_secs_f64(secs);
    let mut rtts: Vec<u64> = Vec::with_capacity(1 << 20);
    let mut errors = 0;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        match poll.poll(&mut events, Some(end - now)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for ev in events.iter() {
            let c = &mut cs[ev.token().0];
            loop {
                match c.stream.read(&mut buf) {
                    Ok(0) => {
                        errors += 1;
                        break;
                    }
                    Ok(n) => c.got += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        errors += 1;
                        break;
                    }
                }
            }
            while c.got >= MSG {
                c.got -= MSG;
                let t = Instant::now();
                if t >= begin && t < end {
                    rtts.push((t - c.sent).as_nanos() as u64);
                }
                c.sent = t;
                write_all_nb(&mut c.stream, &msg)?;
            }
        }
    }
    print_result(rtts.len(), secs, rtts, errors);
    drop(idle_conns);
    Ok(())
}

/// `client-udp ADDR WARMUP_MS SECS`: one socket, one datagram in flight.
pub(crate) fn udp_client(addr: SocketAddr, warmup: Duration, secs: f64) -> io::Result<()> {
    let sock = StdUdpSocket::bind(local())?;
    sock.connect(addr)?;
    sock.set_read_timeout(Some(Duration::from_millis(50)))?;
    let msg = [0xcdu8; MSG];
    let mut buf = [0u8; 2048];
    let begin = Instant::now() + warmup;
    let end = begin + Duration::from_secs_f64(secs);
    let mut rtts: Vec<u64> = Vec::with_capacity(1 << 20);
    let mut lost = 0;
    loop {
        let sent = Instant::now();
        if sent >= end {
            break;
        }
        sock.send(&msg)?;
        match sock.recv(&mut buf) {
            Ok(_) => {
                let t = Instant::now();
                if sent >= begin && t < end {
                    rtts.push((t - sent).as_nanos() as u64);
                }
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                lost += 1;
            }
            Err(e) => return Err(e),
        }
    }
    print_result(rtts.len(), secs, rtts, lost);
    Ok(())
}

/// Re-invokes this binary as a client process and parses its `RESULT` line.
pub(crate) fn run_client(args: &[String]) -> Result<HashMap<String, f64>, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = Command::new(exe).args(args).output().map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let Some(line) = stdout.lines().find(|l| l.starts_with("RESULT ")) else {
        return Err(format!(
            "client failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    };
    Ok(line[7..]
        .split_whitespace()
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.to_string(), v.parse().ok()?))
        })
        .collect())
}

// ---------------------------------------------------------------------------------------------
// wrk
// ---------------------------------------------------------------------------------------------

/// Whether `wrk` (the HTTP load generator of row 12) can be run.
pub fn wrk_installed() -> bool {
    Command::new("wrk").arg("-v").output().is_ok()
}

/// "1.23ms" -> microseconds.
pub(crate) fn parse_wrk_time(s: &str) -> Option<f64> {
    let s = s.trim();
    let split = s.find(|c: char| c.is_ascii_alphabetic())?;
    let (num, unit) = s.split_at(split);
    let v: f64 = num.parse().ok()?;
    Some(match unit {
        "us" => v,
        "ms" => v * 1e3,
        "s" => v * 1e6,
        "m" => v * 60e6,
        _ => return None,
    })
}

/// Parsed `wrk --latency` output.
#[derive(Debug, Default)]
pub(crate) struct WrkResult {
    pub(crate) rps: f64,
    pub(crate) p50_us: f64,
    pub(crate) p99_us: f64,
    pub(crate) errors: String,
}

pub(crate) fn parse_wrk(out: &str) -> Option<WrkResult> {
    let mut r = WrkResult::default();
    let mut have_rps = false;
    for line in out.lines() {
        let t = line.trim();
        if let Some(v) = t.strip_prefix("Requests/sec:") {
            r.rps = v.trim().parse().ok()?;
            have_rps = true;
        } else if let Some(v) = t.strip_prefix("50%") {
            r.p50_us = parse_wrk_time(v)?;
        } else if let Some(v) = t.strip_prefix("99%") {
            r.p99_us = parse_wrk_time(v)?;
        } else if t.starts_with("Socket errors") || t.starts_with("Non-2xx") {
            r.errors.push_str(t);
            r.errors.push(' ');
        }
    }
    have_rps.then_some(r)
}

pub(crate) fn run_wrk(addr: SocketAddr, conns: usize, secs: u32) -> Result<WrkResult, String> {
    let out = Command::new("wrk")
        .args([
            "-t1",
            &format!("-c{conns}"),
            &format!("-d{secs}s"),
            "--latency",
            &format!("http://{addr}/"),
        ])
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_wrk(&text).ok_or_else(|| format!("cannot parse wrk output: {text}"))
}
