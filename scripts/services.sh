#!/usr/bin/env bash
# Starts the database servers the integration tests use (PostgreSQL and MariaDB from
# Debian's packages), each on its usual local port, with a test superuser that logs in by
# password over TCP. Prints `export` lines for the tests; idempotent.
#
#   eval "$(scripts/services.sh start)"
#   scripts/services.sh sweep    # drops what finished test runs left behind
#
# Needs root (it starts system services without systemd, as on CI machines).
set -euo pipefail

PG_USER=regwarden_test
PG_PASSWORD=regwarden_test
MY_USER=regwarden_test
MY_PASSWORD=regwarden_test

log() { echo "services.sh: $*" >&2; }

start_postgres() {
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n1)
  [[ -n $version ]] || { log "PostgreSQL is not installed"; return 1; }
  if ! pg_lsclusters -h | awk '{print $4}' | grep -q online; then
    pg_ctlcluster --skip-systemctl-redirect "$version" main start >&2
  fi
  for _ in $(seq 60); do
    runuser -u postgres -- psql -qAtc 'SELECT 1' >/dev/null 2>&1 && break
    sleep 0.5
  done
  runuser -u postgres -- psql -qAt >/dev/null <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_USER') THEN
    CREATE ROLE $PG_USER LOGIN SUPERUSER PASSWORD '$PG_PASSWORD';
  END IF;
END \$\$;
SQL
  echo "export REGWARDEN_TEST_PG_URL=postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:5432/postgres"
  echo "export REGWARDEN_TEST_PG_BIN=/usr/lib/postgresql/$version/bin"
}

start_mariadb() {
  command -v mariadbd >/dev/null || { log "MariaDB is not installed"; return 1; }
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
  if [[ ! -d /var/lib/mysql/mysql ]]; then
    mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
  fi
  if ! mariadb-admin ping >/dev/null 2>&1; then
    start-stop-daemon --start --oknodo --background --chuid mysql --exec /usr/sbin/mariadbd -- --user=mysql
  fi
  for _ in $(seq 120); do
    mariadb-admin ping >/dev/null 2>&1 && break
    sleep 0.5
  done
  mariadb-admin ping >/dev/null 2>&1 || { log "MariaDB did not start"; return 1; }
  mariadb -uroot <<SQL
CREATE USER IF NOT EXISTS '$MY_USER'@'127.0.0.1' IDENTIFIED BY '$MY_PASSWORD';
CREATE USER IF NOT EXISTS '$MY_USER'@'localhost' IDENTIFIED BY '$MY_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO '$MY_USER'@'127.0.0.1' WITH GRANT OPTION;
GRANT ALL PRIVILEGES ON *.* TO '$MY_USER'@'localhost' WITH GRANT OPTION;
SQL
  echo "export REGWARDEN_TEST_MYSQL_URL=mysql://$MY_USER:$MY_PASSWORD@127.0.0.1:3306/mysql"
}

# The tests name each database and role they make `<prefix>_<pid>_<n>`, the pid being the
# test process's. A test that fails, or ends without cleaning up, leaves them on the server
# (on a developer's machine they add up: 372 databases, 12 GB). Those of processes no
# longer running are dropped; a running test's are not.
LEFT_BEHIND='^(rw|state|hydra|ro|regwarden_ro)(_[a-z]+)*_([0-9]+)_[0-9]+$'

left_behind() {
  local name pid
  while read -r name; do
    [[ $name =~ $LEFT_BEHIND ]] || continue
    pid=${BASH_REMATCH[3]}
    [[ -d /proc/$pid ]] || echo "$name"
  done
}

sweep() {
  local pg=(runuser -u postgres -- psql -qAtX) n=0 name
  if runuser -u postgres -- psql -qAtc 'SELECT 1' >/dev/null 2>&1; then
    while read -r name; do
      "${pg[@]}" -c "DROP DATABASE IF EXISTS \"$name\" WITH (FORCE)" >/dev/null && n=$((n + 1))
    done < <("${pg[@]}" -c 'SELECT datname FROM pg_database' | left_behind)
    # Roles after the databases they own; what they were granted elsewhere (Keycloak's
    # database, say) goes first.
    local dbs db
    dbs=$("${pg[@]}" -c 'SELECT datname FROM pg_database WHERE datallowconn')
    while read -r name; do
      for db in $dbs; do
        "${pg[@]}" -d "$db" -c "DROP OWNED BY \"$name\"" >/dev/null 2>&1 || true
      done
      "${pg[@]}" -c "DROP ROLE IF EXISTS \"$name\"" >/dev/null && n=$((n + 1))
    done < <("${pg[@]}" -c 'SELECT rolname FROM pg_roles' | left_behind)
  fi
  if mariadb-admin ping >/dev/null 2>&1; then
    while read -r name; do
      mariadb -uroot -e "DROP DATABASE IF EXISTS \`$name\`" && n=$((n + 1))
    done < <(mariadb -uroot -Nse 'SHOW DATABASES' | left_behind)
    while read -r name; do
      mariadb -uroot -e "DROP USER IF EXISTS '$name'@'127.0.0.1', '$name'@'localhost'" && n=$((n + 1))
    done < <(mariadb -uroot -Nse 'SELECT DISTINCT user FROM mysql.user' | left_behind)
  fi
  log "dropped $n databases and roles left behind by earlier test runs"
}

case "${1:-}" in
  start)
    start_postgres
    start_mariadb
    ;;
  sweep) sweep ;;
  *) echo "usage: $0 start|sweep" >&2; exit 2 ;;
esac
