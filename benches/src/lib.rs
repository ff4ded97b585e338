//! Shared helpers of the kq benchmarks.
