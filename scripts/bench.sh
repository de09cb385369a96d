#!/usr/bin/env bash
# Scan throughput and memory on the demo population (Hydra schema in SQLite), release build.
# Prints, per size: median full-scan time over RUNS runs, registrations per second, and the
# peak resident memory of a full `scan` (GNU time). The machine is shared: read medians.
#
#   scripts/bench.sh [SIZES...]        default: 10000 100000
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
sizes=("$@")
((${#sizes[@]})) || sizes=(10000 100000)
cargo build --release --quiet
bin=$PWD/target/release/regwarden
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

printf '%-12s %-14s %-16s %-12s\n' registrations "median scan s" "registrations/s" "peak RSS MiB"
for n in "${sizes[@]}"; do
  "$bin" demo --registrations "$n" --dir "$work/demo" >/dev/null 2>&1
  times=()
  for _ in $(seq "$RUNS"); do
    rm -f "$work/demo/state.db"*
    line=$("$bin" scan --full --config "$work/demo/regwarden.toml" 2>/dev/null)
    times+=("$(sed -E 's/.* in ([0-9.]+)s$/\1/' <<<"$line")")
  done
  median=$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  rm -f "$work/demo/state.db"*
  /usr/bin/time -f '%M' -o "$work/rss" "$bin" scan --full --config "$work/demo/regwarden.toml" >/dev/null 2>&1
  rss_kb=$(tail -n1 "$work/rss")
  printf '%-12s %-14s %-16s %-12s\n' "$n" "$median" "$(awk -v n="$n" -v t="$median" 'BEGIN {printf "%.0f", n / t}')" \
    "$(awk -v k="$rss_kb" 'BEGIN {printf "%.1f", k / 1024}')"
done
