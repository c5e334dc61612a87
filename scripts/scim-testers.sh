#!/usr/bin/env bash
# The external SCIM conformance testers against a running stack (make test runs this
# after the end-to-end tests): scim2-tester through `scim2 test`, and `scim-sanity probe`.
# Prints each tester's count of checks by status. Fails on any check that is not a
# success, except those tests/scim/known-failures.txt lists with the reason.
#
#   scripts/scim-testers.sh <base URL, e.g. http://127.0.0.1:9000> <admin token>
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT"
BASE="${1:?base URL}"
TOKEN="${2:?admin token}"
ensure_scim_testers
OUT="$LOCAL/scim-testers"
mkdir -p "$OUT"

log "scim2-tester (scim2 test) against $BASE/scim/v2"
set +e
SCIM_CLI_URL="$BASE/scim/v2" SCIM_CLI_HEADERS="Authorization: Bearer $TOKEN" \
  timeout 600 "$SCIM_VENV/bin/scim2" test -v > "$OUT/scim2-test.out" 2>&1
scim2_exit=$?
log "scim-sanity probe against $BASE/scim/v2"
timeout 600 "$SCIM_VENV/bin/scim-sanity" probe "$BASE/scim/v2" --token "$TOKEN" \
  --i-accept-side-effects --json-output > "$OUT/scim-sanity.json" 2> "$OUT/scim-sanity.err"
sanity_exit=$?
set -e

python3 - "$OUT/scim2-test.out" "$scim2_exit" "$OUT/scim-sanity.json" "$sanity_exit" \
  tests/scim/known-failures.txt <<'PY'
import collections, json, re, sys

scim2_out, scim2_exit, sanity_json, sanity_exit, known_file = sys.argv[1:]
known = set()
for line in open(known_file, encoding="utf-8"):
    line = line.split("#", 1)[0].strip()
    if line:
        known.add(line)

problems = []
statuses = collections.Counter()
failing = collections.Counter()
lines = open(scim2_out, encoding="utf-8", errors="replace").read().splitlines()
for i, line in enumerate(lines):
    m = re.match(r"^(SUCCESS|COMPLIANT|ACCEPTABLE|DEVIATION|ERROR|CRITICAL|SKIPPED) (\S+)", line)
    if m:
        statuses[m.group(1)] += 1
        if m.group(1) != "SUCCESS":
            # The attribute a PATCH check was about, from its first detail line.
            detail = lines[i + 1] if i + 1 < len(lines) else ""
            attr = re.search(r"for '([^']+)'", detail)
            failing[m.group(2) + (" " + attr.group(1) if attr else "")] += 1
print("scim2-tester: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items())) +
      f" (exit {scim2_exit})")
if not statuses:
    problems.append("scim2-tester ran no check (see .local/scim-testers/scim2-test.out)")
for name, n in sorted(failing.items()):
    tag = f"scim2-tester {name}"
    print(f"  not SUCCESS: {name} x{n}" + ("  (known, see tests/scim/known-failures.txt)" if tag in known else ""))
    if tag not in known:
        problems.append(tag)

try:
    report = json.load(open(sanity_json, encoding="utf-8"))
except ValueError:
    report = None
if report is None:
    problems.append("scim-sanity wrote no JSON report (see .local/scim-testers/scim-sanity.err)")
else:
    s = report["summary"]
    print(f"scim-sanity: {s['passed']} passed, {s['failed']} failed, {s.get('errors', 0)} errors, "
          f"{s.get('warnings', 0)} warnings, {s['skipped']} skipped, {s['total']} total (exit {sanity_exit})")
    for r in report["results"]:
        if r["status"] in ("fail", "error"):
            tag = f"scim-sanity {r['name']}"
            print(f"  {r['status']}: {r['name']}: {r.get('message', '')}" +
                  ("  (known)" if tag in known else ""))
            if tag not in known:
                problems.append(tag)
        elif r["status"] == "warn":
            print(f"  warning: {r['name']}: {r.get('message', '')}")
if problems:
    print("unexpected SCIM tester failures: " + "; ".join(problems))
    sys.exit(1)
PY
