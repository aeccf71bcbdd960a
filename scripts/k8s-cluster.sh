#!/usr/bin/env bash
# A real Kubernetes control plane with simulated nodes, for the kubernetes
# runtime driver's tests: etcd (Debian's etcd-server), kube-apiserver,
# kube-controller-manager and kube-scheduler (built from the Go module proxy
# by the tools/k8s module), and kwok (fake nodes whose pods become Running and
# Ready through the Stages in tools/k8s/kwok.yaml). Everything listens on
# loopback only; nothing runs a container.
#
#   scripts/k8s-cluster.sh build          build the binaries (cached under ~/.cache/spacepods/k8s/<version>/)
#   scripts/k8s-cluster.sh start [DIR]    build (cached), start the cluster in DIR, print the env line
#   scripts/k8s-cluster.sh env [DIR]      print `export SPACEPODS_TEST_KUBECONFIG=DIR/kubeconfig`
#   scripts/k8s-cluster.sh stop [DIR]     stop what `start` started in DIR, by PID
#
# DIR defaults to $SPACEPODS_K8S_DIR, else $SPACEPODS_TMP/k8s, else /tmp/spacepods-k8s.
# The cold build takes several minutes per binary on 2 cores (run under nice).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"

K8S_VERSION=$(awk '$1 == "require" && $2 == "k8s.io/kubernetes" {print $3}' "$ROOT/tools/k8s/go.mod")
KWOK_VERSION=v0.8.0
CACHE=${SPACEPODS_K8S_CACHE:-$HOME/.cache/spacepods/k8s/$K8S_VERSION}
BINARIES=(kube-apiserver kube-controller-manager kube-scheduler)
NODES=(kwok-node-0 kwok-node-1)

cluster_dir() {
  local d=${1:-${SPACEPODS_K8S_DIR:-}}
  [ -z "$d" ] && d=${SPACEPODS_TMP:+$SPACEPODS_TMP/k8s}
  echo "${d:-/tmp/spacepods-k8s}"
}

