"""Every default a user can override, in one place (the command line, matrix.toml and the
reports read them from here). Imports nothing; runs on CPython 3.6.
"""

# Tolerances for float stages (preprocess, infer). Decoded pixels are compared exactly.
ATOL = 1e-5
RTOL = 1e-5

# The matrix: which file, which images, where the bundles and reports go.
MATRIX_CONFIG = "matrix.toml"
IMAGES_DIR = "sample-images"  # shipped with the repository; its canonical/ holds isolation inputs
CANONICAL_SUBDIR = "canonical"
MATRIX_OUT = "matrix-out"
