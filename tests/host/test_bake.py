"""docker-bake.hcl builds the same images as matrix.toml's [docker.*] entries.

Both files describe the Docker matrix (bake for buildx users and CI, matrix.toml for
`edgeparity matrix`); these tests read what `docker buildx bake --print` really resolves, so a
build arg changed in one file and not the other fails here. Skipped where buildx is missing.
"""

import json
import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def bake_print(*targets, **variables):
    """The resolved bake definition for ``targets``, with bake variables set in the env."""
    if shutil.which("docker") is None:
        pytest.skip("the docker CLI is not installed")
    env = dict(os.environ)
    # `make lint` (scripts/ensure-buildx.sh) may have put a private buildx client here; it is
    # used for --print only, so the matrix's own builds are unaffected.
    private = os.path.join(ROOT, ".cache", "docker-config")
    if os.path.exists(os.path.join(private, "cli-plugins", "docker-buildx")):
        env["DOCKER_CONFIG"] = private
    probe = subprocess.run(["docker", "buildx", "version"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env=env)
    if probe.returncode != 0:
        pytest.skip("docker buildx is not installed (Debian: docker-buildx, or Docker's "
                    "docker-buildx-plugin; `make lint` fetches a private copy)")
    for name in ("BASE_IMAGE_AMD64", "BASE_IMAGE_ARM64", "L4T_BASE_IMAGE", "PILLOW_BUILD", "TAG",
                 "CACHE_DIR", "CACHE_TO_DIR"):
        env.pop(name, None)  # the file's defaults, unless a test sets one
    env.update(variables)
    result = subprocess.run(["docker", "buildx", "bake", "--print"] + list(targets), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert result.returncode == 0, result.stderr.decode()
    return json.loads(result.stdout.decode())


def docker_entries():
    """{name: [docker.NAME] table} as matrix.toml writes it (before defaults are filled in)."""
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        tomllib = pytest.importorskip("tomli")
    with open(os.path.join(ROOT, "matrix.toml"), "rb") as handle:
        return tomllib.load(handle).get("docker", {})


def test_every_docker_entry_of_matrix_toml_is_a_bake_target_with_the_same_build():
    entries = docker_entries()
    assert entries, "matrix.toml has no [docker.*] entries"
    default = sorted(name for name, entry in entries.items() if entry.get("default", True))
    printed = bake_print("matrix", *sorted(set(entries) - set(default)))
    assert sorted(printed["group"]["matrix"]["targets"]) == default
    for name, entry in entries.items():
        target = printed["target"][name]
        assert target["context"] == "."  # the checkout, with its wheelhouse/, not a git URL
        assert target["dockerfile"] == entry["dockerfile"], name
        assert target["platforms"] == [entry["platform"]], name
        assert target["args"] == entry.get("build_args", {}), name
        assert target["tags"] == ["edgeparity/{}:latest".format(name)]


def test_bake_set_gives_bake_builds_edgeparitys_content_hash_tags():
    # What `edgeparity image tag --bake-set` prints overrides the tags (the workflow does this).
    printed = bake_print("reference", "--set", "reference.tags=edgeparity/reference:0123456789ab")
    assert printed["target"]["reference"]["tags"] == ["edgeparity/reference:0123456789ab"]


def test_each_target_has_its_own_local_cache_which_can_be_switched_off():
    printed = bake_print("matrix")
    for name, target in printed["target"].items():
        assert target["cache-from"] == ["type=local,src=.buildx-cache/{}".format(name)]
        assert target["cache-to"] == ["type=local,dest=.buildx-cache/{},mode=max".format(name)]
    moved = bake_print("matrix", CACHE_TO_DIR="/tmp/new-cache")
    assert moved["target"]["reference"]["cache-to"] == [
        "type=local,dest=/tmp/new-cache/reference,mode=max"]
    # The docker driver cannot export caches: CACHE_DIR="" drops both settings.
    off = bake_print("matrix", CACHE_DIR="")
    for target in off["target"].values():
        assert "cache-from" not in target and "cache-to" not in target


def test_variables_choose_base_images_and_the_pillow_build():
    printed = bake_print("cloud-mxnet", "jetson-dlr", "jetson-dlr-wheel",
                         BASE_IMAGE_AMD64="localhost:5000/base:amd64",
                         BASE_IMAGE_ARM64="localhost:5000/base:arm64", PILLOW_BUILD="wheel")
    targets = printed["target"]
    assert targets["cloud-mxnet"]["args"]["BASE_IMAGE"] == "localhost:5000/base:amd64"
    assert targets["jetson-dlr"]["args"]["BASE_IMAGE"] == "localhost:5000/base:arm64"
    assert targets["jetson-dlr"]["args"]["PILLOW_BUILD"] == "wheel"
    assert targets["jetson-dlr-wheel"]["args"]["PILLOW_BUILD"] == "wheel"


def test_the_l4t_target_uses_the_real_jetson_base_and_the_dockerfiles_l4t_defaults():
    target = bake_print("jetson-l4t")["target"]["jetson-l4t"]
    assert target["platforms"] == ["linux/arm64"]
    assert target["args"] == {"BASE_IMAGE": "nvcr.io/nvidia/l4t-base:r32.7.1",
                              "PILLOW_BUILD": "source"}
    # LOCK and APT_PACKAGES stay unset: the Dockerfile's defaults are L4T r32.7.1's.
    with open(os.path.join(ROOT, target["dockerfile"])) as handle:
        dockerfile = handle.read()
    assert "ARG LOCK=requirements-l4t.lock" in dockerfile
    assert "ARG APT_PACKAGES=" in dockerfile and "18.04" in dockerfile
