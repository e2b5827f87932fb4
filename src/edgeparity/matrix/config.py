"""matrix.toml: the one schema, its defaults, and the reader that validates every table.

::

    [matrix]            images, out, reference, model
    [local.NAME]        a tox environment on this machine (tox.ini)
    [docker.NAME]       a pinned image (its Dockerfile; build context: matrix.toml's folder)

Every key a table may hold is declared below with its type and default, and nothing else is
accepted: an unknown or mistyped key is refused with its name and its table, so a setting that
looks live is live. Defaults come from :mod:`edgeparity.defaults` and
:data:`edgeparity.stages.pipeline.DEFAULT_PIPELINE`. Host side: CPython >= 3.9.
"""

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from .. import defaults
from ..errors import UserError
from ..models.base import ModelError
from ..models.declaration import DECLARATION_FILE, read_declaration
from ..stages import known_implementations
from ..stages.pipeline import DEFAULT_PIPELINE, STAGES, PipelineError, parse_pipeline

BACKENDS = ("local", "docker")
PLATFORMS = ("linux/amd64", "linux/arm64")

REQUIRED = object()  # a key without a default


class ConfigError(UserError):
    """matrix.toml is missing, unreadable or says something the schema does not allow."""


@dataclass(frozen=True)
class Key:
    """One key of a table: its TOML type, its default and what it means (for errors)."""

    kind: type
    default: Any
    meaning: str


# What every environment, whatever its backend, may say.
ENVIRONMENT_KEYS = {
    "pipeline": Key(dict, DEFAULT_PIPELINE,
                    "what the environment runs in production, e.g. { decode = \"pillow\" }"),
    "expect_libjpeg": Key(str, "", "the JPEG library Pillow must load (tests/inenv asserts it)"),
    "default": Key(bool, True, "part of the default matrix (false: run only when named)"),
    "pipeline_only": Key(bool, False, "preprocess and infer only along the pipeline (every "
                         "decoder still runs): for slow CPUs, emulation, large models"),
}

SCHEMA = {
    "matrix": {
        "images": Key(str, defaults.IMAGES_DIR, "images folder, relative to matrix.toml"),
        "out": Key(str, defaults.MATRIX_OUT, "output folder, relative to matrix.toml"),
        "reference": Key(str, None, "environment the others are compared with"),
        "model": Key(str, None, "model for the infer stage, relative to matrix.toml (a folder "
                     "with its forms, a file or a prefix; default: the demo model)"),
    },
    "local": dict(
        ENVIRONMENT_KEYS,
        tox_env=Key(str, None, "tox environment (default: the entry's name)"),
    ),
    "docker": dict(
        ENVIRONMENT_KEYS,
        dockerfile=Key(str, REQUIRED, "Dockerfile, relative to matrix.toml"),
        platform=Key(str, REQUIRED, " or ".join(PLATFORMS)),
        build_args=Key(dict, {}, "Dockerfile ARGs, e.g. { BASE_IMAGE = \"...\" }"),
        docker_host=Key(str, None, "build and run on that engine, e.g. \"ssh://user@jetson\""),
        context=Key(str, None, "a `docker context` name instead of docker_host"),
        runtime=Key(str, None, "container runtime, e.g. \"nvidia\" on a Jetson"),
    ),
}

TYPE_NAMES = {str: "a string", bool: "true or false", dict: "a table"}


@dataclass(frozen=True)
class Environment:
    """What every environment has, whichever backend runs it."""

    name: str
    pipeline: Dict[str, str]
    expect_libjpeg: str  # "" = no libjpeg pinned: the in-environment test then skips
    default: bool
    pipeline_only: bool  # capture --pipeline-only


@dataclass(frozen=True)
class LocalEnvironment(Environment):
    tox_env: str


@dataclass(frozen=True)
class DockerEnvironment(Environment):
    dockerfile: Path
    platform: str
    build_args: Dict[str, str]
    root: Path  # the build context: the folder of matrix.toml
    docker_host: Optional[str] = None
    context: Optional[str] = None
    runtime: Optional[str] = None

    @property
    def image_dir(self) -> Path:
        """docker/NAME/: the Dockerfile and its locks."""
        return self.dockerfile.parent

    def on_engine(self, docker_host: str) -> "DockerEnvironment":
        """The same environment built and run on another engine, e.g. ssh://user@jetson."""
        return replace(self, docker_host=docker_host, context=None)


