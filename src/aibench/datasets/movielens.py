"""MovieLens ratings in GroupLens' layouts: ml-100k's `u.data` and ml-1m's `ratings.dat`.

`u.data` (100K): one rating a line, tab-separated `user id<TAB>item id<TAB>rating<TAB>timestamp`.
`ratings.dat` (1M): one rating a line, `UserID::MovieID::Rating::Timestamp`.
Ids start at 1, ratings are whole stars 1-5 and timestamps are Unix seconds. The folder a user points at
(ml-100k/ or ml-1m/) holds one of the two files; the reader finds which. Other files there (u.item,
movies.dat, users.dat ...) are not needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO

import numpy as np

from aibench.errors import DataError

FILE_100K = "u.data"
FILE_1M = "ratings.dat"
SEPARATORS = {FILE_100K: "\t", FILE_1M: "::"}
LAYOUT = (f"a MovieLens folder holding {FILE_100K} (ml-100k: user<TAB>item<TAB>rating<TAB>timestamp) or "
          f"{FILE_1M} (ml-1m: UserID::MovieID::Rating::Timestamp)")
_FIELDS = ("user id", "item id", "rating", "timestamp")


@dataclass(frozen=True)
class Ratings:
    """Ratings as parallel int64 arrays, in file order; `source` is the file they were read from."""

    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray
    timestamp: np.ndarray
    source: Path = Path("ratings")

    def __len__(self) -> int:
        return len(self.user)


def find_ratings_file(path: Path) -> Path:
    """The ratings file of a MovieLens folder (or the file itself); a DataError if there is none, or both."""
    path = Path(path)
    if path.is_file() and path.name in SEPARATORS:
        return path
    if not path.is_dir():
        raise DataError(path, f"does not exist or is not a MovieLens ratings file; expected {LAYOUT}")
    present = [path / name for name in SEPARATORS if (path / name).is_file()]
    if not present:
        raise DataError(path, f"no MovieLens ratings here; expected {LAYOUT}")
    if len(present) > 1:
        raise DataError(path, f"holds both {FILE_100K} and {FILE_1M}; point at one data set's folder")
    return present[0]


def read_ratings(path: Path) -> Ratings:
    """Read and validate a whole ratings file (given it or its folder); a malformed line is a DataError
    naming the file and the line number."""
    file = find_ratings_file(path)
    stat = file.stat()
    return _read_cached(str(file.resolve()), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=1)  # check_data and setup read the same (1M-line) file back to back
def _read_cached(file: str, mtime_ns: int, size: int) -> Ratings:
    path = Path(file)
    separator = SEPARATORS[path.name]
    columns: tuple[list[int], ...] = ([], [], [], [])
    with open(path, "rb") as handle:
        for number, line in _numbered_lines(path, handle):
            for column, value in zip(columns, _parse_line(path, number, line, separator)):
                column.append(value)
    if not columns[0]:
        raise DataError(path, f"holds no ratings; expected {LAYOUT}")
    user, item, rating, timestamp = (np.asarray(column, dtype=np.int64) for column in columns)
    return Ratings(user=user, item=item, rating=rating, timestamp=timestamp, source=path)


def _numbered_lines(file: Path, handle: IO[bytes]) -> Iterator[tuple[int, str]]:
    """Non-blank lines with 1-based numbers; a line that is not ASCII is a DataError."""
    for number, raw in enumerate(handle, start=1):
        try:
            line = raw.decode("ascii")
        except UnicodeDecodeError:
            raise DataError(file, f"line {number}: not ASCII text; expected {LAYOUT}") from None
        if line.strip():
            yield number, line


def _parse_line(file: Path, number: int, line: str, separator: str) -> tuple[int, int, int, int]:
    fields = line.rstrip("\r\n").split(separator)
    if len(fields) != 4:
        shown = "<TAB>" if separator == "\t" else separator
        raise DataError(file, f"line {number}: expected 4 fields separated by {shown} "
                              f"(user, item, rating, timestamp), found {len(fields)}")
    values = []
    for what, text in zip(_FIELDS, fields):
        if not text.isdigit():
            raise DataError(file, f"line {number}: {what} {text!r} is not a non-negative integer")
        values.append(int(text))
    user, item, rating, _ = values
    if user < 1 or item < 1:
        raise DataError(file, f"line {number}: ids start at 1, found user {user} item {item}")
    if not 1 <= rating <= 5:
        raise DataError(file, f"line {number}: rating {rating} is not 1-5 stars")
    return user, item, rating, values[3]


def write_ratings(data_dir: Path, ratings: Ratings, file_name: str = FILE_100K) -> Path:
    """Write ratings in a GroupLens layout (u.data or ratings.dat, chosen by file_name) under data_dir."""
    if file_name not in SEPARATORS:
        raise ValueError(f"file_name must be one of {', '.join(SEPARATORS)}, not {file_name!r}")
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    sep = SEPARATORS[file_name]
    lines = [f"{u}{sep}{i}{sep}{r}{sep}{t}\n"
             for u, i, r, t in zip(ratings.user, ratings.item, ratings.rating, ratings.timestamp)]
    path = data_dir / file_name
    with open(path, "w", encoding="ascii", newline="") as handle:
        handle.writelines(lines)
    return path
