#!/usr/bin/env bash
# Issue 11's benchmark in one command, release build: regwarden against Hydra v2.3.0 stores on
# PostgreSQL (schema made by Hydra's own `hydra migrate sql up`, rows by
# examples/bench_store.rs: the demo population with 0.6 access and 0.2 refresh tokens per
# client), for both state backends (SQLite, PostgreSQL). Per store size and state backend,
# as medians of RUNS runs, each beside PostgreSQL's own COPY of hydra_client to /dev/null
# timed in the same run:
#   first full scan with judging into an empty state (`scan --full`: wall time, the scan's
#   own time, peak RSS), a no-change rescan (`scan`), a full reconcile (`scan --full` on the
#   populated state), a 1%-changed incremental scan (examples/bench_store.rs change, then
#   restore), the same two incremental scans with an index on hydra_client (nid, updated_at,
#   id) an operator could add, and the /metrics scrape time of `regwarden run`. On the largest
#   store, EXPLAIN (ANALYZE, BUFFERS) of each query regwarden runs against Hydra, with and
#   without that index; on a 2,500-client store, the statements regwarden really ran, from
#   PostgreSQL's statement log, each matched to its EXPLAIN (so a changed query shows up as
#   "not explained"). Writes the results into BENCHMARKS.md between its bench.sh markers.
#
#   scripts/bench.sh                       sizes 10000 100000 1000000
#   scripts/bench.sh 10000 100000          a quicker run
#   RUNS=5 scripts/bench.sh                more runs per median (default 3)
#   BENCH_WRITE=0 scripts/bench.sh 10000   print the results, leave BENCHMARKS.md alone
#
# Needs root the first time (scripts/services.sh starts PostgreSQL, scripts/hydra.sh builds
# Hydra). Stores are built once and kept as PostgreSQL databases named
# regwarden_bench_hydra_<N>_<generator version> (1M: 1.5 GB, built in under two minutes); a
# new generator version replaces them. The state database regwarden_bench_state is dropped
# at exit. The machine is shared: read medians.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
SCRAPES=${SCRAPES:-20}
PORT=${BENCH_PORT:-19464}
sizes=("$@")
((${#sizes[@]})) || sizes=(10000 100000 1000000)
log() { echo "bench.sh: $*" >&2; }

log "building (release)"
cargo build --release --quiet --bin regwarden --example bench_store
# The commit the binary is built from (the tree may move on while a long run goes).
built="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml Cargo.lock migrations || echo ' (with uncommitted changes)')"
target=$(cargo metadata --format-version 1 --no-deps | sed -E 's/.*"target_directory":"([^"]+)".*/\1/')
bin=$target/release/regwarden
gen=$target/release/examples/bench_store
eval "$(scripts/services.sh start)"
hydra=$(scripts/hydra.sh build | tail -n1)
server=${REGWARDEN_TEST_PG_URL%/*}
version=$("$gen" version)
state_db=regwarden_bench_state
work=$(mktemp -d)
store_url='' daemon=''
cleanup() {
  [[ -n $daemon ]] && kill "$daemon" 2>/dev/null && wait "$daemon" 2>/dev/null
  if [[ -n $store_url ]]; then
    changed=$(psql "$store_url" -qAtc "SELECT to_regclass('regwarden_bench.changed') IS NOT NULL" 2>/dev/null || true)
    [[ $changed == t ]] && "$gen" restore "$store_url" 2>/dev/null
    psql "$store_url" -qc "DROP INDEX IF EXISTS regwarden_bench_updated" 2>/dev/null
  fi
  psql "$REGWARDEN_TEST_PG_URL" -qc "DROP DATABASE IF EXISTS $state_db WITH (FORCE)" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

sql() { psql "$1" -qAtX -v ON_ERROR_STOP=1 -c "$2"; }
exists() { [[ $(sql "$REGWARDEN_TEST_PG_URL" "SELECT count(*) FROM pg_database WHERE datname = '$1'") == 1 ]]; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN {printf "%.3f", b - a}'; }

# The store of $1 clients, built unless cached: prints its URL.
store() {
  local n=$1 db="regwarden_bench_hydra_${1}_${version//-/_}" t0 stale
  if ! exists "$db"; then
    # Stores of an older generator are this script's own: replace them.
    for stale in $(sql "$REGWARDEN_TEST_PG_URL" "SELECT datname FROM pg_database WHERE datname LIKE 'regwarden\_bench\_hydra\_${n}\_%'"); do
      log "dropping $stale (another generator version)"
      sql "$REGWARDEN_TEST_PG_URL" "DROP DATABASE $stale WITH (FORCE)"
    done
    log "building the $n-client store $db (kept for later runs)"
    t0=$(now)
    sql "$REGWARDEN_TEST_PG_URL" "CREATE DATABASE ${db}_building"
    DSN="$server/${db}_building?sslmode=disable" "$hydra" migrate sql up -e --yes >"$work/migrate.log" 2>&1 ||
      { cat "$work/migrate.log" >&2; exit 1; }
    "$gen" build "$server/${db}_building" "$n"
    sql "$REGWARDEN_TEST_PG_URL" "ALTER DATABASE ${db}_building RENAME TO $db"
    log "store $db built in $(since "$t0")s"
  fi
  echo "$server/$db"
}

# The config of state backend $1 against store URL $2, in $work/$1/.
config() {
  local dir=$work/$1 url
  mkdir -p "$dir"
  case $1 in
    sqlite) url="sqlite://state.db" ;;
    postgres) url="$server/$state_db" ;;
  esac
  cat >"$dir/regwarden.toml" <<EOF
[state]
url = "$url"
[http]
listen = "127.0.0.1:$PORT"
[log]
level = "warn"
[schedule]
scan = "0 0 1 1 *"
reconcile = "0 0 1 1 *"
[actions]
schedule = "0 0 1 1 *"
[[stores]]
name = "bench"
kind = "hydra"
database_url = "$2"
EOF
  echo "$dir/regwarden.toml"
}

reset_state() {
  case $1 in
    sqlite) rm -f "$work/sqlite/state.db"* ;;
    postgres)
      sql "$REGWARDEN_TEST_PG_URL" "DROP DATABASE IF EXISTS $state_db WITH (FORCE)"
      sql "$REGWARDEN_TEST_PG_URL" "CREATE DATABASE $state_db"
      ;;
  esac
}

results=$work/results.tsv
: >"$results"
record() { printf '%s\t%s\t%s\t%s\n' "$@" >>"$results"; }

# PostgreSQL's own COPY of the store's clients to /dev/null: the floor a full read can reach.
floor() {
  local t0
  t0=$(now)
  sql "$store_url" "COPY (SELECT * FROM hydra_client WHERE nid = '$nid') TO STDOUT" >/dev/null
  record "$n" "$backend" floor "$(since "$t0")"
}

# `regwarden scan ARGS`, recorded as metric $1: wall time, the scan's own time, peak RSS.
scan() {
  local metric=$1 scan_s
  shift
  if ! /usr/bin/time -f '%e %M' -o "$work/time" "$bin" scan "$@" --config "$cfg" >"$work/out" 2>"$work/err"; then
    log "regwarden scan $* failed:"
    cat "$work/out" "$work/err" >&2
    exit 1
  fi
  scan_s=$(sed -nE 's/.* in ([0-9.]+)s$/\1/p' "$work/out" | head -n1)
  read -r wall rss <"$work/time"
  record "$n" "$backend" "$metric" "$wall"
  record "$n" "$backend" "$metric.scan" "${scan_s:-nan}"
  record "$n" "$backend" "$metric.rss" "$rss"
  log "$n $backend $metric: ${wall}s (scan ${scan_s:-?}s), $((rss / 1024)) MiB: $(tr '\n' ' ' <"$work/out")"
}

# `regwarden scan` after bench_store change $2 (other clients for each), then the store restored.
changed() {
  "$gen" change "$store_url" "$2" 2>/dev/null
  scan "$1"
  "$gen" restore "$store_url"
}

# /metrics of `regwarden run` on the populated state: median scrape time, once the daemon's
# first scan is done.
scrape() {
  local i ready=
  "$bin" run --config "$cfg" >"$work/daemon.log" 2>&1 &
  daemon=$!
  for i in $(seq 1200); do
    if curl -sf "http://127.0.0.1:$PORT/metrics" 2>/dev/null | grep -q '^regwarden_last_successful_scan_timestamp_seconds{'; then
      ready=1
      break
    fi
    kill -0 "$daemon" 2>/dev/null || break
    sleep 0.5
  done
  [[ -n $ready ]] || { log "the daemon never finished its first scan:"; cat "$work/daemon.log" >&2; exit 1; }
  for i in $(seq "$SCRAPES"); do
    record "$n" "$backend" scrape "$(curl -sf -o /dev/null -w '%{time_total}' "http://127.0.0.1:$PORT/metrics")"
  done
  record "$n" "$backend" scrape.bytes "$(curl -sf "http://127.0.0.1:$PORT/metrics" | wc -c)"
  kill "$daemon"
  wait "$daemon" 2>/dev/null || true
  daemon=
}

# EXPLAIN (ANALYZE, BUFFERS) of each query regwarden runs against Hydra's PostgreSQL (the SQL
# of src/source/hydra/mod.rs, PostgreSQL dialect, prepared with text parameters as sqlx's Any
# driver binds them), on representative parameters: the middle page of a full scan, the
# incremental window of keys, batch by id and usage follow of a no-change rescan (cursor
# rewound 60 s).
explain() {
  local out=$1 cols ids i mid updated mark ps params u
  cols=$(printf '%s::text, ' id client_name redirect_uris grant_types response_types scope \
    token_endpoint_auth_method client_uri logo_uri policy_uri tos_uri jwks_uri contacts owner \
    metadata created_at updated_at skip_consent access_token_strategy sector_identifier_uri request_uris)
  cols=${cols%, }
  mid=$(sql "$store_url" "SELECT id FROM hydra_client WHERE nid = '$nid' ORDER BY id OFFSET $((n / 2)) LIMIT 1")
  ids=$(sql "$store_url" "SELECT string_agg(quote_literal(id), ',') FROM (SELECT id FROM hydra_client WHERE nid = '$nid' AND id > '$mid' ORDER BY id LIMIT 1000) p")
  updated=$(sql "$store_url" "SELECT (max(updated_at) - interval '60 seconds')::text FROM hydra_client WHERE nid = '$nid'")
  ps=$(printf 'text,%.0s' $(seq 1000))
  params=$(printf '$%s,' $(seq 2 1001))
  : >"$out"
  {
    echo "full-scan first page|PREPARE q(text) AS SELECT $cols FROM hydra_client WHERE nid = \$1::uuid ORDER BY id LIMIT 1000|EXECUTE q('$nid')"
    echo "full-scan page|PREPARE q(text, text) AS SELECT $cols FROM hydra_client WHERE nid = \$1::uuid AND id > \$2 ORDER BY id LIMIT 1000|EXECUTE q('$nid', '$mid')"
    echo "full scan's change mark|PREPARE q(text) AS SELECT updated_at::text AS mark_updated_at, id::text AS mark_id FROM hydra_client WHERE nid = \$1::uuid ORDER BY updated_at DESC, id DESC LIMIT 1|EXECUTE q('$nid')"
    echo "incremental window of keys|PREPARE q(text, text, text) AS SELECT id::text AS window_id, updated_at::text AS window_updated_at FROM hydra_client WHERE nid = \$1::uuid AND (updated_at, id) > ((SELECT \$2::timestamp), \$3) ORDER BY updated_at, id LIMIT 20000|EXECUTE q('$nid', '$updated', '')"
    echo "incremental batch by id|PREPARE q(text, ${ps%,}) AS SELECT $cols FROM hydra_client WHERE nid = \$1::uuid AND id IN (${params%,})|EXECUTE q('$nid', $ids)"
    u="SELECT client_id, requested_at FROM"
    echo "last uses at a full scan's start|PREPARE q(text) AS SELECT client_id, MAX(requested_at)::text FROM ($u hydra_oauth2_access WHERE nid = \$1::uuid UNION ALL $u hydra_oauth2_refresh WHERE nid = \$1::uuid UNION ALL $u hydra_oauth2_flow WHERE nid = \$1::uuid) AS uses GROUP BY client_id|EXECUTE q('$nid')"
    for t in hydra_oauth2_access hydra_oauth2_refresh hydra_oauth2_flow; do
      mark=$(sql "$store_url" "SELECT coalesce((max(requested_at) - interval '60 seconds')::text, '2000-01-01') FROM $t WHERE nid = '$nid'")
      echo "last use per batch (incremental): $t|PREPARE q(text, ${ps%,}) AS SELECT client_id, MAX(requested_at)::text FROM $t WHERE nid = \$1::uuid AND client_id IN (${params%,}) GROUP BY client_id|EXECUTE q('$nid', $ids)"
      echo "usage mark: $t|PREPARE q(text) AS SELECT MAX(requested_at)::text FROM $t WHERE nid = \$1::uuid|EXECUTE q('$nid')"
      echo "usage follow: $t|PREPARE q(text, text) AS SELECT client_id, requested_at::text FROM $t WHERE nid = \$1::uuid AND requested_at > \$2::timestamp ORDER BY requested_at|EXECUTE q('$nid', '$mark')"
    done
  } >"$work/queries"
  cp "$work/queries" "$work/queries.explained"
  while IFS='|' read -r name prepare execute; do
    # Twice: the second, on a warm cache as in a daemon's steady state, is kept.
    psql "$store_url" -qAtX -v ON_ERROR_STOP=1 >"$work/plan" <<EOF
$prepare;
EXPLAIN (ANALYZE, BUFFERS) $execute;
\o $work/plan2
EXPLAIN (ANALYZE, BUFFERS) $execute;
EOF
    printf '%s\t%s\n' "$name" "$(sed 's/\t/ /g' "$work/plan2" | tr '\n' '\t')" >>"$out"
  done <"$work/queries"
}

# A statement as text, normalized: white space collapsed, lists of parameters and of columns
# read as text shortened.
# shellcheck disable=SC2016 # awk's own $ in a regex
norm_awk='function norm(s) {
  gsub(/[ \t]+/, " ", s); sub(/^ /, "", s); sub(/ $/, "", s)
  gsub(/IN \(\$[0-9]+(, ?\$[0-9]+)*\)/, "IN ($n, …)", s)
  gsub(/([a-z_]+::text, ){3,}[a-z_]+::text/, "‹columns›::text", s)
  return s
}'

# The statements regwarden runs against Hydra, as PostgreSQL's statement log shows them, during
# a full scan, a no-change rescan and a 1%-changed rescan of a small store (2,500 clients:
# three pages): so the EXPLAIN section can say whether it covers every one of them.
inventory() {
  local pglog db=regwarden_bench_hydra_2500_${version//-/_} off n=inventory backend=sqlite cfg
  pglog=$(pg_lsclusters -h 2>/dev/null | awk '$4 == "online" {print $7; exit}')
  [[ -r $pglog ]] || { log "cannot read PostgreSQL's log: no statement inventory"; return; }
  store_url=$(store 2500)
  cfg=$(config sqlite "$store_url")
  reset_state sqlite
  logging() { sql "$store_url" "ALTER DATABASE $db ${1:-RESET log_min_duration_statement}"; }
  off=$(stat -c %s "$pglog")
  logging "SET log_min_duration_statement = 0"
  scan full --full
  scan rescan
  logging
  "$gen" change "$store_url" 0 2>/dev/null
  logging "SET log_min_duration_statement = 0"
  scan changed
  logging
  "$gen" restore "$store_url"
  # Each logged execution (a line for it, then its continuation lines), normalized: lists of
  # parameters and of columns read as text shortened, white space collapsed.
  tail -c +$((off + 1)) "$pglog" | awk -v tag="@$db LOG:  duration: " "$norm_awk"'
    function flush() { if (stmt != "" && stmt !~ /^ALTER DATABASE/) { stmt = norm(stmt); n[stmt]++; ms[stmt] += d }; stmt = "" }
    /^[0-9]{4}-[0-9]{2}-[0-9]{2} / {
      flush()
      i = index($0, tag)
      if (i && match($0, /(execute [^:]*|statement): /)) {
        d = substr($0, i + length(tag)); sub(/ ms.*/, "", d)
        stmt = substr($0, RSTART + RLENGTH)
      }
      next
    }
    stmt != "" { stmt = stmt " " $0 }
    END { flush(); for (s in n) printf "%s\t%d\t%.1f\n", s, n[s], ms[s] }' | sort >"$work/inventory.tsv"
}

