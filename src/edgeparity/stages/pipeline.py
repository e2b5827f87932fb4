"""Stage order, pipelines and record keys: written once, used by capture, compare and the CLI.

A *pipeline* says which implementation each stage uses, e.g. ``decode=pillow,preprocess=pillow,
infer=dlr``. A *chain* is the path one output took, e.g. ``decode=pillow>preprocess=mxnet``, and
a *record key* names one captured output: ``IMAGE|CHAIN``. An *implementation key* names one
implementation: ``decode/pillow``.

Runs inside every environment (CPython 3.6, numpy only).
"""

from typing import Dict, Iterable, Mapping, Optional, Tuple

# The order data flows in. Everything that walks stages uses this tuple.
STAGES = ("decode", "preprocess", "infer")

# What a bundle is read with when neither the user nor the bundle says otherwise. Inference has
# no default implementation: compare picks a runner both sides have.
DEFAULT_PIPELINE = {"decode": "pillow", "preprocess": "pillow"}  # type: Dict[str, str]


class PipelineError(ValueError):
    """A pipeline text that cannot be read; the message shows the expected form."""


def parse_pipeline(text: Optional[str], known: Optional[Mapping[str, Iterable[str]]] = None
                   ) -> Dict[str, str]:
    """'decode=pillow,infer=dlr' -> {'decode': 'pillow', 'infer': 'dlr'}.

    ``known`` maps a stage to its implementation names (``stages.known_implementations()``);
    a name not in it is refused. Without it only the stage names are checked.
    """
    result = {}  # type: Dict[str, str]
    for part in (text or "").split(","):
        if not part.strip():
            continue
        stage, sep, impl = part.strip().partition("=")
        stage, impl = stage.strip(), impl.strip()
        if not sep or stage not in STAGES or not impl:
            raise PipelineError(
                "bad pipeline {!r}: use stage=impl pairs separated by commas, e.g. "
                "decode=pillow,preprocess=pillow,infer=dlr; stages are {}".format(
                    text, ", ".join(STAGES)))
        names = list(known.get(stage, ())) if known is not None else [impl]
        if impl not in names:
            raise PipelineError("bad pipeline {!r}: no {} implementation {!r}; known: {}".format(
                text, stage, impl, ", ".join(names)))
        if stage in result and result[stage] != impl:  # which one was meant cannot be told
            raise PipelineError("bad pipeline {!r}: {} is given twice ({} and {}); give each "
                                "stage once".format(text, stage, result[stage], impl))
        result[stage] = impl
    return result


def format_pipeline(pipeline: Mapping[str, str], separator: str = ",") -> str:
    """{'infer': 'dlr', 'decode': 'pillow'} -> 'decode=pillow,infer=dlr' (stage order)."""
    return separator.join("{}={}".format(s, pipeline[s]) for s in STAGES if s in pipeline)


# -- implementation keys: "decode/pillow" --------------------------------------------------------

def impl_key(stage: str, name: str) -> str:
    return "{}/{}".format(stage, name)


def split_impl_key(key: str) -> Tuple[str, str]:
    """'decode/pillow' -> ('decode', 'pillow')."""
    stage, _, name = key.partition("/")
    return stage, name


# -- chains and record keys: "IMAGE|decode=pillow>preprocess=pillow" ----------------------------

def extend_chain(chain: str, stage: str, name: str) -> str:
    """Append one stage to a chain; an empty chain starts one."""
    link = "{}={}".format(stage, name)
    return "{}>{}".format(chain, link) if chain else link


def pipeline_chain(pipeline: Mapping[str, str], upto: str) -> str:
    """The chain a pipeline follows up to and including ``upto`` ('?' for undeclared stages)."""
    chain = ""
    for stage in STAGES:
        chain = extend_chain(chain, stage, pipeline.get(stage, "?"))
        if stage == upto:
            break
    return chain


def record_key(image: str, chain: str) -> str:
    return image + "|" + chain  # not str.format: asked several times per image and stage


def split_record_key(key: str) -> Tuple[str, str]:
    """'a.jpg|decode=pillow' -> ('a.jpg', 'decode=pillow'). Image names may contain '|'."""
    image, _, chain = key.rpartition("|")
    return image, chain


def with_last_impl(key: str, name: str) -> str:
    """The same record key with its last stage run by ``name`` instead."""
    image, chain = split_record_key(key)
    head, _, _last = chain.rpartition("=")
    return record_key(image, head + "=" + name)
