"""What is compared: endpoints, i.e. a bundle read with a pipeline.

``cloud@decode=mxnet`` reads bundle ``cloud`` as if it decoded with MXNet. The same bundle may
appear twice with different pipelines, to compare implementations within one environment.
"""

import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from ..bundle import Bundle
from ..bundle import load as load_bundle
from ..quick_exit import keep_until_exit
from ..stages import known_implementations
from ..stages.pipeline import (
    DEFAULT_PIPELINE,
    STAGES,
    PipelineError,
    impl_key,
    parse_pipeline,
    pipeline_chain,
    record_key,
    split_impl_key,
)


class Endpoint:
    """A bundle read with a pipeline ({stage: implementation}), and its label in reports.

    Two endpoints are the same only if they are the same object. (A plain class: the
    dataclasses module imports inspect, 8 ms of every compare's start.)"""

    def __init__(self, bundle: Bundle, pipeline: Dict[str, str], label: str) -> None:
        self.bundle = bundle
        self.pipeline = pipeline
        self.label = label
        self._chains = {}  # type: Dict[str, Tuple[Dict[str, str], str]]
        # evidence.agreement's answers (same and different images), by both decoders, the
        # other endpoint's bundle and the images.
        self.agreements = {}  # type: Dict[Tuple[Any, ...], Tuple[List[str], List[str]]]

    def __repr__(self) -> str:
        return "Endpoint({!r}, {!r})".format(self.label, self.pipeline)

    def chain_key(self, image: str, upto: str) -> str:
        """The record key of ``image``'s output at stage ``upto`` along this pipeline."""
        return record_key(image, self.chain(upto))

    def chain(self, upto: str) -> str:
        """The chain of this pipeline up to stage ``upto`` (record keys are IMAGE|CHAIN)."""
        # Asked for every image at every stage: the chain is built once per stage (and again
        # only if the pipeline was changed since, e.g. by resolve_pipelines).
        cached = self._chains.get(upto)
        if cached is None or cached[0] != self.pipeline:
            cached = self._chains[upto] = (dict(self.pipeline),
                                           pipeline_chain(self.pipeline, upto))
        return cached[1]


def parse_endpoint(text: str) -> Tuple[str, Dict[str, str]]:
    """'path/to/cloud@decode=mxnet,infer=mxnet' -> ('path/to/cloud', {...}).

    A path that exists is taken whole, '@' and all; otherwise the pipeline follows the last '@'.
    Raises PipelineError (a ValueError) for an unknown stage or implementation.
    """
    if os.path.exists(text):
        return text, {}
    path, _, spec = text.rpartition("@") if "@" in text else (text, "", "")
    if "@" in text and not spec.strip(" ,"):  # 'cloud@': a pipeline left out, or a typo
        raise PipelineError("{}: nothing after '@': give a pipeline (e.g. {}@decode=mxnet) or "
                            "leave the '@' out".format(text, path))
    try:
        return path, parse_pipeline(spec, known_implementations())
    except PipelineError as exc:
        raise PipelineError("{}: {}".format(text, exc)) from None  # which argument is wrong


def _label(loaded: Bundle, pipeline: Dict[str, str], taken: List["Endpoint"]) -> str:
    """'cloud', 'cloud@decode=mxnet', or 'cloud#2' for the same bundle named twice."""
    label = loaded.name
    if pipeline:
        # Stages in alphabetical order, as labels have always been written in reports.
        label += "@" + ",".join("{}={}".format(k, v) for k, v in sorted(pipeline.items()))
    labels = {e.label for e in taken}
    if label in labels:
        # 'x', 'x#3', 'x': the third may not take 'x#3' too (labels key the report's pairs).
        number = len(taken) + 1
        while "{}#{}".format(label, number) in labels:
            number += 1
        label = "{}#{}".format(label, number)
    return label


def load_endpoints(specs: Sequence[str]) -> List[Endpoint]:
    """One endpoint per ``PATH[@stage=impl,...]``; a bundle named twice is loaded once."""
    endpoints = []  # type: List[Endpoint]
    loaded_by_path = {}  # type: Dict[str, Bundle]
    for spec in specs:
        path, pipeline = parse_endpoint(spec)
        real = os.path.realpath(path)
        if real not in loaded_by_path:
            loaded_by_path[real] = load_bundle(path)
            # From the command line, never freed one object at a time: the process ends soon
            # after (quick_exit; a library caller gets its memory back as usual).
            keep_until_exit(loaded_by_path[real])
        loaded = loaded_by_path[real]
        endpoints.append(Endpoint(loaded, pipeline, _label(loaded, pipeline, endpoints)))
    if len(endpoints) < 2:
        raise ValueError(
            "compare needs at least two bundles (or one bundle twice with different "
            "pipelines, e.g. cloud@decode=mxnet cloud@decode=pillow)"
        )
    return endpoints


