#!/usr/bin/env bash
# Build a local Debian base image with mmdebstrap, for machines that cannot pull from a registry.
#
# Usage: images/base/bootstrap.sh [IMAGE] [SUITE]
#   IMAGE  tag to create (default: masterclass/debian-base:bookworm)
#   SUITE  Debian suite (default: bookworm)
#
# The result is equivalent to an official debian:<suite>-slim for our Dockerfiles:
# a minbase system with ca-certificates, built from this machine's own apt sources.
# If the tag already exists, nothing is done (delete it to rebuild).
set -euo pipefail

image="${1:-masterclass/debian-base:bookworm}"
suite="${2:-bookworm}"

if docker image inspect "$image" >/dev/null 2>&1; then
    echo "base image $image already present, reusing it"
    exit 0
fi

command -v mmdebstrap >/dev/null || {
    echo "mmdebstrap is missing: apt-get install -y mmdebstrap (or run .ci/ensure-docker)" >&2
    exit 1
}

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# apt lists and caches are dropped so they don't bloat every image built on top.
mmdebstrap --variant=minbase --include=ca-certificates \
    --aptopt='APT::Install-Recommends "false"' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
    "$suite" "$tmp/base.tar"

# Same defaults an official Debian image sets, so Dockerfiles behave identically on top of it.
docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' \
    "$tmp/base.tar" "$image"
echo "created base image $image"
