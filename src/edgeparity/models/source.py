"""Where a model's forms are: find the user's (or the demo) model in the form a runner needs.

A model is given as one of (``--model`` / ``options["model"]``):

- nothing: the demo model shipped in ``edgeparity/demo_model`` (MXNet, ONNX and DLR forms);
- an MXNet export prefix ``PREFIX`` (``PREFIX-symbol.json`` + ``PREFIX-0000.params``), or the
  ``-symbol.json`` file itself;
- an ``.onnx`` file;
- a Neo/DLR artifact directory (``*.so`` + ``*.json`` + ``*.params``, maybe ``libdlr.so``);
- a ``.tar.gz`` / ``.tgz`` / ``.tar`` of such a directory (Neo's output), unpacked safely into
  the cache directory;
- a directory holding several forms and an ``edgeparity-model.json`` declaration (input,
  preprocessing, labels, and which file is which form, with one DLR artifact per CPU
  architecture): each runner takes its form, DLR the one built for this machine.

Each runner asks :class:`ModelSource` for the one form it runs and gets a clear
:class:`ModelError` (a kind of ``Unavailable``) naming the file and what to do when it is not
there.

CPython 3.6+, standard library only.
"""

import glob
import os
import platform
import re
import shutil
import tarfile
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .. import demo_model, native
from ..cache import cache_dir, publish_directory
from .base import ModelError, make_dirs, scratch_directory
from .declaration import (
    DECLARATION_FILE,
    Declaration,
    Preprocessing,
    default_declaration,
    find_declaration,
    path_inside,
)
from .dlr import build_demo_dlr_artifact, dlr_artifact_files, is_tvm_params

USAGE = (
    "pass an MXNet export prefix (PREFIX-symbol.json + PREFIX-0000.params), an .onnx file, "
    "a Neo/DLR artifact directory (*.so + *.json + *.params), a .tar.gz of one, or a "
    "directory with an {} declaring its forms".format("edgeparity-model.json")
)
ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")
COPY_WHOLE_FOLDER = "copy the model's whole folder (every file its declaration lists)"


class ModelSource:
    """Where one model's files are, per form. Build with :func:`resolve_model`."""

    def __init__(self, label: str, demo: bool = False) -> None:
        self.label = label  # what the user gave (or "demo model"), for messages
        self.demo = demo
        self.mxnet = None  # type: Optional[Tuple[str, str]]  # (symbol json, params)
        self.onnx = None  # type: Optional[str]
        self.dlr_dir = None  # type: Optional[str]
        self.dlr_problem = None  # type: Optional[str]  # why a directory is not a DLR artifact
        # Why a form the declaration names cannot be used: raised by that form's runner only,
        # so a folder missing its ONNX file still preprocesses and runs MXNet.
        self.form_problems = {}  # type: Dict[str, str]
        self.archive = None  # type: Optional[str]  # the .tar.gz it was unpacked from
        # Input, preprocessing and labels: the model's edgeparity-model.json, else ImageNet.
        self.declaration = default_declaration(
            "demo" if demo else os.path.basename(label.rstrip("/\\")) or label
        )  # type: Declaration

    def forms(self) -> List[str]:
        return [name for name, value in (("mxnet", self.mxnet), ("onnx", self.onnx),
                                         ("dlr", self.dlr_dir)) if value]

    def _missing(self, wanted: str) -> ModelError:
        have = ", ".join(self.forms()) or "nothing usable"
        return ModelError(
            "no {} found for model {} (it has: {}); export the model in that form, or run "
            "this runner on a model that has it".format(wanted, self.label, have)
        )

    def require_mxnet(self) -> Tuple[str, str]:
        if self.mxnet is None:
            if "mxnet" in self.form_problems:
                raise ModelError(self.form_problems["mxnet"])
            raise self._missing("MXNet export (PREFIX-symbol.json + PREFIX-0000.params)")
        return self.mxnet

    def require_onnx(self) -> str:
        if self.onnx is None:
            if "onnx" in self.form_problems:
                raise ModelError(self.form_problems["onnx"])
            raise self._missing("ONNX file (*.onnx)")
        return self.onnx

    def require_dlr(self) -> str:
        """The artifact directory DLR loads; for the demo model it is built on first use."""
        if self.demo:
            return build_demo_dlr_artifact()
        if self.dlr_dir is None:
            if self.dlr_problem:
                raise ModelError(self.dlr_problem)
            raise self._missing("Neo/DLR artifact (directory with *.so + *.json + *.params)")
        return self.dlr_dir

    def provenance(self, files: Sequence[str]) -> Dict[str, Any]:
        """{"path", "demo", "files": {path: sha256}} of the files a runner actually loaded."""
        described = {os.path.abspath(p): "sha256:" + native.sha256_file(p) for p in files}
        info = {"path": self.label, "demo": self.demo, "files": described,
                "name": self.declaration.name}
        if self.declaration.path:
            info["declaration"] = {self.declaration.path: self.declaration.sha256}
        if self.archive:
            info["archive"] = {self.archive: "sha256:" + native.sha256_file(self.archive)}
        return info


