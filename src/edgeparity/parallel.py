"""Capture on several processes (``capture --jobs N``), with the same bundle as a serial run.

Each worker process loads the implementations itself (spawned, not forked: MXNet, ONNX Runtime
and OpenMP thread pools do not survive a fork) and runs whole images. Workers write array files
straight into the bundle's staging folder (content-addressed, so a file two workers both write
is the same file) and hand back only records and array entries. The parent merges them in
image order, so records and arrays come out in the order a serial run writes them: the manifest
is the same apart from timings.

Runs on CPython 3.6 with numpy only.
"""

import multiprocessing
import signal
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .bundle.writer import ArrayStore
from .session import Session
from .stages import all_implementations
from .stages.pipeline import impl_key

# Images per task: large enough to amortise the hand-over, small enough to balance the load.
CHUNK = 8

_WORKER = {}  # type: Dict[str, Any]


def _start_worker(staging: str, path: str, compression: str, keys: Sequence[str],
                  options: Dict[str, Any], pipeline: Dict[str, str], pipeline_only: bool,
                  images_dir: str, limits: Dict[str, int]) -> None:
    # The parent handles Ctrl-C and SIGTERM (it keeps what was captured, then stops the pool).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    store = ArrayStore(staging, path, compression)
    chosen = [i for i in all_implementations() if impl_key(i.stage, i.name) in keys]
    session = Session(store, chosen, options)
    session.pipeline = dict(pipeline)
    session.pipeline_only = pipeline_only
    _WORKER.update(session=session, store=store, images_dir=images_dir, limits=limits)


def _run_chunk(images: List[str]) -> Tuple[List[Tuple[Any, ...]], Dict[str, int]]:
    session, store = _WORKER["session"], _WORKER["store"]
    before = dict(session.counts)
    results = []
    for image in images:
        entry = session.run_file(_WORKER["images_dir"], image, _WORKER["limits"])
        records, arrays = store.take()
        results.append((image, entry, records, arrays))
    counts = {key: session.counts[key] - before[key] for key in before}
    return results, counts


def run_pool(jobs: int, images: List[str], session: Session, writer: Any, images_dir: str,
             limits: Dict[str, int], options: Dict[str, Any],
             on_image: Callable[[str, Dict[str, Any]], None]) -> None:
    """Run every image's chains on ``jobs`` worker processes; merge into ``writer`` in order.

    ``session`` is the parent's: its counts are updated, and its loaded implementations tell
    the workers which to load. ``on_image(image, manifest_entry)`` is called in image order.
    """
    keys = [impl_key(impl.stage, impl.name) for impls in session.loaded.values()
            for impl in impls]
    context = multiprocessing.get_context("spawn")
    chunks = [images[i:i + CHUNK] for i in range(0, len(images), CHUNK)]
    pool = context.Pool(jobs, initializer=_start_worker, initargs=(
        writer.staging, writer.path, writer.compression, keys, options, session.pipeline,
        session.pipeline_only, images_dir, limits))
    try:
        for results, counts in pool.imap(_run_chunk, chunks):
            for image, entry, records, arrays in results:
                writer.merge(records, arrays)
                on_image(image, entry)
            for key, value in counts.items():
                session.counts[key] += value
        pool.close()
    finally:
        pool.terminate()  # on Ctrl-C or an error: stop the workers now
        pool.join()


# Without --jobs, a pool only pays off on a corpus of this many images per worker: each worker
# loads every implementation (and model) again, which takes seconds.
IMAGES_PER_DEFAULT_JOB = 100


def choose_jobs(count: int, requested: Optional[int], cores: Optional[int]) -> int:
    """Worker processes for ``count`` images: as asked (at most one per chunk of images), or
    by default one per core once the corpus is large enough to repay starting them."""
    chunks = (count + CHUNK - 1) // CHUNK
    if requested:
        return max(1, min(requested, chunks))
    return max(1, min(cores or 1, count // IMAGES_PER_DEFAULT_JOB))
