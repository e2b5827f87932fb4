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

.PHONY: help test matrix matrix-local lint host-env system-deps clean

help:
	@echo "make matrix        capture in every environment of matrix.toml and compare (Docker, else local)"
	@echo "make matrix-local  the same with the local backend (tox environments, no Docker)"
	@echo "make test          run the test suite in every tox environment"
	@echo "make lint          ruff over the code"

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
	$(HOST)/pip install -q -e . "tox>=4.5" "virtualenv<20.22" ruff pytest
	@touch $@

host-env: $(HOST)/edgeparity

test: host-env system-deps
	$(TOX) run

matrix: host-env system-deps
	$(HOST)/edgeparity matrix --backend auto $(MATRIX_ARGS)

matrix-local: host-env system-deps
	$(HOST)/edgeparity matrix --backend local $(MATRIX_ARGS)

lint: host-env
	$(HOST)/ruff check src tests tools benchmarks

clean:
	rm -rf $(VENV) .tox matrix-out

-include docker/Makefile.inc
