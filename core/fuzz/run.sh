#!/usr/bin/env bash
# Builds every fuzz target of core/fuzz with the instrumentation cargo-fuzz would use and runs
# each for a bounded time from its committed corpus, without the cargo-fuzz CLI.
#
#   core/fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Targets are the [[bin]] entries of core/fuzz/Cargo.toml (all of them unless named), so a new
# target is run as soon as it is declared there. Each starts from core/fuzz/corpus/<target>/
# (read only; what it discovers goes to a temporary directory). A crash, a panic, a sanitizer
# report, a timeout or an out-of-memory fails the script and prints the reproducer's path;
# replay it with `<binary> <reproducer>`, the binary path is printed too.
#
# Environment: FUZZ_JOBS (targets run at once, default: number of CPUs), FUZZ_KEEP_DIR (where
# discovered inputs and reproducers are kept, default: a fresh temporary directory).
set -euo pipefail

fuzz_dir="$(cd "$(dirname "$0")" && pwd)"
seconds="${1:-45}"
shift || true
case "$seconds" in
  '' | *[!0-9]*) echo "usage: $0 [SECONDS_PER_TARGET] [TARGET...]" >&2; exit 2 ;;
esac

# Every `name = "…"` that follows a `[[bin]]` line.
mapfile -t declared < <(awk '/^\[\[bin\]\]/ { in_bin = 1; next }
  /^\[/ { in_bin = 0 }
  in_bin && /^name *=/ { gsub(/^name *= *"|" *$/, ""); print }' "$fuzz_dir/Cargo.toml")
if [ "$#" -gt 0 ]; then targets=("$@"); else targets=("${declared[@]}"); fi
[ "${#targets[@]}" -gt 0 ] || { echo "no [[bin]] targets in $fuzz_dir/Cargo.toml" >&2; exit 1; }
for target in "${targets[@]}"; do
  printf '%s\n' "${declared[@]}" | grep -qx -- "$target" \
    || { echo "unknown fuzz target $target (declared: ${declared[*]})" >&2; exit 2; }
  [ -d "$fuzz_dir/corpus/$target" ] \
    || { echo "no seed corpus at core/fuzz/corpus/$target/: commit a few inputs" >&2; exit 1; }
done

# What `cargo fuzz build` passes (cargo-fuzz 0.13, src/project.rs): sanitizer coverage for
# libFuzzer, AddressSanitizer, `cfg(fuzzing)`, debug assertions, one codegen unit, a release
# profile with debug info. `-Zsanitizer` is the only unstable flag; RUSTC_BOOTSTRAP lets the
# stable toolchain take it. `--target` keeps these flags away from build scripts and proc macros.
host="$(rustc -vV | sed -n 's/^host: //p')"
export RUSTC_BOOTSTRAP=1
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares -Cllvm-args=-simplifycfg-branch-fold-threshold=0 \
-Cllvm-args=-sanitizer-coverage-stack-depth --cfg fuzzing -Clink-dead-code -Zsanitizer=address \
-Cdebug-assertions -Ccodegen-units=1"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_odr_violation=0"
cargo build --manifest-path "$fuzz_dir/Cargo.toml" --target "$host" --release \
  --config profile.release.debug=true --bins
bin_dir="$fuzz_dir/target/$host/release"

keep="${FUZZ_KEEP_DIR:-$(mktemp -d -t ddlink-fuzz.XXXXXX)}"
jobs="${FUZZ_JOBS:-$(nproc)}"
echo "fuzzing ${#targets[@]} target(s) for ${seconds} s each, ${jobs} at a time; output in $keep"

run_one() {
  local target="$1" out="$keep/$1"
  mkdir -p "$out/discovered" "$out/artifacts"
  # The first corpus directory receives new inputs; the committed one is only read.
  "$bin_dir/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$out/artifacts/" \
    "$out/discovered" "$fuzz_dir/corpus/$target" >"$out/log" 2>&1
}

failed=()
report() {
  local target="$1" status="$2" out="$keep/$1"
  local runs
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/log" | tail -1)"
  if [ "$status" -eq 0 ]; then
    echo "ok    $target: ${runs:-?} inputs in ${seconds} s"
  else
    failed+=("$target")
    echo "FAIL  $target (exit $status); last lines of $out/log:"
    tail -n 40 "$out/log" | sed 's/^/      /'
    for reproducer in "$out"/artifacts/*; do
      [ -e "$reproducer" ] && echo "      reproducer: $reproducer (replay: $bin_dir/$target $reproducer)"
    done
  fi
}

pending=("${targets[@]}")
while [ "${#pending[@]}" -gt 0 ]; do
  batch=("${pending[@]:0:$jobs}")
  pending=("${pending[@]:$jobs}")
  pids=()
  for target in "${batch[@]}"; do
    run_one "$target" &
    pids+=("$!")
  done
  for i in "${!batch[@]}"; do
    status=0
    wait "${pids[$i]}" || status=$?
    report "${batch[$i]}" "$status"
  done
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzzing found failures in: ${failed[*]}" >&2
  exit 1
fi
