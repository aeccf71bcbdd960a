#!/usr/bin/env bash
# Sets up and runs Spacepods with the demo system on the embedded defaults:
# installs what is missing (Docker Engine, PostgreSQL, docker-registry; root on
# Debian/Ubuntu), starts dockerd if none answers, builds the spacepods binary,
# starts the server (which starts the embedded registry), registers the example
# apps, builds their images and pushes them to the registry, whose push
# notifications record the builds. The server runs in the foreground: Ctrl-C
# stops it (the registry and the edge router keep running, as their own
# processes).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

export SPACEPODS_TMP=${SPACEPODS_TMP:-$(mktemp -d /tmp/spacepods-run.XXXXXX)}
export SPACEPODS_DATA_DIR=${SPACEPODS_DATA_DIR:-$PWD/.spacepods}
export SPACEPODS_LISTEN=${SPACEPODS_LISTEN:-127.0.0.1:7070}
export SPACEPODS_SERVER=http://$SPACEPODS_LISTEN
mkdir -p bin "$SPACEPODS_DATA_DIR"

# Whatever way this script ends (Ctrl-C, a failed step, the server exiting),
# it stops the server and the dockerd that it started, and nothing else.
server_pid=""
cleanup() {
  trap - EXIT INT TERM
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    log "stopping the server (pid $server_pid)"
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  stop_docker
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ensure_packages
ensure_docker
find_pg_bin && export PATH=$PATH:$PG_BIN

log "building bin/spacepods"
CGO_ENABLED=0 go build -trimpath -o bin/spacepods ./cmd/spacepods

log "starting the server on $SPACEPODS_LISTEN (data in $SPACEPODS_DATA_DIR)"
bin/spacepods server &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "$SPACEPODS_SERVER/healthz" >/dev/null 2>&1 && break
  kill -0 $server_pid 2>/dev/null || { log "the server exited; see its log above"; exit 1; }
  sleep 0.2
done

log "registering the example apps"
for m in examples/*/spacepods.yaml; do
  [ -f "$m" ] && bin/spacepods app register -f "$m"
done

REGISTRY=${SPACEPODS_REGISTRY:-embedded}
if [ "$REGISTRY" = embedded ]; then
  REGISTRY=127.0.0.1:$(cat "$SPACEPODS_DATA_DIR/registry/port")
fi
log "building the example apps' images (FROM scratch) and pushing them to $REGISTRY"
scripts/build-examples.sh --push "$REGISTRY"

# The registry notifies the server of each push; the server records a build
# per pushed tag. Wait until every app has its build.
log "waiting for the registry's notifications to record the builds"
for a in pricing-api catalog-api storefront mailer; do
  for i in $(seq 1 100); do
    bin/spacepods build show "$a" 1 >/dev/null 2>&1 && break
    if [ "$i" = 100 ]; then
      log "no build of $a was recorded 20 s after its push. Rejected pushes and their reasons:"
      bin/spacepods build pushes --rejected || true
      log "see the server's log above, and $SPACEPODS_DATA_DIR/registry/registry.log for the registry's"
      exit 1
    fi
    sleep 0.2
  done
done
bin/spacepods build pushes --limit 4

cat <<MSG

Spacepods is running: API http://$SPACEPODS_LISTEN (token in $SPACEPODS_DATA_DIR/admin.token)
Registry: $REGISTRY (docker push there records builds: docs/registry.md)
Try, in another terminal:
  bin/spacepods app list
  bin/spacepods build list storefront
  bin/spacepods deps storefront
  bin/spacepods pod create demo --app storefront --wait
Ctrl-C stops the server${STARTED_DOCKERD_PID:+ and the dockerd this script started}.
MSG
wait $server_pid
