#!/usr/bin/env bash
# Full-scan throughput and memory on the demo population, release build. Prints, per store
# and size: median full-scan time over RUNS runs, registrations per second, and the peak
# resident memory of a full `scan` (GNU time). The machine is shared: read medians.
#
#   scripts/bench.sh [SIZES...]                  Hydra on SQLite (the demo store); default 10000 100000
#   BENCH_POSTGRES=1 scripts/bench.sh [SIZES...] also Hydra on PostgreSQL: the same rows copied
#                                                into a schema made by Hydra's own `migrate sql`
#                                                (needs root: starts PostgreSQL, builds Hydra)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
sizes=("$@")
((${#sizes[@]})) || sizes=(10000 100000)
cargo build --release --quiet
bin=$PWD/target/release/regwarden
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [[ ${BENCH_POSTGRES:-0} == 1 ]]; then
  eval "$(scripts/services.sh start)"
  hydra=$(scripts/hydra.sh build | tail -n1)
fi

# Median scan seconds and peak RSS of `scan --full` with config $1 (state database reset each run).
measure() {
  local cfg=$1 state=$2 times=() line
  for _ in $(seq "$RUNS"); do
    rm -f "$state"*
    line=$("$bin" scan --full --config "$cfg" 2>/dev/null | sed -n 1p)
    times+=("$(sed -E 's/.* in ([0-9.]+)s$/\1/' <<<"$line")")
  done
  rm -f "$state"*
  /usr/bin/time -f '%M' -o "$work/rss" "$bin" scan --full --config "$cfg" >/dev/null 2>&1
  median=$(printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  rss=$(awk -v k="$(tail -n1 "$work/rss")" 'BEGIN {printf "%.1f", k / 1024}')
}

row() {
  printf '%-18s %-12s %-14s %-16s %-12s\n' "$1" "$2" "$median" "$(awk -v n="$2" -v t="$median" 'BEGIN {printf "%.0f", n / t}')" "$rss"
}

# Copies the demo's Hydra SQLite rows into a fresh PostgreSQL database migrated by Hydra.
to_postgres() {
  local db=regwarden_bench url cols
  psql "$REGWARDEN_TEST_PG_URL" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
  url="${REGWARDEN_TEST_PG_URL%/postgres}/$db"
  DSN="$url?sslmode=disable" "$hydra" migrate sql up -e --yes >/dev/null 2>&1
  # The demo's network replaces the one migrate made, so regwarden reads the demo's rows.
  psql "$url" -qc "DELETE FROM networks" -c "INSERT INTO networks (id, created_at, updated_at) SELECT '$(sqlite3 "$work/demo/hydra.db" 'SELECT id FROM networks')', now(), now()" >/dev/null
  cols="id,nid,client_name,client_secret,redirect_uris,grant_types,response_types,scope,owner,policy_uri,tos_uri,client_uri,logo_uri,contacts,sector_identifier_uri,jwks,jwks_uri,request_uris,token_endpoint_auth_method,allowed_cors_origins,audience,created_at,updated_at,metadata,registration_access_token_signature,skip_consent"
  sqlite3 -csv "$work/demo/hydra.db" "SELECT $cols FROM hydra_client" | sed 's/,0$/,false/; s/,1$/,true/' |
    psql "$url" -qc "\\copy hydra_client ($cols) FROM STDIN WITH (FORMAT csv)"
  for t in hydra_oauth2_access hydra_oauth2_refresh; do
    sqlite3 -csv "$work/demo/hydra.db" "SELECT signature,request_id,requested_at,client_id,scope,granted_scope,form_data,session_data,nid FROM $t" |
      psql "$url" -qc "\\copy $t (signature,request_id,requested_at,client_id,scope,granted_scope,form_data,session_data,nid) FROM STDIN WITH (FORMAT csv)"
  done
  printf '[state]\nurl = "sqlite://pg-state.db"\n[[stores]]\nname = "pg"\nkind = "hydra"\ndatabase_url = "%s"\n' "$url" >"$work/pg.toml"
}

printf '%-18s %-12s %-14s %-16s %-12s\n' store registrations "median scan s" "registrations/s" "peak RSS MiB"
for n in "${sizes[@]}"; do
  "$bin" demo --registrations "$n" --dir "$work/demo" >/dev/null 2>&1
  measure "$work/demo/regwarden.toml" "$work/demo/state.db"
  row "hydra on sqlite" "$n"
  if [[ ${BENCH_POSTGRES:-0} == 1 ]]; then
    to_postgres
    measure "$work/pg.toml" "$work/pg-state.db"
    row "hydra on postgres" "$n"
  fi
done
