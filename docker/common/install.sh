#!/bin/sh
# shellcheck disable=SC2086  # $pip, $offline, $pillow, $packages: flags/words split on purpose
# The build steps every matrix image shares (docker/*/Dockerfile), one subcommand per layer so
# heavy installs stay cached while the (cheap, last) edgeparity layer rebuilds on code edits.
#
#   install.sh system-packages                  apt: $APT_PACKAGES, versions from the suite's pins
#   install.sh python-packages LOCK WHEELHOUSE  pip: every locked file, hashes checked, no index
#   install.sh user                             the non-root user (uid 1000) and its folders
#   install.sh edgeparity [--compile-demo-model]  edgeparity from /src (the checkout's copy)
#
# Build args it reads (Docker passes ARGs to RUN as environment variables):
#   APT_PACKAGES  apt packages, space-separated. A bare name takes its version from
#                 <suite>-apt.pins next to this script (suite: the base image's VERSION_CODENAME,
#                 e.g. bullseye-apt.pins); `name=version` is installed as written; `a|b` is
#                 whichever of a and b the suite pins (a package named differently in Ubuntu
#                 and Debian).
#   PILLOW_BUILD  source | wheel (default): Pillow compiled here against the system libjpeg,
#                 or its manylinux wheel (bundled libjpeg). Only jetson-dlr sets it.
set -eu

here="$(cd "$(dirname "$0")" && pwd)"
pillow_build="${PILLOW_BUILD:-wheel}"

die() {
    echo "install.sh: $*" >&2
    exit 1
}

case "$pillow_build" in
    source | wheel) ;;
    *) die "PILLOW_BUILD must be 'source' or 'wheel', not '$pillow_build'" ;;
esac

# Every word of APT_PACKAGES as name=version, one per line.
pinned_packages() {
    # shellcheck source=/dev/null
    suite="$(. /etc/os-release && echo "${VERSION_CODENAME:-unknown}")"
    pins="$here/$suite-apt.pins"
    for word in $APT_PACKAGES; do
        case "$word" in
            *=*) echo "$word"; continue ;;
        esac
        [ -f "$pins" ] || die "'$word' has no version and there is no $(basename "$pins") for" \
            "this base image ($suite): write it as name=version in APT_PACKAGES"
        found=""
        for name in $(echo "$word" | tr '|' ' '); do
            version="$(awk -F= -v name="$name" '$1 == name { print substr($0, length(name) + 2) }' "$pins")"
            if [ -n "$version" ]; then found="$name=$version"; break; fi
        done
        [ -n "$found" ] || die "$(basename "$pins") pins no version of '$word'"
        echo "$found"
    done
}

system_packages() {
    packages="$(pinned_packages)"
    echo "install.sh: apt packages: $(echo "$packages" | tr '\n' ' ')" >&2
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $packages
    rm -rf /var/lib/apt/lists/*
}

# Only the locked files of the host's wheelhouse (make wheelhouse), hashes checked; no index is
# contacted. pip itself runs from its locked wheel (the base images have no pip).
python_packages() {
    lock="$1"
    wheelhouse="$2"
    pip_wheel="$wheelhouse/pip-$(sed -n 's/^pip==\([^ ]*\) .*/\1/p' "$lock")-py3-none-any.whl"
    [ -f "$pip_wheel" ] || die "wheelhouse lacks $pip_wheel: run 'make wheelhouse' on the host"
    pip="python3 $pip_wheel/pip --disable-pip-version-check --no-cache-dir"
    offline="--no-index --find-links $wheelhouse --require-hashes"
    # Pillow's sdist is built without isolation (no index to fetch build deps from): install the
    # locked setuptools and wheel first, when the lock has them.
    build_lock=/tmp/build-requirements.lock
    awk '/^[^ #]/ { keep = ($1 ~ /^(setuptools|wheel)==/) } keep' "$lock" >"$build_lock"
    if [ -s "$build_lock" ]; then
        $pip install $offline -r "$build_lock"
    fi
    if [ "$pillow_build" = source ]; then
        pillow="--no-binary pillow"
    else
        pillow="--only-binary :all:"
    fi
    $pip install $offline --no-build-isolation $pillow -r "$lock"
    python3 -c "from PIL import features; assert features.check('jpg'), 'Pillow built without JPEG'"
    # flit_core stays reachable for tox, which may build edgeparity in its env (no network there).
    mkdir -p /opt/wheelhouse
    cp "$wheelhouse"/flit_core-* /opt/wheelhouse/
    rm -rf "$wheelhouse" "$lock" "$build_lock"
    quiet_dlr
}

# DLR phones home (a POST to AWS) at import; this file is the only off-switch that works before
# import, and the package directory is read-only to the non-root user at run time.
# find_spec locates the package without importing (importing would phone home).
quiet_dlr() {
    dlr_dir="$(python3 -c 'import importlib.util as u; s = u.find_spec("dlr"); print(s.submodule_search_locations[0] if s else "")')"
    [ -n "$dlr_dir" ] || return 0  # this image has no DLR
    if [ -d "$dlr_dir/counter" ]; then
        echo '{"enable_phone_home": false}' >"$dlr_dir/counter/ccm_config.json"
    fi
    # dlr 1.6.0's wheel installs libdlr.so under <prefix>/dlr, which an interpreter with another
    # prefix (tox's virtualenv) does not search; dlr also looks next to its package: move it there.
    for lib in /usr/local/dlr/libdlr.so /usr/dlr/libdlr.so; do
        if [ -f "$lib" ]; then mv "$lib" "$dlr_dir/"; fi
    done
}

# Runs as a non-root user; /out is where a bundle is written when no directory is mounted.
add_user() {
    useradd --create-home --uid 1000 edgeparity
    mkdir -p /inputs /out /src
    chown edgeparity /out /src
}

install_edgeparity() {
    python3 -m pip install --no-cache-dir --no-deps --no-build-isolation /src
    edgeparity --help >/dev/null
    if [ "${1:-}" = --compile-demo-model ]; then
        # The demo model's DLR kernels, compiled once now into the cache the runs read.
        python3 -m edgeparity.models
        chown -R 1000 "${EDGEPARITY_CACHE_DIR:?the image sets EDGEPARITY_CACHE_DIR}"
    fi
}

step="${1:-}"
[ $# -gt 0 ] && shift
case "$step" in
    system-packages) system_packages ;;
    python-packages) [ $# -eq 2 ] || die "usage: install.sh python-packages LOCK WHEELHOUSE"
                     python_packages "$1" "$2" ;;
    user) add_user ;;
    edgeparity) install_edgeparity "$@" ;;
    *) die "unknown step '$step' (system-packages | python-packages | user | edgeparity)" ;;
esac
