#!/usr/bin/env bash
# Runs the whole Spacepods test suite on a fresh Debian/Ubuntu machine:
# installs and starts what the tests need (Docker Engine, PostgreSQL), runs
# vet, gofmt, golangci-lint, the tests (with -race), a short fuzz run, and stops what it started.
#
#   scripts/test.sh            everything
#   scripts/test.sh ./internal/router/...   only these packages (still with real systems)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

export SPACEPODS_TMP=${SPACEPODS_TMP:-$(mktemp -d /tmp/spacepods-test.XXXXXX)}
chmod 755 "$SPACEPODS_TMP"
cleanup() { stop_gitea; stop_moto; stop_k8s_cluster; stop_postgres; stop_docker; }
trap cleanup EXIT

export SPACEPODS_NEED_BROWSER=1
ensure_packages
ensure_docker
start_postgres "$SPACEPODS_TMP/pg"
export SPACEPODS_TEST_POSTGRES=$PG_URL
export PATH=$PATH:$PG_BIN

pkgs=("$@")
[ ${#pkgs[@]} -eq 0 ] && pkgs=(./...)
# Only the kubernetes driver's tests need it (SPACEPODS_TEST_KUBECONFIG).
if wants_k8s "${pkgs[@]}"; then start_k8s_cluster "$SPACEPODS_TMP/k8s"; fi
# Only the forge, previews, UI and server tests need it (SPACEPODS_TEST_GITEA_*).
if wants_gitea "${pkgs[@]}"; then start_gitea "$SPACEPODS_TMP/gitea"; fi
# Only the AWS packages' tests need moto (SPACEPODS_TEST_AWS_ENDPOINT).
if wants_moto "${pkgs[@]}"; then start_moto "$SPACEPODS_TMP/moto"; fi

log "go vet"
go vet "${pkgs[@]}"
log "gofmt"
bad=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go')) || true
if [ -n "$bad" ]; then echo "gofmt would change: $bad" >&2; exit 1; fi
log "golangci-lint (.golangci.yml; any finding fails the run)"
lint=$(golangci_lint)
"$lint" run --allow-parallel-runners ./...

log "go test -race (real Docker at $(docker version --format '{{.Server.Version}}'), PostgreSQL at 127.0.0.1)"
go test -race -count=1 -timeout 20m "${pkgs[@]}"

if [ $# -eq 0 ]; then
  log "fuzzing the manifest parser (short run)"
  go test -run '^$' -fuzz '^FuzzParseManifest$' -fuzztime 20s ./internal/catalog
  log "fuzzing the registry notification parser (short run)"
  go test -run '^$' -fuzz '^FuzzParseEnvelope$' -fuzztime 10s ./internal/builds
fi
log "all tests passed"
