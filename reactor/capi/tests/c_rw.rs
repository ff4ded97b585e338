//! READ / WRITE through the C ABI (`tests/c/rw.c`): pipes, sockets, delivery modes, errors.
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

cases!("rw":
    new_kqueue_is_empty,
    pipe_read_level,
    pipe_read_clear_oneshot_dispatch,
    read_write_are_separate_and_readd_modifies,
    lowat,
    tcp_listener_and_stream,
    pipe_write_eof,
    changes_in_order_and_errors,
    same_list_in_and_out,
    closed_fd_reuse_gets_no_stale_event,
    same_knote_in_two_kqueues,
    kqueue_in_a_kqueue,
    closed_nested_kqueue_number_reused_keeps_idents,
    error_entries_echo_fflags_when_the_lists_overlap_shifted,
);
