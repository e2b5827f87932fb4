#!/usr/bin/env bash
# Make `docker buildx` available to the commands that need only its client side (`bake
# --print` in `make lint`), without touching the system: Debian bookworm does not package
# buildx, so fetch Debian trixie's docker-buildx .deb with a private apt configuration and put
# its binary into a private DOCKER_CONFIG. Prints that DOCKER_CONFIG directory on success.
#
#   scripts/ensure-buildx.sh [DIR]   (default: .cache/docker-config)
set -euo pipefail
config_dir="$(realpath -m "${1:-.cache/docker-config}")"
plugin="$config_dir/cli-plugins/docker-buildx"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

if DOCKER_CONFIG="$config_dir" docker buildx version >/dev/null 2>&1; then
  echo "$config_dir"; exit 0
fi
if docker buildx version >/dev/null 2>&1; then
  # The user's own buildx works: use their configuration.
  echo "${DOCKER_CONFIG:-$HOME/.docker}"; exit 0
fi
command -v apt-get >/dev/null || { echo "ensure-buildx: no apt-get; install docker-buildx" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
echo "deb $mirror trixie main" >"$work/sources.list"
apt_private=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=-"
  -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o "APT::Get::List-Cleanup=0")
apt-get "${apt_private[@]}" update -qq >&2
(cd "$work" && apt-get "${apt_private[@]}" download -qq docker-buildx >&2)
dpkg-deb -x "$work"/docker-buildx_*.deb "$work/root"
mkdir -p "$(dirname "$plugin")"
install -m 0755 "$work/root/usr/libexec/docker/cli-plugins/docker-buildx" "$plugin"
DOCKER_CONFIG="$config_dir" docker buildx version >&2
echo "$config_dir"