AnyEnvironment = Union[LocalEnvironment, DockerEnvironment]


@dataclass(frozen=True)
class MatrixConfig:
    path: Path
    images: Path
    out: Path
    reference: Optional[str]
    model: Optional[Path] = None
    local: Dict[str, LocalEnvironment] = field(default_factory=dict)
    docker: Dict[str, DockerEnvironment] = field(default_factory=dict)

    def environments(self, backend: str) -> Dict[str, AnyEnvironment]:
        return dict(self.local if backend == "local" else self.docker)

    def select(self, backend: str, names: Optional[List[str]] = None) -> List[AnyEnvironment]:
        """The named environments of a backend, or its default matrix when none are named."""
        known = self.environments(backend)
        if not names:
            return [env for env in known.values() if env.default]
        unknown = [name for name in names if name not in known]
        if unknown:
            raise ConfigError("unknown {} environments: {} (known: {})".format(
                backend, ", ".join(unknown), ", ".join(known) or "none"))
        return [known[name] for name in names]


def chosen_model(config: MatrixConfig, given: Optional[str]) -> Optional[Path]:
    """The model every environment runs: ``--model`` when given, else the matrix file's
    ``model``, else None (the demo model). ConfigError when it does not exist."""
    model = Path(given).resolve() if given else config.model
    if model is not None and not (model.exists()
                                  or Path(str(model) + "-symbol.json").is_file()):
        where = "--model" if given else "'model' in {}".format(config.path)
        raise ConfigError("{} {}: no such file or folder (give a folder of the model's forms, "
                          "an .onnx file, an MXNet prefix or a DLR artifact)".format(
                              where, model))
    if model is not None and (model / DECLARATION_FILE).is_file():
        # Checked here, not in each environment after its build and tests: a typo should cost
        # seconds, not a matrix run.
        try:
            read_declaration(str(model / DECLARATION_FILE))
        except ModelError as exc:
            raise ConfigError(str(exc)) from None
    return model


def load(path: Union[str, Path]) -> MatrixConfig:
    """Read and validate matrix.toml; every path in it is relative to its folder."""
    path = Path(path)
    raw = _read_toml(path)
    unknown = sorted(set(raw) - set(SCHEMA))
    if unknown:
        raise ConfigError("{}: unknown sections {}; expected {}".format(
            path, ", ".join(unknown), ", ".join(SCHEMA)))
    root = path.resolve().parent
    settings = _table(path, "matrix", raw.get("matrix", {}), SCHEMA["matrix"])
    config = MatrixConfig(
        path=path,
        images=(root / settings["images"]).resolve(),
        out=(root / settings["out"]).resolve(),
        reference=settings["reference"],
        model=(root / settings["model"]).resolve() if settings["model"] else None,
        local={name: _local(path, name, values)
               for name, values in _entries(path, raw, "local")},
        docker={name: _docker(path, root, name, values)
                for name, values in _entries(path, raw, "docker")},
    )
    if config.reference and not (config.reference in config.local
                                 or config.reference in config.docker):
        raise ConfigError("{} [matrix]: reference {!r} names no [local.*] or [docker.*] "
                          "environment".format(path, config.reference))
    return config


