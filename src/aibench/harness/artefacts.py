"""Data-set artefacts built once and reused: a subword model, a vocabulary, anything a user would ship with the data.

MLPerf lets preprocessing that yields such an artefact happen before the clock (its references build their
vocabularies offline); everything else a run does to its data is timed. An artefact is cached under
`<cache>/artefacts/<benchmark>/<name>-<key>/`, where the key hashes the settings that shape it and the size and
modification time of every input file, so a changed data set or setting builds a new one and a stale one is never read.
`aibench data prepare` builds them ahead of a run; a run that finds none builds it during its untimed
initialization and its record says so (`built_in_run` and the seconds it took).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

COMPLETE = ".aibench-complete"


def artefact_key(settings: dict[str, Any], inputs: Iterable[Path]) -> str:
    """A short hash of what shapes the artefact: its settings and each input file's path, size and mtime."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for path in sorted(Path(p).resolve() for p in inputs):
        stat = path.stat()
        digest.update(f"\n{path}\t{stat.st_size}\t{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def cached_artefact(cache_dir: Path, owner: str, name: str, settings: dict[str, Any], inputs: Iterable[Path],
                    build: Callable[[Path], None]) -> tuple[Path, dict[str, Any]]:
    """The artefact's folder, built by `build(folder)` when no complete copy is cached, and what the record says
    about it (name, key, path, whether this call built it and how long that took)."""
    key = artefact_key(settings, inputs)
    folder = Path(cache_dir) / "artefacts" / owner / f"{name}-{key}"
    info: dict[str, Any] = {"name": name, "key": key, "path": str(folder), "built_in_run": False, "build_s": None}
    if (folder / COMPLETE).exists():
        return folder, info
    partial = folder.with_name(f"{folder.name}.partial-{os.getpid()}")  # two runs building at once never mix
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    start = time.perf_counter()
    try:
        build(partial)
        (partial / COMPLETE).write_text(json.dumps(settings, sort_keys=True, default=str) + "\n")
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    info.update(built_in_run=True, build_s=time.perf_counter() - start)
    if (folder / COMPLETE).exists():  # another process finished first: keep its copy
        shutil.rmtree(partial, ignore_errors=True)
    else:
        shutil.rmtree(folder, ignore_errors=True)
        partial.rename(folder)
    return folder, info
