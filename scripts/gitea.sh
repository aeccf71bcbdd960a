#!/usr/bin/env bash
# A real Gitea forge for the forge tests: built from the Go module proxy by
# the tools/gitea module (Gitea's own replace lines), cached under
# ~/.cache/spacepods/gitea/<version>/, run on loopback with a database of its
# own on the test PostgreSQL. Webhooks may call loopback addresses (the test
# servers), nothing else. No front-end assets are built (no npm here): Gitea
# reads its templates and options from the module's source tree, which is what
# the API, the sign-in form and the OAuth2 grant page need.
#
#   scripts/gitea.sh build            build the binary (cached; cold: several minutes on 2 cores)
#   scripts/gitea.sh start DIR PGURL  build (cached), start Gitea in DIR with a new database on the
#                                     PostgreSQL server at PGURL (admin URL), print the env lines
#   scripts/gitea.sh env DIR          print the env lines again
#   scripts/gitea.sh stop DIR         stop what `start` started in DIR, by PID
#
# The env lines: SPACEPODS_TEST_GITEA_URL, SPACEPODS_TEST_GITEA_USER,
# SPACEPODS_TEST_GITEA_PASSWORD (a site admin) and SPACEPODS_TEST_GITEA_TOKEN
# (that admin's access token, all scopes). Tests make their own users, orgs
# and repositories with unique names, so packages share one Gitea.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

GITEA_VERSION=$(awk '$1 == "require" && $2 == "code.gitea.io/gitea" {print $3} $1 == "code.gitea.io/gitea" {print $2}' "$ROOT/tools/gitea/go.mod" | head -1)
CACHE=${SPACEPODS_GITEA_CACHE:-$HOME/.cache/spacepods/gitea/$GITEA_VERSION}
BIN=$CACHE/gitea

# build makes sure the cache holds a binary built from tools/gitea as it is
# now (a stamp of its go.mod and go.sum). A binary without a stamp (built by
# hand with the same command) is adopted once and stamped.
build() {
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.lock"
  flock 9 # one build at a time on this machine
  local want stamp
  want=$(cat "$ROOT/tools/gitea/go.mod" "$ROOT/tools/gitea/go.sum" | sha256sum | cut -c1-16)
  stamp=$(cat "$CACHE/build.stamp" 2>/dev/null || true)
  if [ -x "$BIN" ] && [ -z "$stamp" ]; then echo "$want" >"$CACHE/build.stamp"; stamp=$want; fi
  if [ ! -x "$BIN" ] || [ "$stamp" != "$want" ]; then
    log "building Gitea $GITEA_VERSION (tools/gitea) into $CACHE (cold: several minutes on 2 cores)"
    local start=$SECONDS
    (cd "$ROOT/tools/gitea" && CGO_ENABLED=0 nice -n 10 go build -trimpath -tags "sqlite sqlite_unlock_notify" \
      -ldflags "-s -w -X main.Version=${GITEA_VERSION#v}" -o "$BIN.tmp" code.gitea.io/gitea)
    mv -f "$BIN.tmp" "$BIN"
    echo "$want" >"$CACHE/build.stamp"
    log "built in $((SECONDS - start))s"
  fi
  flock -u 9
}

# source_dir prints Gitea's source tree in the module cache (templates,
# options, public), downloading the module when the cache lacks it.
source_dir() {
  local d
  d=$(cd "$ROOT/tools/gitea" && go list -m -f '{{.Dir}}' code.gitea.io/gitea 2>/dev/null || true)
  if [ -z "$d" ] || [ ! -d "$d/templates" ]; then
    (cd "$ROOT/tools/gitea" && go mod download code.gitea.io/gitea) >&2
    d=$(cd "$ROOT/tools/gitea" && go list -m -f '{{.Dir}}' code.gitea.io/gitea)
  fi
  echo "$d"
}

alive() { [ -f "$DIR/gitea.pid" ] && kill -0 "$(cat "$DIR/gitea.pid")" 2>/dev/null; }

g() { "$BIN" --config "$DIR/app.ini" --work-path "$DIR" "$@"; }