def _read_toml(path: Path) -> Dict[str, Any]:
    try:
        import tomllib  # type: ignore
    except ImportError:  # Python < 3.11
        try:
            import tomli as tomllib  # type: ignore
        except ImportError:
            raise ConfigError("reading {} needs Python >= 3.11 or the 'tomli' package "
                              "(pip install 'edgeparity[host]')".format(path)) from None
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError("{}: no matrix file. Run from the repository root or pass "
                          "--config.".format(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("{}: not valid TOML ({})".format(path, exc)) from None


def _entries(path: Path, raw: Mapping[str, Any], backend: str) -> List[Tuple[str, Any]]:
    section = raw.get(backend, {})
    if not isinstance(section, dict):
        raise ConfigError("{}: {} must hold [{}.NAME] tables".format(path, backend, backend))
    return list(section.items())


def _table(path: Path, where: str, values: Any, schema: Mapping[str, Key]) -> Dict[str, Any]:
    """``values`` checked against ``schema``: unknown keys refused, types checked, defaults
    filled in."""
    if not isinstance(values, dict):
        raise ConfigError("{} [{}]: must be a table of keys".format(path, where))
    unknown = sorted(set(values) - set(schema))
    if unknown:
        raise ConfigError("{} [{}]: unknown key{} {}; known: {}".format(
            path, where, "s" if len(unknown) > 1 else "", ", ".join(unknown),
            ", ".join(sorted(schema))))
    result = {}
    for key, spec in schema.items():
        if key not in values:
            if spec.default is REQUIRED:
                raise ConfigError("{} [{}]: '{}' is required ({}: {})".format(
                    path, where, key, TYPE_NAMES[spec.kind], spec.meaning))
            result[key] = spec.default
            continue
        value = values[key]
        if not isinstance(value, spec.kind):
            raise ConfigError("{} [{}]: '{}' must be {} ({}), not {!r}".format(
                path, where, key, TYPE_NAMES[spec.kind], spec.meaning, value))
        result[key] = value
    return result


def _common(path: Path, where: str, values: Dict[str, Any]) -> Dict[str, Any]:
    return {
        "pipeline": _pipeline(path, where, values["pipeline"]),
        "expect_libjpeg": values["expect_libjpeg"],
        "default": values["default"],
        "pipeline_only": values["pipeline_only"],
    }


def _pipeline(path: Path, where: str, table: Mapping[str, Any]) -> Dict[str, str]:
    """Checked with the one pipeline parser against the registered implementations: the
    environments run this checkout's edgeparity, so a name unknown here is a typo that would
    otherwise cost a whole build to find."""
    bad = [stage for stage, impl in table.items()
           if stage not in STAGES or not isinstance(impl, str)]
    if bad:
        raise ConfigError("{} [{}]: pipeline must map stages ({}) to implementation names, "
                          "e.g. {{ decode = \"pillow\", infer = \"dlr\" }}; not {!r}".format(
                              path, where, ", ".join(STAGES), {k: table[k] for k in bad}))
    text = ",".join("{}={}".format(stage, impl) for stage, impl in table.items())
    try:
        return parse_pipeline(text, known_implementations())
    except PipelineError as exc:
        raise ConfigError("{} [{}]: {}".format(path, where, exc)) from None


def _local(path: Path, name: str, raw: Any) -> LocalEnvironment:
    where = "local.{}".format(name)
    values = _table(path, where, raw, SCHEMA["local"])
    return LocalEnvironment(name=name, tox_env=values["tox_env"] or name,
                            **_common(path, where, values))


def _docker(path: Path, root: Path, name: str, raw: Any) -> DockerEnvironment:
    where = "docker.{}".format(name)
    values = _table(path, where, raw, SCHEMA["docker"])
    dockerfile = (root / values["dockerfile"]).resolve()
    if not dockerfile.is_file():
        raise ConfigError("{} [{}]: dockerfile {} does not exist".format(path, where, dockerfile))
    if values["platform"] not in PLATFORMS:
        raise ConfigError("{} [{}]: platform must be {}, not {!r}".format(
            path, where, " or ".join(PLATFORMS), values["platform"]))
    bad = {k: v for k, v in values["build_args"].items() if not isinstance(v, str)}
    if bad:
        raise ConfigError("{} [{}]: build_args values must be strings, e.g. "
                          "{{ KEY = \"value\" }}; not {!r}".format(path, where, bad))
    if values["docker_host"] and values["context"]:
        raise ConfigError("{} [{}]: set docker_host or context, not both".format(path, where))
    if not re.match(r"^[a-z0-9][a-z0-9._-]*$", name):
        # The name becomes the image repository edgeparity/NAME.
        raise ConfigError("{} [{}]: an image name must be lower-case letters, digits, '.', "
                          "'_' or '-'".format(path, where))
    return DockerEnvironment(
        name=name, dockerfile=dockerfile, platform=values["platform"],
        build_args=dict(values["build_args"]), root=root, docker_host=values["docker_host"],
        context=values["context"], runtime=values["runtime"], **_common(path, where, values))
