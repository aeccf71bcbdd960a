# Shared by scripts/run.sh and scripts/test.sh: install and start the real
# systems Spacepods needs (Docker Engine, PostgreSQL) on a Debian/Ubuntu
# machine, and remember what we started so that only that gets stopped.
# shellcheck shell=bash

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

PG_BIN=${PG_BIN:-}
find_pg_bin() {
  if command -v initdb >/dev/null 2>&1; then PG_BIN=$(dirname "$(readlink -f "$(command -v initdb)")"); return 0; fi
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/initdb" ] && PG_BIN=$d && return 0
  done
  return 1
}

# ensure_packages installs whatever Debian packages are missing (root only).
ensure_packages() {
  local want=()
  command -v dockerd >/dev/null 2>&1 || want+=(docker.io)
  command -v docker-registry >/dev/null 2>&1 || want+=(docker-registry)
  find_pg_bin || want+=(postgresql)
  command -v psql >/dev/null 2>&1 || want+=(postgresql-client)
  if [ "${SPACEPODS_NEED_BROWSER:-0}" = 1 ]; then
    command -v chromium >/dev/null 2>&1 || want+=(chromium)
  fi
  [ ${#want[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    log "missing: ${want[*]}; install them (sudo apt-get install -y ${want[*]}) or run this script as root"
    return 1
  fi
  log "installing ${want[*]} from Debian packages"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}" >/dev/null
  find_pg_bin
}

STARTED_DOCKERD_PID=""
# ensure_docker starts dockerd when no daemon answers.
ensure_docker() {
  if docker info >/dev/null 2>&1; then return 0; fi
  log "starting dockerd (log: ${SPACEPODS_TMP}/dockerd.log)"
  dockerd >"${SPACEPODS_TMP}/dockerd.log" 2>&1 &
  STARTED_DOCKERD_PID=$!
  local i
  for i in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  log "dockerd did not answer within 30s; its log:"; tail -20 "${SPACEPODS_TMP}/dockerd.log" >&2
  return 1
}

stop_docker() {
  if [ -n "$STARTED_DOCKERD_PID" ]; then
    log "stopping the dockerd we started (pid $STARTED_DOCKERD_PID)"
    kill "$STARTED_DOCKERD_PID" 2>/dev/null || true
    local i
    for i in $(seq 1 60); do # it stops its containers first (10 s grace each, in parallel)
      kill -0 "$STARTED_DOCKERD_PID" 2>/dev/null || break
      sleep 0.5
    done
    if kill -0 "$STARTED_DOCKERD_PID" 2>/dev/null; then
      log "dockerd (pid $STARTED_DOCKERD_PID) did not stop within 30s: killing it"
      kill -KILL "$STARTED_DOCKERD_PID" 2>/dev/null || true
    fi
    wait "$STARTED_DOCKERD_PID" 2>/dev/null || true
    STARTED_DOCKERD_PID=""
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
    echo $((20000 + RANDOM % 20000))
}

# pg_as runs a PostgreSQL binary as the postgres user when we are root
# (initdb refuses to run as root).
pg_as() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# docker_pg_net prints the address of Docker's default bridge (docker0) on
# its first line, then the subnets containers come from, one a line: the
# bridge's and the daemon's default address pools (Docker's built-in ones when
# it reports none). It prints nothing when no daemon answers. On its first
# start dockerd reports the bridge's subnet without a gateway: the gateway is
# then the subnet's first address, as Docker assigns it.
docker_pg_net() {
  docker info >/dev/null 2>&1 || return 0
  local cfg subnet gw pools ip
  cfg=$(docker network inspect bridge --format '{{range .IPAM.Config}}{{.Subnet}}={{.Gateway}} {{end}}') || return 0
  for cfg in $cfg; do
    case ${cfg%%=*} in *.*) subnet=${cfg%%=*} gw=${cfg#*=}; break ;; esac
  done
  [ -n "${subnet:-}" ] || return 0
  if [ -z "$gw" ]; then ip=${subnet%/*}; gw=${ip%.*}.$((${ip##*.} + 1)); fi
  pools=$(docker info --format '{{range .DefaultAddressPools}}{{.Base}} {{end}}' 2>/dev/null || true)
  [ -n "$pools" ] || pools="172.17.0.0/16 172.18.0.0/15 172.20.0.0/14 172.24.0.0/13 192.168.0.0/16"
  echo "$gw"
  printf '%s\n' "$subnet" $pools | awk '!seen[$0]++'
}

STARTED_PG_DIR=""
# start_postgres DIR: a throwaway cluster listening on loopback and on the
# Docker bridge's address (containers reach it there, whatever their
# network). As in the cluster the server starts itself, the superuser logs
# in from loopback only, and other roles (pods' roles) from loopback, or from
# Docker's subnets to the database of their own name only. Sets PG_URL
# (admin, password auth).
start_postgres() {
  local dir=$1 port pw net gw listen subnet
  port=$(free_port)
  pw=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  echo "$pw" >"$dir.pw"; [ "$(id -u)" = 0 ] && chown postgres: "$dir.pw"
  net=$(docker_pg_net)
  gw=$(echo "$net" | head -1)
  listen=127.0.0.1,::1${gw:+,$gw}
  log "starting PostgreSQL ($PG_BIN) in $dir on port $port (listening on $listen)"
  pg_as "$PG_BIN/initdb" -D "$dir" -U postgres --pwfile="$dir.pw" -A scram-sha-256 >/dev/null
  {
    echo "# Written by scripts/lib.sh: the first matching line decides."
    echo "local all      all      scram-sha-256"
    echo "host  all      postgres 127.0.0.1/32 scram-sha-256"
    echo "host  all      postgres ::1/128      scram-sha-256"
    echo "host  all      postgres all          reject"
    echo "host  all      all      127.0.0.1/32 scram-sha-256"
    echo "host  all      all      ::1/128      scram-sha-256"
    for subnet in $(echo "$net" | tail -n +2); do
      echo "host  sameuser all      $subnet scram-sha-256"
    done
  } | pg_as tee "$dir/pg_hba.conf" >/dev/null
  pg_as "$PG_BIN/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
    -o "-p $port -k $dir -c listen_addresses=$listen -c max_connections=300 -c fsync=off" start >/dev/null
  STARTED_PG_DIR=$dir
  PG_URL="postgres://postgres:${pw}@127.0.0.1:${port}/postgres?sslmode=disable"
}

stop_postgres() {
  if [ -n "$STARTED_PG_DIR" ]; then
    log "stopping the PostgreSQL we started ($STARTED_PG_DIR)"
    pg_as "$PG_BIN/pg_ctl" -D "$STARTED_PG_DIR" -m fast stop >/dev/null 2>&1 || true
  fi
}

# --- Kubernetes test cluster (only for ./internal/runtime/kubernetes) -------
# A real control plane with kwok's simulated nodes, started by
# scripts/k8s-cluster.sh (binaries built once, cached under
# ~/.cache/spacepods/k8s/<version>/).
STARTED_K8S_DIR=""

# wants_k8s PKG...: whether these go test patterns include the kubernetes
# driver's tests or the end-to-end tests (one runs the binary on the cluster).
wants_k8s() {
  local p
  for p in "$@"; do
    case "$p" in
    ./... | ./internal/... | ./internal/runtime/... | *internal/runtime/kubernetes* | *internal/e2e*) return 0 ;;
    esac
  done
  return 1
}

# start_k8s_cluster DIR: starts the cluster in DIR and exports
# SPACEPODS_TEST_KUBECONFIG for the tests.
start_k8s_cluster() {
  local line
  line=$("$(dirname "${BASH_SOURCE[0]}")/k8s-cluster.sh" start "$1") || return 1
  STARTED_K8S_DIR=$1
  export SPACEPODS_TEST_KUBECONFIG=${line#export SPACEPODS_TEST_KUBECONFIG=}
}

stop_k8s_cluster() {
  if [ -n "$STARTED_K8S_DIR" ]; then
    "$(dirname "${BASH_SOURCE[0]}")/k8s-cluster.sh" stop "$STARTED_K8S_DIR" || true
  fi
}

# --- Gitea test forge (only for the forge, previews and UI tests) ---------
# Started by scripts/gitea.sh (binary built once from tools/gitea, cached
# under ~/.cache/spacepods/gitea/<version>/), with its own database on the
# test PostgreSQL.
STARTED_GITEA_DIR=""

# wants_gitea PKG...: whether these go test patterns include tests that talk
# to the real Gitea (forge drivers, webhooks, previews, pipeline statuses,
# forge sign-in, e2e).
wants_gitea() {
  local p
  for p in "$@"; do
    case "$p" in
    ./... | ./internal/... | *internal/forge* | *internal/previews* | *internal/pipeline* | *internal/ui* | *internal/server* | *internal/e2e*) return 0 ;;
    esac
  done
  return 1
}

# start_gitea DIR: starts Gitea in DIR on the PostgreSQL of PG_URL and
# exports SPACEPODS_TEST_GITEA_* for the tests.
start_gitea() {
  local lines line
  lines=$("$(dirname "${BASH_SOURCE[0]}")/gitea.sh" start "$1" "$PG_URL") || return 1
  STARTED_GITEA_DIR=$1
  while IFS= read -r line; do
    case "$line" in export\ SPACEPODS_TEST_GITEA_*=*) line=${line#export }; export "${line?}" ;; esac
  done <<<"$lines"
}

stop_gitea() {
  if [ -n "$STARTED_GITEA_DIR" ]; then
    "$(dirname "${BASH_SOURCE[0]}")/gitea.sh" stop "$STARTED_GITEA_DIR" || true
  fi
}

# golangci_lint prints the path of golangci-lint as pinned in tools/lint,
# built once per version of tools/lint/go.sum and cached under
# ~/.cache/spacepods/lint/<stamp>/ (cold build: several minutes on 2 cores).
golangci_lint() {
  local root stamp cache
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  stamp=$(cat "$root/tools/lint/go.mod" "$root/tools/lint/go.sum" | sha256sum | cut -c1-16)
  cache=${SPACEPODS_LINT_CACHE:-$HOME/.cache/spacepods/lint/$stamp}
  if [ ! -x "$cache/golangci-lint" ]; then
    mkdir -p "$cache"
    (
      flock 9 # one build at a time on this machine
      if [ ! -x "$cache/golangci-lint" ]; then
        log "building golangci-lint (tools/lint) into $cache (cold: several minutes)"
        (cd "$root/tools/lint" && nice -n 10 go build -o "$cache/golangci-lint.tmp" github.com/golangci/golangci-lint/v2/cmd/golangci-lint) &&
          mv -f "$cache/golangci-lint.tmp" "$cache/golangci-lint"
      fi
    ) 9>"$cache/.lock" || return 1
  fi
  echo "$cache/golangci-lint"
}

# --- moto, the AWS emulator (only for the AWS packages' tests) -------------
# moto's server from PyPI in a virtualenv cached under
# ~/.cache/spacepods/moto/<version>/ (built once), started on a free loopback
# port and stopped at the end. It answers the AWS APIs (ECS, ELBv2, Route 53,
# RDS, SSM, Secrets Manager, CloudWatch Logs) but runs no containers and no
# database servers: see docs/aws.md.
MOTO_VERSION=5.2.5
STARTED_MOTO_PID=""

# wants_moto PKG...: whether these go test patterns include tests that talk
# to AWS APIs.
wants_moto() {
  local p
  for p in "$@"; do
    case "$p" in
    ./... | ./internal/... | *internal/aws* | *internal/runtime/ecs* | ./internal/runtime/... | *internal/secrets* | *internal/terraform* | *internal/deploy*) return 0 ;;
    esac
  done
  return 1
}

# ensure_moto prints the path of the cached virtualenv's moto_server,
# installing moto[server] into it first when missing. (A virtualenv cannot
# be moved, so it is built in place and marked complete by a stamp file.)
ensure_moto() {
  local cache=${SPACEPODS_MOTO_CACHE:-$HOME/.cache/spacepods/moto/$MOTO_VERSION}
  if [ ! -e "$cache/venv/.complete" ]; then
    if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
      if [ "$(id -u)" != 0 ]; then
        log "missing: python3-venv; install it (sudo apt-get install -y python3-venv) or run this script as root"
        return 1
      fi
      log "installing python3-venv from Debian packages"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    fi
    mkdir -p "$cache"
    (
      flock 9 # one install at a time on this machine
      if [ ! -e "$cache/venv/.complete" ]; then
        log "installing moto[server]==$MOTO_VERSION into $cache/venv (pip's configured index)"
        rm -rf "$cache/venv"
        python3 -m venv "$cache/venv" &&
          "$cache/venv/bin/pip" install -q "moto[server]==$MOTO_VERSION" >&2 &&
          touch "$cache/venv/.complete"
      fi
    ) 9>"$cache/.lock" || return 1
  fi
  echo "$cache/venv/bin/moto_server"
}

# start_moto DIR: starts moto's server on a free loopback port (log in DIR)
# and exports SPACEPODS_TEST_AWS_ENDPOINT, a region and test credentials for
# the tests.
start_moto() {
  local dir=$1 bin port i
  bin=$(ensure_moto) || return 1
  port=$(free_port)
  mkdir -p "$dir"
  log "starting moto $MOTO_VERSION on 127.0.0.1:$port (log: $dir/moto.log)"
  "$bin" -H 127.0.0.1 -p "$port" >"$dir/moto.log" 2>&1 &
  STARTED_MOTO_PID=$!
  for i in $(seq 1 120); do
    if "$(dirname "$bin")/python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
      "http://127.0.0.1:$port/moto-api/" >/dev/null 2>&1; then
      export SPACEPODS_TEST_AWS_ENDPOINT="http://127.0.0.1:$port"
      export SPACEPODS_TEST_MOTO_SERVER="$bin" # for tests that need a moto of their own
      # The SDK's default chain reads these: a region, and test credentials
      # that moto accepts (and AWS would not), no instance metadata lookups.
      export AWS_REGION=eu-west-1 AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_EC2_METADATA_DISABLED=true
      unset AWS_PROFILE AWS_SESSION_TOKEN
      return 0
    fi
    kill -0 "$STARTED_MOTO_PID" 2>/dev/null || break
    sleep 0.5
  done
  log "moto did not answer within 60s; its log:"; tail -20 "$dir/moto.log" >&2
  return 1
}

stop_moto() {
  if [ -n "$STARTED_MOTO_PID" ]; then
    log "stopping the moto we started (pid $STARTED_MOTO_PID)"
    kill "$STARTED_MOTO_PID" 2>/dev/null || true
    wait "$STARTED_MOTO_PID" 2>/dev/null || true
    STARTED_MOTO_PID=""
  fi
}
