#!/usr/bin/env bash
# Checks the deployment artifacts with the tools of their ecosystems (issue 13):
#
#   scripts/deploy-check.sh tools            install and build the tools (cached); run it early,
#                                            beside the cargo build
#   scripts/deploy-check.sh systemd BINARY   deploy/regwarden.service: systemd-analyze verify,
#                                            security --offline=yes at exposure <= 2.0, and its
#                                            SystemCallFilter= against the calls BINARY makes
#                                            (strace)
#   scripts/deploy-check.sh image BINARY     deploy/Containerfile: base root filesystem from Debian's
#                                            packages (mmdebstrap), podman build, then the exported
#                                            image's contents, run with chroot
#   scripts/deploy-check.sh helm             deploy/helm/regwarden: helm lint --strict, helm
#                                            template, kubeconform on the rendered manifests,
#                                            promtool on the PrometheusRule
#   scripts/deploy-check.sh all BINARY       all three
#
# BINARY is a regwarden built from this tree (CI: the debug binary `cargo test` built).
# Tools come from Debian (systemd, podman, mmdebstrap, strace, promtool), the Go module proxy (Helm,
# kubeconform) and PyPI (the Kubernetes JSON schemas vendored by kubernetes-validate), cached
# under ${REGWARDEN_CACHE:-~/.cache/regwarden}/deploy-tools. A check whose tool is missing and
# cannot be installed prints a SKIPPED line, unless REGWARDEN_REQUIRE_SERVICES is set: then it
# fails. Containers cannot be started on these machines (see REFERENCE.md), so the image is
# checked by running its binary from the exported root filesystem with chroot, not by
# starting it.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

HELM_VERSION=v3.22.0
KUBECONFORM_VERSION=v0.8.0
SCHEMAS_VERSION=1.37.0               # the kubernetes-validate release on PyPI
KUBE_VERSIONS=(1.30.0 1.34.0)        # Kubernetes API versions the chart is validated against
DEBIAN_SUITE=bookworm                # the base image's Debian release (distroless cc-debian12)
BASE_IMAGE=gcr.io/distroless/cc-debian12:nonroot
IMAGE=localhost/regwarden:check
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1735689600}
export SOURCE_DATE_EPOCH
CACHE="${REGWARDEN_CACHE:-$HOME/.cache/regwarden}/deploy-tools"
HELM="$CACHE/helm-$HELM_VERSION/helm"
KUBECONFORM="$CACHE/kubeconform-$KUBECONFORM_VERSION/kubeconform"
SCHEMAS="$CACHE/kubernetes-json-schema-$SCHEMAS_VERSION"

log() { echo "deploy-check: $*" >&2; }
die() { log "$*"; exit 1; }
# A missing tool: SKIPPED, or a failure where every check is required.
missing() {
  if [[ -n ${REGWARDEN_REQUIRE_SERVICES:-} ]]; then
    die "$1 is missing, and REGWARDEN_REQUIRE_SERVICES is set"
  fi
  echo "SKIPPED: $2 ($1 is missing; run scripts/deploy-check.sh tools as root)"
}
is_root() { [[ $(id -u) == 0 ]]; }

