"""Capture on several processes (``capture --jobs N``), with the same bundle as a serial run.

Each worker process loads the implementations itself (spawned, not forked: MXNet, ONNX Runtime
and OpenMP thread pools do not survive a fork) and runs whole images. Workers write array files
straight into the bundle's staging folder (content-addressed, so a file two workers both write
is the same file) and hand back only records and array entries. The parent merges them in
image order, so records and arrays come out in the order a serial run writes them: the manifest
is the same apart from timings.

A small pool of our own rather than multiprocessing.Pool: the parent waits on every busy
worker's pipe, which also wakes when the worker dies, so a worker that dies (the OOM killer
on a 4 GB Jetson) stops the capture with a clear reason instead of hanging it.

Runs on CPython 3.6 with numpy only.
"""

import multiprocessing
import os
import signal
from multiprocessing.connection import wait
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .allocator import keep_image_buffers
from .bundle.writer import ArrayStore
from .errors import UserError
from .session import Session
from .stages import all_implementations
from .stages.pipeline import impl_key

# Images per task: large enough to amortise the hand-over, small enough to balance the load.
CHUNK = 8
# Without --jobs, a pool only pays off on a corpus of this many images per worker: each worker
# loads every implementation (and model) again, which takes seconds.
IMAGES_PER_DEFAULT_JOB = 100


class WorkerDied(UserError):
    """A capture worker process ended without finishing its images."""


def _worker(connection: Any, staging: str, path: str, compression: str, keys: Sequence[str],
            options: Dict[str, Any], pipeline: Dict[str, str], pipeline_only: bool,
            images_dir: str, limits: Dict[str, int]) -> None:
    # The parent handles Ctrl-C and SIGTERM (it keeps what was captured, then stops us).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    keep_image_buffers()  # as the serial capture does (allocator.py)
    store = ArrayStore(staging, path, compression)
    chosen = [i for i in all_implementations() if impl_key(i.stage, i.name) in keys]
    session = Session(store, chosen, options)
    session.pipeline = dict(pipeline)
    session.pipeline_only = pipeline_only
    while True:
        try:
            task = connection.recv()
        except (EOFError, OSError):
            return  # the parent stopped (Ctrl-C twice, a kill): it says why, not each worker
        if task is None:
            store.close()
            return
        index, images = task
        before = dict(session.counts)
        results = []
        try:
            for image in images:
                entry = session.run_file(images_dir, image, limits)
                records, arrays = store.take()
                results.append((image, entry, records, arrays))
        except Exception as exc:  # e.g. the disk is full: the parent says why and stops
            connection.send((index, None, str(exc)))
            return
        counts = {key: session.counts[key] - before[key] for key in before}
        try:
            connection.send((index, results, counts))
        except OSError:
            return  # the parent stopped: as above


def run_pool(jobs: int, images: List[str], session: Session, writer: Any, images_dir: str,
             limits: Dict[str, int], options: Dict[str, Any],
             on_image: Callable[[str, Dict[str, Any]], None]) -> None:
    """Run every image's chains on ``jobs`` worker processes; merge into ``writer`` in order.

    ``session`` is the parent's: its counts are updated, and its loaded implementations tell
    the workers which to load. ``on_image(image, manifest_entry)`` is called in image order.
    Raises WorkerDied when a worker ends early (what was merged so far is kept by capture).
    """
    keys = [impl_key(impl.stage, impl.name) for impls in session.loaded.values()
            for impl in impls]
    context = multiprocessing.get_context("spawn")
    chunks = [images[i:i + CHUNK] for i in range(0, len(images), CHUNK)]
    workers = []  # type: List[Tuple[Any, Any]]
    # Ctrl-C while workers start must reach only the parent: they inherit SIG_IGN.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        for _ in range(jobs):
            parent_end, child_end = context.Pipe()
            process = context.Process(target=_worker, args=(
                child_end, writer.staging, writer.path, writer.compression, keys, options,
                session.pipeline, session.pipeline_only, images_dir, limits), daemon=True)
            process.start()
            child_end.close()
            workers.append((process, parent_end))
    finally:
        signal.signal(signal.SIGINT, previous)
    try:
        _drive(workers, chunks, session, writer, on_image)
    finally:
        for process, connection in workers:
            if process.is_alive():
                process.terminate()
            process.join()
            connection.close()


def _drive(workers: List[Tuple[Any, Any]], chunks: List[List[str]], session: Session,
           writer: Any, on_image: Callable[[str, Dict[str, Any]], None]) -> None:
    process_of = {connection: process for process, connection in workers}
    busy = {}  # type: Dict[Any, int]  # connection -> index of the chunk it works on
    done = {}  # type: Dict[int, Tuple[Any, Any]]
    next_chunk, next_merge = 0, 0
    idle = [connection for _, connection in workers]
    while next_merge < len(chunks):
        while idle and next_chunk < len(chunks):
            connection = idle.pop()
            try:
                connection.send((next_chunk, chunks[next_chunk]))
            except OSError:  # it died after its last result, before taking more
                process = process_of[connection]
                process.join(5)
                raise WorkerDied(_death(process, [])) from None
            busy[connection] = next_chunk
            next_chunk += 1
        if not busy:
            raise WorkerDied("every capture worker ended before the images were done")
        # A worker's pipe is ready when it sent a result, or when it died (end of file).
        for ready in wait(list(busy)):
            try:
                index, results, counts = ready.recv()
            except (EOFError, OSError):
                process = process_of[ready]
                process.join(5)
                raise WorkerDied(_death(process, chunks[busy[ready]])) from None
            del busy[ready]
            if results is None:
                raise WorkerDied(counts)  # the worker's own message
            idle.append(ready)
            done[index] = (results, counts)
        while next_merge in done:
            results, counts = done.pop(next_merge)
            for image, entry, records, arrays in results:
                writer.merge(records, arrays)
                on_image(image, entry)
            for key, value in counts.items():
                session.counts[key] += value
            next_merge += 1
    for connection in idle:
        try:
            connection.send(None)
        except OSError:
            pass  # it has ended already, with every image it took delivered


def _death(process: Any, images: List[str]) -> str:
    code = process.exitcode
    how = ("was killed by signal {}{}".format(
        -code, " (likely out of memory: try fewer --jobs)" if -code == signal.SIGKILL else "")
        if code is not None and code < 0 else "exited with {}".format(code))
    if not images:
        return "a capture worker {} between two shares of the images".format(how)
    return "a capture worker {} while capturing {}{}".format(
        how, ", ".join(images[:3]), " …" if len(images) > 3 else "")


def choose_jobs(count: int, requested: Optional[int], cores: Optional[int] = None) -> int:
    """Worker processes for ``count`` images: as asked (at most one per chunk of images), or
    by default one per usable core once the corpus is large enough to repay starting them."""
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
            os.cpu_count() or 1)
    chunks = (count + CHUNK - 1) // CHUNK
    if requested:
        return max(1, min(requested, chunks))
    return max(1, min(cores, count // IMAGES_PER_DEFAULT_JOB))
