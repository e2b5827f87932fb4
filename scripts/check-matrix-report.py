"""Check that a matrix report shows what the default matrix must show (used by .ci/run).

The default matrix reproduces the case: Pillow's decode differs between the IJG libjpeg 9d cloud
image and the libjpeg-turbo Jetson image; MXNet's decode in the cloud matches the Jetson's
Pillow; isolated preprocessing agrees; a Jetson image with the wheel build decodes like the cloud.
And the edge runs the case's runtime: the arm64 Jetson images infer with DLR on a libdlr.so they
compiled from the vendored DLR 1.6.0 source, and on identical inputs (canonical inputs and
probes) cloud MXNet and edge DLR agree within the tolerances (1e-5). Every environment ran the
real model (models/efficientnet-lite0: MXNet in the cloud, its aarch64 DLR artifact on the
Jetson), and the decoder difference changes its top-1 class on some images, each named with
both class names.

    python scripts/check-matrix-report.py [matrix-out/report.json]   (bundles: beside it)
"""

import json
import os
import sys

REAL_MODEL = "efficientnet-lite0"  # matrix.toml's model (models/efficientnet-lite0)
# sha256 of third_party/neo-ai-dlr/neo-ai-dlr-1.6.0-src.tar.xz (its README says where from).
DLR_SOURCE_SHA256 = "d4c57c4aaec7d3ee610f076cbb8718b97983a6f3c668dc252b540c3af22b45b5"


def pair(report, other):
    for item in report["pairs"]:
        if item["other"] == other:
            return item
    sys.exit("report has no pair with {!r}".format(other))


def main(path):
    with open(path) as handle:
        report = json.load(handle)
    problems = []
    jetson = pair(report, "jetson-dlr")
    if jetson["first_divergent_stage"] != "decode":
        problems.append("cloud-mxnet vs jetson-dlr: first divergent stage is {!r}, not decode"
                        .format(jetson["first_divergent_stage"]))
    causes = " ".join(jetson["causes"])
    for needle in ("IJG libjpeg 9d", "libjpeg-turbo", ".so"):
        if needle not in causes:
            problems.append("cause does not name {!r}: {}".format(needle, causes))
    if not any(a["impl"] == "mxnet" and a["environment"] == "cloud-mxnet"
               for a in jetson["alternatives"]):
        problems.append("MXNet decode in the cloud is not reported to match jetson's Pillow")
    preprocess = jetson["isolation"]["preprocess"]
    if not preprocess["inputs"] or preprocess["agree"] != preprocess["inputs"]:
        problems.append("isolated preprocessing does not agree: {}/{}".format(
            preprocess["agree"], preprocess["inputs"]))
    wheel = pair(report, "jetson-dlr-wheel")
    decode = [s for s in wheel["stages"] if s["stage"] == "decode"]
    if not decode or decode[0]["divergent"]:
        problems.append("jetson-dlr-wheel (IJG wheel on arm64) does not decode like cloud-mxnet")
    bundles = os.path.join(os.path.dirname(os.path.abspath(path)), "bundles")
    for name in ("jetson-dlr", "jetson-dlr-wheel"):
        problems += edge_runs_dlr(report, name, bundles)
    problems += real_model_cost(jetson, bundles)
    for problem in problems:
        print("check-matrix-report: " + problem, file=sys.stderr)
    if problems:
        return 1
    print("check-matrix-report: the matrix reproduces the case ({})".format(path))
    return 0


def edge_runs_dlr(report, name, bundles):
    """The arm64 image infers with DLR on its own libdlr.so, and agrees with cloud MXNet on
    identical inputs."""
    problems = []
    edge = pair(report, name)
    infer = [s for s in edge["stages"] if s["stage"] == "infer"]
    impls = (infer[0]["reference_impl"], infer[0]["other_impl"]) if infer else None
    if impls != ("mxnet", "dlr"):
        problems.append("cloud-mxnet vs {}: infer compares {}, not mxnet vs dlr".format(
            name, impls))
    isolated = edge["isolation"].get("infer") or {}
    if not isolated.get("inputs") or isolated["agree"] != isolated["inputs"]:
        problems.append("cloud-mxnet vs {}: MXNet and DLR do not agree on every canonical "
                        "input and probe: {}/{}".format(
                            name, isolated.get("agree"), isolated.get("inputs")))
    with open(os.path.join(bundles, name, "manifest.json")) as handle:
        manifest = json.load(handle)
    dlr = manifest["provenance"]["implementations"].get("infer/dlr") or {}
    build = (dlr.get("details") or {}).get("library_build") or {}
    if dlr.get("status") != "available":
        problems.append("{}: infer/dlr is {!r}: {}".format(
            name, dlr.get("status"), dlr.get("reason", "")))
    elif build.get("source_sha256") != DLR_SOURCE_SHA256 or "aarch64" not in build.get(
            "how", ""):
        problems.append("{}: the libdlr.so that ran is not the aarch64 build of the vendored "
                        "source: {}".format(name, build))
    ran = [r for r in manifest["records"]
           if r["stage"] == "infer" and r["impl"] == "dlr" and r["status"] == "ok"]
    if not ran:
        problems.append("{}: no infer/dlr output was captured".format(name))
    return problems


def real_model_cost(jetson, bundles):
    """The real model ran on both sides and the decoder difference changed some top-1 classes,
    named with the model's labels."""
    problems = []
    for name in ("cloud-mxnet", "jetson-dlr"):
        with open(os.path.join(bundles, name, "manifest.json")) as handle:
            model = json.load(handle).get("model") or {}
        if model.get("name") != REAL_MODEL or len(model.get("labels") or ()) != 1000:
            problems.append("{} did not run {} with its 1000 labels: {}".format(
                name, REAL_MODEL, {k: v for k, v in model.items() if k != "labels"}))
    impact = jetson.get("inference_impact") or {}
    changes = impact.get("top1_changes") or []
    if not changes:
        problems.append("cloud-mxnet vs jetson-dlr: no top-1 change on {} images".format(
            impact.get("images")))
    for change in changes:
        if change["reference_label"].startswith("class ") or change["margin"] is None:
            problems.append("top-1 change not named with labels and margin: {}".format(change))
    return problems


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "matrix-out/report.json"))