start() {
  local pgurl=${1:-${SPACEPODS_TEST_POSTGRES:-}}
  if alive; then
    log "Gitea is already running in $DIR"
    env_lines
    return 0
  fi
  [ -n "$pgurl" ] || { log "usage: $0 start DIR POSTGRES_ADMIN_URL (or set SPACEPODS_TEST_POSTGRES)"; exit 2; }
  build
  local src port db pw pghost user
  src=$(source_dir)
  mkdir -p "$DIR"
  chmod 700 "$DIR"
  port=$(free_port)
  db=gitea_$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')
  pw=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
  # postgres://USER:PASS@HOST:PORT/DB?...: Gitea gets a role and database of its own.
  pghost=${pgurl#*@}; pghost=${pghost%%/*}
  log "creating Gitea's database $db on $pghost"
  psql "$pgurl" -v ON_ERROR_STOP=1 -q -c "CREATE ROLE $db LOGIN PASSWORD '$pw'" -c "CREATE DATABASE $db OWNER $db" >/dev/null
  user=$(id -un)
  cat >"$DIR/app.ini" <<EOF
; Written by scripts/gitea.sh for the tests.
APP_NAME = Spacepods test forge
RUN_MODE = prod
RUN_USER = $user
WORK_PATH = $DIR
I_AM_BEING_UNSAFE_RUNNING_AS_ROOT = true

[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = $port
ROOT_URL = http://127.0.0.1:$port/
DOMAIN = 127.0.0.1
STATIC_ROOT_PATH = $src
APP_DATA_PATH = $DIR/data
DISABLE_SSH = true
START_SSH_SERVER = false
OFFLINE_MODE = true
LFS_START_SERVER = false

[database]
DB_TYPE = postgres
HOST = $pghost
NAME = $db
USER = $db
PASSWD = $pw
SSL_MODE = disable

[repository]
ROOT = $DIR/repos

[security]
INSTALL_LOCK = true
SECRET_KEY = $(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
INTERNAL_TOKEN = $(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
PASSWORD_COMPLEXITY = off
MIN_PASSWORD_LENGTH = 8

[oauth2]
ENABLED = true
JWT_SECRET = $(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')

[service]
DISABLE_REGISTRATION = true
REQUIRE_SIGNIN_VIEW = false
ENABLE_NOTIFY_MAIL = false
DEFAULT_KEEP_EMAIL_PRIVATE = false

[webhook]
; the tests' servers listen on loopback
ALLOWED_HOST_LIST = loopback
DELIVER_TIMEOUT = 10
SKIP_TLS_VERIFY = false

[mailer]
ENABLED = false

[session]
PROVIDER = memory

[cache]
ADAPTER = memory

[queue]
TYPE = channel

[indexer]
REPO_INDEXER_ENABLED = false
ISSUE_INDEXER_TYPE = db

[actions]
ENABLED = false

[cron]
ENABLED = false

[cron.update_checker]
ENABLED = false

[migrations]
ALLOW_LOCALNETWORKS = true

[log]
MODE = file
LEVEL = Warn
ROOT_PATH = $DIR/log
EOF
  # Gitea's pages load their built JS and CSS with onerror="alert(...)": a
  # missing file would block a browser on a dialog. Empty stand-ins in the
  # custom dir (served before the builtin ones) keep the plain HTML forms
  # (sign-in, OAuth2 grant) working.
  mkdir -p "$DIR/custom/public/assets/js" "$DIR/custom/public/assets/css"
  for f in js/iife.js js/index.js css/index.css css/theme-gitea-auto.css css/theme-gitea-light.css css/theme-gitea-dark.css; do
    : >"$DIR/custom/public/assets/$f"
  done
  log "starting Gitea $GITEA_VERSION on http://127.0.0.1:$port (log: $DIR/gitea.log)"
  g migrate >"$DIR/migrate.log" 2>&1 || { log "gitea migrate failed:"; tail -20 "$DIR/migrate.log" >&2; exit 1; }
  nohup "$BIN" --config "$DIR/app.ini" --work-path "$DIR" web --port "$port" >"$DIR/gitea.log" 2>&1 </dev/null &
  echo $! >"$DIR/gitea.pid"
  local i
  for ((i = 0; i < 240; i++)); do
    curl -sf --max-time 2 "http://127.0.0.1:$port/api/healthz" >/dev/null 2>&1 && break
    alive || { log "Gitea exited at start:"; tail -30 "$DIR/gitea.log" >&2; exit 1; }
    sleep 0.25
  done
  curl -sf --max-time 2 "http://127.0.0.1:$port/api/healthz" >/dev/null || {
    log "Gitea did not answer within 60s:"; tail -30 "$DIR/gitea.log" >&2; stop; exit 1; }
  local apw token
  apw=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
  g admin user create --username sp-admin --password "$apw" --email sp-admin@example.invalid \
    --admin --must-change-password=false >"$DIR/admin.log" 2>&1 || { tail -20 "$DIR/admin.log" >&2; stop; exit 1; }
  # Gitea logs its warnings on stdout too: the token is the last line.
  token=$(g admin user generate-access-token --username sp-admin --token-name spacepods-tests --scopes all --raw 2>>"$DIR/admin.log" | tail -1) ||
    { tail -20 "$DIR/admin.log" >&2; stop; exit 1; }
  [[ "$token" =~ ^[0-9a-f]{40}$ ]] || { log "gitea admin user generate-access-token printed no token:"; tail -20 "$DIR/admin.log" >&2; stop; exit 1; }
  {
    echo "export SPACEPODS_TEST_GITEA_URL=http://127.0.0.1:$port"
    echo "export SPACEPODS_TEST_GITEA_USER=sp-admin"
    echo "export SPACEPODS_TEST_GITEA_PASSWORD=$apw"
    echo "export SPACEPODS_TEST_GITEA_TOKEN=$token"
  } >"$DIR/env"
  chmod 600 "$DIR/env"
  log "Gitea ready in $DIR"
  env_lines
}

env_lines() {
  if [ ! -f "$DIR/env" ]; then
    log "no Gitea in $DIR: run scripts/gitea.sh start DIR POSTGRES_URL"
    return 1
  fi
  cat "$DIR/env"
}

# stop ends the Gitea that start recorded, only if its PID still runs it.
# Its database goes with the test PostgreSQL.
stop() {
  [ -f "$DIR/gitea.pid" ] || return 0
  local pid
  pid=$(cat "$DIR/gitea.pid")
  if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q gitea; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$DIR/gitea.pid"
}

cmd=${1:-}
DIR=${2:-${SPACEPODS_TMP:+$SPACEPODS_TMP/gitea}}
DIR=${DIR:-/tmp/spacepods-gitea}
case "$cmd" in
build) build ;;
start) start "${3:-}" ;;
env) env_lines ;;
stop) stop; log "stopped Gitea in $DIR" ;;
*) echo "usage: $0 build | start DIR POSTGRES_URL | env DIR | stop DIR" >&2; exit 2 ;;
esac
