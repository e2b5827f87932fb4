"""Every default a user can override, in one place (the command line, matrix.toml and the
reports read them from here). Imports nothing; runs on CPython 3.6.
"""

# Tolerances for float stages (preprocess, infer). Decoded pixels are compared exactly.
ATOL = 1e-5
RTOL = 1e-5

# The matrix: which file, which images, where the bundles and reports go.
MATRIX_CONFIG = "matrix.toml"
IMAGES_DIR = "sample-images"  # shipped with the repository
# Isolation inputs: --canonical DIR, else IMAGES/canonical/ when it holds any, else the set
# shipped inside the package (edgeparity/canonical/). find_images never walks this folder name.
CANONICAL_SUBDIR = "canonical"
MATRIX_OUT = "matrix-out"

# Input limits, sized for a 4 GB Jetson Nano: a 64 Mpx image is 192 MB decoded, and capture
# holds a few copies of it at once. Larger images are recorded as errors before decoding.
MAX_MEGAPIXELS = 64
MAX_FILE_MB = 256  # an image file larger than this is not read
MAX_CANONICAL_MB = 256  # a canonical input array larger than this is not loaded

# Reports stay bounded at any corpus size: the HTML report draws the difference heatmaps of
# this many worst divergent images per environment pair (the JSON report keeps every image).
HEATMAPS = 50

# How capture stores arrays: "none" (plain .npy) or "gzip" (level 1: 30-60 % smaller, but
# measured at 3.6x the cost of the decode it records). See `capture --compress`.
COMPRESSION = "none"
