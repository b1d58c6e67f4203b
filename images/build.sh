#!/usr/bin/env bash
# Build the student, hub, proxy and Caddy images (`make images`), or re-pin the lock files (`make lock`).
#
# Usage: images/build.sh [build|lock]
#
# Environment (all optional):
#   STUDENT_IMAGE    tag of the student image   (default masterclass/student:latest)
#   HUB_IMAGE        tag of the hub image       (default masterclass/hub:latest)
#   PROXY_IMAGE      tag of the hub's proxy     (default masterclass/proxy:latest)
#   CADDY_IMAGE      tag of the HTTPS front     (default masterclass/caddy:latest)
#   BASE_IMAGE       base for all images; unset: debian:bookworm-slim if it can be
#                    pulled, else a local mmdebstrap bootstrap (LOCAL_BASE_IMAGE)
#   LOCAL_BASE_IMAGE tag of the bootstrapped base (default masterclass/debian-base:bookworm)
#   EXTRA_CA_CERTS   PEM file with CA certificates for a TLS-inspecting proxy; unset: the
#                    host's bundle is passed only if containers fail to verify PyPI without it
#   WHEELHOUSE       directory of wheels (see `make wheelhouse`): build without PyPI
#   MASTERCLASS_DATA_DIR  directory holding the raw event pair; else ../shared/opal-events,
#                    else `masterclass data fetch`
#   IMAGES           which images to build (default "student hub proxy caddy")
#   DOCKER_BUILD_FLAGS  extra flags for every docker build (e.g. --no-cache)
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-build}"
[[ "$mode" == build || "$mode" == lock ]] || { echo "usage: $0 [build|lock]" >&2; exit 2; }

STUDENT_IMAGE="${STUDENT_IMAGE:-masterclass/student:latest}"
HUB_IMAGE="${HUB_IMAGE:-masterclass/hub:latest}"
PROXY_IMAGE="${PROXY_IMAGE:-masterclass/proxy:latest}"
CADDY_IMAGE="${CADDY_IMAGE:-masterclass/caddy:latest}"
LOCAL_BASE_IMAGE="${LOCAL_BASE_IMAGE:-masterclass/debian-base:bookworm}"
OFFICIAL_BASE_IMAGE="debian:bookworm-slim"
PIP_TOOLS_VERSION="${PIP_TOOLS_VERSION:-7.6.2}"
IMAGES="${IMAGES:-student hub proxy caddy}"
inputs=build/inputs
host_ca=/etc/ssl/certs/ca-certificates.crt
raw_files=(centered-masked-rotated1.zip events_list.csv)

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }
die() { printf 'images: %s\n' "$*" >&2; exit 1; }

docker info >/dev/null 2>&1 || die "no Docker engine answers; run .ci/ensure-docker (as root) first"

# The Dockerfiles need no BuildKit-only feature; the classic builder works with every
# client/engine pair (a 28.x client without buildx cannot use BuildKit on its own).
if docker buildx version >/dev/null 2>&1; then
    export DOCKER_BUILDKIT="${DOCKER_BUILDKIT:-1}"
else
    export DOCKER_BUILDKIT="${DOCKER_BUILDKIT:-0}"
fi

# --- the base image ---------------------------------------------------------
if [[ -z "${BASE_IMAGE:-}" ]]; then
    if docker image inspect "$OFFICIAL_BASE_IMAGE" >/dev/null 2>&1 \
        || timeout 120 docker pull --quiet "$OFFICIAL_BASE_IMAGE" >/dev/null 2>&1; then
        BASE_IMAGE="$OFFICIAL_BASE_IMAGE"
    else
        say "no registry reachable: using a locally bootstrapped base, $LOCAL_BASE_IMAGE"
        images/base/bootstrap.sh "$LOCAL_BASE_IMAGE" bookworm
        BASE_IMAGE="$LOCAL_BASE_IMAGE"
    fi
fi
say "base image: $BASE_IMAGE"

