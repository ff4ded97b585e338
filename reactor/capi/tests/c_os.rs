//! TIMER, USER, VNODE, PROC and SIGNAL through the C ABI (`tests/c/timer_user.c`, `tests/c/os.c`).
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

cases!("timer_user":
    timer_units,
    timer_absolute,
    timer_periodic_counts_and_readd,
    timer_errors,
    user_trigger,
    user_ff_ops,
);

cases!("os":
    vnode,
    vnode_merges_and_filters_notes,
    vnode_on_pipe_is_einval,
    proc_exit,
    proc_already_exited_and_missing,
    signal_counts,
);
