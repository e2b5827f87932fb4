# The Docker matrix as buildx bake targets: one target per [docker.*] entry of matrix.toml, same
# name, Dockerfile, platform and build args (tests/host/test_bake.py checks they stay in step).
# Bake builds images (with BuildKit caches, e.g. in CI); `edgeparity image run` runs them.
#
#   docker buildx bake --print                    # what would be built, as JSON
#   docker buildx bake --load matrix              # build every image into the local engine
#   docker buildx bake --load jetson-dlr          # one image
#   PILLOW_BUILD=wheel docker buildx bake --load jetson-dlr
#   docker buildx bake --load jetson-l4t          # ON A JETSON: real L4T r32.7.1 base, natively
#
# The build context is this checkout (".", filtered by .dockerignore), never a git URL: the
# Dockerfiles COPY wheelhouse/ (make wheelhouse), which is not in git.
#
# Tags: edgeparity's one tag scheme is edgeparity/NAME:<content hash> (src/edgeparity/matrix/
# docker/image.py), which HCL cannot compute. Bake tags edgeparity/NAME:${TAG} by default; give
# its builds edgeparity's tags with
#   docker buildx bake --load $(edgeparity image tag --bake-set | sed 's/^/--set /') matrix
# and `edgeparity image run --no-build` finds them (the GitHub workflow does this).
#
# Caches: each target reads and writes a local BuildKit cache under ${CACHE_DIR}/NAME (CI keeps
# it between runs). The "docker" driver (the engine's built-in builder) cannot export caches:
# set CACHE_DIR="" there, e.g.  CACHE_DIR= docker buildx bake --load matrix

# Base images. The defaults are the Debian bullseye images `make base-images` bootstraps into the
# local engine (no registry). A docker-container builder (CI) cannot see the engine's images:
# push them to a registry it reaches and point these there (the workflow uses localhost:5000).
variable "BASE_IMAGE_AMD64" {
  default = "edgeparity/base:bullseye-amd64"
}

variable "BASE_IMAGE_ARM64" {
  default = "edgeparity/base:bullseye-arm64"
}

# The real Jetson base (JetPack 4.6.1): Ubuntu 18.04, CPython 3.6.9, libjpeg-turbo8 1.5.2.
variable "L4T_BASE_IMAGE" {
  default = "nvcr.io/nvidia/l4t-base:r32.7.1"
}

# Which Pillow 8.4.0 jetson-dlr and jetson-l4t get: "source" (built against the system
# libjpeg-turbo, the Jetson's case) or "wheel" (manylinux aarch64 wheel, IJG libjpeg 9d).
variable "PILLOW_BUILD" {
  default = "source"
}

variable "TAG" {
  default = "latest"
}

variable "CACHE_DIR" {
  default = ".buildx-cache"
}

# Where caches are written; CI writes a fresh folder and swaps it in, so old layers do not pile up.
variable "CACHE_TO_DIR" {
  default = "${CACHE_DIR}"
}

function "cache_from" {
  params = [name]
  result = CACHE_DIR == "" ? [] : ["type=local,src=${CACHE_DIR}/${name}"]
}

function "cache_to" {
  params = [name]
  result = CACHE_DIR == "" ? [] : ["type=local,dest=${CACHE_TO_DIR}/${name},mode=max"]
}

group "default" {
  targets = ["matrix"]
}

# Every environment `make matrix` runs (matrix.toml's [docker.*] with default = true).
group "matrix" {
  targets = ["cloud-mxnet", "jetson-dlr", "jetson-dlr-wheel", "reference"]
}

target "_checkout" {
  context = "."
}

# Cloud side of the case: Pillow 8.4.0 manylinux wheel (IJG libjpeg 9d), MXNet 1.9.1, DLR 1.6.0.
target "cloud-mxnet" {
  inherits   = ["_checkout"]
  dockerfile = "docker/cloud-mxnet/Dockerfile"
  platforms  = ["linux/amd64"]
  args = {
    BASE_IMAGE = BASE_IMAGE_AMD64
  }
  tags       = ["edgeparity/cloud-mxnet:${TAG}"]
  cache-from = cache_from("cloud-mxnet")
  cache-to   = cache_to("cloud-mxnet")
}

# The Jetson's stack on the emulated Debian bullseye arm64 stand-in (CPython 3.9).
target "_jetson-bullseye" {
  inherits   = ["_checkout"]
  dockerfile = "docker/jetson-dlr/Dockerfile"
  platforms  = ["linux/arm64"]
  # apt versions come from docker/common/bullseye-apt.pins (the base image's suite).
  # libdlr.so is cross-compiled from the vendored DLR source on the amd64 base (the build
  # machine's own CPU, no emulation), against bullseye's glibc.
  args = {
    BASE_IMAGE               = BASE_IMAGE_ARM64
    LOCK                     = "requirements.lock"
    LIBDLR_BUILDER_IMAGE     = BASE_IMAGE_AMD64
    LIBDLR_BUILDER_PLATFORM  = "linux/amd64"
  }
}

target "jetson-dlr" {
  inherits = ["_jetson-bullseye"]
  args = {
    PILLOW_BUILD = PILLOW_BUILD
  }
  tags       = ["edgeparity/jetson-dlr:${TAG}"]
  cache-from = cache_from("jetson-dlr")
  cache-to   = cache_to("jetson-dlr")
}

# The same edge image with Pillow's aarch64 wheel: decodes like cloud-mxnet on another CPU.
target "jetson-dlr-wheel" {
  inherits = ["_jetson-bullseye"]
  args = {
    PILLOW_BUILD = "wheel"
  }
  tags       = ["edgeparity/jetson-dlr-wheel:${TAG}"]
  cache-from = cache_from("jetson-dlr-wheel")
  cache-to   = cache_to("jetson-dlr-wheel")
}

# Today's decoders as a yardstick: current Pillow (libjpeg-turbo 3), OpenCV, ONNX Runtime.
target "reference" {
  inherits   = ["_checkout"]
  dockerfile = "docker/reference/Dockerfile"
  platforms  = ["linux/amd64"]
  args = {
    BASE_IMAGE = BASE_IMAGE_AMD64
  }
  tags       = ["edgeparity/reference:${TAG}"]
  cache-from = cache_from("reference")
  cache-to   = cache_to("reference")
}

# Not in the default matrix ([docker.jetson-l4t] has default = false): the real Jetson image,
# built natively on the device. The Dockerfile's defaults are L4T r32.7.1's apt pins and the
# CPython 3.6 lock.
target "jetson-l4t" {
  inherits   = ["_checkout"]
  dockerfile = "docker/jetson-dlr/Dockerfile"
  platforms  = ["linux/arm64"]
  args = {
    BASE_IMAGE   = L4T_BASE_IMAGE
    PILLOW_BUILD = PILLOW_BUILD
  }
  tags       = ["edgeparity/jetson-l4t:${TAG}"]
  cache-from = cache_from("jetson-l4t")
  cache-to   = cache_to("jetson-l4t")
}
