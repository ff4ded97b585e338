//! First end-to-end checks of both schedulers.
use kq_runtime::runtime::Builder;
use kq_runtime::{spawn, task, time};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn flavors() -> Vec<kq_runtime::Runtime> {
    vec![
        Builder::new_current_thread().build().unwrap(),
        Builder::new_multi_thread().worker_threads(2).build().unwrap(),
    ]
}

#[test]
fn spawn_sleep_join_abort_panic() {
    for rt in flavors() {
        let out = rt.block_on(async {
            let n = Arc::new(AtomicUsize::new(0));
            let mut hs = Vec::new();
            for _ in 0..1000 {
                let n = n.clone();
                hs.push(spawn(async move {
                    task::yield_now().await;
                    n.fetch_add(1, Ordering::Relaxed);
                }));
            }
            for h in hs {
                h.await.unwrap();
            }
            time::sleep(Duration::from_millis(20)).await;
            let slow = spawn(time::sleep(Duration::from_secs(60)));
            slow.abort();
            let err = slow.await.unwrap_err();
            assert!(err.is_cancelled());
            let p = spawn(async { panic!("boom") }).await.unwrap_err();
            assert!(p.is_panic());
            let b = task::spawn_blocking(|| 5).await.unwrap();
            assert!(time::timeout(Duration::from_millis(10), time::sleep(Duration::from_secs(5)))
                .await
                .is_err());
            n.load(Ordering::Relaxed) + b
        });
        assert_eq!(out, 1005);
    }
}
