#!/usr/bin/env bash
# Build and run a real Ory Hydra v2.3.0 (from the Go module proxy) for regwarden tests.
#
#   scripts/hydra.sh build                                   build once, print binary path
#   scripts/hydra.sh path                                    print binary path (builds if missing)
#   scripts/hydra.sh migrate DSN                             hydra migrate sql up on DSN
#   scripts/hydra.sh start DSN PUBLIC_PORT ADMIN_PORT LOGFILE  serve all --dev in background, print PID
#   scripts/hydra.sh stop PID
#
# DSN examples: postgres://user:pw@127.0.0.1:5432/db?sslmode=disable
#               mysql://user:pw@tcp(127.0.0.1:3306)/db?parseTime=true
#               sqlite:///abs/path/hydra.db?_fk=true
# start honours pre-set env such as URLS_LOGIN, URLS_CONSENT, SECRETS_SYSTEM, LOG_LEVEL.
set -euo pipefail

HYDRA_VERSION=v2.3.0
DIR="${REGWARDEN_CACHE:-$HOME/.cache/regwarden}/hydra-$HYDRA_VERSION"
BIN="$DIR/hydra"

die() { echo "hydra.sh: $*" >&2; exit 1; }

build() {
  if [[ ! -x $BIN ]]; then
    command -v go >/dev/null || die "go not found on PATH (Go >= 1.22 needed)"
    mkdir -p "$DIR"
    local mod
    mod=$(mktemp -d "$DIR/build.XXXXXX")
    trap "rm -rf '$mod'" EXIT
    (
      cd "$mod"
      export GOFLAGS=-mod=mod GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
      go mod init regwarden-hydra-build 2>/dev/null
      # Replace 1 (pop): Go ignores a dependency's replace directives, and upstream
      # gobuffalo/pop/v6 lacks APIs Hydra uses (e.g. Store.SQLDB), so repeat Hydra's
      # replace onto Ory's fork here.
      go mod edit -replace \
        github.com/gobuffalo/pop/v6=github.com/ory/pop/v6@v6.2.1-0.20241121111754-e5dfc0f3344b
      # Replace 2 (hydra-client-go => ./internal/httpclient) is deliberately NOT repeated:
      # internal/httpclient is a nested module, so it is absent from the hydra@v2.3.0
      # module zip. The published hydra-client-go/v2 v2.2.1 (what Hydra's go.mod
      # requires) compiles fine; it is only used by the CLI client subcommands.
      go get "github.com/ory/hydra/v2@$HYDRA_VERSION" >&2
      # cgo + "sqlite" tag = SQLite support (same tags as Hydra's own Makefile).
      CGO_ENABLED=1 go build -tags sqlite,sqlite_omit_load_extension \
        -ldflags "-X github.com/ory/hydra/v2/driver/config.Version=$HYDRA_VERSION" \
        -o "$mod/hydra" github.com/ory/hydra/v2 >&2
      mv -f "$mod/hydra" "$BIN"
    )
  fi
  echo "$BIN"
}

# True if GET http://127.0.0.1:$1$2 answers 200 (plain bash, no curl needed).
http_ok() {
  local line
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
  read -r line <&3 || true
  exec 3<&-
  [[ $line == *" 200 "* ]]
}

start() {
  local dsn=$1 pub=$2 adm=$3 log=$4 bin pid
  bin=$(build | tail -n1)
  DSN="$dsn" \
  SECRETS_SYSTEM="${SECRETS_SYSTEM:-regwarden-test-secret-0123456789}" \
  OIDC_DYNAMIC_CLIENT_REGISTRATION_ENABLED=true \
  SERVE_PUBLIC_HOST=127.0.0.1 SERVE_PUBLIC_PORT="$pub" \
  SERVE_ADMIN_HOST=127.0.0.1 SERVE_ADMIN_PORT="$adm" \
  URLS_SELF_ISSUER="http://127.0.0.1:$pub" \
  URLS_SELF_PUBLIC="http://127.0.0.1:$pub" \
  URLS_LOGIN="${URLS_LOGIN:-http://127.0.0.1:9/login}" \
  URLS_CONSENT="${URLS_CONSENT:-http://127.0.0.1:9/consent}" \
  SQA_OPT_OUT=true \
    setsid nohup "$bin" serve all --dev --sqa-opt-out >"$log" 2>&1 </dev/null &
  pid=$!
  for _ in $(seq 120); do
    if http_ok "$adm" /health/ready 2>/dev/null; then echo "$pid"; return; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  kill "$pid" 2>/dev/null || true
  tail -n 30 "$log" >&2
  die "hydra did not become ready on admin port $adm"
}

stop() {
  local pid=$1
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  kill -9 "$pid" 2>/dev/null || true
}

case "${1:-}" in
  build | path) build ;;
  migrate) [[ $# -eq 2 ]] || die "usage: $0 migrate DSN"
    DSN="$2" "$(build | tail -n1)" migrate sql up -e --yes ;;
  start) [[ $# -eq 5 ]] || die "usage: $0 start DSN PUBLIC_PORT ADMIN_PORT LOGFILE"
    start "$2" "$3" "$4" "$5" ;;
  stop) [[ $# -eq 2 ]] || die "usage: $0 stop PID"
    stop "$2" ;;
  *) die "usage: $0 build|path|migrate DSN|start DSN PUBLIC_PORT ADMIN_PORT LOGFILE|stop PID" ;;
esac
