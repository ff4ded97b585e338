//! Reactor micro benchmarks (BENCHMARKS.md rows 7 and 15): kq and the raw mio floor in one
//! criterion group each, so that one report shows both.
//!
//! `cargo bench -p kq-benches --bench reactor` (about 25 s once built). Groups:
//! - `user_roundtrip_1thread`: trigger a USER knote and collect it in the same thread; mio: wake
//!   a `Waker` and poll with a zero timeout.
//! - `user_roundtrip_2threads`: a ping-pong between two threads, per round trip.
//! - `registration_churn`: READ on a pipe, added and deleted; mio: register and deregister.
//! - `timer_arm`: 1000 one-hour TIMER knotes added and deleted, over 0 and 100k armed timers
//!   (kq only; throughput is per timer).

use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use kq_benches::reactor::{
    kq_ping_pong, mio_ping_pong, KqChurn, KqUserRoundtrip, MioChurn, MioUserRoundtrip, TimerArm,
};

fn configure<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    g.measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500))
        .sample_size(20);
    g
}

fn user_roundtrip_1thread(c: &mut Criterion) {
    let mut g = configure(c, "user_roundtrip_1thread");
    let mut kq = KqUserRoundtrip::new().expect("kq set-up");
    g.bench_function("kq", |b| b.iter(|| kq.op()));
    let mut mio = MioUserRoundtrip::new().expect("mio set-up");
    g.bench_function("mio", |b| b.iter(|| mio.op()));
    g.finish();
}

fn user_roundtrip_2threads(c: &mut Criterion) {
    let mut g = configure(c, "user_roundtrip_2threads");
    g.bench_function("kq", |b| b.iter_custom(kq_ping_pong));
    g.bench_function("mio", |b| b.iter_custom(mio_ping_pong));
    g.finish();
}

fn registration_churn(c: &mut Criterion) {
    let mut g = configure(c, "registration_churn");
    let mut kq = KqChurn::new().expect("kq set-up");
    g.bench_function("kq", |b| b.iter(|| kq.op()));
    let mut mio = MioChurn::new().expect("mio set-up");
    g.bench_function("mio", |b| b.iter(|| mio.op()));
    g.finish();
}

fn timer_arm(c: &mut Criterion) {
    let mut g = configure(c, "timer_arm");
    for background in [0, 100_000] {
        let mut t = TimerArm::new(1000, background).expect("kq set-up");
        g.throughput(Throughput::Elements(t.batch() as u64));
        g.bench_function(BenchmarkId::new("kq_1000_timers_over", background), |b| {
            b.iter_custom(|iters| t.run(iters))
        });
    }
    g.finish();
}

mod harness {
    #![allow(missing_docs)]
    use super::*;
    criterion_group!(
        benches,
        user_roundtrip_1thread,
        user_roundtrip_2threads,
        registration_churn,
        timer_arm
    );
}

criterion_main!(harness::benches);
