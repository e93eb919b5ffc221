"""The system under test LoadGen drives: a queue, worker threads and dynamic batching.

LoadGen's issue callback only enqueues the query samples and returns, so its issue thread never blocks on the
model (what the Server scenario needs: queries keep arriving on their Poisson schedule while earlier ones are being
served). Worker threads take up to `max_batch_size` samples, waiting at most `max_wait_s` after the first one for
more to arrive, run the model once on the batch and complete each sample with its output serialized into the
response, so LoadGen's accuracy log holds what was served.

The performance sample set is what LoadGen asks the query sample library to load: `load_samples` keeps those
samples (and only those) in memory until `unload_samples` drops them. The library's total is the benchmark's
whole evaluation split (its queries); the accuracy pass loads it one performance sample set at a time.
"""

from __future__ import annotations

import io
import pickle
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import mlperf_loadgen as lg
import numpy as np
import torch


@dataclass
class Batching:
    """How the workers group queued samples: at most `max_batch_size` per model call, and a batch waits at most
    `max_wait_s` after its first sample for more. `workers` threads serve the queue."""

    max_batch_size: int = 16
    max_wait_s: float = 0.002
    workers: int = 1


class _CompactPickler(pickle.Pickler):
    """Pickles a tensor as its own elements' bytes (a numpy array). torch's own pickling writes a tensor's whole
    storage, so one row of a batch's output (what a benchmark's infer() returns per sample) would carry the whole
    batch: 16 times the bytes at the Offline batch of 16, in every response LoadGen logs."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, torch.Tensor) and obj.layout == torch.strided and not obj.requires_grad:
            values = obj.detach().cpu().contiguous()
            if values.dtype == torch.bool:  # occupancy grids, masks: a bit each, not a byte
                return _bits_from, (np.packbits(values.numpy().ravel()), tuple(values.shape))
            if values.dtype == torch.bfloat16:  # numpy has no bfloat16: its bits travel as int16
                return _tensor_from, (values.view(torch.int16).numpy().copy(), "bfloat16")
            return _tensor_from, (values.numpy().copy(), None)
        return NotImplemented


def _tensor_from(array: np.ndarray, view_as: str | None) -> torch.Tensor:
    tensor = torch.from_numpy(array)
    return tensor.view(getattr(torch, view_as)) if view_as else tensor


def _bits_from(packed: np.ndarray, shape: tuple[int, ...]) -> torch.Tensor:
    count = int(np.prod(shape, dtype=np.int64))
    return torch.from_numpy(np.unpackbits(packed, count=count).astype(bool).reshape(shape))


def serialize(output: Any) -> bytes:
    """One sample's output as bytes for LoadGen's response (and so for mlperf_log_accuracy.json), tensors as
    their own values' bytes."""
    buffer = io.BytesIO()
    _CompactPickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(output)
    return buffer.getvalue()


def deserialize(data: bytes) -> Any:
    """The output a response carried. The accuracy log is read from this run's own output folder."""
    return pickle.loads(data)  # noqa: S301 - our own log, written by this process a moment ago


class SampleLibrary:
    """LoadGen's query sample library: `count` samples by index (LoadGen's total sample count), of which LoadGen
    loads `performance_count` at a time, when it says so.

    `fetch(i)` gives sample i (a benchmark's `load_query`: read and preprocessed on demand, or from memory the
    benchmark already holds); only what LoadGen loaded is kept here, so what a query reads is what LoadGen loaded
    and the memory held is one performance sample set, not the whole split. `peak_loaded` is the most ever held."""

    def __init__(self, count: int, fetch: Callable[[int], Any], performance_count: int | None = None) -> None:
        self.count, self.fetch = count, fetch
        self.performance_count = min(performance_count or count, count)
        self.loaded: dict[int, Any] = {}
        self.loads = self.unloads = self.peak_loaded = 0
        self.fetched = 0  # samples read through fetch (a sample LoadGen loads twice is read twice)

    def load_samples(self, indices: Sequence[int]) -> None:
        self.loads += 1
        for i in indices:
            if i not in self.loaded:
                self.loaded[i] = self.fetch(i)
                self.fetched += 1
        self.peak_loaded = max(self.peak_loaded, len(self.loaded))

    def unload_samples(self, indices: Sequence[int]) -> None:
        self.unloads += 1
        for i in indices:
            self.loaded.pop(i, None)

    def __getitem__(self, index: int) -> Any:
        return self.loaded[index]  # a KeyError here: LoadGen issued a sample it never asked us to load


