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

# Bump when the recipe below changes, so an outdated local base is rebuilt.
recipe=4
if [[ "$(docker image inspect -f '{{index .Config.Labels "org.masterclass.base-recipe"}}' "$image" 2>/dev/null)" == "$recipe" ]]; then
    echo "base image $image already present, reusing it"
    exit 0
fi

command -v mmdebstrap >/dev/null || {
    echo "mmdebstrap is missing: apt-get install -y mmdebstrap (or run .ci/ensure-docker)" >&2
    exit 1
}

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# Like the official slim images: no man pages, docs (but their copyright files), info or
# translations, also for every package installed on top later (the dpkg options stay in
# /etc/dpkg/dpkg.cfg.d). apt lists and caches are dropped so no image carries them.
# usr-is-merged, as in the official images; minbase also installs usrmerge, which drags
# in the full perl (about 50 MB) for a conversion this layout never needs: purged below.
mmdebstrap --variant=minbase --include=ca-certificates,usr-is-merged \
    --aptopt='APT::Install-Recommends "false"' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-include=/usr/share/locale/locale.alias' \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --customize-hook='chroot "$1" dpkg --purge usrmerge libfile-find-rule-perl libnumber-compare-perl libtext-glob-perl perl perl-modules-5.36 libperl5.36' \
    --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin' \
    "$suite" "$tmp/base.tar"

# Same defaults an official Debian image sets, so Dockerfiles behave identically on top of it.
docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["bash"]' \
    --change "LABEL org.masterclass.base-recipe=$recipe" \
    "$tmp/base.tar" "$image"
echo "created base image $image"
