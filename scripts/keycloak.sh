#!/usr/bin/env bash
# Runs two real Keycloak 26.7.3 servers (the Maven Central distribution, start-dev mode) for
# regwarden tests: one on PostgreSQL, one on MariaDB, each with its own database.
#
#   eval "$(scripts/services.sh start)"    first: the database servers
#   eval "$(scripts/keycloak.sh start)"    start both (or reuse running ones), print exports
#   scripts/keycloak.sh stop               stop both
#
# Prints `export` lines: REGWARDEN_TEST_KC_PG and REGWARDEN_TEST_KC_MY (base URLs),
# REGWARDEN_TEST_KC_ADMIN / REGWARDEN_TEST_KC_ADMIN_PASSWORD (master realm admin), and
# REGWARDEN_TEST_KC_PG_DB / REGWARDEN_TEST_KC_MY_DB (URLs of Keycloak's own databases).
# Database credentials come from REGWARDEN_TEST_PG_URL / REGWARDEN_TEST_MYSQL_URL when set
# (services.sh's defaults otherwise). Needs java (17 or later), psql and mariadb clients, and
# mvn the first time (to fetch the distribution, about 180 MB, into ~/.m2).
#
# Layout under ${REGWARDEN_CACHE:-~/.cache/regwarden}/keycloak-26.7.3/: dist/ (the unpacked
# zip, left pristine) and one copy of it per instance, pg/ and my/, because start-dev
# re-augments into lib/quarkus/ for its --db and keeps data/ in its home, so two instances on
# different databases cannot share one directory. Each copy holds kc.log and kc.pid.
set -euo pipefail

KC_VERSION=26.7.3 # 26.7.4 is not served by the package registry this runs against
DIR="${REGWARDEN_CACHE:-$HOME/.cache/regwarden}/keycloak-$KC_VERSION"
ARTIFACT="org.keycloak:keycloak-quarkus-dist:$KC_VERSION:zip"
ADMIN="admin"
ADMIN_PASSWORD="admin"
KC_DB_NAME=regwarden_kc
PG_PORT_HTTP=18080 PG_PORT_MGMT=19080
MY_PORT_HTTP=18081 MY_PORT_MGMT=19081
WAIT_SECONDS=${REGWARDEN_KC_WAIT:-900} # cold starts beside a cargo build on 2 cores take minutes

log() { echo "keycloak.sh: $*" >&2; }
die() { log "$*"; exit 1; }

