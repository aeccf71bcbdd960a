#!/usr/bin/env bash
# build-examples.sh: build the example apps (examples/) into local Docker
# images, the way a CI would, so Spacepods has real builds to deploy.
#
#   scripts/build-examples.sh [--build N] [--mode MODE] [--print-record] [--push REGISTRY] [APP...]
#
#   APP             storefront, catalog-api, pricing-api, mailer (default: all)
#   --build N       build number, the image tag: spacepods-example/<app>:<N> (default 1)
#   --mode MODE     compile a failure mode into the binaries (-X main.mode=MODE):
#                   crash | unhealthy | badmigrate (or normal). Needs --build so
#                   that the bad build gets its own tag, e.g. --build 99.
#   --print-record  print on stdout only the `spacepods build record ...` lines a
#                   CI would run (the per-image lines go to stderr)
#   --push REGISTRY also tag each app image REGISTRY/spacepods-example/<app>:<N> and
#                   docker push it (e.g. the embedded registry, 127.0.0.1:PORT): the
#                   registry's notification records the build in Spacepods
#
# Binaries are static (CGO_ENABLED=0, -trimpath) and the images are FROM
# scratch with nothing but /app, so no registry is needed. Each image carries
# a label with its content key (binary hash + image recipe + git SHA); when an
# image with that key exists, it is re-tagged instead of rebuilt, so a run
# where nothing changed takes about a second. With catalog-api (normal mode)
# the integration-test image spacepods-example/catalog-api-tests:<N> is built
# too (same binary, CMD /app selftest).
#
# Output, one line per image:  <image> <git-sha> <built|tagged|unchanged> mode=<mode> id=<image id>
set -euo pipefail

ALL_APPS=(pricing-api catalog-api storefront mailer)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_PREFIX=spacepods-example
LABEL=io.spacepods.example

die() { echo "build-examples: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

BUILD=""
MODE=""
PRINT_RECORD=0
PUSH=""
APPS=()
while [ $# -gt 0 ]; do
  case $1 in
    --build) [ $# -ge 2 ] || die "--build needs a number, e.g. --build 2"; BUILD=$2; shift 2 ;;
    --build=*) BUILD=${1#*=}; shift ;;
    --mode) [ $# -ge 2 ] || die "--mode needs one of crash, unhealthy, badmigrate, normal"; MODE=$2; shift 2 ;;
    --mode=*) MODE=${1#*=}; shift ;;
    --print-record) PRINT_RECORD=1; shift ;;
    --push) [ $# -ge 2 ] || die "--push needs a registry host, e.g. --push 127.0.0.1:5000"; PUSH=$2; shift 2 ;;
    --push=*) PUSH=${1#*=}; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) APPS+=("$1"); shift ;;
  esac
done

case $MODE in
  normal) MODE="" ;;
  ""|crash|unhealthy|badmigrate) ;;
  *) die "unknown mode '$MODE': use crash, unhealthy, badmigrate or normal" ;;
esac
if [ -z "$BUILD" ]; then
  [ -z "$MODE" ] || die "--mode $MODE needs --build N so the bad build gets its own tag (e.g. --build 99); without it, it would replace build 1"
  BUILD=1
