#!/usr/bin/env bash
# Runs the fuzz targets to a plateau: each target, in turn, in rounds of ROUND seconds from
# a corpus kept under ~/.cache/regwarden/fuzz/<target> (seeded from fuzz/corpus/<target>),
# until a whole round finds no new edge in regwarden's own code (src/), or the target has run
# BUDGET seconds. One line per round:
#   target  round  executions  seconds  edges at start -> at end  new edges: in src/ / all
# (Edges in dependencies, such as the TOML or JSON parsers' grammars, can keep coming for a
# long time; each new edge is attributed by the function that holds it, `addr2line`.)
# Usage: scripts/fuzz.sh [target ...]   (default: every target in fuzz/Cargo.toml)
# Environment: ROUND (600), BUDGET (3600), NICE (19). A crash stops the script with its
# input in fuzz/artifacts/<target>/.
# The targets are built once, first: the rounds run those binaries, so a change to the tree
# meanwhile does not reach them (and cannot stop them with a build error).
# After each target, the corpus is minimized into fuzz/corpus/<target>/gen/ (what it reaches
# beyond the hand-written seeds, a file per input named by its SHA-1), to commit: the next run,
# on this machine or a fresh one, starts from there instead of from the seeds alone.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
ROUND=${ROUND:-600} BUDGET=${BUDGET:-3600} NICE=${NICE:-19}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/regwarden/fuzz
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v '^regwarden-fuzz$')
fi
command -v cargo-fuzz >/dev/null || cargo install --locked cargo-fuzz
export RUSTC_BOOTSTRAP=1
nice -n "$NICE" cargo fuzz build -s none -a >&2
bin=target/$(rustc -vV | sed -n 's/^host: //p')/release

# own_new_edges BINARY LOG: "in src/ / all" of the edges a round found (the NEW_PC lines of
# -print_pcs=1): an edge is regwarden's own when the function holding it (the outermost of
# its inlined frames) is in src/. Addresses are moved from the process's layout to the
# binary's by the PC table's address, which the log prints.
own_new_edges() {
    local table static src
    table=$(sed -n 's/.*Loaded 1 PC tables.*\[\(0x[0-9a-f]*\),.*/\1/p' "$2" | head -n1)
    static=0x$(readelf -SW "$1" | awk '{for (i = 1; i < NF; i++) if ($i == "__sancov_pcs") print $(i + 2)}')
    src=$(cd .. && pwd)/src/
    { grep -o 'NEW_PC: 0x[0-9a-f]*' "$2" || true; } | cut -d' ' -f2 |
        while read -r pc; do printf '0x%x\n' $((pc - table + static)); done |
        addr2line -e "$1" -a -i |
        awk -v src="$src" '/^0x/ { if (n) own += (last ~ "^" src); n++; next }
                           { last = $0 }
                           END { if (n) own += (last ~ "^" src); print own + 0 " / " n + 0 }'
}
for t in "${targets[@]}"; do
    mkdir -p "$cache/$t" "artifacts/$t"
    spent=0 round=0
    while [ "$spent" -lt "$BUDGET" ]; do
        round=$((round + 1))
        log=$cache/$t.round$round.log
        started=$(date +%s)
        nice -n "$NICE" "$bin/$t" "$cache/$t" "corpus/$t" \
            -artifact_prefix="artifacts/$t/" -max_total_time="$ROUND" -max_len=4096 \
            -print_final_stats=1 -print_pcs=1 >"$log" 2>&1 || {
            echo "$t: crashed in round $round; see $log and artifacts/$t/" >&2
            exit 1
        }
        took=$(($(date +%s) - started))
        spent=$((spent + took))
        start=$(grep -m1 'INITED cov:' "$log" | sed 's/.*INITED cov: \([0-9]*\).*/\1/')
        end=$(grep -o 'cov: [0-9]*' "$log" | tail -n1 | cut -d' ' -f2)
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        new=$(own_new_edges "$bin/$t" "$log")
        printf '%s\t%d\t%s\t%d\t%s -> %s\t%s\n' "$t" "$round" "$execs" "$took" "$start" "$end" "$new"
        [ "${new%% *}" = 0 ] && break
    done
    # Minimize: the seeds first, then what the rounds found that adds coverage to them;
    # edges only (no hit counts, no value profile), so the kept corpus stays small.
    kept=$(mktemp -d)
    cp -r "corpus/$t/." "$kept/"
    rm -rf "$kept/gen"
    mkdir -p "corpus/$t/gen"
    nice -n "$NICE" "$bin/$t" "$kept" "$cache/$t" "corpus/$t/gen" \
        -merge=1 -use_counters=0 -use_value_profile=0 -max_len=4096 >"$cache/$t.merge.log" 2>&1
    rm -rf "corpus/$t/gen"
    mkdir -p "corpus/$t/gen"
    find "$kept" -maxdepth 1 -type f -regextype posix-extended -regex '.*/[0-9a-f]{40}' \
        -exec mv -t "corpus/$t/gen" {} +
    rm -rf "$kept"
    printf '%s\tkept\t%s inputs in corpus/%s/gen\n' "$t" "$(ls "corpus/$t/gen" | wc -l)" "$t"
done