# build makes sure the cache holds binaries built from tools/k8s as it is now
# (a stamp of its go.mod and go.sum) and kwok $KWOK_VERSION.
build() {
  mkdir -p "$CACHE"
  exec 9>"$CACHE/.lock"
  flock 9 # one build at a time on this machine
  local stamp want b missing=0
  want=$(cat "$ROOT/tools/k8s/go.mod" "$ROOT/tools/k8s/go.sum" | sha256sum | cut -c1-16)
  stamp=$(cat "$CACHE/build.stamp" 2>/dev/null || true)
  for b in "${BINARIES[@]}"; do [ -x "$CACHE/$b" ] || missing=1; done
  if [ "$missing" = 1 ] || [ "$stamp" != "$want" ]; then
    log "building ${BINARIES[*]} $K8S_VERSION into $CACHE (cold: several minutes each on 2 cores)"
    local tmp start=$SECONDS minor=${K8S_VERSION#v1.}
    minor=${minor%%.*}
    tmp=$(mktemp -d "$CACHE/.build.XXXXXX")
    local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
    local pkgs=()
    for b in "${BINARIES[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$b"); done
    (cd "$ROOT/tools/k8s" && CGO_ENABLED=0 nice -n 10 go build -trimpath -ldflags "$ldflags" -o "$tmp/" "${pkgs[@]}")
    for b in "${BINARIES[@]}"; do mv -f "$tmp/$b" "$CACHE/$b"; done
    rmdir "$tmp"
    echo "$want" >"$CACHE/build.stamp"
    log "built in $((SECONDS - start))s"
  fi
  if [ ! -x "$CACHE/kwok" ] || [ "$(cat "$CACHE/kwok.version" 2>/dev/null)" != "$KWOK_VERSION" ]; then
    log "installing kwok $KWOK_VERSION into $CACHE"
    (cd "$CACHE" && GOBIN="$CACHE" GOFLAGS=-buildvcs=false CGO_ENABLED=0 nice -n 10 go install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION")
    echo "$KWOK_VERSION" >"$CACHE/kwok.version"
  fi
  flock -u 9
}

# ensure_etcd installs Debian's etcd-server when etcd is missing, without
# letting the package start its system service.
ensure_etcd() {
  command -v etcd >/dev/null 2>&1 && return 0
  if [ "$(id -u)" != 0 ]; then
    log "etcd is missing: install it (sudo apt-get install -y etcd-server) or run this script as root"
    return 1
  fi
  log "installing etcd-server from Debian packages (its service is not started)"
  local policy=/usr/sbin/policy-rc.d made=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 755 "$policy"; made=1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq etcd-server >/dev/null
  [ "$made" = 1 ] && rm -f "$policy"
  return 0
}

certs() {
  local d=$1
  local o="openssl"
  $o req -x509 -newkey rsa:2048 -nodes -keyout "$d/ca.key" -out "$d/ca.crt" -days 3650 -subj "/CN=spacepods-test-ca" 2>/dev/null
  sign() { # name subject extensions
    $o req -newkey rsa:2048 -nodes -keyout "$d/$1.key" -out "$d/$1.csr" -subj "$2" 2>/dev/null
    printf '%b' "$3" >"$d/$1.ext"
    $o x509 -req -in "$d/$1.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" -CAcreateserial -out "$d/$1.crt" -days 3650 -extfile "$d/$1.ext" 2>/dev/null
    rm -f "$d/$1.csr" "$d/$1.ext"
  }
  sign apiserver "/CN=kube-apiserver" \
    "subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment"
  sign admin "/O=system:masters/CN=spacepods-test-admin" "extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment"
  $o genrsa -out "$d/sa.key" 2048 2>/dev/null
  $o rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
}

kubeconfig() { # dir port
  cat >"$1/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: spacepods-test
  cluster:
    server: https://127.0.0.1:$2
    certificate-authority: $1/ca.crt
users:
- name: admin
  user:
    client-certificate: $1/admin.crt
    client-key: $1/admin.key
contexts:
- name: spacepods-test
  context:
    cluster: spacepods-test
    user: admin
current-context: spacepods-test
EOF
}

# api METHOD PATH [BODY]: a request to the API server as admin; prints the body.
api() {
  local d=$DIR
  curl -sSf --max-time 10 --cacert "$d/ca.crt" --cert "$d/admin.crt" --key "$d/admin.key" \
    -X "$1" -H 'Content-Type: application/json' ${3:+--data "$3"} "https://127.0.0.1:$(cat "$d/apiserver.port")$2"
}

# run NAME CMD...: start a process in the background, remember its PID.
run() {
  local name=$1; shift
  nohup "$@" >"$DIR/$name.log" 2>&1 </dev/null &
  echo $! >"$DIR/$name.pid"
}

alive() { [ -f "$DIR/$1.pid" ] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }

# wait_for WHAT SECONDS CMD...: retry CMD until it succeeds.
wait_for() {
  local what=$1 secs=$2 i; shift 2
  for ((i = 0; i < secs * 4; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.25
  done
  log "$what did not come up within ${secs}s"
  return 1
}

fail_start() {
  local n
  for n in etcd kube-apiserver kube-controller-manager kube-scheduler kwok; do
    [ -f "$DIR/$n.log" ] && { echo "--- $n.log (last lines)" >&2; tail -15 "$DIR/$n.log" >&2; }
  done
  stop
  exit 1
}

node_ready() {
  api GET "/api/v1/nodes/$1" | python3 -c '
import json, sys
n = json.load(sys.stdin)
ok = any(c["type"] == "Ready" and c["status"] == "True" for c in n.get("status", {}).get("conditions", []))
sys.exit(0 if ok else 1)'
}

start() {
  if alive kube-apiserver; then
    log "a cluster is already running in $DIR"
    env_line
    return 0
  fi
  build
  ensure_etcd
  mkdir -p "$DIR"
  chmod 755 "$DIR"
  rm -rf "$DIR/etcd"
  certs "$DIR"
  local ep pp ap kp
  ep=$(free_port); pp=$(free_port); ap=$(free_port); kp=$(free_port)
  echo "$ap" >"$DIR/apiserver.port"
  kubeconfig "$DIR" "$ap"
  # Every pod's log, in the CRI log format kwok serves.
  {
    echo "2026-01-01T00:00:00.000000000Z stdout F testapp: listening on :8080"
    echo "2026-01-01T00:00:01.000000000Z stdout F (simulated by kwok: no container runs on this node)"
  } >"$DIR/pod.log"
  sed "s|@LOGDIR@|$DIR|g" "$ROOT/tools/k8s/kwok.yaml" >"$DIR/kwok.yaml"

  log "starting etcd on 127.0.0.1:$ep"
  run etcd etcd --name default --data-dir "$DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ep" --advertise-client-urls "http://127.0.0.1:$ep" \
    --listen-peer-urls "http://127.0.0.1:$pp" --initial-advertise-peer-urls "http://127.0.0.1:$pp" \
    --initial-cluster "default=http://127.0.0.1:$pp" --logger zap --log-level warn
  wait_for etcd 30 curl -sf "http://127.0.0.1:$ep/health" || fail_start

  log "starting kube-apiserver $K8S_VERSION on https://127.0.0.1:$ap"
  # WatchList=false: with it the server turns every watch from resource
  # version ""/0 into a streamed watch-list, which needs etcd progress
  # requests (etcd 3.4.31+/3.5.13+); Debian's etcd 3.4.23 has none, and such
  # watches (kwok's) then fail and see pods only at relists.
  run kube-apiserver "$CACHE/kube-apiserver" --etcd-servers "http://127.0.0.1:$ep" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --endpoint-reconciler-type none --secure-port "$ap" \
    --tls-cert-file "$DIR/apiserver.crt" --tls-private-key-file "$DIR/apiserver.key" --client-ca-file "$DIR/ca.crt" \
    --service-account-issuer https://kubernetes.default.svc --service-account-key-file "$DIR/sa.pub" \
    --service-account-signing-key-file "$DIR/sa.key" --service-cluster-ip-range 10.96.0.0/16 \
    --authorization-mode RBAC --kubelet-preferred-address-types InternalIP \
    --kubelet-client-certificate "$DIR/admin.crt" --kubelet-client-key "$DIR/admin.key" \
    --profiling=false --v 1 --feature-gates WatchList=false
  wait_for kube-apiserver 120 api GET /readyz || fail_start

  log "starting kube-controller-manager, kube-scheduler and kwok (node port $kp)"
  run kube-controller-manager "$CACHE/kube-controller-manager" --kubeconfig "$DIR/kubeconfig" \
    --leader-elect=false --bind-address 127.0.0.1 --secure-port 0 \
    --service-account-private-key-file "$DIR/sa.key" --root-ca-file "$DIR/ca.crt" \
    --concurrent-namespace-syncs 10 --concurrent-gc-syncs 20 --profiling=false --v 1
  run kube-scheduler "$CACHE/kube-scheduler" --kubeconfig "$DIR/kubeconfig" \
    --leader-elect=false --bind-address 127.0.0.1 --secure-port 0 --profiling=false --v 1
  run kwok "$CACHE/kwok" --kubeconfig "$DIR/kubeconfig" --config "$DIR/kwok.yaml" \
    --manage-all-nodes=true --node-ip 127.0.0.1 --node-port "$kp" --server-address "127.0.0.1:$kp" \
    --cidr 10.244.0.1/16 --node-lease-duration-seconds 40
  local n
  for n in "${NODES[@]}"; do
    api POST /api/v1/nodes "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"$n\",\"labels\":{\"kubernetes.io/hostname\":\"$n\",\"type\":\"kwok\"},\"annotations\":{\"kwok.x-k8s.io/node\":\"fake\"}}}" >/dev/null 2>&1 || true
  done
  for n in "${NODES[@]}"; do wait_for "node $n" 60 node_ready "$n" || fail_start; done
  wait_for "the default service account" 60 api GET /api/v1/namespaces/default/serviceaccounts/default || fail_start
  local p
  for p in kube-controller-manager kube-scheduler kwok; do alive "$p" || { log "$p exited"; fail_start; }; done
  log "cluster ready in $DIR"
  env_line
}

env_line() {
  if [ ! -f "$DIR/kubeconfig" ]; then
    log "no cluster in $DIR: run scripts/k8s-cluster.sh start"
    return 1
  fi
  echo "export SPACEPODS_TEST_KUBECONFIG=$DIR/kubeconfig"
}

# stop ends the processes that start recorded, newest first, each only if
# its PID still runs the program we started.
stop() {
  local n pid
  for n in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
    [ -f "$DIR/$n.pid" ] || continue
    pid=$(cat "$DIR/$n.pid")
    if kill -0 "$pid" 2>/dev/null && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$n"; then
      kill "$pid" 2>/dev/null || true
      for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
      kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$DIR/$n.pid"
  done
}

cmd=${1:-}
DIR=$(cluster_dir "${2:-}")
case "$cmd" in
build) build ;;
start) start ;;
env) env_line ;;
stop) stop; log "stopped the cluster in $DIR" ;;
*) echo "usage: $0 build|start|env|stop [DIR]" >&2; exit 2 ;;
esac
