//! 1,000 children: 64 at a time, then all at once (with a stdout pipe each). Each exit is
//! reported exactly once and no zombie of ours is left.
// Unix-only: kq-process (child processes, signals) does not exist on Windows.
#![cfg(unix)]

mod util;

use std::collections::HashSet;
use std::io;

use futures_util::AsyncReadExt;
use kq_process::process::{Command, Stdio};

const N: usize = 1000;

fn check_no_zombies(pids: &[u32]) {
    let zombies: Vec<u32> = pids.iter().copied().filter(|&p| util::is_our_zombie(p)).collect();
    assert!(zombies.is_empty(), "zombies left: {zombies:?}");
}

#[test]
fn a_thousand_children_64_at_a_time_then_all_at_once() -> io::Result<()> {
    // ~4 fds per child at once (its pidfd, the reactor's pidfd, a stdout pipe, slack).
    util::raise_nofile(4 * N as libc::rlim_t + 256);
    util::run(300, async {
        // 64 at a time: a JoinSet-like pool of tasks, each spawning and waiting one child.
        let mut pids = Vec::with_capacity(N);
        let mut next = 0;
        while next < N {
            let batch = (N - next).min(64);
            let mut tasks = Vec::with_capacity(batch);
            for i in next..next + batch {
                tasks.push(kq_runtime::spawn(async move {
                    let mut child =
                        Command::new("sh").args(["-c", &format!("exit {}", i % 7)]).spawn()?;
                    let pid = child.id().unwrap();
                    let st = child.wait().await?;
                    assert_eq!(st.code(), Some((i % 7) as i32), "child {i}");
                    // Reported once: the status is kept, nothing new arrives.
                    assert_eq!(child.wait().await?, st);
                    Ok::<_, io::Error>(pid)
                }));
            }
            for t in tasks {
                pids.push(t.await.expect("task")?);
            }
            next += batch;
        }
        assert_eq!(pids.iter().collect::<HashSet<_>>().len(), N, "distinct pids");
        check_no_zombies(&pids);

        // All at once, each with its stdout piped and read.
        let mut children = Vec::with_capacity(N);
        for i in 0..N {
            let child = Command::new("sh")
                .args(["-c", &format!("echo {i}")])
                .stdout(Stdio::piped())
                .spawn()?;
            children.push(child);
        }
        let pids: Vec<u32> = children.iter().map(|c| c.id().unwrap()).collect();
        let mut tasks = Vec::with_capacity(N);
        for (i, mut child) in children.into_iter().enumerate() {
            tasks.push(kq_runtime::spawn(async move {
                let mut s = String::new();
                child.stdout.take().unwrap().read_to_string(&mut s).await?;
                assert_eq!(s, format!("{i}\n"));
                let st = child.wait().await?;
                assert!(st.success());
                Ok::<_, io::Error>(())
            }));
        }
        let mut done = 0;
        for t in tasks {
            t.await.expect("task")?;
            done += 1;
        }
        assert_eq!(done, N);
        check_no_zombies(&pids);
        Ok(())
    })
}
