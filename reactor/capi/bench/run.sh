#!/usr/bin/env bash
# Builds libkq.so (release) and bench/kevent_bench.c against it, then runs the benchmark.
# Usage: reactor/capi/bench/run.sh [iterations per thread, default 200000]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
cd "$root"
cargo build --release -p kq-capi --quiet
target=${CARGO_TARGET_DIR:-$root/target}/release
out=$target/kevent_bench
${CC:-cc} -O2 -Wall -std=gnu11 -I "$here/../include" "$here/kevent_bench.c" -o "$out" \
  -L "$target" -Wl,-rpath,"$target" -lkq -lpthread
"$out" "$@"
