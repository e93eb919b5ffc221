"""Training logs in MLPerf's `:::MLLOG` format, written with the mlperf-logging package.

Each run gets its own file and its own logger, so several benchmarks in one process never share a log.
"""

from __future__ import annotations

import itertools
import logging
from pathlib import Path
from typing import Any

from mlperf_logging.mllog import constants as C
from mlperf_logging.mllog.mllog import MLLogger

_ids = itertools.count()


class RunLog:
    """One MLPerf-format log file for one training run, written as `<name>.partial` and renamed to `path` when
    closed: a file under the final name is always a whole log; a crashed run leaves its `.partial`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.writing_path = path.with_name(path.name + ".partial")
        path.parent.mkdir(parents=True, exist_ok=True)
        self._logger = logging.getLogger(f"aibench.mllog.{next(_ids)}")
        self._logger.propagate = False  # the terminal shows progress; the log goes to its file only
        self._logger.setLevel(logging.INFO)
        self._handler = logging.FileHandler(self.writing_path, mode="w")
        self._logger.addHandler(self._handler)
        self.ml = MLLogger(logger=self._logger, default_stack_offset=2)

    def event(self, key: str, value: Any = None, **metadata: Any) -> None:
        self.ml.event(key=key, value=value, metadata=metadata or None)

    def start(self, key: str, value: Any = None, **metadata: Any) -> None:
        self.ml.start(key=key, value=value, metadata=metadata or None)

    def end(self, key: str, value: Any = None, **metadata: Any) -> None:
        self.ml.end(key=key, value=value, metadata=metadata or None)

    def submission(self, benchmark: str, platform: str, config_name: str, batch_size: int,
                   precision: str = "fp32") -> None:
        """The submission_* and disclosure keys MLPerf's common training rules require; `precision` is the
        lowest the run's math actually used (see `lowest_precision`)."""
        self.event(C.SUBMISSION_BENCHMARK, benchmark)
        self.event(C.SUBMISSION_ORG, "aibench")
        self.event(C.SUBMISSION_DIVISION, "open")  # not an MLPerf closed-division benchmark
        self.event(C.SUBMISSION_STATUS, "research")
        self.event(C.SUBMISSION_PLATFORM, platform)
        for key in ("lowest_numerical_precision_in_linear", "lowest_numerical_precision_in_attn",
                    "lowest_numerical_precision_in_comm"):
            self.event(key, precision)
        for key in ("tensor_parallelism", "pipeline_parallelism", "context_parallelism", "expert_parallelism"):
            self.event(key, 1)
        self.event("micro_batch_size", batch_size)
        self.event("config_filename", config_name)

    def close(self) -> None:
        self._logger.removeHandler(self._handler)
        self._handler.close()
        if self.writing_path.exists():
            self.writing_path.replace(self.path)


class NullLog(RunLog):
    """The log of a rank other than 0: one MLPerf log per run, written by rank 0 alone."""

    def __init__(self) -> None:  # noqa: D107 - nothing to open
        self.path = self.writing_path = Path("/dev/null")

    def event(self, key: str, value: Any = None, **metadata: Any) -> None:
        pass

    start = end = event

    def close(self) -> None:
        pass


def lowest_precision(device_type: str, autocast: str = "fp32") -> str:
    """The lowest precision the run's math really uses, in MLPerf's words: the autocast dtype under `--precision
    bf16|fp16` ("bfloat16", "fp16"); else what float32 math runs as: on CUDA, PyTorch lets cuDNN convolutions (by
    default) and matmuls (when allowed) use TF32; on the CPU it is float32."""
    if autocast in ("bf16", "fp16"):
        return {"bf16": "bfloat16", "fp16": "fp16"}[autocast]  # the values MLPerf's compliance checker accepts
    if device_type != "cuda":
        return "fp32"
    import torch

    tf32 = torch.backends.cudnn.allow_tf32 or torch.backends.cuda.matmul.allow_tf32
    return "tf32" if tf32 else "fp32"


def read_events(path: Path) -> list[dict[str, Any]]:
    """The log's events as dicts (key, value, metadata, time_ms), using mlperf-logging's own parser."""
    from mlperf_logging.compliance_checker.mlp_parser import parse_file

    lines, errors = parse_file(str(path), ruleset="6.1.0")
    if errors:
        raise ValueError(f"{path}: unparsable MLLOG lines: {errors[:3]}")
    return [{"key": ll.key, "value": ll.value["value"], "metadata": ll.value.get("metadata", {}),
             "time_ms": ll.timestamp} for ll in lines]