t_all=$(now)
for n in "${sizes[@]}"; do
  store_url=$(store "$n")
  nid=$(sql "$store_url" "SELECT id FROM networks ORDER BY created_at, id LIMIT 1")
  [[ $(sql "$store_url" "SELECT to_regclass('regwarden_bench.changed') IS NOT NULL") == t ]] && "$gen" restore "$store_url"
  sql "$store_url" "DROP INDEX IF EXISTS regwarden_bench_updated"
  sql "$store_url" "SELECT clients, access, refresh, build_seconds FROM regwarden_bench.meta" |
    while IFS='|' read -r c a r b; do record "$n" store meta "$c $a $r $b"; done
  for backend in sqlite postgres; do
    cfg=$(config "$backend" "$store_url")
    for run in $(seq "$RUNS"); do
      log "$n clients, $backend state, run $run of $RUNS"
      reset_state "$backend"
      floor
      scan full --full
      scan rescan
      scan reconcile --full
      changed changed 0
      sql "$store_url" "CREATE INDEX regwarden_bench_updated ON hydra_client (nid, updated_at, id)"
      scan rescan_idx
      changed changed_idx 1
      sql "$store_url" "DROP INDEX regwarden_bench_updated"
    done
    scrape
  done
  if [[ $n == "${sizes[-1]}" ]]; then
    log "EXPLAIN on the $n-client store"
    explain "$work/explain.tsv"
    sql "$store_url" "CREATE INDEX regwarden_bench_updated ON hydra_client (nid, updated_at, id)"
    explain "$work/explain_idx.tsv"
    sql "$store_url" "DROP INDEX regwarden_bench_updated"
  fi
