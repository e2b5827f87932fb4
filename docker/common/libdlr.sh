#!/bin/sh
# shellcheck disable=SC2086  # $cross_flags, $packages: words split on purpose
# libdlr.sh: the DLR runtime library (libdlr.so) for the edge images, from upstream source.
#
# No PyPI release of DLR ships an aarch64 libdlr.so, so the Jetson images compile DLR 1.6.0
# from the source tarball vendored in third_party/neo-ai-dlr/ (pinned by sha256; provenance and
# licences in its README.md). docker/jetson-dlr/Dockerfile runs it in its `libdlr` stage:
#
#   libdlr.sh packages                 apt: the compilers the build below needs (pinned)
#   libdlr.sh build TARBALL OUT        compile libdlr.so for $LIBDLR_TARGET into OUT/, with
#                                      OUT/libdlr.build.json saying how
#   libdlr.sh provided DIR OUT         take DIR/libdlr.so (the user's: their Neo artifact's or
#                                      JetPack's) instead, recorded as provided
#   libdlr.sh install OUT              put OUT/libdlr.so next to DLR's Python package, where
#                                      `dlr` finds it (run in the final image, after pip)
#
# Build args it reads (Docker passes ARGs to RUN as environment variables):
#   LIBDLR_TARGET   the CPU libdlr.so is for (default aarch64). When the build runs on another
#                   CPU (an x86_64 builder image: the fast way, no emulation) it cross-compiles
#                   with the suite's aarch64-linux-gnu-g++; on the target itself (a Jetson) it
#                   compiles natively.
#
# Build against the oldest glibc the image targets: bullseye's cross compiler gives a library
# that needs only GLIBC_2.17 (loads on bullseye and on L4T r32's glibc 2.27); bookworm's needs
# GLIBC_2.32.
set -eu

here="$(cd "$(dirname "$0")" && pwd)"
target="${LIBDLR_TARGET:-aarch64}"
# sha256 of neo-ai-dlr-1.6.0-src.tar.xz (third_party/neo-ai-dlr/README.md says where it is from).
source_sha256=d4c57c4aaec7d3ee610f076cbb8718b97983a6f3c668dc252b540c3af22b45b5

die() {
    echo "libdlr.sh: $*" >&2
    exit 1
}

cross() {
    [ "$(uname -m)" != "$target" ]
}

# apt packages, versions from the suite's pins through install.sh.
packages() {
    if cross; then
        APT_PACKAGES="g++-$target-linux-gnu cmake make xz-utils"
    else
        APT_PACKAGES="g++ cmake make xz-utils"
    fi
    export APT_PACKAGES
    "$here/install.sh" system-packages
}

build() {
    tarball="$1"
    out="$2"
    [ -f "$tarball" ] || die "no DLR source at $tarball (third_party/neo-ai-dlr/ in the checkout)"
    echo "$source_sha256  $tarball" | sha256sum -c - >/dev/null \
        || die "$tarball is not the pinned DLR 1.6.0 source (sha256 differs)"
    work=/tmp/libdlr-build
    rm -rf "$work"
    mkdir -p "$work/build" "$out"
    tar -xJf "$tarball" -C "$work"
    # DLR's CMakeLists.txt always configures its C++ tests, which download models from S3 at
    # configure time (fails offline, and nothing here runs them): drop that block, which is
    # everything from its "# Tests" line on. The tarball itself stays untouched.
    lists="$work/neo-ai-dlr/CMakeLists.txt"
    sed -i '/^# Tests$/,$d' "$lists"
    if grep -q 'download_file\|fetch_googletest' "$lists"; then
        die "DLR's CMakeLists.txt still downloads at configure time: the test block moved"
    fi
    if cross; then
        compiler="$target-linux-gnu-g++"
        cross_flags="-DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=$target
            -DCMAKE_C_COMPILER=$target-linux-gnu-gcc -DCMAKE_CXX_COMPILER=$compiler"
        how="cross-compiled on $(uname -m) for $target"
    else
        compiler="g++"
        cross_flags=""
        how="compiled natively on $target"
    fi
    started="$(date +%s)"
    (cd "$work/build" \
        && cmake ../neo-ai-dlr -DCMAKE_BUILD_TYPE=Release $cross_flags >cmake.log \
        && make -j"$(nproc)" dlr >make.log) || {
        tail -n 40 "$work/build/cmake.log" "$work/build/make.log" 2>/dev/null >&2
        die "building libdlr.so failed (log above)"
    }
    seconds=$(($(date +%s) - started))
    cp "$work/build/lib/libdlr.so" "$out/libdlr.so"
    # The newest glibc symbol version it needs: what decides which systems load it.
    glibc="$(grep -ao 'GLIBC_[0-9][0-9.]*' "$out/libdlr.so" | sed 's/^GLIBC_//' | sort -t. -k1,1n -k2,2n | tail -n 1)"
    cat >"$out/libdlr.build.json" <<EOF
{"built_by": "edgeparity docker/common/libdlr.sh",
 "how": "$how",
 "source": "neo-ai-dlr 1.6.0 (third_party/neo-ai-dlr/neo-ai-dlr-1.6.0-src.tar.xz)",
 "source_sha256": "$source_sha256",
 "compiler": "$($compiler --version | head -n 1)",
 "cmake_flags": "-DCMAKE_BUILD_TYPE=Release $(echo $cross_flags)",
 "needs_glibc": "$glibc",
 "build_seconds": $seconds}
EOF
    rm -rf "$work"
    echo "libdlr.sh: libdlr.so $how in ${seconds}s (needs GLIBC_$glibc)" >&2
}

provided() {
    dir="$1"
    out="$2"
    [ -f "$dir/libdlr.so" ] || die "LIBDLR=provided but $dir/libdlr.so is missing: copy the" \
        "libdlr.so of your Neo artifact or JetPack into docker/jetson-dlr/provided/, or build" \
        "with LIBDLR=source"
    mkdir -p "$out"
    cp "$dir/libdlr.so" "$out/libdlr.so"
    cat >"$out/libdlr.build.json" <<EOF
{"built_by": "the user (LIBDLR=provided: docker/jetson-dlr/provided/libdlr.so)",
 "how": "provided"}
EOF
}

install_library() {
    out="$1"
    dlr_dir="$(python3 -c 'import importlib.util as u; s = u.find_spec("dlr"); print(s.submodule_search_locations[0] if s else "")')"
    [ -n "$dlr_dir" ] || die "the dlr Python package is not installed in this image"
    cp "$out/libdlr.so" "$out/libdlr.build.json" "$dlr_dir/"
    chmod 0644 "$dlr_dir/libdlr.so" "$dlr_dir/libdlr.build.json"
}

step="${1:-}"
[ $# -gt 0 ] && shift
case "$step" in
    packages) packages ;;
    build) [ $# -eq 2 ] || die "usage: libdlr.sh build TARBALL OUT"; build "$1" "$2" ;;
    provided) [ $# -eq 2 ] || die "usage: libdlr.sh provided DIR OUT"; provided "$1" "$2" ;;
    install) [ $# -eq 1 ] || die "usage: libdlr.sh install OUT"; install_library "$1" ;;
    *) die "unknown step '$step' (packages | build | provided | install)" ;;
esac
