#!/bin/sh
# Run one environment's in-image suite and export its bundle, whatever the suite's outcome.
#
#   .github/scripts/run-in-image.sh NAME IMAGE OUT
#
# Runs IMAGE's default command (tox env `image`: the in-image tests, then `edgeparity capture`)
# with the images folder mounted read-only, no network, never as root: as the caller's user, so
# the bundle belongs to the caller (a self-hosted runner can clean its workspace), or, when the
# caller is root, as the image's own user with the files handed back to root afterwards.
# Writes:
#   OUT/bundles/NAME          the bundle; if the tests failed before the capture ran, the capture
#                             is run on its own so the bundle still exists to compare and inspect
#   OUT/logs/NAME.log         everything the container printed
#   OUT/logs/NAME.exitcode    the suite's exit code
# Exits 0 once those are written (fail late: the workflow's last step reads the exit codes), and
# 2 only when it cannot start at all.
#
# NAME's platform, pipeline and expected libjpeg come from matrix.toml [docker.NAME] (read with
# python3 >= 3.11, or tomli); set PLATFORM, PIPELINE and EXPECT_LIBJPEG to run an image that has
# no entry there (the real Jetson). Also: IMAGES (default sample-images), DOCKER_RUN_ARGS (extra
# `docker run` options, e.g. "--runtime nvidia").
set -eu

if [ $# -ne 3 ]; then
    echo "usage: $0 NAME IMAGE OUT" >&2
    exit 2
fi
name="$1"
image="$2"
out="$(mkdir -p "$3" && cd "$3" && pwd)"
images="$(cd "${IMAGES:-sample-images}" && pwd)"

if [ -z "${PLATFORM:-}" ]; then
    # One line per field, so values with spaces survive.
    entry="$(python3 - "$name" <<'PY'
import sys
try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib
with open("matrix.toml", "rb") as handle:
    entries = tomllib.load(handle).get("docker", {})
name = sys.argv[1]
if name not in entries:
    sys.exit("matrix.toml has no [docker.{}] entry (known: {})".format(name, ", ".join(entries)))
entry = entries[name]
print(entry["platform"])
print(",".join("{}={}".format(k, v) for k, v in entry.get("pipeline", {}).items()))
print(entry.get("expect_libjpeg", ""))
PY
)" || exit 2
    PLATFORM="$(printf '%s\n' "$entry" | sed -n 1p)"
    PIPELINE="$(printf '%s\n' "$entry" | sed -n 2p)"
    EXPECT_LIBJPEG="$(printf '%s\n' "$entry" | sed -n 3p)"
fi

mkdir -p "$out/bundles" "$out/logs"
rm -rf "${out:?}/bundles/$name"
log="$out/logs/$name.log"
if [ "$(id -u)" = 0 ]; then
    user=1000:1000  # the unprivileged user every edgeparity image creates
    chmod 0777 "$out/bundles"
else
    user="$(id -u):$(id -g)"
fi

# DOCKER_RUN_ARGS is split into words on purpose ("--runtime nvidia").
run_image() {
    # shellcheck disable=SC2086
    docker run --rm --platform "$PLATFORM" --network none --user "$user" ${DOCKER_RUN_ARGS:-} \
        --env EDGEPARITY_NAME="$name" \
        --env EDGEPARITY_PIPELINE="${PIPELINE:-decode=pillow,preprocess=pillow}" \
        --env EDGEPARITY_EXPECT_LIBJPEG="${EXPECT_LIBJPEG:-}" \
        --env HOME=/tmp \
        --volume "$images:/inputs:ro" \
        --volume "$out/bundles:/out" \
        "$image" "$@"
}

echo "$name: running the suite in $image ($PLATFORM)" >&2
started=$(date +%s)
status=0
run_image >"$log" 2>&1 || status=$?
echo "$status" >"$out/logs/$name.exitcode"
echo "$name: suite exited $status after $(($(date +%s) - started)) s (log: $log)" >&2

if [ ! -f "$out/bundles/$name/manifest.json" ]; then
    echo "$name: no bundle yet (the tests failed before the capture); capturing on its own" >&2
    capture=0
    run_image python3 -m edgeparity capture --images /inputs --out "/out/$name" \
        --name "$name" --pipeline "${PIPELINE:-decode=pillow,preprocess=pillow}" \
        >>"$log" 2>&1 || capture=$?
    echo "$capture" >"$out/logs/$name.capture-exitcode"
    if [ "$capture" != 0 ]; then
        echo "$name: the capture failed too (exit $capture); see $log" >&2
    fi
fi
if [ "$(id -u)" = 0 ] && [ -e "$out/bundles/$name" ]; then
    chown -R 0:0 "$out/bundles/$name"
fi
if [ -f "$out/bundles/$name/manifest.json" ]; then
    echo "$name: bundle -> $out/bundles/$name" >&2
fi