def demo_source() -> ModelSource:
    source = ModelSource("demo model (edgeparity/demo_model)", demo=True)
    prefix = demo_model.MXNET_PREFIX
    source.mxnet = (demo_model.runnable(prefix + "-symbol.json"),
                    demo_model.runnable(prefix + "-0000.params"))
    source.onnx = demo_model.runnable(demo_model.ONNX_FILE)
    # The source form; require_dlr() builds the runnable one.
    source.dlr_dir = demo_model.runnable(demo_model.DLR_DIR)
    return source


def resolve_model(model: Optional[str]) -> ModelSource:
    """Find every form of the model ``model`` points at (None: the demo model)."""
    if not model:
        return demo_source()
    path = os.path.abspath(os.path.expanduser(model))
    _refuse_part_of_declared_model(path)
    if os.path.isdir(path):
        return _scan_directory(path, ModelSource(model))
    if os.path.isfile(path):
        lower = path.lower()
        source = ModelSource(model)
        if lower.endswith(".onnx"):
            source.onnx = path
        elif lower.endswith("-symbol.json"):
            source.mxnet = _mxnet_pair(path[: -len("-symbol.json")])
        elif re.search(r"-\d{4}\.params$", lower) and os.path.exists(
            re.sub(r"-\d{4}\.params$", "-symbol.json", path)
        ):
            source.mxnet = (re.sub(r"-\d{4}\.params$", "-symbol.json", path), path)
        elif lower.endswith(ARCHIVE_SUFFIXES):
            source.archive = path
            _scan_directory(unpack_archive(path), source)
        else:
            raise ModelError("{}: not a model form edgeparity knows; {}".format(path, USAGE))
        return source
    if os.path.isfile(path + "-symbol.json"):
        source = ModelSource(model)
        source.mxnet = _mxnet_pair(path)
        return source
    raise ModelError("model not found: {} does not exist; {}".format(path, USAGE))


def _refuse_part_of_declared_model(path: str) -> None:
    """ModelError when ``path`` is one form (a file, a DLR subfolder, an MXNet prefix) of a
    model whose folder holds a declaration: given alone, it would be preprocessed with the
    default instead of what the model declares."""
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, DECLARATION_FILE)):
        return
    parent = os.path.dirname(path.rstrip(os.sep))
    declaration = os.path.join(parent, DECLARATION_FILE)
    if os.path.isfile(declaration):
        raise ModelError(
            "{} is part of the model declared in {}, which is read only when --model names its "
            "folder: pass {} (each runner then takes its form from it)".format(
                path, declaration, parent))


_DECLARATIONS = {}  # type: Dict[str, Declaration]  # per process: one read per model


def model_declaration(model: Optional[str]) -> Declaration:
    """The declaration of the model ``model`` points at (ImageNet defaults when it has none).

    Raises ModelError when the model cannot be found or its declaration is malformed.
    """
    if not model:
        return default_declaration("demo")  # without unpacking the demo's files
    if model not in _DECLARATIONS:
        _DECLARATIONS[model] = _declaration_only(model)
    return _DECLARATIONS[model]


def _declaration_only(model: str) -> Declaration:
    """The declaration alone: preprocessing must not fail because a runner's form is missing."""
    path = os.path.abspath(os.path.expanduser(model))
    if os.path.isfile(path) and path.lower().endswith(ARCHIVE_SUFFIXES):
        path = unpack_archive(path)
    if os.path.isdir(path):
        declaration = find_declaration(path)
        if declaration is not None:
            return declaration
    return resolve_model(model).declaration  # no declaration: ImageNet, if the model exists


