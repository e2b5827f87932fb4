#!/bin/sh
# Bootstrap a Debian base image without any container registry: debootstrap + a FROM-scratch build.
#
#   docker/base/bootstrap.sh ARCH [SUITE]      ARCH: amd64 | arm64, SUITE default bullseye
#
# Produces the image  edgeparity/base:<suite>-<arch>  and prints one line of the form
#   <tag> <image-id> <mirror> <suite> <Release Date> <Release sha256>
# that scripts/base-images.sh records in docker/base/base-images.lock. The same facts are
# stored as image labels, so `docker image inspect` on any machine tells which Debian state
# the image was cut from.
#
# Environment:
#   DEBIAN_MIRROR   Debian mirror to bootstrap from (default http://deb.debian.org/debian).
#                   Point it at snapshot.debian.org/archive/debian/<date> for a frozen state,
#                   or at a local mirror on an air-gapped network.
#   WORKDIR         scratch directory (default /tmp/edgeparity-debootstrap)
#
# Needs root (debootstrap), and for a foreign ARCH a registered binfmt (scripts/ensure-docker.sh --qemu).
set -eu

arch="${1:?usage: $0 ARCH [SUITE]  (ARCH: amd64 | arm64)}"
suite="${2:-bullseye}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
workdir="${WORKDIR:-/tmp/edgeparity-debootstrap}"
tag="edgeparity/base:${suite}-${arch}"
rootfs="$workdir/$suite-$arch"

case "$arch" in
    amd64) platform=linux/amd64 ;;
    arm64) platform=linux/arm64 ;;
    *) echo "bootstrap: unsupported ARCH '$arch' (amd64 | arm64)" >&2; exit 2 ;;
esac
for tool in debootstrap docker curl; do
    command -v "$tool" >/dev/null 2>&1 || {
        echo "bootstrap: '$tool' not found; apt-get install debootstrap docker.io curl" >&2
        exit 2
    }
done

# The suite's Release file identifies the exact archive state we bootstrap from.
release="$(curl -fsS "$mirror/dists/$suite/Release")" || {
    echo "bootstrap: cannot read $mirror/dists/$suite/Release; check DEBIAN_MIRROR" >&2
    exit 2
}
release_date="$(printf '%s\n' "$release" | sed -n 's/^Date: //p')"
release_sha256="$(printf '%s\n' "$release" | sha256sum | cut -d' ' -f1)"

rm -rf "$rootfs"
mkdir -p "$rootfs"
echo "bootstrap: debootstrap $suite $arch from $mirror (Release of $release_date)" >&2
# minbase: apt + dpkg + essentials. Each Dockerfile installs what it needs, pinned by version.
debootstrap --arch="$arch" --variant=minbase "$suite" "$rootfs" "$mirror" >"$workdir/$suite-$arch.log" 2>&1 || {
    echo "bootstrap: debootstrap failed; last lines of $workdir/$suite-$arch.log:" >&2
    tail -n 20 "$workdir/$suite-$arch.log" >&2
    exit 1
}

# Only the frozen main suite: package versions pinned in the Dockerfiles stay installable.
echo "deb $mirror $suite main" >"$rootfs/etc/apt/sources.list"
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*

# Turn the rootfs into an image with a one-line `FROM scratch` build rather than `docker import`:
# import ignores --platform on a non-experimental daemon and would label the arm64 rootfs amd64,
# after which `docker run --platform linux/arm64` tries (and fails) to pull from a registry.
context="$workdir/$suite-$arch.context"
rm -rf "$context"
mkdir -p "$context"
tar --numeric-owner -C "$rootfs" -c . >"$context/rootfs.tar"
rm -rf "$rootfs"
cat >"$context/Dockerfile" <<DOCKERFILE
FROM scratch
ADD rootfs.tar /
LABEL org.edgeparity.debian.suite="$suite" \\
      org.edgeparity.debian.mirror="$mirror" \\
      org.edgeparity.debian.release-date="$release_date" \\
      org.edgeparity.debian.release-sha256="$release_sha256"
CMD ["/bin/bash"]
DOCKERFILE
if docker buildx version >/dev/null 2>&1; then
    docker buildx build --quiet --load --platform "$platform" -t "$tag" "$context" >/dev/null
else
    DOCKER_BUILDKIT=0 docker build --quiet --platform "$platform" -t "$tag" "$context" >/dev/null
fi
rm -rf "$context"

image_id="$(docker image inspect --format '{{.Id}}' "$tag")"
printf '%s %s %s %s "%s" %s\n' "$tag" "$image_id" "$mirror" "$suite" "$release_date" "$release_sha256"
