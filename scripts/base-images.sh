#!/bin/sh
# Bootstrap the Debian base images the Dockerfiles build FROM (make base-images).
#
#   scripts/base-images.sh [--force] [ARCH...]     ARCH default: amd64 arm64
#
# No container registry is needed: each image is cut with debootstrap from DEBIAN_MIRROR
# (default http://deb.debian.org/debian; see docker/base/bootstrap.sh). An image that already
# exists is kept unless --force. What each image was cut from is recorded, one line per image,
# in docker/base/base-images.lock (tag, image ID, mirror, suite, Release date, Release sha256).
set -eu

here="$(cd "$(dirname "$0")/.." && pwd)"
suite="${DEBIAN_SUITE:-bullseye}"
record="$here/docker/base/base-images.lock"
force=0
if [ "${1:-}" = "--force" ]; then force=1; shift; fi
[ $# -gt 0 ] || set -- amd64 arm64

"$here/scripts/ensure-docker.sh"

for arch in "$@"; do
    tag="edgeparity/base:$suite-$arch"
    if [ "$force" = 0 ] && docker image inspect "$tag" >/dev/null 2>&1; then
        echo "base-images: $tag present ($(docker image inspect --format '{{.Id}}' "$tag")), kept" >&2
        continue
    fi
    start=$(date +%s)
    line="$("$here/docker/base/bootstrap.sh" "$arch" "$suite")"
    echo "base-images: $tag built in $(($(date +%s) - start)) s" >&2
    # Keep one line per tag: replace an older record of the same tag.
    touch "$record"
    grep -v -e "^$tag " -e "^#" "$record" >"$record.tmp" || true
    echo "$line" >>"$record.tmp"
    {
        echo "# Written by scripts/base-images.sh: tag, image ID, mirror, suite, Release date, Release sha256."
        echo "# The Release file pins the Debian archive state; the image ID differs per bootstrap"
        echo "# (file times in the rootfs) and identifies the image the matrix images were built on."
        sort "$record.tmp"
    } >"$record"
    rm -f "$record.tmp"
done