done
log "statement inventory"
inventory
elapsed=$(since "$t_all")

# --- The report ---------------------------------------------------------------------------
med() { awk -F'\t' -v n="$1" -v b="$2" -v m="$3" '$1 == n && $2 == b && $3 == m && $4 != "nan" {print $4}' "$results" |
  sort -g | awk '{a[NR] = $1} END {if (NR) print a[int((NR + 1) / 2)]; else print "nan"}'; }
calc() { awk "BEGIN {printf \"$1\", $2}"; }
verdict() { awk "BEGIN {print ($1) ? \"**pass**\" : \"**fail**\"}"; }
secs() { awk -v s="$1" 'BEGIN {if (s == "nan") print "–"; else if (s < 10) printf "%.2f s", s; else printf "%.1f s", s}'; }
group() { sed -E ':a; s/([0-9])([0-9]{3})($|,)/\1,\2\3/; ta' <<<"$1"; }

# Per plan of an explain file: name, its nodes (top to bottom), "time, buffers" of the whole.
plan_summary() {
  awk -F'\t' '{
    nodes = ""; t = "?"; buf = ""
    for (i = 2; i <= NF; i++) {
      line = $i
      if (i == 2 || line ~ /->/) {
        sub(/^ *(-> +)?/, "", line); sub(/ +\(cost=.*/, "", line)
        nodes = nodes (nodes == "" ? "" : " → ") line
      } else if (buf == "" && line ~ /Buffers:/) {
        buf = line; sub(/.*Buffers: /, "", buf)
      } else if (line ~ /Execution Time/) {
        t = line; sub(/.*: /, "", t)
      }
    }
    printf "%s\t%s\t%s%s\n", $1, nodes, t, buf == "" ? "" : ", " buf
  }' "$1"
}

