#!/usr/bin/env bash
# Longer fuzzing of the request parsers with cargo fuzz (libFuzzer), beyond the bounded
# property tests of `make test`: make fuzz [TARGET=<target>] [SECONDS=<n>].
# Without TARGET every target runs SECONDS (default 60) in turn. Installs cargo-fuzz from
# crates.io when missing. cargo fuzz passes compiler flags that only nightly accepts
# (sanitizer, coverage instrumentation); on a stable toolchain RUSTC_BOOTSTRAP=1 lets
# stable rustc accept them. A crash stops the run and is saved in fuzz/artifacts/<target>/.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$ROOT/fuzz"

target=${1:-}
seconds=${2:-60}
[[ "$seconds" =~ ^[0-9]+$ ]] || die "SECONDS must be a whole number of seconds, got '$seconds'"
all_targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^api-fuzz$')
if [ -z "$target" ]; then
  targets=$all_targets
elif grep -qx "$target" <<<"$all_targets"; then
  targets=$target
else
  die "unknown TARGET '$target'; one of: $(echo $all_targets)"
fi

require_cmd cargo "install Rust from https://rustup.rs"
if ! cargo fuzz --version >/dev/null 2>&1; then
  log "installing cargo-fuzz (crates.io)"
  cargo install cargo-fuzz --locked
fi
if ! rustc --version | grep -q nightly; then
  export RUSTC_BOOTSTRAP=1
fi

dict_of() {
  case "$1" in
    filter_query) echo dicts/query.dict ;;
    restore_xml) echo dicts/xml.dict ;;
    *) echo dicts/json.dict ;;
  esac
}

for t in $targets; do
  mkdir -p "corpus/$t"
  log "fuzzing $t for $seconds s (corpus fuzz/corpus/$t, seeds fuzz/seeds/$t)"
  # --debug-assertions: integer overflow panics instead of wrapping silently.
  cargo fuzz run --debug-assertions "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$seconds" -dict="$(dict_of "$t")" -print_final_stats=1 ||
    die "$t failed: reproduce with
  cd fuzz && RUSTC_BOOTSTRAP=1 cargo fuzz run --debug-assertions $t artifacts/$t/<crash file>"
done