def model_preprocessing(model: Optional[str]) -> Preprocessing:
    """How images are prepared for the model ``model`` points at (see model_declaration)."""
    return model_declaration(model).preprocessing


def _mxnet_pair(prefix: str) -> Tuple[str, str]:
    symbol = prefix + "-symbol.json"
    params = prefix + "-0000.params"
    if not os.path.isfile(params):
        # An export of another epoch: take the latest one.
        candidates = sorted(p for p in glob.glob(glob.escape(prefix) + "-*.params")
                            if re.search(r"-\d{4}\.params$", p))
        if not candidates:
            raise ModelError(
                "{} has no parameters file: expected {} next to it (mx.model.save_checkpoint "
                "or HybridBlock.export writes both)".format(symbol, params)
            )
        params = candidates[-1]
    return symbol, params


def machine_architecture() -> str:
    """This machine's CPU architecture as DLR artifact folders name it: x86_64, aarch64, ..."""
    machine = platform.machine().lower()
    return {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64"}.get(machine, machine)


def _apply_declared_forms(directory: str, source: ModelSource) -> None:
    """Take each form from the declaration's ``forms`` (DLR: this machine's architecture).

    A named form whose files are missing is recorded in ``source.form_problems`` (its runner
    says so); a path leading outside the folder is an error at once.
    """
    declaration = source.declaration
    forms = declaration.forms
    if "onnx" in forms:
        path = path_inside(directory, forms["onnx"], declaration.path, "forms.onnx")
        if os.path.isfile(path):
            source.onnx = path
        else:
            source.form_problems["onnx"] = "{}: its ONNX file {} is missing; {}".format(
                declaration.path, path, COPY_WHOLE_FOLDER)
    if "mxnet" in forms:
        prefix = path_inside(directory, forms["mxnet"], declaration.path, "forms.mxnet")
        if os.path.isfile(prefix + "-symbol.json"):
            try:
                source.mxnet = _mxnet_pair(prefix)
            except ModelError as exc:
                source.form_problems["mxnet"] = str(exc)
            for file in source.mxnet or ():
                path_inside(directory, os.path.relpath(file, directory).replace(os.sep, "/"),
                            declaration.path, "forms.mxnet")
        else:
            source.form_problems["mxnet"] = "{}: its MXNet export {}-symbol.json is missing; " \
                "{}".format(declaration.path, prefix, COPY_WHOLE_FOLDER)
    dlr = forms.get("dlr")
    if isinstance(dlr, dict):
        arch = machine_architecture()
        if arch in dlr:
            folder = path_inside(directory, dlr[arch], declaration.path, "forms.dlr." + arch)
            if os.path.isdir(folder):
                _scan_dlr(folder, sorted(os.listdir(folder)), source)
                files = dlr_artifact_files(source.dlr_dir) if source.dlr_dir else {}
                for name in files.values():
                    path_inside(directory, os.path.relpath(name, directory).replace(
                        os.sep, "/"), declaration.path, "forms.dlr." + arch)
                if source.dlr_dir is None and not source.dlr_problem:
                    source.dlr_problem = "{} (declared in {}) holds no DLR artifact".format(
                        folder, declaration.path)
            else:
                source.dlr_problem = "{}: its DLR folder {} is missing; {}".format(
                    declaration.path, folder, COPY_WHOLE_FOLDER)
        else:
            source.dlr_problem = (
                "model {} has DLR artifacts for {} only, none for this machine ({}); compile "
                "it for {} (Neo, or TVM: see tools/build_real_model.py)".format(
                    source.label, ", ".join(sorted(dlr)) or "no architecture", arch, arch))


def _scan_directory(directory: str, source: ModelSource) -> ModelSource:
    declaration = find_declaration(directory)
    if declaration is not None:
        source.declaration = declaration
        if declaration.forms:
            _apply_declared_forms(directory, source)
            return source
    names = sorted(os.listdir(directory))
    symbols = [n for n in names if n.endswith("-symbol.json")]
    if len(symbols) == 1:
        source.mxnet = _mxnet_pair(os.path.join(directory, symbols[0][: -len("-symbol.json")]))
    onnx_files = [n for n in names if n.lower().endswith(".onnx")]
    if len(onnx_files) == 1:
        source.onnx = os.path.join(directory, onnx_files[0])

    _scan_dlr(directory, names, source, symbols)
    if not source.forms() and not source.dlr_problem:
        raise ModelError(
            "{} holds no model edgeparity recognises (found: {}); {}".format(
                directory, ", ".join(names[:20]) or "an empty directory", USAGE
            )
        )
    return source


def _scan_dlr(directory: str, names: List[str], source: ModelSource,
              symbols: Sequence[str] = ()) -> None:
    """Set ``source.dlr_dir`` when ``directory`` holds one DLR artifact (or say why not)."""
    libraries = [n for n in names if n.endswith(".so") and n != "libdlr.so"]
    graphs = [n for n in names if n.endswith(".json") and not n.endswith("-symbol.json")
              and n != DECLARATION_FILE]
    params = [
        n for n in names if n.endswith(".params") and is_tvm_params(os.path.join(directory, n))
    ]
    if libraries and graphs and params:
        if DECLARATION_FILE in names:
            # DLR loads every *.json of the folder it is given as a graph, ours included.
            source.dlr_problem = (
                "{} holds a DLR artifact and an {}: DLR reads every .json in its folder as a "
                "graph. Move the artifact (its .so, .json, .params) into a subfolder, e.g. "
                "dlr-{}/, and name it in the declaration: \"forms\": {{\"dlr\": {{\"{}\": "
                "\"dlr-{}\"}}}} (docs/models.md)".format(
                    directory, DECLARATION_FILE, machine_architecture(),
                    machine_architecture(), machine_architecture()))
        elif len(libraries) > 1 or len(graphs) > 1 or len(params) > 1 or symbols:
            source.dlr_problem = (
                "{} mixes several model files ({}); DLR needs a directory holding one "
                "artifact: its .so, graph .json and .params (plus optional .meta and "
                "libdlr.so)".format(directory, ", ".join(
                    libraries + graphs + params + list(symbols)))
            )
        else:
            source.dlr_dir = directory


# -------------------------------------------------------------------------- archives (.tar.gz)


def unpack_archive(archive: str) -> str:
    """Unpack a Neo-style ``.tar.gz`` into the cache (once per content) and return its root.

    Only regular files and directories with relative, non-escaping names are accepted: an
    archive is data from elsewhere, and a link or ``../`` member could write outside the cache.
    """
    digest = native.sha256_file(archive)
    parent = os.path.join(cache_dir(), "models")
    target = os.path.join(parent, digest[:20])
    if not os.path.isdir(target):
        scratch = scratch_directory(parent, ".unpack-", "unpack {}".format(archive))
        try:
            _safe_extract(archive, scratch)
            publish_directory(scratch, target)
        finally:
            if os.path.isdir(scratch):
                shutil.rmtree(scratch, ignore_errors=True)
    # Neo archives hold files at the top; others wrap one directory.
    entries = os.listdir(target)
    if len(entries) == 1 and os.path.isdir(os.path.join(target, entries[0])):
        return os.path.join(target, entries[0])
    return target


def _safe_extract(archive: str, destination: str) -> None:
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            for member in members:
                name = member.name
                parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
                if name.startswith("/") or ".." in parts or not parts:
                    raise ModelError(
                        "{}: refusing archive member {!r} (absolute or parent-relative path); "
                        "re-create the archive with relative paths".format(archive, name)
                    )
                if not (member.isfile() or member.isdir()):
                    raise ModelError(
                        "{}: refusing archive member {!r} (links and special files are not "
                        "accepted); re-create the archive with regular files".format(archive, name)
                    )
            for member in members:
                path = os.path.join(destination, *member.name.replace("\\", "/").split("/"))
                if member.isdir():
                    make_dirs(path)
                    continue
                make_dirs(os.path.dirname(path))
                reader = tar.extractfile(member)
                with open(path, "wb") as out:
                    shutil.copyfileobj(reader, out)
                os.chmod(path, 0o755 if member.mode & 0o111 else 0o644)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ModelError(
            "cannot unpack {} ({}: {}); check that it is a complete .tar.gz".format(
                archive, type(exc).__name__, exc
            )
        ) from exc

