#!/bin/sh
# Screenshots of the HTML report at 1400 and 760 px wide: docs/report-1400.png, docs/report-760.png.
#
#   scripts/screenshot-report.sh [OUT_DIR]        OUT_DIR default: docs
#
# Captures two small bundles of the case for real, in the tox environments of this machine:
# photo-444.jpg (4:4:4, where Pillow 8.4.0 on IJG libjpeg 9d and Pillow on libjpeg-turbo differ
# by one level at 10 pixels) and photo-grayscale.jpg (identical everywhere), decoded by
# `cloud-mxnet` and by `reference`; compares them into an HTML report and photographs it with
# headless Chromium, so the headline and the side-by-side view with each differing pixel ringed
# are on screen.
#
# Needs: .tox/cloud-mxnet and .tox/reference (make test creates them; EDGEPARITY_TOX_WORK_DIR
# points elsewhere), and chromium (Debian: apt-get install chromium). No network: the page is
# self-contained and Chromium's background networking is off.
set -eu

here="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$here/docs}"
tox="${EDGEPARITY_TOX_WORK_DIR:-$here/.tox}"
chromium="${CHROMIUM:-chromium}"
for env in cloud-mxnet reference; do
    if [ ! -x "$tox/$env/bin/python" ]; then
        echo "screenshot-report: no tox env $tox/$env (run make test, or set EDGEPARITY_TOX_WORK_DIR)" >&2
        exit 2
    fi
done
if ! command -v "$chromium" >/dev/null; then
    echo "screenshot-report: no $chromium (Debian: apt-get install -y chromium; or set CHROMIUM)" >&2
    exit 2
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/images" "$out"
cp "$here/sample-images/photo-444.jpg" "$here/sample-images/photo-grayscale.jpg" "$work/images/"
# The canonical inputs are the ones shipped inside edgeparity (capture's default).

pipeline=decode=pillow,preprocess=pillow,infer=onnxruntime
for env in cloud-mxnet reference; do
    PYTHONPATH="$here/src" "$tox/$env/bin/python" -m edgeparity capture --quiet \
        --images "$work/images" --out "$work/bundles/$env" --name "$env" \
        --pipeline "$pipeline" --pipeline-only
done
# Exit 1 is the finding (a divergence): only 2 is an error.
PYTHONPATH="$here/src" "$tox/reference/bin/python" -m edgeparity compare --quiet \
    "$work/bundles/cloud-mxnet" "$work/bundles/reference" --html "$work/report.html" \
    >/dev/null || [ $? -eq 1 ]

for size in 1400:2300 760:2550; do
    width="${size%:*}" height="${size#*:}"
    # --virtual-time-budget lets the page's script size the rings before the picture.
    "$chromium" --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run --hide-scrollbars \
        --user-data-dir="$work/profile-$width" --virtual-time-budget=3000 \
        --window-size="$width,$height" --screenshot="$out/report-$width.png" \
        "file://$work/report.html" 2>/dev/null
    echo "wrote $out/report-$width.png"
done
