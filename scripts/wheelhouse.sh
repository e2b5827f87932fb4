#!/bin/sh
# Download every image's locked wheels (and sdists) on the host: make wheelhouse.
#
#   scripts/wheelhouse.sh [IMAGE...]        IMAGE default: every folder of docker/ with a lock
#
# Files land in wheelhouse/<image>/ (the Dockerfiles COPY them; containers need no network).
# pip verifies each file against the sha256 hashes in docker/<image>/requirements*.lock, and
# files already present are kept. Copy wheelhouse/ to an air-gapped machine to build there.
#
# Environment: PYTHON (a python3 with pip, default python3), PIP_INDEX_URL.
set -eu

here="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
if ! "$python" -m pip --version >/dev/null 2>&1; then
    echo "wheelhouse: '$python -m pip' does not work; set PYTHON to a python3 with pip" >&2
    exit 2
fi
if [ $# -eq 0 ]; then
    for dir in "$here"/docker/*/; do
        ls "$dir"requirements*.lock >/dev/null 2>&1 && set -- "$@" "$(basename "$dir")"
    done
fi
for image in "$@"; do
    found=0
    for lock in "$here/docker/$image"/requirements*.lock; do
        [ -f "$lock" ] || continue
        found=1
        echo "wheelhouse: $image <- ${lock#"$here"/}" >&2
        "$python" "$here/scripts/lock.py" download "$lock" "$here/wheelhouse/$image"
    done
    if [ "$found" = 0 ]; then
        echo "wheelhouse: no docker/$image/requirements*.lock; known images: $(ls "$here/docker")" >&2
        exit 2
    fi
done
