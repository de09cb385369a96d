#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what is missing (Debian packages,
# Ory Hydra built from the Go module proxy, Keycloak from Maven Central, the MCP TypeScript
# SDK from npm), starts PostgreSQL, MariaDB and Keycloak (on each), then runs every unit and
# integration test, including the service-backed ones a plain `cargo test` lists as ignored,
# and checks the deployment artifacts with their ecosystems' tools (scripts/deploy-check.sh:
# systemd-analyze, podman, Helm, kubeconform).
#
#   scripts/test.sh            # as root on Debian; big downloads and builds are cached
#
# A service-backed test whose service is missing fails, naming the variable it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n== %s\n' "$*" >&2; }
need_apt=()
command -v pg_ctlcluster >/dev/null || need_apt+=(postgresql)
command -v mariadbd >/dev/null || need_apt+=(mariadb-server)
command -v sqlite3 >/dev/null || need_apt+=(sqlite3)
command -v promtool >/dev/null || need_apt+=(prometheus)
command -v java >/dev/null || need_apt+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || need_apt+=(maven)
command -v unzip >/dev/null || need_apt+=(unzip)
command -v systemd-analyze >/dev/null || need_apt+=(systemd)
command -v podman >/dev/null || need_apt+=(podman)
command -v mmdebstrap >/dev/null || need_apt+=(mmdebstrap)
command -v strace >/dev/null || need_apt+=(strace)
command -v pip3 >/dev/null || command -v pip >/dev/null || need_apt+=(python3-pip)
if ((${#need_apt[@]})); then
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
    say "installing ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    say "missing ${need_apt[*]} (run as root on Debian to install them)"
  fi
fi

if [[ $(id -u) == 0 ]]; then
  say "starting PostgreSQL and MariaDB"
  eval "$(scripts/services.sh start)"
  scripts/services.sh sweep
  # Keycloak takes one to three minutes to start: it starts while the rest builds.
  say "starting Keycloak on PostgreSQL and MariaDB (in the background)"
  kc_env=$(mktemp)
  scripts/keycloak.sh start >"$kc_env" &
  kc_pid=$!
fi

# Helm and kubeconform (Go module proxy) and the Kubernetes schemas (PyPI), cached: built
# while the tests build.
say "installing the deployment checks' tools (in the background)"
deploy_log=$(mktemp)
scripts/deploy-check.sh tools >"$deploy_log" 2>&1 &
deploy_pid=$!

say "building Ory Hydra v2.3.0 (cached after the first run)"
REGWARDEN_HYDRA_BIN=$(scripts/hydra.sh build | tail -n1)
export REGWARDEN_HYDRA_BIN

say "installing the MCP TypeScript SDK"
(cd tests/mcp && { [[ -d node_modules/@modelcontextprotocol/sdk ]] || npm ci --no-audit --no-fund --loglevel=error; })
export REGWARDEN_MCP_DIR="$PWD/tests/mcp"

say "building the tests"
cargo test --all-targets --locked --no-run

if [[ -n ${kc_pid:-} ]]; then
  say "waiting for Keycloak"
  wait "$kc_pid" || { echo "scripts/keycloak.sh failed" >&2; exit 1; }
  eval "$(cat "$kc_env")"
  rm -f "$kc_env"
fi

say "checking the deployment artifacts (deploy/)"
wait "$deploy_pid" || { cat "$deploy_log" >&2; echo "scripts/deploy-check.sh tools failed" >&2; exit 1; }
rm -f "$deploy_log"
scripts/deploy-check.sh all "${CARGO_TARGET_DIR:-target}/debug/regwarden"

say "cargo test, service-backed tests included"
cargo test --all-targets --locked -- --include-ignored
