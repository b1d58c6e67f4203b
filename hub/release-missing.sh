#!/usr/bin/env bash
# `make up`'s release step: release the course's worksheets (hub/course/course.toml) that
# are not released yet, in the class language (MASTERCLASS_LANG). A worksheet that is
# already released is left alone, so this is safe to run any number of times.
#
# It runs masterclass.grading.autorelease in a one-off container of the compose service
# `formgrader` (the student image, with the course and exchange volumes and this
# checkout's course file and worksheets), so the host needs no Python. Pairs whose
# server is already running get the worksheet within seconds (masterclass.grading.autofetch).
#
# Settings come from the environment or .env, as for hub/up.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=hub/env.sh
source hub/env.sh
# shellcheck source=hub/compose.sh
source hub/compose.sh

if ! "${compose[@]}" run --rm --no-deps -T formgrader \
    python3 -m masterclass.grading.autorelease; then
    echo "The worksheets could not be released (see above). Pairs see a notice until" >&2
    echo "they are: run 'make up' again, or 'masterclass class release'." >&2
    exit 1
fi
