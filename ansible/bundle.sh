#!/usr/bin/env bash
# `make bundle`: one tarball to install Masterclass Hub on a server without internet.
#
# Usage: ansible/bundle.sh [OUT]            the bundle (default build/masterclass-bundle.tar)
#        ansible/bundle.sh project OUT      only the project files (the playbook's online install)
#
# The bundle is a tar of masterclass-bundle/ holding
#   MANIFEST.json  format, creation time, the image tags with their ids, sha256 of the files
#   images.tar     `docker save` of the hub, proxy, student and Caddy images
#   project.tar    compose files, hub/ (jupyterhub_config.py, Caddyfile, up/down scripts,
#                  the course file), .env.example, the sources the images are built from
#                  and worksheets/ (what `masterclass class release` hands out)
#   events.tar     the prepared OPAL event store (events.npy, events.json), as baked
#                  into the student image
# Use it with the playbook: masterclass_offline_bundle: /path/to/masterclass-bundle.tar
#
# Environment (all optional):
#   HUB_IMAGE, PROXY_IMAGE, STUDENT_IMAGE   the images (default masterclass/hub:latest,
#                              masterclass/proxy:latest, masterclass/student:latest)
#   CADDY_IMAGE                the HTTPS front (default caddy:2); left out with a warning when it
#                              is neither present nor pullable (the playbook then refuses HTTPS)
#   BUNDLE_IMAGES              the images to save instead of the four above (tests use a tiny one)
#   BUNDLE_EVENTS              a prepared event store directory instead of the student image's
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'bundle: %s\n' "$*" >&2; exit 1; }

# The files the server needs, in a tar that is byte-identical for identical inputs,
# so that a second playbook run sees no change.
project_tar() {  # project_tar OUT
    local paths=(docker-compose.yml docker-compose.https.yml docker-compose.swarm.yml .env.example .dockerignore
        hub images/student images/proxy images/slim-venv.sh images/build.sh images/base
        masterclass/pyproject.toml masterclass/README.md masterclass/src worksheets)
    tar --create --file "$1" --sort=name --mtime='2000-01-01 00:00Z' \
        --owner=0 --group=0 --numeric-owner --mode='u+rwX,go+rX,go-w' \
        --exclude=__pycache__ --exclude='*.pyc' --exclude='*.egg-info' "${paths[@]}"
}

if [[ "${1:-}" == project ]]; then
    [[ -n "${2:-}" ]] || die "usage: $0 project OUT"
    mkdir -p "$(dirname "$2")"
    project_tar "$2.tmp"
    # Keep the old file (and its mtime) when nothing changed.
    if cmp -s "$2.tmp" "$2"; then rm "$2.tmp"; else mv "$2.tmp" "$2"; fi
    exit 0
fi

out="${1:-build/masterclass-bundle.tar}"
HUB_IMAGE="${HUB_IMAGE:-masterclass/hub:latest}"
PROXY_IMAGE="${PROXY_IMAGE:-masterclass/proxy:latest}"
STUDENT_IMAGE="${STUDENT_IMAGE:-masterclass/student:latest}"
CADDY_IMAGE="${CADDY_IMAGE:-caddy:2}"

docker info >/dev/null 2>&1 || die "no Docker engine answers; run 'make docker' first"

if [[ -n "${BUNDLE_IMAGES:-}" ]]; then
    read -r -a images <<<"$BUNDLE_IMAGES"
else
    for image in "$HUB_IMAGE" "$PROXY_IMAGE" "$STUDENT_IMAGE"; do
        docker image inspect "$image" >/dev/null 2>&1 || die "image $image is missing; run 'make images' first"
    done
    images=("$HUB_IMAGE" "$PROXY_IMAGE" "$STUDENT_IMAGE")
    if docker image inspect "$CADDY_IMAGE" >/dev/null 2>&1 \
        || timeout 120 docker pull --quiet "$CADDY_IMAGE" >/dev/null 2>&1; then
        images+=("$CADDY_IMAGE")
    else
        say "WARNING: $CADDY_IMAGE is neither present nor pullable; the bundle has no HTTPS front"
        say "         (pull it on a machine with a registry, or set CADDY_IMAGE to a local tag)"
    fi
fi

stage="$(mktemp -d "${TMPDIR:-/tmp}/masterclass-bundle.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
dir="$stage/masterclass-bundle"
mkdir -p "$dir"

say "project files"
project_tar "$dir/project.tar"

say "event data"
if [[ -n "${BUNDLE_EVENTS:-}" ]]; then
    [[ -f "$BUNDLE_EVENTS/events.npy" && -f "$BUNDLE_EVENTS/events.json" ]] \
        || die "$BUNDLE_EVENTS is no prepared event store (events.npy, events.json)"
    tar --create --file "$dir/events.tar" -C "$BUNDLE_EVENTS" \
        --transform 's,^\.,events,' --owner=0 --group=0 --numeric-owner .
else
    # The very store the student image carries, without starting it.
    cid="$(docker create "$STUDENT_IMAGE" true)"
    docker cp "$cid:/opt/masterclass/events" - >"$dir/events.tar" || { docker rm "$cid" >/dev/null; exit 1; }
    docker rm "$cid" >/dev/null
fi

say "images: ${images[*]}"
docker save --output "$dir/images.tar" "${images[@]}"

say "manifest"
{
    printf '{\n  "format": 1,\n  "created": "%s",\n  "images": {\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    for i in "${!images[@]}"; do
        sep=","; ((i == ${#images[@]} - 1)) && sep=""
        printf '    "%s": "%s"%s\n' "${images[$i]}" "$(docker image inspect -f '{{.Id}}' "${images[$i]}")" "$sep"
    done
    printf '  },\n  "sha256": {\n'
    files=(images.tar project.tar events.tar)
    for i in "${!files[@]}"; do
        sep=","; ((i == ${#files[@]} - 1)) && sep=""
        printf '    "%s": "%s"%s\n' "${files[$i]}" "$(sha256sum "$dir/${files[$i]}" | cut -d' ' -f1)" "$sep"
    done
    printf '  }\n}\n'
} >"$dir/MANIFEST.json"

mkdir -p "$(dirname "$out")"
tar --create --file "$out.tmp" -C "$stage" masterclass-bundle
mv "$out.tmp" "$out"
say "bundle: $out ($(( $(stat -c %s "$out") / 1000000 )) MB)"
say "use it: masterclass_offline_bundle: $(realpath "$out")"
