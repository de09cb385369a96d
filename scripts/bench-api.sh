#!/usr/bin/env bash
# Reading a store through its admin API alone against reading its database, at N clients
# (default 10000), release build: median `regwarden scan --full` time over RUNS runs each.
#
#   scripts/bench-api.sh [N]
#
# Keycloak: a realm of N DCR-shaped clients (made by Keycloak's partial import) on the
# PostgreSQL Keycloak of scripts/keycloak.sh, read from its database and through the admin
# API as a service account. Hydra: the demo store of N registrations served by a real Hydra
# v2.3.0 on SQLite, read from the file and through `GET /admin/clients`. Needs root the first
# time (it starts the services, as scripts/test.sh does); the machine is shared: read medians.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
RUNS=${RUNS:-3}
cargo build --release --quiet
bin=$PWD/target/release/regwarden
work=$(mktemp -d)
hydra_pid=
trap '[[ -n $hydra_pid ]] && kill "$hydra_pid" 2>/dev/null; rm -rf "$work"' EXIT

eval "$(scripts/services.sh start)"
eval "$(scripts/keycloak.sh start)"
hydra=$(scripts/hydra.sh build | tail -n1)

# Median seconds of `scan --full` with config $1 (its state database reset before each run).
median_scan() {
  local cfg=$1 times=() line out
  for _ in $(seq "$RUNS"); do
    rm -f "$(dirname "$cfg")"/state.db*
    out=$("$bin" scan --full --config "$cfg" 2>&1) || { echo "scan failed: $out" >&2; exit 1; }
    line=$(grep -m1 'full scan' <<<"$out")
    times+=("$(sed -E 's/.* in ([0-9.]+)s$/\1/' <<<"$line")")
  done
  printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

row() { printf '%-10s %-8s %-16s %-16s %s\n' "$1" "$N" "$2" "$3" "$(awk -v a="$3" -v b="$2" 'BEGIN {printf "%.1fx", a / b}')"; }

# --- Keycloak -------------------------------------------------------------------------
kc=$REGWARDEN_TEST_KC_PG
token() {
  curl -sf -d grant_type=password -d client_id=admin-cli -d "username=$REGWARDEN_TEST_KC_ADMIN" \
    -d "password=$REGWARDEN_TEST_KC_ADMIN_PASSWORD" "$kc/realms/master/protocol/openid-connect/token" | jq -r .access_token
}
api() { curl -sf -H "Authorization: Bearer $(token)" -H 'Content-Type: application/json' "$@"; }
realm=bench$N
if ! api "$kc/admin/realms/$realm" >/dev/null 2>&1; then
  echo "bench-api.sh: making realm $realm with $N clients (once; kept for the next run)" >&2
  api -X POST "$kc/admin/realms" -d "{\"realm\":\"$realm\",\"enabled\":true}"
  for ((start = 0; start < N; start += 500)); do
    python3 - "$start" "$N" >"$work/batch.json" <<'PY'
import json, sys, uuid
start, n = int(sys.argv[1]), int(sys.argv[2])
clients = []
for i in range(start, min(start + 500, n)):
    cid = str(uuid.UUID(int=(0x5EED << 96) | i, version=4))
    clients.append({"id": cid, "clientId": cid, "name": f"Claude Code (server-{i % 40})",
                    "publicClient": True, "consentRequired": True, "fullScopeAllowed": False,
                    "redirectUris": [f"http://localhost:{10000 + i % 50000}/callback"],
                    "webOrigins": [f"http://localhost:{10000 + i % 50000}"]})
print(json.dumps({"ifResourceExists": "SKIP", "clients": clients}))
PY
    api -X POST "$kc/admin/realms/$realm/partialImport" --data-binary "@$work/batch.json" >/dev/null
  done
  api -X POST "$kc/admin/realms/$realm/clients" \
    -d '{"clientId":"regwarden","secret":"bench-secret","publicClient":false,"serviceAccountsEnabled":true,"standardFlowEnabled":false}'
  sa=$(api "$kc/admin/realms/$realm/clients?clientId=regwarden" | jq -r '.[0].id')
  user=$(api "$kc/admin/realms/$realm/clients/$sa/service-account-user" | jq -r .id)
  rm_id=$(api "$kc/admin/realms/$realm/clients?clientId=realm-management" | jq -r '.[0].id')
  roles=$(for r in view-clients manage-clients view-events view-realm; do api "$kc/admin/realms/$realm/clients/$rm_id/roles/$r"; done | jq -s .)
  api -X POST "$kc/admin/realms/$realm/users/$user/role-mappings/clients/$rm_id" -d "$roles"
fi
mkdir -p "$work/kc-sql" "$work/kc-api"
store="[[stores]]\nname = \"kc\"\nkind = \"keycloak\"\nrealm = \"$realm\"\nadmin_url = \"$kc\"\nadmin_client_id = \"regwarden\"\nadmin_client_secret = \"bench-secret\"\n"
printf "[state]\nurl = \"sqlite://state.db\"\n$store" >"$work/kc-api/regwarden.toml"
printf "[state]\nurl = \"sqlite://state.db\"\n${store}database_url = \"%s\"\n" "$REGWARDEN_TEST_KC_PG_DB" >"$work/kc-sql/regwarden.toml"
kc_sql=$(median_scan "$work/kc-sql/regwarden.toml")
kc_api=$(median_scan "$work/kc-api/regwarden.toml")

# --- Hydra ----------------------------------------------------------------------------
"$bin" demo --registrations "$N" --dir "$work/demo" >/dev/null 2>&1
port=$((20000 + RANDOM % 20000))
DSN="sqlite://$work/demo/hydra.db?_fk=true" SERVE_ADMIN_PORT=$port SERVE_PUBLIC_PORT=$((port + 1)) \
  SERVE_ADMIN_HOST=127.0.0.1 SERVE_PUBLIC_HOST=127.0.0.1 URLS_SELF_ISSUER=http://127.0.0.1:$((port + 1)) \
  SECRETS_SYSTEM=benchbenchbenchbenchbenchbench "$hydra" serve all --dev >"$work/hydra.log" 2>&1 &
hydra_pid=$!
for _ in $(seq 120); do curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null && break; sleep 0.5; done
mkdir -p "$work/h-sql" "$work/h-api"
printf '[state]\nurl = "sqlite://state.db"\n[[stores]]\nname = "h"\nkind = "hydra"\nadmin_url = "http://127.0.0.1:%s"\n' "$port" >"$work/h-api/regwarden.toml"
printf '[state]\nurl = "sqlite://state.db"\n[[stores]]\nname = "h"\nkind = "hydra"\ndatabase_url = "sqlite://%s"\n' "$work/demo/hydra.db" >"$work/h-sql/regwarden.toml"
h_sql=$(median_scan "$work/h-sql/regwarden.toml")
h_api=$(median_scan "$work/h-api/regwarden.toml")

printf '%-10s %-8s %-16s %-16s %s\n' store clients "database s" "admin API s" "API / database"
row keycloak "$kc_sql" "$kc_api"
row hydra "$h_sql" "$h_api"
