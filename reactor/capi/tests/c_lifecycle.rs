//! A kqueue's life through the C ABI (`tests/c/lifecycle.c`): close, reuse, dup, fork,
//! exhaustion, careless arguments.
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

cases!("lifecycle":
    close_releases_the_reactor,
    reused_number_is_a_new_kqueue,
    dup_is_the_same_kqueue,
    close_while_another_thread_waits,
    fork_does_not_inherit,
    careless_arguments,
    descriptor_exhaustion,
);