class ServedModel:
    """Asynchronous SUT: `issue_queries` enqueues; `batching.workers` threads batch, predict, serialize, complete.

    `predict(samples) -> outputs` runs in the worker threads (a benchmark's infer under no_grad and its autocast,
    or in tests a fixed sleep). `synchronous=True` answers inside LoadGen's callback instead (the bare baseline
    the overhead script compares against)."""

    def __init__(self, predict: Callable[[list[Any]], list[Any]], library: SampleLibrary,
                 batching: Batching | None = None, synchronous: bool = False, carry_outputs: bool = True) -> None:
        self.predict, self.library = predict, library
        self.batching = batching or Batching()
        self.synchronous, self.carry_outputs = synchronous, carry_outputs
        self.queue: queue.Queue[Any] = queue.Queue()
        self.threads: list[threading.Thread] = []
        self.error: BaseException | None = None
        self.lock = threading.Lock()
        self.reset_counts()

    def reset_counts(self) -> None:
        self.queries = self.samples_done = self.batches = 0
        self.largest_batch = 0

    # ----- LoadGen's callbacks ---------------------------------------------------------------------------
    def issue_queries(self, query_samples: list[Any]) -> None:
        with self.lock:
            self.queries += 1
        size = self.batching.max_batch_size
        chunks = [list(query_samples[i:i + size]) for i in range(0, len(query_samples), size)]
        for chunk in chunks:  # a query's samples stay together (a MultiStream query is one batch)
            if self.synchronous:
                self._serve(chunk)
            else:
                self.queue.put(chunk)

    def flush_queries(self) -> None:
        pass

    # ----- workers -------------------------------------------------------------------------------------
    def __enter__(self) -> ServedModel:
        if not self.synchronous:
            self.threads = [threading.Thread(target=self._work, name=f"aibench-sut-{i}", daemon=True)
                            for i in range(self.batching.workers)]
            for t in self.threads:
                t.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        for _ in self.threads:
            self.queue.put(None)
        for t in self.threads:
            t.join()
        self.threads = []

    def _work(self) -> None:
        b = self.batching
        pending: list[Any] | None = None  # a chunk taken that did not fit the last batch
        while True:
            first = pending if pending is not None else self.queue.get()
            pending = None
            if first is None:
                return
            batch = list(first)
            deadline = time.perf_counter() + b.max_wait_s
            stop = False
            while len(batch) < b.max_batch_size:
                try:  # what is already queued joins at once; then wait for more until the deadline
                    item = self.queue.get_nowait()
                except queue.Empty:
                    left = deadline - time.perf_counter()
                    if left <= 0:
                        break
                    try:
                        item = self.queue.get(timeout=left)
                    except queue.Empty:
                        break
                if item is None:
                    stop = True
                    break
                if len(batch) + len(item) > b.max_batch_size:
                    pending = item
                    break
                batch.extend(item)
            self._serve(batch)
            if stop:
                return

    def _serve(self, batch: list[Any]) -> None:
        try:
            outputs = self.predict([self.library[q.index] for q in batch])
            if len(outputs) != len(batch):
                raise RuntimeError(f"the model answered {len(outputs)} outputs for {len(batch)} samples")
        except BaseException as err:  # keep the first failure; LoadGen still needs every sample completed
            if self.error is None:
                self.error = err
            outputs = [None] * len(batch)
        with self.lock:
            self.samples_done += len(batch)
            self.batches += 1
            self.largest_batch = max(self.largest_batch, len(batch))
        if self.carry_outputs:
            buffers = [np.frombuffer(serialize(o), dtype=np.uint8) for o in outputs]
            responses = [lg.QuerySampleResponse(q.id, buf.ctypes.data, buf.nbytes) for q, buf in zip(batch, buffers)]
        else:
            buffers = []
            responses = [lg.QuerySampleResponse(q.id, 0, 0) for q in batch]
        lg.QuerySamplesComplete(responses)  # LoadGen copies what it logs before this returns
        del buffers
