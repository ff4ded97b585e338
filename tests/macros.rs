//! `#[kq::main]`-style and `#[kq::test]` attributes: each flavor runs, errors propagate with `?`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[kq::test]
async fn test_defaults_to_current_thread() {
    let m = kq::runtime::Handle::current().metrics();
    assert_eq!(m.num_workers(), 1);
    kq::time::sleep(Duration::from_millis(1)).await;
}

#[kq::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_thread_with_two_workers() {
    assert_eq!(kq::runtime::Handle::current().metrics().num_workers(), 2);
    let n = Arc::new(AtomicUsize::new(0));
    let mut hs = Vec::new();
    for _ in 0..100 {
        let n = n.clone();
        hs.push(kq::spawn(async move { n.fetch_add(1, Ordering::Relaxed) }));
    }
    for h in hs {
        h.await.unwrap();
    }
    assert_eq!(n.load(Ordering::Relaxed), 100);
}

#[kq::test]
async fn question_mark_works() -> std::io::Result<()> {
    let v = kq::task::spawn_blocking(|| 3).await?;
    assert_eq!(v, 3);
    Ok(())
}

mod main_fn {
    #[kq::main(flavor = "current_thread")]
    pub async fn main() -> u32 {
        kq::task::yield_now().await;
        42
    }
}

#[test]
fn main_attribute_runs_the_body() {
    assert_eq!(main_fn::main(), 42);
}
