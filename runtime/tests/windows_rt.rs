//! kq-runtime on Windows (run under wine in CI): a socket `Registration` whose readiness is
//! cleared on `WouldBlock` and re-armed (the AFD poll reports a condition once), a task woken by
//! data on a socket, `spawn_blocking`, and a runtime dropped while a task waits on a socket.
#![cfg(windows)]

use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::windows::io::AsRawSocket;
use std::time::Duration;

use kq_runtime::io::{Interest, Registration};
use kq_runtime::runtime::Builder;
use kq_runtime::time::timeout;

fn pair() -> io::Result<(TcpStream, TcpStream)> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let c = TcpStream::connect(l.local_addr()?)?;
    let (s, _) = l.accept()?;
    s.set_nonblocking(true)?;
    Ok((c, s))
}

const LIMIT: Duration = Duration::from_secs(30);

#[test]
fn registration_readiness_is_rearmed_after_would_block() -> io::Result<()> {
    for rt in [
        Builder::new_current_thread().build()?,
        Builder::new_multi_thread().worker_threads(2).build()?,
    ] {
        rt.block_on(async {
            let (mut c, mut s) = pair()?;
            let reg = Registration::new(s.as_raw_socket() as usize, Interest::READABLE)?;
            let mut buf = [0u8; 64];
            for round in 0..20u8 {
                c.write_all(&[round; 10])?;
                let mut got = 0;
                while got < 10 {
                    let ev = timeout(LIMIT, reg.readable()).await.expect("readable in time")?;
                    match s.read(&mut buf) {
                        Ok(n) => {
                            assert!(buf[..n].iter().all(|&b| b == round), "round {round}");
                            got += n;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => reg.clear_readiness(ev),
                        Err(e) => return Err(e),
                    }
                }
                assert_eq!(got, 10);
                // Drained: the next read would block; clearing re-arms the AFD poll.
                let ev = timeout(LIMIT, reg.readable()).await.expect("still marked")?;
                assert_eq!(s.read(&mut buf).unwrap_err().kind(), io::ErrorKind::WouldBlock);
                reg.clear_readiness(ev);
            }
            Ok::<_, io::Error>(())
        })?;
    }
    Ok(())
}

#[test]
fn task_woken_by_socket_data_from_another_thread() -> io::Result<()> {
    let rt = Builder::new_multi_thread().worker_threads(2).build()?;
    let (c, s) = pair()?;
    let reader = rt.spawn(async move {
        let reg = Registration::new(s.as_raw_socket() as usize, Interest::READABLE)?;
        let mut total = Vec::new();
        let mut buf = [0u8; 7];
        loop {
            let ev = timeout(LIMIT, reg.readable()).await.expect("data in time")?;
            match (&s).read(&mut buf) {
                Ok(0) => return Ok::<_, io::Error>(total),
                Ok(n) => total.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => reg.clear_readiness(ev),
                Err(e) => return Err(e),
            }
        }
    });
    let writer = std::thread::spawn(move || -> io::Result<()> {
        let mut c = c;
        for i in 0..100u8 {
            c.write_all(&[i])?;
            if i % 10 == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        Ok(())
    });
    writer.join().expect("writer")?;
    let got = rt.block_on(reader).expect("reader panicked")?;
    assert_eq!(got, (0..100u8).collect::<Vec<_>>());
    Ok(())
}

#[test]
fn spawn_blocking_and_runtime_drop_with_a_pending_socket_wait() -> io::Result<()> {
    let rt = Builder::new_multi_thread().worker_threads(2).build()?;
    let v =
        rt.block_on(async { kq_runtime::task::spawn_blocking(|| 6 * 7).await }).expect("blocking");
    assert_eq!(v, 42);
    let (_c, s) = pair()?;
    let (tx, rx) = std::sync::mpsc::channel();
    rt.spawn(async move {
        let reg = Registration::new(s.as_raw_socket() as usize, Interest::READABLE)?;
        tx.send(()).expect("registered");
        reg.readable().await.map(|_| ())
    });
    rx.recv_timeout(LIMIT).expect("task registered its socket");
    // Dropping the runtime drops the waiting task: its registration goes, nothing hangs.
    drop(rt);
    Ok(())
}
