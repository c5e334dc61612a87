#!/usr/bin/env bash
# Every test, as CI runs it: formatting, clippy, the template (cfn-lint and the real SAM
# transform, offline), the OpenAPI document (openapi-spec-validator), unit and integration
# tests against a DynamoDB Local of its own, end-to-end tests over HTTP through
# `cargo lambda watch`, and schemathesis (all checks) against the same stack. Installs
# what is missing, stops what it started, exits non-zero on any failure.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"

require_cmd cargo "install Rust from https://rustup.rs"
ensure_python_tools
ensure_dynamodb_local
trap stop_all EXIT
trap 'exit 130' INT TERM
export SAM_CLI_TELEMETRY=0
started=$SECONDS

log "cargo fmt --check"
cargo fmt --all -- --check

log "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

log "cargo clippy on shared as the functions build it (without dev-tokens)"
cargo clippy --locked -p shared --lib -- -D warnings

log "no function can mint tokens (shared's dev-tokens feature is for devctl, tests, bench)"
for function in upsert-users delete-users delete-or-restore-users delete-users-by-filter cleanup-users read-users scim; do
  if cargo tree --locked -q -p "$function" -e features -i shared | grep -q dev-tokens; then
    die "$function is built with shared's dev-tokens feature"
  fi
done

log "cfn-lint template.yaml"
cfn-lint template.yaml
log "sam validate (SAM transform, offline)"
AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local \
  sam validate --template-file template.yaml --region us-east-1 --lint

log "the functions' roles after the SAM transform: basic execution, their own Policies, nothing else"
AWS_DEFAULT_REGION=us-east-1 "$VENV/bin/python" tests/sam/check_roles.py template.yaml

log "openapi-spec-validator docs/openapi.yaml"
openapi-spec-validator docs/openapi.yaml

DYNAMODB_PORT=$(free_port)
start_dynamodb "$DYNAMODB_PORT"
local_aws_env "$DYNAMODB_PORT"

log "unit and integration tests (DynamoDB Local on port $DYNAMODB_PORT)"
cargo test --workspace --locked

log "end-to-end tests over HTTP (cargo lambda watch)"
export TABLE_NAME="e2e_users"
export AUTH_JWT_SECRET="e2e-secret-not-for-production"
export RUST_LOG=warn
cargo build --quiet --locked -p devctl -p usersync
"$ROOT/target/debug/devctl" create-table
# Each pass below gets an emulator of its own: under concurrent load `cargo lambda watch`
# now and then loses track of an instance ("blocking waitpid returned pid=0" in its log)
# and a later request routed to that instance never gets an answer. A fresh emulator per
# pass keeps one pass's load from stalling the next (the functions themselves answer
# before their deadline: see the outage tests).
API_PORT=""
WATCH_PID=""
start_watch() {
  if [ -n "$WATCH_PID" ]; then
    stop_group "$WATCH_PID"
  fi
  API_PORT=$(free_port)
  start_group "$LOCAL/watch-$API_PORT.log" \
    cargo lambda watch --ignore-changes --concurrency "$WATCH_CONCURRENCY" \
    --invoke-address 127.0.0.1 --invoke-port "$API_PORT"
  WATCH_PID=${PIDS_TO_STOP[-1]}
  wait_port "$API_PORT" 120 "cargo lambda watch"
}
watch_log_tail() {
  echo "--- cargo lambda watch log ---" >&2
  tail -n 50 "$LOCAL/watch-$API_PORT.log" >&2
}
start_watch
if ! E2E_BASE_URL="http://127.0.0.1:$API_PORT" \
  cargo test --locked -p api-tests --test e2e -- --ignored; then
  watch_log_tail
  exit 1
fi

log "scheduled clean-up through cargo lambda invoke (fixtures/scheduled-event.json)"
summary=$(cargo lambda invoke cleanup-users --invoke-address 127.0.0.1 --invoke-port "$API_PORT" \
  --data-file fixtures/scheduled-event.json --output-format json)
echo "$summary"
python3 -c 'import json, sys; s = json.load(sys.stdin); sys.exit(0 if "purged" in s and s["remaining"] is False else 1)' \
  <<<"$summary" || die "unexpected clean-up answer"

# Bounded (fixed seed, 25 examples per operation and phase, under a minute): settings and
# what each exception is for in tests/schemathesis/. Two checks cannot apply: an undeclared
# method never reaches a function (API Gateway, like the emulator, answers 404 itself).
log "schemathesis: docs/openapi.yaml against the functions (all checks)"
start_watch
schemathesis_started=$SECONDS
if ! SCHEMATHESIS_TOKEN=$("$ROOT/target/debug/devctl" token --role admin --sub schemathesis --ttl-hours 1) \
  st --config-file tests/schemathesis/schemathesis.toml run docs/openapi.yaml \
  --url "http://127.0.0.1:$API_PORT" --checks all \
  --exclude-checks unsupported_method,allow_header_conformance --no-color; then
  watch_log_tail
  exit 1
fi
log "schemathesis done in $((SECONDS - schemathesis_started)) s"

# The external SCIM conformance testers (PyPI), against the same table.
start_watch
SCIM_TOKEN=$("$ROOT/target/debug/devctl" token --role admin --sub scim-testers --ttl-hours 1)
if ! bash scripts/scim-testers.sh "http://127.0.0.1:$API_PORT" "$SCIM_TOKEN"; then
  watch_log_tail
  exit 1
fi

# Last: it fills the table with thousands of users and loads the emulator the most.
log "usersync end to end: syncs of generated exports through the same stack"
start_watch
if ! E2E_BASE_URL="http://127.0.0.1:$API_PORT" USERSYNC_BIN="$ROOT/target/debug/usersync" \
  cargo test --locked -p api-tests --test usersync -- --ignored --test-threads 2; then
  watch_log_tail
  exit 1
fi

log "all tests passed in $((SECONDS - started)) s"
