#!/usr/bin/env bash
# The local stack: DynamoDB Local (data kept in .local/dynamodb-data), the users table,
# a dev admin token, and every function served by `cargo lambda watch` on the
# production paths (http://localhost:9000/api/v1/...). Ctrl-C stops everything.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DYNAMODB_PORT=${DYNAMODB_PORT:-8000}
API_PORT=${API_PORT:-9000}
export TABLE_NAME=${TABLE_NAME:-users}
# A development-only secret; deployed stacks get theirs from template parameters.
export AUTH_JWT_SECRET=${AUTH_JWT_SECRET:-local-dev-secret-not-for-production}
export RUST_LOG=${RUST_LOG:-info}

require_cmd cargo "install Rust from https://rustup.rs"
ensure_python_tools
ensure_dynamodb_local
trap stop_all EXIT
trap 'exit 130' INT TERM

start_dynamodb "$DYNAMODB_PORT" "$LOCAL/dynamodb-data"
local_aws_env "$DYNAMODB_PORT"

log "building devctl"
cargo build --quiet -p devctl
DEVCTL="$ROOT/target/debug/devctl"
"$DEVCTL" wait --timeout-secs 30
"$DEVCTL" create-table
TOKEN=$("$DEVCTL" token --role admin --sub dev-admin --ttl-hours 12)

cat <<INFO

  API:       http://localhost:$API_PORT   (POST /api/v1/users/bulk)
  DynamoDB:  http://127.0.0.1:$DYNAMODB_PORT   table '$TABLE_NAME'

  export TOKEN=$TOKEN

  curl -X POST http://localhost:$API_PORT/api/v1/users/bulk \\
       -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' \\
       -d @fixtures/users.json

  (the first request compiles the function: allow a few seconds)

  Read it back:  curl http://localhost:$API_PORT/api/v1/users?limit=10 -H "Authorization: Bearer \$TOKEN"
  SCIM 2.0:      http://localhost:$API_PORT/scim/v2   (the same token as the Bearer "Secret Token")

  Add a time profile (prints its id, for time_profile_id):
  AWS_ENDPOINT_URL_DYNAMODB=$AWS_ENDPOINT_URL_DYNAMODB AWS_REGION=$AWS_REGION \
    AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local TABLE_NAME=$TABLE_NAME \
    target/debug/devctl time-profile --name "office hours"

  Run the scheduled clean-up:
  cargo lambda invoke cleanup-users --invoke-address 127.0.0.1 --invoke-port $API_PORT \
    --data-file fixtures/scheduled-event.json

INFO

log "cargo lambda watch on port $API_PORT, up to $WATCH_CONCURRENCY instances per function (Ctrl-C stops everything)"
cargo lambda watch --concurrency "$WATCH_CONCURRENCY" --invoke-address 127.0.0.1 --invoke-port "$API_PORT"
