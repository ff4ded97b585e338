//! Several threads on one kqueue through the C ABI (`tests/c/threads.c`).
// libkq exists only on Linux (elsewhere the crate is empty: the kernel has kqueue).
#![cfg(target_os = "linux")]

mod util;

macro_rules! cases {
    ($prog:literal: $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                util::run_case($prog, stringify!($case));
            }
        )*
    };
}

cases!("threads":
    trigger_wakes_a_blocked_thread,
    oneshot_goes_to_exactly_one_thread,
    many_threads_never_lose_or_duplicate,
    threads_share_pipe_knotes,
    kqueues_created_and_closed_concurrently,
);