apt_install() {
  is_root && command -v apt-get >/dev/null || return 0
  local need=()
  for pair in "$@"; do command -v "${pair%%:*}" >/dev/null || need+=("${pair#*:}"); done
  ((${#need[@]})) || return 0
  log "installing ${need[*]} from Debian"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}

# go install of a pinned module version into its own cached folder.
go_tool() {
  local bin=$1 pkg=$2 version=$3 ldflags=${4:-}
  [[ -x $bin ]] && return 0
  command -v go >/dev/null || return 0
  log "building $pkg@$version from the Go module proxy"
  GOFLAGS=-mod=mod GOTOOLCHAIN="${GOTOOLCHAIN:-local}" GOBIN="$(dirname "$bin")" \
    nice -n 19 go install -ldflags "$ldflags" "$pkg@$version" >&2
}

# The Kubernetes JSON schemas kubeconform validates against. Its default schema location is
# on GitHub, which is out of reach here; the kubernetes-validate package on PyPI vendors the
# same openapi2jsonschema output. Its "local" schemas point into one _definitions.json by an
# absolute path (/api/_definitions.json); they are rewritten to file:// URLs of the cache.
schemas() {
  local v dir ok=1
  for v in "${KUBE_VERSIONS[@]}"; do [[ -f $SCHEMAS/v$v-local-strict/_definitions.json ]] || ok=0; done
  ((ok)) && return 0
  command -v pip3 >/dev/null || command -v pip >/dev/null || return 0
  log "fetching the Kubernetes JSON schemas (kubernetes-validate $SCHEMAS_VERSION from PyPI)"
  local tmp
  tmp=$(mktemp -d)
  "$(command -v pip3 || command -v pip)" download -q --no-deps -d "$tmp" "kubernetes-validate==$SCHEMAS_VERSION" >&2
  mkdir -p "$SCHEMAS"
  for v in "${KUBE_VERSIONS[@]}"; do
    dir=kubernetes_validate/kubernetes-json-schema/v$v-local-strict
    python3 -c 'import sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
z.extractall(sys.argv[3], [n for n in z.namelist() if n.startswith(sys.argv[2])])' \
      "$tmp"/kubernetes_validate-*.whl "$dir/" "$tmp/x"
    rm -rf "$SCHEMAS/v$v-local-strict"
    mv "$tmp/x/$dir" "$SCHEMAS/v$v-local-strict"
    find "$SCHEMAS/v$v-local-strict" -name '*.json' -exec \
      sed -i "s#\"/api/_definitions.json#\"file://$SCHEMAS/v$v-local-strict/_definitions.json#g" {} +
    rm -rf "$tmp/x"
  done
  rm -rf "$tmp"
}

tools() {
  apt_install systemd-analyze:systemd podman:podman mmdebstrap:mmdebstrap strace:strace promtool:prometheus \
    pip3:python3-pip
  mkdir -p "$CACHE"
  go_tool "$HELM" helm.sh/helm/v3/cmd/helm "$HELM_VERSION" \
    "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
  go_tool "$KUBECONFORM" github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION"
  schemas
}

# --- systemd ---------------------------------------------------------------------------------

check_systemd() {
  local binary=$1 tmp out level
  command -v systemd-analyze >/dev/null || { missing systemd-analyze "systemd unit checks"; return 0; }
  tmp=$(mktemp -d)
  # verify checks that ExecStart's program exists: point the copy at the binary under test.
  sed "s#/usr/local/bin/regwarden#$binary#g" deploy/regwarden.service >"$tmp/regwarden.service"
  # --man=no: the man page is not installed on the checking machine.
  out=$(systemd-analyze verify --man=no "$tmp/regwarden.service" 2>&1) || true
  if [[ -n $out ]]; then
    echo "$out" >&2
    die "systemd-analyze verify deploy/regwarden.service reported problems"
  fi
  echo "systemd: systemd-analyze verify deploy/regwarden.service: no problems"
  out=$(systemd-analyze security --offline=yes --threshold=20 deploy/regwarden.service 2>&1) ||
    { echo "$out" >&2; die "deploy/regwarden.service: exposure above 2.0"; }
  level=$(sed -n 's/.*Overall exposure level for regwarden.service: \([0-9.]*\).*/\1/p' <<<"$out")
  echo "systemd: systemd-analyze security --offline=yes: overall exposure $level (at most 2.0)"
  rm -rf "$tmp"
  check_syscalls "$binary"
}

# The unit's SystemCallFilter= against what the daemon really calls: `demo --serve` (build a
# store, scan, judge, plan, serve HTTP, answer a health check, stop on SIGINT) under strace,
# as an unprivileged user like the unit's DynamicUser.
check_syscalls() {
  local binary=$1 tmp pid
  command -v strace >/dev/null || { missing strace "the system call filter check"; return 0; }
  is_root && command -v setpriv >/dev/null || { missing "root and setpriv" "the system call filter check"; return 0; }
  tmp=$(mktemp -d)
  chmod 755 "$tmp"
  install -m 755 "$binary" "$tmp/regwarden"
  install -d -o 65534 -g 65534 "$tmp/run"
  local port=$((20000 + RANDOM % 20000))
  strace -f -qq -o "$tmp/trace" setpriv --reuid=65534 --regid=65534 --clear-groups \
    "$tmp/regwarden" demo --registrations 300 --dir "$tmp/run/demo" --serve "127.0.0.1:$port" \
    >/dev/null 2>&1 &
  pid=$!
  local up=0
  for _ in $(seq 120); do
    if "$binary" healthcheck --url "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then up=1; break; fi
    sleep 0.5
  done
  ((up)) || { kill "$pid" 2>/dev/null; die "the traced demo did not serve /healthz"; }
  sleep 2
  kill -INT "$(pgrep -P "$pid")" 2>/dev/null || true
  wait "$pid" || true
  # setpriv's own calls come before its execve of regwarden: only what follows counts.
  systemd-analyze syscall-filter >"$tmp/groups" 2>/dev/null
  python3 - "$tmp/trace" "$tmp/groups" deploy/regwarden.service <<'PY'
import re, sys
trace, groups_file, unit = sys.argv[1:]
groups, cur = {}, None
for line in open(groups_file):
    s = line.strip()
    if not s or s.startswith("#"):
        continue
    if not line.startswith(" ") and s.startswith("@"):
        cur = groups.setdefault(s, [])
    elif cur is not None:
        cur.append(s)
def expand(names):
    out = set()
    for n in names:
        out |= expand(groups.get(n, [])) if n.startswith("@") else {n}
    return out
allowed, denied = set(), set()
for line in open(unit):
    m = re.match(r"SystemCallFilter=(~?)(.*)", line.strip())
    if m:
        (denied if m.group(1) else allowed).update(expand(m.group(2).split()))
used, started = set(), False
for line in open(trace):
    m = re.match(r"\d+\s+([a-z0-9_]+)\(", line)
    if not m:
        continue
    if started:
        used.add(m.group(1))
    elif re.search(r'execve\("[^"]*/regwarden"', line):
        started = True
bad = sorted(c for c in used if c not in allowed or c in denied)
if not used:
    sys.exit("no system calls of regwarden in the trace")
if bad:
    sys.exit("regwarden calls what deploy/regwarden.service forbids: " + " ".join(bad))
print(f"systemd: SystemCallFilter= allows every one of the {len(used)} system calls "
      "regwarden made (demo --serve under strace, unprivileged)")
PY
  rm -rf "$tmp"
}

# --- container image -------------------------------------------------------------------------

# The base image: what the Containerfile's BASE names (distroless cc-debian12, non-root),
# rebuilt from Debian's packages: glibc and libgcc (the binary's only libraries), netbase,
# a passwd with root and nonroot (65532), a world-writable /tmp. No shell, no dpkg or apt.
base_image() {
  if podman image exists "$BASE_IMAGE"; then return 0; fi
  local tmp
  tmp=$(mktemp -d)
  log "building $BASE_IMAGE's stand-in from Debian $DEBIAN_SUITE packages (mmdebstrap)"
  nice -n 19 mmdebstrap --quiet --variant=extract --include=libc6,libgcc-s1,netbase \
    "$DEBIAN_SUITE" "$tmp/root" "deb http://deb.debian.org/debian $DEBIAN_SUITE main" >&2
  local r=$tmp/root
  # The extract variant leaves apt's and dpkg's own files, which a distroless base has not.
  rm -rf "$r"/etc/apt "$r"/var/lib/apt "$r"/var/cache/apt "$r"/etc/dpkg "$r"/var/lib/dpkg \
    "$r"/var/log/apt
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n' \
    >"$r/etc/passwd"
  printf 'root:x:0:\nnonroot:x:65532:\n' >"$r/etc/group"
  mkdir -p "$r/home/nonroot" "$r/tmp" "$r/root"
  chown 65532:65532 "$r/home/nonroot"
  chmod 1777 "$r/tmp"
  chmod 700 "$r/root"
  tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --numeric-owner -C "$r" -cf "$tmp/base.tar" .
  podman import --quiet --change 'USER 65532:65532' --change 'WORKDIR /home/nonroot' \
    "$tmp/base.tar" "$BASE_IMAGE" >/dev/null
  rm -rf "$tmp"
}

check_image() {
  local binary=$1
  local tool
  for tool in podman mmdebstrap; do
    command -v $tool >/dev/null || { missing $tool "container image checks"; return 0; }
  done
  is_root || { missing "root" "container image checks (podman and chroot need root here)"; return 0; }
  base_image
  # The build context: what the Containerfile copies, and the binary under test.
  local ctx tmp root
  ctx=$(mktemp -d)
  tmp=$(mktemp -d)
  mkdir -p "$ctx/config" "$ctx/deploy"
  cp config/known-clients.toml config/regwarden.toml "$ctx/config/"
  cp -r deploy/Containerfile deploy/container "$ctx/deploy/"
  cp "$binary" "$ctx/regwarden"
  log "podman build --target prebuilt"
  nice -n 19 podman build --quiet --layers=false --format docker --pull=never --target prebuilt \
    --build-arg BINARY=regwarden -f "$ctx/deploy/Containerfile" -t "$IMAGE" "$ctx" >/dev/null
  rm -rf "$ctx"

  local size user health entry
  size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
  user=$(podman image inspect --format '{{.Config.User}}' "$IMAGE")
  entry=$(podman image inspect --format '{{json .Config.Entrypoint}} {{json .Config.Cmd}}' "$IMAGE")
  health=$(podman image inspect --format '{{json .Config.Healthcheck}}' "$IMAGE")
  [[ $user == 65532:65532 ]] || die "image user is '$user', not 65532:65532"
  [[ $health == *healthcheck*127.0.0.1:9464/healthz* ]] || die "no /healthz health check: $health"
  echo "image: $IMAGE: user $user, entrypoint $entry, health check $health"

  # Its contents: the exported root filesystem, the binary run from it with chroot.
  root="$tmp/root"
  mkdir -p "$root"
  local cid
  cid=$(podman create "$IMAGE")
  podman export "$cid" | tar -x -C "$root"
  podman rm "$cid" >/dev/null 2>&1 || die "podman rm $cid failed"
  for f in usr/local/bin/regwarden etc/regwarden/regwarden.toml usr/share/regwarden/known-clients.toml; do
    [[ -f $root/$f ]] || die "the image has no /$f"
  done
  for f in bin/sh usr/bin/sh bin/bash usr/bin/bash usr/bin/apt usr/bin/dpkg; do
    [[ ! -e $root/$f ]] || die "the image has /$f: it should need no shell and no package manager"
  done
  [[ $(stat -c %u "$root/var/lib/regwarden") == 65532 ]] || die "/var/lib/regwarden is not the image user's"
  local in_image=(chroot --userspec=65532:65532 "$root" /usr/local/bin/regwarden)
  local version
  version=$("${in_image[@]}" --version)
  [[ $version == "regwarden "*"(commit "* ]] || die "--version: $version"
  echo "image: regwarden --version: $version"
  REGWARDEN_CONFIG=/etc/regwarden/regwarden.toml "${in_image[@]}" check-config >"$tmp/out" ||
    { cat "$tmp/out" >&2; die "check-config on the image's /etc/regwarden/regwarden.toml failed"; }
  echo "image: regwarden check-config /etc/regwarden/regwarden.toml: $(head -n1 "$tmp/out")"
  mkdir -p "$root/tmp/check"
  cat >"$root/tmp/check/in.jsonl" <<'EOF'
{"client_id":"a1","client_name":"Claude Code (docs)","redirect_uris":["http://localhost:53123/callback"],"grant_types":["authorization_code","refresh_token"],"token_endpoint_auth_method":"none"}
{"client_id":"a2","client_name":"Claude Code","redirect_uris":["https://claude-code.evil.example/callback"],"token_endpoint_auth_method":"none"}
EOF
  "${in_image[@]}" score --input /tmp/check/in.jsonl --now 2026-01-01T00:00:00Z >"$tmp/scored"
  [[ $(wc -l <"$tmp/scored") == 2 ]] || die "score: $(cat "$tmp/scored")"
  grep '"client_id":"a2"' "$tmp/scored" | grep -q '"band":"malicious"' || die "score: $(cat "$tmp/scored")"
  grep '"client_id":"a1"' "$tmp/scored" | grep -q '"band":"trusted"' || die "score: $(cat "$tmp/scored")"
  echo "image: regwarden score on 2 registrations: $(grep -o '"band":"[a-z]*"' "$tmp/scored" | tr '\n' ' ')"
  echo "image: size $((size / 1000000)) MB ($size bytes; binary $(stat -c %s "$root/usr/local/bin/regwarden") bytes)"
  rm -rf "$tmp"
  # The base stays cached; the image under test goes, so runs do not pile images up.
  podman rmi --force "$IMAGE" >/dev/null 2>&1 || true
}

# --- Helm chart ------------------------------------------------------------------------------

check_helm() {
  [[ -x $HELM ]] || { missing helm "Helm chart checks"; return 0; }
  local tmp chart
  tmp=$(mktemp -d)
  # Package first: files/ links to dashboards/, and `helm package` puts the linked files in.
  "$HELM" package deploy/helm/regwarden -d "$tmp" >/dev/null 2>&1
  chart=$(ls "$tmp"/regwarden-*.tgz)
  local on=(--set serviceMonitor.enabled=true --set prometheusRule.enabled=true
    --set grafanaDashboard.enabled=true --set secret.data.database-url=postgres://u:p@db/hydra)
  local pg=(--set state.postgres=true --set secret.existingSecret=regwarden-secrets)
  "$HELM" lint --strict deploy/helm/regwarden >"$tmp/lint" 2>&1 || { cat "$tmp/lint" >&2; die "helm lint --strict"; }
  "$HELM" lint --strict "$chart" "${on[@]}" >>"$tmp/lint" 2>&1 || { cat "$tmp/lint" >&2; die "helm lint --strict (options on)"; }
  echo "helm: helm lint --strict: $(grep -c 'chart(s) linted, 0 chart(s) failed' "$tmp/lint") of 2 passed"
  # Rendered for each Kubernetes version validated below (Helm checks the chart's kubeVersion).
  local v f
  for v in "${KUBE_VERSIONS[@]}"; do
    "$HELM" template rw "$chart" --kube-version "$v" >"$tmp/default-$v.yaml"
    "$HELM" template rw "$chart" --kube-version "$v" "${on[@]}" >"$tmp/options-$v.yaml"
    "$HELM" template rw "$chart" --kube-version "$v" "${on[@]}" "${pg[@]}" >"$tmp/postgres-$v.yaml"
  done
  v=${KUBE_VERSIONS[-1]}
  if "$HELM" template rw "$chart" --kube-version "$v" --set replicaCount=2 >/dev/null 2>&1; then
    die "helm template accepted replicaCount=2 on SQLite state"
  fi
  for f in default options postgres; do
    for want in 'readOnlyRootFilesystem: true' 'allowPrivilegeEscalation: false' 'runAsNonRoot: true' \
      '- ALL' 'path: /healthz' 'path: /readyz'; do
      grep -qF -- "$want" "$tmp/$f-$v.yaml" || die "helm template ($f): no '$want'"
    done
  done
  grep -qF 'grafana_dashboard: "1"' "$tmp/options-$v.yaml" || die "the dashboard ConfigMap lacks the sidecar label"
  grep -qF '"uid": "regwarden"' "$tmp/options-$v.yaml" || die "the dashboard ConfigMap lacks the dashboard"
  grep -qF 'name: REGWARDEN_STATE__URL' "$tmp/postgres-$v.yaml" || die "state.postgres sets no state URL"
  echo "helm: helm template: $(grep '^kind:' "$tmp/options-$v.yaml" | sort | uniq -c | awk '{printf "%s%s", sep, $3; sep=", "}') with every option on"

  # The alert rules in the PrometheusRule are Prometheus rules: promtool checks them.
  if command -v promtool >/dev/null; then
    # Its spec is a rule file, indented by two.
    "$HELM" template rw "$chart" --kube-version "$v" "${on[@]}" --show-only templates/prometheusrule.yaml |
      awk 'f { print substr($0, 3) } /^spec:/ { f = 1 }' >"$tmp/rules.yml"
    promtool check rules "$tmp/rules.yml" >"$tmp/promtool" 2>&1 || { cat "$tmp/promtool" >&2; die "promtool check rules"; }
    echo "helm: promtool check rules on the PrometheusRule: $(grep -c 'alert:' "$tmp/rules.yml") rules"
  else
    missing promtool "promtool on the chart's PrometheusRule"
  fi

  [[ -x $KUBECONFORM ]] || { missing kubeconform "validation of the rendered manifests"; return 0; }
  [[ -d $SCHEMAS ]] || { missing "Kubernetes JSON schemas" "validation of the rendered manifests"; return 0; }
  for v in "${KUBE_VERSIONS[@]}"; do
    # ServiceMonitor and PrometheusRule are the Prometheus Operator's CRDs, with no schema
    # here; their rules are checked by promtool above.
    "$KUBECONFORM" -strict -summary -kubernetes-version "$v" \
      -skip ServiceMonitor,PrometheusRule \
      -schema-location "$SCHEMAS/{{ .NormalizedKubernetesVersion }}-local{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
      "$tmp/default-$v.yaml" "$tmp/options-$v.yaml" "$tmp/postgres-$v.yaml" >"$tmp/kc" 2>&1 ||
      { cat "$tmp/kc" >&2; die "kubeconform (Kubernetes $v) rejected the rendered chart"; }
    echo "helm: kubeconform -strict, Kubernetes $v: $(tail -n1 "$tmp/kc")"
  done
  rm -rf "$tmp"
}

case "${1:-}" in
  tools) tools ;;
  systemd) [[ $# -eq 2 ]] || die "usage: $0 systemd BINARY"; check_systemd "$(realpath "$2")" ;;
  image) [[ $# -eq 2 ]] || die "usage: $0 image BINARY"; check_image "$(realpath "$2")" ;;
  helm) check_helm ;;
  all) [[ $# -eq 2 ]] || die "usage: $0 all BINARY"
    bin=$(realpath "$2"); check_systemd "$bin"; check_helm; check_image "$bin" ;;
  *) die "usage: $0 tools | systemd BINARY | image BINARY | helm | all BINARY" ;;
esac
