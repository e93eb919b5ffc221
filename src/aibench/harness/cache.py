"""MLPerf's `cache_clear`: before a timed run the data set must not already sit in the page cache from an earlier
run. Dropping the whole system's cache needs root; dropping one data set's files does not: each file is advised
out of the cache with posix_fadvise(POSIX_FADV_DONTNEED), which the kernel honours for clean pages."""

from __future__ import annotations

import os
from pathlib import Path


def drop_file_cache(root: Path) -> tuple[bool, int]:
    """Advise the kernel to drop every file under `root` from the page cache; (all dropped, files advised)."""
    if not hasattr(os, "posix_fadvise") or not root.exists():
        return False, 0
    files, complete = 0, True
    paths = [root] if root.is_file() else (p for p in root.rglob("*") if p.is_file())
    for path in paths:
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            complete = False
            continue
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            files += 1
        except OSError:
            complete = False
        finally:
            os.close(fd)
    return complete, files
