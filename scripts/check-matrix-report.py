"""Check that a matrix report shows what the default matrix must show (used by .ci/run).

The default matrix reproduces the case: Pillow's decode differs between the IJG libjpeg 9d cloud
image and the libjpeg-turbo Jetson image; MXNet's decode in the cloud matches the Jetson's
Pillow; isolated preprocessing agrees; a Jetson image with the wheel build decodes like the cloud.
"""

import json
import sys


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
    for problem in problems:
        print("check-matrix-report: " + problem, file=sys.stderr)
    if problems:
        return 1
    print("check-matrix-report: the matrix reproduces the case ({})".format(path))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "matrix-out/report.json"))