def choose_reference(endpoints: List[Endpoint], reference: Optional[str]) -> Endpoint:
    """The endpoint named ``reference`` (label or bundle name); the first one by default."""
    if not reference:
        return endpoints[0]
    matches = [e for e in endpoints if reference in (e.label, e.bundle.name)]
    if not matches:
        raise ValueError(
            "--reference {!r} is none of the bundles: {}".format(
                reference, ", ".join(e.label for e in endpoints)
            )
        )
    return matches[0]


def implementation_entry(loaded: Bundle, stage: str, impl: Optional[str]) -> Dict[str, Any]:
    """The manifest's entry for ``stage/impl``: status, and the reason when unavailable."""
    return loaded.manifest.get("implementations", {}).get(impl_key(stage, str(impl)), {})


def implementation_details(loaded: Bundle, stage: str, impl: str) -> Dict[str, Any]:
    """Provenance details of ``stage/impl``: version, the JPEG library it loads, ..."""
    entry = loaded.provenance.get("implementations", {}).get(impl_key(stage, impl), {})
    return entry.get("details") or {}


def available(loaded: Bundle, stage: str) -> List[str]:
    """Names of the implementations of ``stage`` that ran in this bundle's environment."""
    names = []
    for key, entry in loaded.manifest.get("implementations", {}).items():
        key_stage, name = split_impl_key(key)
        if key_stage == stage and entry.get("status") == "available":
            names.append(name)
    return names


def captured_stage(loaded: Bundle, stage: str) -> bool:
    """Whether the capture ran ``stage`` at all (``capture --stages decode`` did not run
    preprocess: it is then left out of the pipeline rather than reported as not compared)."""
    return any(split_impl_key(key)[0] == stage
               for key in loaded.manifest.get("implementations", {}))


def _shard_words(shard: Any) -> str:
    if not isinstance(shard, dict):
        return "all of its images"
    return "only shard {}/{} of its images".format(shard.get("index"), shard.get("count"))


def split_difference(reference: Endpoint, other: Endpoint) -> Optional[str]:
    """Why a pair is not established when one side is a shard (``capture --shard``) and the
    other is not the same shard: it holds a part of the corpus by construction."""
    shards = [endpoint.bundle.manifest.get("shard") for endpoint in (reference, other)]
    splits = [(shard.get("index"), shard.get("count")) if isinstance(shard, dict) else None
              for shard in shards]  # which share: two copies of a folder may differ by a file
    if splits[0] == splits[1]:
        return None
    return ("{} holds {} and {} {} (capture --shard): merge each environment's shards with "
            "`edgeparity merge` before comparing, or compare the same shard of both".format(
                reference.label, _shard_words(shards[0]), other.label,
                _shard_words(shards[1])))


def resolve_pipelines(endpoints: List[Endpoint]) -> None:
    """Fill each stage no ``@`` pipeline and no capture's ``--pipeline`` names.

    Decode and preprocess: Pillow, in each bundle that captured it. Otherwise, and for
    inference, an implementation every bundle given captured (like for like; each bundle's
    own captured set counts, whatever its pipeline says), else the one of its own that most
    other bundles captured: a cloud capture with ``--impl mxnet`` is compared through its MXNet
    decode rather than reporting nothing compared.
    """
    for stage in STAGES:
        own = {id(e): set(available(e.bundle, stage)) for e in endpoints}
        # A bundle with no implementation of the stage at all (a decode-only capture's
        # runners) has no say: it would empty the common set and change what every other pair
        # compares.
        having = [names for names in own.values() if names]
        common = set.intersection(*having) if having else set()
        default = DEFAULT_PIPELINE.get(stage)
        for endpoint in endpoints:
            if stage in endpoint.pipeline:
                continue
            declared = endpoint.bundle.manifest.get("pipeline", {}).get(stage)
            names = own[id(endpoint)]
            if declared:
                endpoint.pipeline[stage] = declared
            elif not captured_stage(endpoint.bundle, stage):
                continue
            elif default and (default in names or not names):
                endpoint.pipeline[stage] = default  # where it is missing, the report says so
            elif names:
                # None common to all: the one most other bundles captured (like for like with
                # as many as can be), then by name.
                shared = common & names or names
                endpoint.pipeline[stage] = min(shared, key=lambda name: (-sum(
                    name in own[id(e)] for e in endpoints if e is not endpoint), name))