# --- build inputs (build/inputs/, never committed) -------------------------
build_args=(--build-arg "BASE_IMAGE=$BASE_IMAGE")
if [[ -n "${WHEELHOUSE:-}" ]]; then
    say "offline build from the wheelhouse $WHEELHOUSE"
    build_args+=(--build-arg PIP_NO_INDEX=1)
fi

# Can a container verify PyPI with Debian's CA bundle alone? If not, but it can with
# the host's bundle, a TLS-inspecting gateway is in the way: pass the host bundle as a
# build-only input (it reaches the build stages, never the final images).
probe_pypi() {  # probe_pypi IMAGE [CA-FILE]
    local mount=() env=()
    if [[ -n "${2:-}" ]]; then mount=(-v "$2:/probe-ca.pem:ro"); env=(-e SSL_CERT_FILE=/probe-ca.pem); fi
    docker run --rm "${mount[@]}" "${env[@]}" "$1" python3 -c '
import ssl, sys, urllib.error, urllib.request
try:
    urllib.request.urlopen("https://pypi.org/simple/pip/", timeout=30)
except urllib.error.URLError as error:
    sys.exit(3 if isinstance(error.reason, ssl.SSLCertVerificationError) else 4)
'
}
# Only the Python images (student, hub) need PyPI and build/inputs/; the Caddy image
# needs nothing but Debian's mirrors.
python_images=""
[[ "$mode" == lock || " $IMAGES " == *" student "* || " $IMAGES " == *" hub "* ]] && python_images=1
ca_file=""
if [[ -n "$python_images" && -n "${EXTRA_CA_CERTS:-}" ]]; then
    say "extra CA certificates for the build: $EXTRA_CA_CERTS"
    ca_file="$EXTRA_CA_CERTS"
elif [[ -n "$python_images" ]] && [[ -z "${WHEELHOUSE:-}" || "$mode" == lock ]]; then
    os_stage="$(docker build --quiet --target os "${build_args[@]}" -f images/student/Dockerfile .)"
    rc=0; probe_pypi "$os_stage" || rc=$?
    if [[ $rc == 3 ]] && probe_pypi "$os_stage" "$host_ca"; then
        say "a TLS-inspecting gateway re-signs PyPI: passing $host_ca as a build-only CA input"
        ca_file="$host_ca"
    elif [[ $rc != 0 ]]; then
        die "containers cannot reach PyPI (probe exit $rc); set EXTRA_CA_CERTS or WHEELHOUSE"
    fi
fi