fi
[[ $BUILD =~ ^[1-9][0-9]{0,8}$ ]] || die "--build '$BUILD' is not a positive whole number"
[ ${#APPS[@]} -gt 0 ] || APPS=("${ALL_APPS[@]}")
for a in "${APPS[@]}"; do
  [[ " ${ALL_APPS[*]} " == *" $a "* ]] || die "unknown app '$a': use any of ${ALL_APPS[*]}"
done

if ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  die "no Docker daemon answers: start dockerd first (scripts/run.sh does it)"
fi
command -v go >/dev/null 2>&1 || die "go is not on PATH: install Go (see go.mod for the version)"

SHA=$(git -C "$ROOT" rev-parse --verify -q HEAD 2>/dev/null) || SHA=0000000
BRANCH=$(git -C "$ROOT" symbolic-ref -q --short HEAD 2>/dev/null) || BRANCH=main
[ -n "$BRANCH" ] || BRANCH=main
MODE_NAME=${MODE:-normal}

# Binaries live in a per-mode cache dir, so `go build` finds them up to date
# (and skips even the link) when nothing changed; the Go build cache does the rest.
CACHE=${SPACEPODS_EXAMPLES_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/spacepods/examples}
OUT=$CACHE/bin/$MODE_NAME
mkdir -p "$OUT"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE/lock"
  flock 9
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/build-examples.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

pkgs=()
for a in "${APPS[@]}"; do pkgs+=("./examples/$a"); done
if ! (cd "$ROOT" && CGO_ENABLED=0 GOOS=linux go build -trimpath -buildvcs=false \
  -ldflags "-s -w -X main.mode=$MODE" -o "$OUT/" "${pkgs[@]}") >"$WORK/go.log" 2>&1; then
  cat "$WORK/go.log" >&2
  die "go build failed (mode=$MODE_NAME)"
fi

say() { if [ "$PRINT_RECORD" = 1 ]; then echo "$*" >&2; else echo "$*"; fi; }

# image NAME APP CMD...: build (or re-tag) $REPO_PREFIX/NAME:$BUILD from the
# binary of APP, with CMD as the default command.
image() {
  local name=$1 app=$2; shift 2
  local ref=$REPO_PREFIX/$name:$BUILD bin=$OUT/$app
  local hash cmd expose="" dir key existing current id status
  hash=$(sha256sum "$bin" | cut -c1-64)
  cmd=$(printf '"%s", ' "$@"); cmd="[${cmd%, }]"
  [ "$app" = mailer ] || expose="EXPOSE 8080"
  dir=$WORK/$name
  mkdir -p "$dir"
  cat >"$dir/Dockerfile" <<EOF
FROM scratch
COPY app /app
USER 65534:65534
$expose
CMD $cmd
LABEL org.opencontainers.image.title="$name" \\
      org.opencontainers.image.source="https://github.com/acme/$app" \\
      org.opencontainers.image.revision="$SHA" \\
      $LABEL.app="$app" \\
      $LABEL.mode="$MODE_NAME" \\
      $LABEL.binary="$hash"
EOF
  key=$(sha256sum "$dir/Dockerfile" | cut -c1-32)
  existing=$(docker images -q --no-trunc --filter "label=$LABEL.key=$key" | head -n1)
  current=$(docker images -q --no-trunc "$ref" | head -n1)
  if [ -n "$existing" ] && [ "$existing" = "$current" ]; then
    status=unchanged id=$existing
  elif [ -n "$existing" ]; then
    docker tag "$existing" "$ref"
    status=tagged id=$existing
  else
    cp "$bin" "$dir/app"
    if ! DOCKER_BUILDKIT=0 docker build -q --label "$LABEL.key=$key" -t "$ref" "$dir" >"$dir/build.log" 2>&1; then
      cat "$dir/build.log" >&2
      die "docker build of $ref failed"
    fi
    status=built id=$(docker images -q --no-trunc "$ref" | head -n1)
  fi
  say "$ref $SHA $status mode=$MODE_NAME id=${id:0:19}"
}

# push NAME: tag $REPO_PREFIX/NAME:$BUILD on the registry and push it.
push() {
  local ref=$REPO_PREFIX/$1:$BUILD
  docker tag "$ref" "$PUSH/$ref"
  if ! docker push -q "$PUSH/$ref" >"$WORK/push.log" 2>&1; then
    cat "$WORK/push.log" >&2
    die "docker push $PUSH/$ref failed: is the registry up? (spacepods server starts it; see docs/registry.md)"
  fi
  say "$PUSH/$ref pushed"
}

for a in "${APPS[@]}"; do
  case $a in
    mailer) image "$a" "$a" /app run ;;
    *) image "$a" "$a" /app serve ;;
  esac
  [ -z "$PUSH" ] || push "$a"
  if [ "$a" = catalog-api ] && [ -z "$MODE" ]; then
    image catalog-api-tests catalog-api /app selftest
  fi
  if [ "$PRINT_RECORD" = 1 ]; then
    echo "spacepods build record $a --number $BUILD --image $REPO_PREFIX/$a:$BUILD --sha $SHA --branch $BRANCH"
  fi
done