report() {
  local n b f full
  echo "<!-- bench.sh results begin: generated by scripts/bench.sh, do not edit by hand -->"
  echo
  echo "Generated by \`scripts/bench.sh ${sizes[*]}\` (RUNS=$RUNS) on $(date -u '+%Y-%m-%d %H:%M UTC') at commit"
  echo "$built; machine: $(nproc) cores ($(lscpu | sed -nE 's/^Model name: +//p')),"
  echo "$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo) memory, PostgreSQL $(sql "$REGWARDEN_TEST_PG_URL" 'SHOW server_version' | cut -d' ' -f1) on the same machine, $(rustc --version | cut -d' ' -f1-2)."
  echo "The whole run took $(calc '%.0f' "$elapsed / 60") min. Medians of $RUNS runs; the machine is shared, so read the ratios."
  echo
  echo "Method: each store is Hydra v2.3.0's PostgreSQL schema, made by \`hydra migrate sql up\`,"
  echo "filled by \`examples/bench_store.rs\` (generator $version) with the demo population"
  echo "(\`regwarden::demo::generate\`) and 0.6 access-token and 0.2 refresh-token rows per client,"
  echo "requested over the clients' lifetimes. Per run and state backend: the floor is"
  echo "\`COPY (SELECT * FROM hydra_client WHERE nid = …) TO STDOUT\` to /dev/null through psql, timed"
  echo "in the same run; *full scan + judging* is the wall time of \`regwarden scan --full\` into an"
  echo "empty state (the scan's own figure, which it prints, in parentheses; judging is the rest);"
  echo "*no-change rescan* is \`regwarden scan\` right after; *full reconcile* is \`scan --full\` again"
  echo "on the populated state; *1% changed* is \`scan\` after \`bench_store change\` updated 1% of"
  echo "the clients as Hydra's admin API would (\`updated_at\` bumped, a redirect URI added or the"
  echo "name changed) and gave another 1% new access and refresh tokens (then \`restore\`). The"
  echo "*with index* rows repeat the two incremental scans with an index on hydra_client"
  echo "(nid, updated_at, id), which Hydra's schema lacks. *Scrape* is \`curl /metrics\` against"
  echo "\`regwarden run\` on the populated state (median of $SCRAPES). Peak RSS is GNU time's %M of"
  echo "the first full scan."
  for n in "${sizes[@]}"; do
    read -r c a r bs <<<"$(awk -F'\t' -v n="$n" '$1 == n && $3 == "meta" {print $4}' "$results")"
    echo
    echo "### $(group "$n") clients"
    echo
    echo "$(group "$c") clients, $(group "$a") access and $(group "$r") refresh tokens (store built in $(calc '%.0f' "$bs") s)."
    echo
    echo "| measure | SQLite state | PostgreSQL state | target |"
    echo "|---|---|---|---|"
    row() {
      local label=$1 target=$2 fn=$3 cells=() b
      shift 3
      for b in sqlite postgres; do cells+=("$("$fn" "$b" "$@")"); done
      echo "| $label | ${cells[0]} | ${cells[1]} | $target |"
    }
    cell_floor() { secs "$(med "$n" "$1" floor)"; }
    cell_full() {
      local w s f
      w=$(med "$n" "$1" full) s=$(med "$n" "$1" full.scan) f=$(med "$n" "$1" floor)
      echo "$(secs "$w") (scan $(secs "$s")): $(calc '%.1f' "$w / $f")× floor, $(verdict "$w <= 2 * $f")"
    }
    cell_rescan() {
      local w
      w=$(med "$n" "$1" "$2")
      echo "$(secs "$w") (scan $(secs "$(med "$n" "$1" "$2.scan")")), $(verdict "$w < 1")"
    }
    cell_reconcile() {
      local w f full
      w=$(med "$n" "$1" reconcile) f=$(med "$n" "$1" floor) full=$(med "$n" "$1" full)
      echo "$(secs "$w") (scan $(secs "$(med "$n" "$1" reconcile.scan)")): $(calc '%.1f' "$w / $f")× floor, $(calc '%.0f' "100 * $w / $full")% of full"
    }
    cell_changed() {
      local w full
      w=$(med "$n" "$1" "$2") full=$(med "$n" "$1" full)
      echo "$(secs "$w") (scan $(secs "$(med "$n" "$1" "$2.scan")")): $(calc '%.1f' "100 * $w / $full")% of full, $(verdict "$w < 0.1 * $full")"
    }
    cell_scrape() {
      local s
      s=$(med "$n" "$1" scrape)
      echo "$(calc '%.1f' "$s * 1000") ms ($(calc '%.0f' "$(med "$n" "$1" scrape.bytes) / 1024") KiB), $(verdict "$s < 0.05")"
    }
    cell_rss() {
      local k
      k=$(med "$n" "$1" "$2.rss")
      echo "$(calc '%.0f' "$k / 1024") MiB, $(verdict "$k <= 65536")"
    }
    row "COPY floor" "–" cell_floor
    row "full scan + judging" "≤ 2× floor (goal 1.5×)" cell_full
    row "no-change rescan" "< 1 s" cell_rescan rescan
    row "no-change rescan, with index" "< 1 s" cell_rescan rescan_idx
    row "1% changed" "< 10% of full" cell_changed changed
    row "1% changed, with index" "< 10% of full" cell_changed changed_idx
    row "full reconcile" "–" cell_reconcile
    row "/metrics scrape" "< 50 ms" cell_scrape
    row "peak RSS, full scan" "≤ 64 MiB" cell_rss full
    row "peak RSS, 1% changed" "≤ 64 MiB" cell_rss changed
    row "peak RSS, full reconcile" "≤ 64 MiB" cell_rss reconcile
  done
  if ((${#sizes[@]} > 1)); then
    local i m b a z grow
    echo
    echo "### Growth with store size"
    echo
    echo "Wall time per 1,000 clients, then each step's growth: linear keeps the time per client flat"
    echo "(fixed costs make the small stores dear); a step passes at most 1.2× linear."
    echo
    printf '| measure | state |'
    for n in "${sizes[@]}"; do printf ' %s |' "$(group "$n")"; done
    for ((i = 1; i < ${#sizes[@]}; i++)); do printf ' %s → %s |' "$(group "${sizes[i - 1]}")" "$(group "${sizes[i]}")"; done
    printf '\n|---|---|'
    for ((i = 1; i < 2 * ${#sizes[@]}; i++)); do printf -- '---|'; done
    echo
    for m in floor full reconcile changed rescan; do
      for b in sqlite postgres; do
        printf '| %s | %s |' "$m" "$b"
        for n in "${sizes[@]}"; do printf ' %s ms |' "$(calc '%.1f' "1000000 * $(med "$n" "$b" "$m") / $n")"; done
        for ((i = 1; i < ${#sizes[@]}; i++)); do
          a=${sizes[i - 1]} z=${sizes[i]}
          grow=$(calc '%.4f' "$(med "$z" "$b" "$m") / $(med "$a" "$b" "$m")")
          printf ' %s× for %s×, %s |' "$(calc '%.1f' "$grow")" "$(calc '%.0f' "$z / $a")" "$(verdict "$grow <= 1.2 * $z / $a")"
        done
        echo
      done
    done
  fi
  if [[ -s $work/explain.tsv ]]; then
    echo
    echo "### Query plans on the $(group "${sizes[-1]}")-client store"
    echo
    echo "\`EXPLAIN (ANALYZE, BUFFERS)\` of each query regwarden runs against Hydra's PostgreSQL (the"
    echo "SQL of src/source/hydra/mod.rs, prepared with text parameters as sqlx binds them; batches"
    echo "of 1,000; the incremental window, batch by id and usage follow as in a no-change rescan, the cursor"
    echo "rewound 60 s), second execution (warm cache), without and with an index on"
    echo "hydra_client (nid, updated_at, id). hydra_oauth2_flow is empty in these stores (Hydra's"
    echo "janitor removes finished flows)."
    echo
    echo "| query | plan, without the index | time, buffers | plan, with the index | time, buffers |"
    echo "|---|---|---|---|---|"
    paste -d'\t' <(plan_summary "$work/explain.tsv") <(plan_summary "$work/explain_idx.tsv" | cut -f2-) |
      awk -F'\t' '{printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5}'
    echo
    for f in explain explain_idx; do
      echo "<details><summary>Plans $([[ $f == explain ]] && echo without || echo with) the index</summary>"
      echo
      while IFS=$'\t' read -r name plan; do
        echo "**$name**"
        echo
        echo '```'
        tr '\t' '\n' <<<"$plan" | sed '/^$/d'
        echo '```'
        echo
      done <"$work/$f.tsv"
      echo "</details>"
      echo
    done
  fi
  if [[ -s $work/inventory.tsv ]]; then
    echo "### Statements regwarden runs against Hydra"
    echo
    echo "From PostgreSQL's statement log (\`log_min_duration_statement = 0\` on a 2,500-client store)"
    echo "during a full scan, a no-change rescan and a 1%-changed rescan, normalized (parameter and"
    echo "column lists shortened), with the EXPLAIN above that covers each."
    echo
    echo "| statement | executions | total | EXPLAINed as |"
    echo "|---|---|---|---|"
    awk -F'\t' "$norm_awk"'
      FILENAME == ARGV[1] {
        split($0, f, "|"); q = f[2]; sub(/^PREPARE [^)]*\) AS /, "", q); q = norm(q)
        name[q] = (q in name ? name[q] "; " : "") f[1]; next
      }
      {
        # A full scan'"'"'s pages come by COPY, which takes no parameters: its SELECT is explained.
        page = $1 ~ /^COPY \(SELECT ‹columns›::text FROM hydra_client WHERE nid = [^ ]+ (AND id > [^ ]+ )?ORDER BY id LIMIT [0-9]+\) TO STDOUT$/
        as = ($1 in name) ? name[$1] : page ? "full-scan page (by `COPY`)" : ($1 ~ /^SET |FROM networks|WHERE 1 = 0/ ? "(connection set-up)" : "**not explained**")
        gsub(/\|/, "\\|", $1)
        printf "| `%s` | %d | %.1f ms | %s |\n", $1, $2, $3, as
      }' "$work/queries.explained" "$work/inventory.tsv"
    echo
  fi
  echo "<!-- bench.sh results end -->"
}

report >"$work/report.md"
cat "$work/report.md"
if [[ ${BENCH_WRITE:-1} == 1 ]]; then
  if grep -q '<!-- bench.sh results begin' BENCHMARKS.md; then
    awk -v f="$work/report.md" '
      /<!-- bench.sh results begin/ {while ((getline l < f) > 0) print l; skip = 1; next}
      /<!-- bench.sh results end -->/ {skip = 0; next}
      !skip' BENCHMARKS.md >"$work/B.md"
    cp "$work/B.md" BENCHMARKS.md
  else
    { echo; echo "## Issue 11: a million registrations (scripts/bench.sh)"; echo; cat "$work/report.md"; } >>BENCHMARKS.md
  fi
  log "results written into BENCHMARKS.md"
fi