# --- lock: pip-compile in the image's own Python ------------------------------
if [[ "$mode" == lock ]]; then
    tools="$(docker build --quiet --target pytools "${build_args[@]}" -f images/student/Dockerfile .)"
    ca_args=()
    [[ -n "$ca_file" ]] && ca_args=(-v "$(realpath "$ca_file"):/build-ca.pem:ro" -e PIP_CERT=/build-ca.pem)
    docker run --rm "${ca_args[@]}" -v "$PWD:/src" -w /src "$tools" sh -euc '
        python3 -m venv /tmp/tools
        /tmp/tools/bin/pip install --quiet --disable-pip-version-check pip-tools=='"$PIP_TOOLS_VERSION"'
        for pair in images/student:student hub:hub; do
            dir=${pair%%:*}; extra=${pair##*:}
            echo "pinning $dir/requirements.txt (masterclass[$extra] + $dir/requirements.in)"
            /tmp/tools/bin/pip-compile --quiet --strip-extras --no-emit-index-url \
                --no-emit-find-links --extra "$extra" --output-file "$dir/requirements.txt" \
                masterclass/pyproject.toml "$dir/requirements.in"
        done
        chown '"$(id -u):$(id -g)"' images/student/requirements.txt hub/requirements.txt'
    exit 0
fi

# --- build inputs (build/inputs/, never committed) -------------------------
if [[ -n "$python_images" ]]; then
    rm -rf "$inputs"
    mkdir -p "$inputs/certs" "$inputs/wheels" "$inputs/events-raw"
    [[ -n "$ca_file" ]] && cp "$ca_file" "$inputs/certs/build-ca.crt"
fi

has_raw_pair() { [[ -f "$1/${raw_files[0]}" && -f "$1/${raw_files[1]}" ]]; }
if [[ " $IMAGES " == *" student "* ]]; then
    if [[ -n "${MASTERCLASS_DATA_DIR:-}" ]] && has_raw_pair "$MASTERCLASS_DATA_DIR"; then
        src="$MASTERCLASS_DATA_DIR"
    elif has_raw_pair ../shared/opal-events; then
        src=../shared/opal-events
    else
        src=""
    fi
    if [[ -n "$src" ]]; then
        say "event data: the raw pair from $src"
        for f in "${raw_files[@]}"; do cp "$src/$f" "$inputs/events-raw/$f"; done
    else
        say "event data: downloading the raw pair (masterclass data fetch)"
        cli="${MASTERCLASS_CLI:-.venv/bin/masterclass}"
        [[ -x "$cli" ]] || cli=masterclass
        "$cli" data fetch --dest "$inputs/events-raw"
    fi
fi

if [[ -n "${WHEELHOUSE:-}" && -n "$python_images" ]]; then
    cp "$WHEELHOUSE"/*.whl "$inputs/wheels/"
fi

# --- build -------------------------------------------------------------------
# The images share only the base, so they build side by side: their downloads and
# unpacking overlap (a cold build of all three took 357 s one after the other; see
# images/README.md). Each line of a build's output carries its image's name.
# PARALLEL=0 builds one after the other, with docker's output as it is.
results="$(mktemp -d)"
trap 'rm -rf "$results"' EXIT
build() {  # build NAME TAG DOCKERFILE [CONTEXT]
    local start end
    say "building $2 from $3"
    start=$(date +%s)
    # shellcheck disable=SC2086
    if [[ "${PARALLEL:-1}" == 1 ]]; then
        docker build "${build_args[@]}" ${DOCKER_BUILD_FLAGS:-} -f "$3" -t "$2" "${4:-.}" 2>&1 \
            | sed -u "s/^/[$1] /"
    else
        docker build "${build_args[@]}" ${DOCKER_BUILD_FLAGS:-} -f "$3" -t "$2" "${4:-.}"
    fi
    end=$(date +%s)
    printf '%-32s %8s MB  built in %ss\n' "$2" \
        "$(( $(docker image inspect -f '{{.Size}}' "$2") / 1000000 ))" "$((end - start))" \
        > "$results/$1"
}
total_start=$(date +%s)
pids=()
names=()
for image in $IMAGES; do
    case "$image" in
        student) set -- student "$STUDENT_IMAGE" images/student/Dockerfile ;;
        hub) set -- hub "$HUB_IMAGE" hub/Dockerfile ;;
        # Debian's packages and a script of their own: their folders are the contexts
        # (the classic builder would otherwise send the staged event data too).
        proxy) set -- proxy "$PROXY_IMAGE" images/proxy/Dockerfile images/proxy ;;
        caddy) set -- caddy "$CADDY_IMAGE" images/caddy/Dockerfile images/caddy ;;
        *) die "unknown image '$image' (student, hub, proxy, caddy)" ;;
    esac
    if [[ "${PARALLEL:-1}" == 1 ]]; then
        build "$@" &
        pids+=("$!")
        names+=("$1")
    else
        build "$@"
    fi
done
failed=()
for i in "${!pids[@]}"; do
    wait "${pids[$i]}" || failed+=("${names[$i]}")
done
[[ ${#failed[@]} -eq 0 ]] || die "the build of ${failed[*]} failed (its lines above start with [${failed[0]}])"
summary=()
for image in $IMAGES; do summary+=("$(cat "$results/$image")"); done
if [[ -n "$python_images" ]]; then rm -rf "$inputs/certs" "$inputs/wheels"; fi

say "images (uncompressed size):"
printf '  %s\n' "${summary[@]}"
say "total build time: $(( $(date +%s) - total_start ))s"