# Splits scheme://user:password@host:port/db into URL_USER, URL_PASSWORD, URL_HOST, URL_PORT.
parse_url() {
  [[ $1 =~ ^[a-z]+://([^:@/]+):([^@/]*)@([^:/]+):([0-9]+)(/|$) ]] || die "cannot parse database URL $1"
  URL_USER=${BASH_REMATCH[1]} URL_PASSWORD=${BASH_REMATCH[2]} URL_HOST=${BASH_REMATCH[3]} URL_PORT=${BASH_REMATCH[4]}
}
parse_url "${REGWARDEN_TEST_PG_URL:-postgres://regwarden_test:regwarden_test@127.0.0.1:5432/postgres}"
PG_USER=$URL_USER PG_PASSWORD=$URL_PASSWORD PG_HOST=$URL_HOST PG_PORT=$URL_PORT
parse_url "${REGWARDEN_TEST_MYSQL_URL:-mysql://regwarden_test:regwarden_test@127.0.0.1:3306/mysql}"
MY_USER=$URL_USER MY_PASSWORD=$URL_PASSWORD MY_HOST=$URL_HOST MY_PORT=$URL_PORT

# True if GET http://127.0.0.1:$1$2 answers 200 (plain bash, no curl needed).
http_ok() {
  local line
  exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
  printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' "$2" >&3
  read -r line <&3 || true
  exec 3<&-
  [[ $line == *" 200 "* ]]
}
ready() { http_ok "$1" /realms/master/.well-known/openid-configuration 2>/dev/null; }

# Unpacks the distribution once into $DIR/dist (fetching it with mvn if needed).
unpack() {
  [[ -x $DIR/dist/bin/kc.sh ]] && return
  local zip tmp
  zip="${MAVEN_REPO:-$HOME/.m2/repository}/org/keycloak/keycloak-quarkus-dist/$KC_VERSION/keycloak-quarkus-dist-$KC_VERSION.zip"
  if [[ ! -f $zip ]]; then
    command -v mvn >/dev/null || die "mvn not found on PATH (needed once to fetch $ARTIFACT)"
    log "fetching $ARTIFACT"
    mvn -q dependency:get -Dartifact="$ARTIFACT" -Dtransitive=false >&2
    [[ -f $zip ]] || die "mvn did not leave $zip (set MAVEN_REPO if your local repository is elsewhere)"
  fi
  log "unpacking into $DIR/dist"
  mkdir -p "$DIR"
  tmp=$(mktemp -d "$DIR/unpack.XXXXXX")
  unzip -q "$zip" -d "$tmp"
  mv "$tmp/keycloak-$KC_VERSION" "$DIR/dist"
  rm -rf "$tmp"
}

# Per-instance copy of the distribution: $DIR/$1.
instance_home() {
  local home=$DIR/$1 tmp
  if [[ ! -x $home/bin/kc.sh ]]; then
    tmp=$(mktemp -d "$DIR/copy.XXXXXX")
    cp -a "$DIR/dist/." "$tmp/"
    mv "$tmp" "$home"
  fi
}

create_databases() {
  command -v psql >/dev/null || die "psql not found (PostgreSQL client)"
  command -v mariadb >/dev/null || die "mariadb not found (MariaDB client)"
  local pg=(psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -qAt) found
  found=$(PGPASSWORD=$PG_PASSWORD "${pg[@]}" -c "SELECT 1 FROM pg_database WHERE datname = '$KC_DB_NAME'") \
    || die "cannot reach PostgreSQL on $PG_HOST:$PG_PORT (did scripts/services.sh start run?)"
  if [[ $found != 1 ]]; then
    PGPASSWORD=$PG_PASSWORD "${pg[@]}" -c "CREATE DATABASE $KC_DB_NAME" >/dev/null
  fi
  MYSQL_PWD=$MY_PASSWORD mariadb -h "$MY_HOST" -P "$MY_PORT" -u "$MY_USER" -e \
    "CREATE DATABASE IF NOT EXISTS $KC_DB_NAME CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" \
    || die "cannot create database $KC_DB_NAME on MariaDB $MY_HOST:$MY_PORT (did scripts/services.sh start run?)"
}

# launch NAME HTTP_PORT MGMT_PORT DB HOST PORT USER PASSWORD: starts one instance in the
# background unless it answers already or its previous start is still under way.
launch() {
  local name=$1 http=$2 mgmt=$3 home=$DIR/$1 pid
  if ready "$http"; then log "$name: reusing Keycloak on port $http"; return; fi
  if [[ -f $home/kc.pid ]] && pid=$(<"$home/kc.pid") && kill -0 "$pid" 2>/dev/null; then
    log "$name: still starting (pid $pid)"; return
  fi
  instance_home "$name"
  rm -f "$home/kc.pid"
  log "$name: starting Keycloak on port $http (log: $home/kc.log)"
  # setsid: the instance is its own process group (kc.sh may relaunch java), so stop can end
  # all of it; the recorded pid is that of kc.sh, the group leader.
  (
    cd "$home"
    export KC_BOOTSTRAP_ADMIN_USERNAME=$ADMIN KC_BOOTSTRAP_ADMIN_PASSWORD=$ADMIN_PASSWORD
    export KC_DB=$4 KC_DB_URL_HOST=$5 KC_DB_URL_PORT=$6 KC_DB_URL_DATABASE=$KC_DB_NAME
    export KC_DB_USERNAME=$7 KC_DB_PASSWORD=$8
    exec setsid bash -c 'echo $$ > kc.pid; exec bin/kc.sh "$@"' kc.sh start-dev \
      --http-host 127.0.0.1 --http-port "$http" --http-management-port "$mgmt"
  ) >"$home/kc.log" 2>&1 </dev/null &
  for _ in $(seq 50); do [[ -s $home/kc.pid ]] && break; sleep 0.1; done
}

# await NAME HTTP_PORT: waits until the instance answers.
await() {
  local name=$1 http=$2 home=$DIR/$1 pid
  for _ in $(seq $((WAIT_SECONDS / 2))); do
    ready "$http" && { log "$name: ready on port $http"; return; }
    if pid=$(cat "$home/kc.pid" 2>/dev/null) && ! kill -0 "$pid" 2>/dev/null; then break; fi
    sleep 2
  done
  tail -n 40 "$home/kc.log" >&2 || true
  die "$name: Keycloak did not answer on port $http"
}

start() {
  command -v java >/dev/null || [[ -n ${JAVA_HOME:-} ]] || die "java not found (Java 17 or later)"
  local t0=$SECONDS
  if ! ready "$PG_PORT_HTTP" || ! ready "$MY_PORT_HTTP"; then
    unpack
    create_databases
    launch pg "$PG_PORT_HTTP" "$PG_PORT_MGMT" postgres "$PG_HOST" "$PG_PORT" "$PG_USER" "$PG_PASSWORD"
    launch my "$MY_PORT_HTTP" "$MY_PORT_MGMT" mariadb "$MY_HOST" "$MY_PORT" "$MY_USER" "$MY_PASSWORD"
    await pg "$PG_PORT_HTTP"
    await my "$MY_PORT_HTTP"
    log "both up in $((SECONDS - t0)) s"
  fi
  echo "export REGWARDEN_TEST_KC_PG=http://127.0.0.1:$PG_PORT_HTTP"
  echo "export REGWARDEN_TEST_KC_MY=http://127.0.0.1:$MY_PORT_HTTP"
  echo "export REGWARDEN_TEST_KC_ADMIN=$ADMIN"
  echo "export REGWARDEN_TEST_KC_ADMIN_PASSWORD=$ADMIN_PASSWORD"
  echo "export REGWARDEN_TEST_KC_PG_DB=postgres://$PG_USER:$PG_PASSWORD@$PG_HOST:$PG_PORT/$KC_DB_NAME"
  echo "export REGWARDEN_TEST_KC_MY_DB=mysql://$MY_USER:$MY_PASSWORD@$MY_HOST:$MY_PORT/$KC_DB_NAME"
}

# Ends each instance's process group (kc.sh and its java), TERM first, then KILL.
stop() {
  local name pid
  for name in pg my; do
    pid=$(cat "$DIR/$name/kc.pid" 2>/dev/null) || { log "$name: no pid file"; continue; }
    if kill -TERM -- "-$pid" 2>/dev/null; then
      for _ in $(seq 100); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.2; done
      kill -KILL -- "-$pid" 2>/dev/null || true
      log "$name: stopped (pid $pid)"
    else
      log "$name: not running"
    fi
    rm -f "$DIR/$name/kc.pid"
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) die "usage: $0 start|stop" ;;
esac
