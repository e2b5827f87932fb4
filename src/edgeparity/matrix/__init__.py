"""`edgeparity matrix` and `edgeparity image`: run the suite in every environment of matrix.toml
and collect their bundles (the comparison itself is :mod:`edgeparity.compare`'s).

config.py   the one matrix.toml schema, its defaults and validation
backend.py  the one Backend interface and the suite every environment runs (tests, then capture)
local.py    the local backend (tox environments on this machine)
docker/     the docker backend: engine, image (build and tag), container (run)
run.py      which backend, every environment, the bundles

Host side: CPython >= 3.9.
"""
