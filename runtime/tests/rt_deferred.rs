//! Deferred registrations (`Registration::new_deferred`, what kq-net uses for accepted
//! connections): taken as ready until an operation says otherwise, registered when they first
//! wait. Nothing may be lost in between: data written before, during or after the first wait
//! always wakes the reader. Real pipes, both flavors, bounded in time.
#![cfg(unix)]

mod util;
use util::*;

use std::future::poll_fn;
use std::io;
use std::time::Duration;

use kq_runtime::io::{Interest, Registration};
use kq_runtime::spawn;
use kq_runtime::time::{sleep, timeout};

/// Reads until `want` bytes came, waiting through the registration as kq-net's streams do.
async fn read_exactly(reg: &Registration, want: usize) -> io::Result<Vec<u8>> {
    let mut got = Vec::new();
    while got.len() < want {
        let mut buf = [0u8; 64];
        let n = poll_fn(|cx| {
            reg.poll_io(cx, Interest::READABLE, || read_fd(reg.fd() as i32, &mut buf))
        })
        .await?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    Ok(got)
}

fn write_byte(fd: &Fd, b: u8) {
    // SAFETY: writing one byte from a valid buffer to a pipe we own.
    assert_eq!(unsafe { libc::write(fd.0, [b].as_ptr().cast(), 1) }, 1);
}

#[test]
fn ready_at_first_then_registered_by_the_first_wait() {
    bounded(60, || {
        for (name, rt) in flavors() {
            let (rd, wr) = pipe();
            rt.block_on(async {
                let reg = Registration::new_deferred(rd.0 as usize, Interest::READABLE).unwrap();
                // Taken as ready: the first readiness check does not wait.
                let ev = reg.readable().await.expect("ready at first");
                assert!(ev.is_readable(), "{name}");
                // The pipe is empty: the read says WouldBlock, readiness is cleared, and the
                // next wait registers and waits for the byte written later.
                let writer = std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(30));
                    write_byte(&wr, b'a');
                    wr
                });
                let got = timeout(Duration::from_secs(5), read_exactly(&reg, 1))
                    .await
                    .unwrap_or_else(|_| panic!("{name}: the byte written after the wait was lost"))
                    .expect("read");
                assert_eq!(got, b"a", "{name}");
                drop(writer.join());
            });
        }
    });
}

#[test]
fn data_there_before_the_first_operation_is_read_without_registering() {
    bounded(60, || {
        for (name, rt) in flavors() {
            let (rd, wr) = pipe();
            write_byte(&wr, b'x');
            rt.block_on(async {
                let reg = Registration::new_deferred(rd.0 as usize, Interest::READABLE).unwrap();
                let got = timeout(Duration::from_secs(5), read_exactly(&reg, 1)).await;
                assert_eq!(got.expect("no wait needed").expect("read"), b"x", "{name}");
            });
        }
    });
}

/// The race the design must survive: bytes written at every moment around a reader's first
/// WouldBlock and registration, on many pipes at once.
#[test]
fn no_wakeup_is_lost_around_the_deferred_registration() {
    bounded(120, || {
        for (name, rt) in flavors() {
            let pipes: Vec<(Fd, Fd)> = (0..64).map(|_| pipe()).collect();
            let (readers, writers): (Vec<Fd>, Vec<Fd>) = pipes.into_iter().unzip();
            rt.block_on(async {
                let tasks: Vec<_> = readers
                    .into_iter()
                    .map(|rd| {
                        spawn(async move {
                            let reg = Registration::new_deferred(rd.0 as usize, Interest::READABLE)
                                .unwrap();
                            let got = read_exactly(&reg, 3).await.expect("read");
                            drop(reg);
                            drop(rd);
                            got
                        })
                    })
                    .collect();
                let writer = std::thread::spawn(move || {
                    for round in 0..3u8 {
                        for (i, wr) in writers.iter().enumerate() {
                            if (i + round as usize).is_multiple_of(3) {
                                std::thread::yield_now();
                            }
                            write_byte(wr, b'0' + round);
                        }
                    }
                    writers
                });
                for (i, t) in tasks.into_iter().enumerate() {
                    let got = timeout(Duration::from_secs(10), t)
                        .await
                        .unwrap_or_else(|_| panic!("{name}: reader {i} was never woken"))
                        .expect("reader task");
                    assert_eq!(got, b"012", "{name}: reader {i}");
                }
                drop(writer.join());
            });
        }
    });
}

#[test]
fn dropped_before_any_wait_leaves_the_fd_free_and_unwatched() {
    bounded(60, || {
        for (name, rt) in flavors() {
            let (rd, wr) = pipe();
            rt.block_on(async {
                let reg = Registration::new_deferred(rd.0 as usize, Interest::BOTH).unwrap();
                let err = Registration::new(rd.0 as usize, Interest::READABLE)
                    .expect_err("claimed by the deferred registration");
                assert_eq!(err.kind(), io::ErrorKind::AlreadyExists, "{name}: {err}");
                drop(reg);
                // Free again, and a registration made now works.
                let reg = Registration::new(rd.0 as usize, Interest::READABLE).unwrap();
                let reader = spawn(async move { read_exactly(&reg, 1).await });
                sleep(Duration::from_millis(20)).await;
                write_byte(&wr, b'z');
                let got = timeout(Duration::from_secs(5), reader)
                    .await
                    .unwrap_or_else(|_| panic!("{name}: not woken"))
                    .expect("task");
                assert_eq!(got.expect("read"), b"z", "{name}");
            });
        }
    });
}

#[test]
fn a_deferred_registration_waiting_after_shutdown_fails_and_never_hangs() {
    bounded(60, || {
        for (name, rt) in flavors() {
            let (rd, _wr) = pipe();
            let h = rt.handle().clone();
            let reg = rt.block_on(async {
                Registration::new_deferred(rd.0 as usize, Interest::READABLE).unwrap()
            });
            drop(rt);
            let err = h
                .block_on(read_exactly(&reg, 1))
                .expect_err("waiting on a runtime that has shut down");
            assert!(err.to_string().contains("shut down"), "{name}: {err}");
        }
    });
}
