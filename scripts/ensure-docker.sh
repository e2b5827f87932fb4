#!/bin/sh
# Make sure a Docker engine is reachable and arm64 binaries run under emulation.
#
# Idempotent: every step checks first and does nothing when already done, so `.ci/run` and
# `make matrix` can call it on every run. Needs root (or sudo) only for the steps it must do.
#
#   scripts/ensure-docker.sh            # engine + arm64 binfmt
#   scripts/ensure-docker.sh --qemu     # only arm64 binfmt (make qemu)
#
# Environment:
#   EDGEPARITY_DOCKERD_LOG   where a dockerd started here logs (default /tmp/edgeparity-dockerd.log)
set -eu

say() { echo "ensure-docker: $*" >&2; }

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
        say "need root for: $*  (run this script as root or install sudo)"
        return 1
    fi
}

ensure_bootstrap_tools() {
    # Base images are cut with debootstrap (no registry reachable); bootstrap.sh needs curl too.
    missing=""
    for tool in debootstrap curl; do
        command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
    done
    if [ -n "$missing" ]; then
        say "installing$missing (apt), to bootstrap base images"
        as_root apt-get update -qq
        # shellcheck disable=SC2086  # word splitting of the package list is intended
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq $missing >/dev/null
    fi
}

ensure_engine() {
    if ! command -v docker >/dev/null 2>&1 || ! command -v dockerd >/dev/null 2>&1; then
        say "installing docker.io (apt)"
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq docker.io >/dev/null
    fi
    if docker info >/dev/null 2>&1; then
        say "docker engine reachable"
        return 0
    fi
    if docker info 2>&1 | grep -qi "permission denied"; then
        say "dockerd runs but $(id -un) may not use it: add the user to the 'docker' group"
        return 1
    fi
    if [ -n "${DOCKER_HOST:-}" ]; then
        # A remote engine was asked for: starting a local daemon would not help.
        say "DOCKER_HOST=$DOCKER_HOST is not reachable; start that engine or unset DOCKER_HOST"
        return 1
    fi
    log="${EDGEPARITY_DOCKERD_LOG:-/tmp/edgeparity-dockerd.log}"
    say "starting dockerd (log: $log)"
    # No systemd in containers/CI runners of this kind: start the daemon directly.
    as_root sh -c "nohup dockerd >'$log' 2>&1 &"
    i=0
    while ! docker info >/dev/null 2>&1; do
        i=$((i + 1))
        if [ "$i" -gt 60 ]; then
            say "dockerd did not come up within 60 s; last lines of $log:"
            tail -n 20 "$log" >&2 || true
            return 1
        fi
        sleep 1
    done
    say "docker engine started"
}

ensure_qemu() {
    if [ "$(uname -m)" = aarch64 ]; then
        say "native arm64 host: no emulation needed"
        return 0
    fi
    binfmt=/proc/sys/fs/binfmt_misc
    if [ ! -e "$binfmt/register" ]; then
        say "mounting binfmt_misc"
        as_root mount -t binfmt_misc binfmt_misc "$binfmt"
    fi
    if [ -e "$binfmt/qemu-aarch64" ] && grep -q '^enabled' "$binfmt/qemu-aarch64"; then
        say "arm64 emulation registered"
        return 0
    fi
    conf=/usr/lib/binfmt.d/qemu-aarch64.conf
    if [ ! -f "$conf" ]; then
        say "installing qemu-user-static (apt) for arm64 emulation"
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq qemu-user-static binfmt-support >/dev/null
    fi
    if [ -e "$binfmt/qemu-aarch64" ]; then
        # Registered but disabled: enable it rather than registering twice (which fails).
        as_root sh -c "echo 1 > $binfmt/qemu-aarch64"
    else
        # The F flag in the Debian entry makes the kernel open the interpreter now, so it also
        # works inside containers whose root filesystem has no qemu binary.
        as_root sh -c "cat $conf > $binfmt/register"
    fi
    say "arm64 emulation registered from $conf"
}

case "${1:-}" in
    --qemu) ensure_qemu ;;
    "") ensure_engine; ensure_qemu; ensure_bootstrap_tools ;;
    *) say "usage: $0 [--qemu]"; exit 2 ;;
esac
