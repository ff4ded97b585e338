//! The kq executor: multi-thread and current-thread schedulers, tasks, time, the blocking pool and metrics. (Work in progress: see the runtime issue.)
