"""MovieLens ratings in GroupLens' layouts: ml-100k's `u.data`, ml-1m's `ratings.dat` and ml-20m's `ratings.csv`.

`u.data` (100K): one rating a line, tab-separated `user id<TAB>item id<TAB>rating<TAB>timestamp`.
`ratings.dat` (1M): one rating a line, `UserID::MovieID::Rating::Timestamp`.
`ratings.csv` (20M): a header line `userId,movieId,rating,timestamp`, then one rating a line, comma-separated.
Ids start at 1 and timestamps are Unix seconds; ratings are whole stars 1-5 in 100K and 1M and half stars
0.5-5.0 in 20M. The folder a user points at (ml-100k/, ml-1m/ or ml-20m/) holds one of the files: the reader
finds which, or reads the one a data set name chooses (`find_ratings_file(path, "ml-20m")`). Other files there
(u.item, movies.dat, tags.csv ...) are not needed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO

import numpy as np

from aibench.datasets.files import MAX_INT_DIGITS, decimal
from aibench.errors import DataError

FILE_100K = "u.data"
FILE_1M = "ratings.dat"
FILE_20M = "ratings.csv"
SEPARATORS = {FILE_100K: "\t", FILE_1M: "::", FILE_20M: ","}
DATASET_FILES = {"ml-100k": FILE_100K, "ml-1m": FILE_1M, "ml-20m": FILE_20M}  # release name -> ratings file
CSV_HEADER = "userId,movieId,rating,timestamp"
LAYOUT = (f"a MovieLens folder holding {FILE_100K} (ml-100k: user<TAB>item<TAB>rating<TAB>timestamp), "
          f"{FILE_1M} (ml-1m: UserID::MovieID::Rating::Timestamp) or {FILE_20M} (ml-20m: header {CSV_HEADER})")
_FIELDS = ("user id", "item id", "rating", "timestamp")
_STARS = {FILE_100K: "1-5 whole stars", FILE_1M: "1-5 whole stars", FILE_20M: "0.5-5.0 in half stars"}


@dataclass(frozen=True)
class Ratings:
    """Ratings as parallel int64 arrays, in file order; `source` is the file they were read from."""

    user: np.ndarray
    item: np.ndarray
    rating: np.ndarray  # float64 stars (ml-20m has half stars)
    timestamp: np.ndarray
    source: Path = Path("ratings")

    def __len__(self) -> int:
        return len(self.user)


def find_ratings_file(path: Path, dataset: str | None = None) -> Path:
    """The ratings file of a MovieLens folder (or the file itself); a DataError if there is none, or several.

    With `dataset` (ml-100k, ml-1m or ml-20m) only that release's file counts: in the folder itself or in its
    subfolder named after the release (a root holding several releases); its absence is a DataError."""
    path = Path(path)
    if dataset is not None:
        return _dataset_file(path, dataset)
    if path.is_file() and path.name in SEPARATORS:
        return path
    if not path.is_dir():
        raise DataError(path, f"does not exist or is not a MovieLens ratings file; expected {LAYOUT}")
    present = [path / name for name in SEPARATORS if (path / name).is_file()]
    if not present:
        raise DataError(path, f"no MovieLens ratings here; expected {LAYOUT}")
    if len(present) > 1:
        raise DataError(path, f"holds {' and '.join(p.name for p in present)}; point at one data set's folder")
    return present[0]


def _dataset_file(path: Path, dataset: str) -> Path:
    if dataset not in DATASET_FILES:
        raise DataError(path, f"unknown MovieLens release {dataset!r}; choose one of {', '.join(DATASET_FILES)}")
    name = DATASET_FILES[dataset]
    if path.is_file() and path.name == name:
        return path
    for candidate in (path / name, path / dataset / name):
        if candidate.is_file():
            return candidate
    raise DataError(path, f"no {name} here or in {dataset}/: the configuration reads MovieLens {dataset}")


def read_ratings(path: Path, dataset: str | None = None, fresh: bool = False) -> Ratings:
    """Read and validate a whole ratings file (given it or its folder, and optionally the release to read); a
    malformed line is a DataError naming the file and the line number.

    The last file read is kept in memory for the next untimed reader; `fresh` parses the file anew and drops
    that copy, as a timed read must (a run's data preparation may not reuse what its untimed checks parsed)."""
    file = find_ratings_file(path, dataset)
    stat = file.stat()
    if fresh:
        _read_cached.cache_clear()
        return _read_cached.__wrapped__(str(file.resolve()), stat.st_mtime_ns, stat.st_size)
    return _read_cached(str(file.resolve()), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=1)  # check_data and the id map's build read the same (1M-line) file back to back
def _read_cached(file: str, mtime_ns: int, size: int) -> Ratings:
    path = Path(file)
    separator = SEPARATORS[path.name]
    columns: tuple[list, ...] = ([], [], [], [])
    with open(path, "rb") as handle:
        lines = _numbered_lines(path, handle)
        if path.name == FILE_20M:
            _skip_header(path, lines)
        for number, line in lines:
            for column, value in zip(columns, _parse_line(path, number, line, separator)):
                column.append(value)
    if not columns[0]:
        raise DataError(path, f"holds no ratings; expected {LAYOUT}")
    user, item, timestamp = (np.asarray(columns[i], dtype=np.int64) for i in (0, 1, 3))
    rating = np.asarray(columns[2], dtype=np.float64)
    return Ratings(user=user, item=item, rating=rating, timestamp=timestamp, source=path)


def _skip_header(file: Path, lines: Iterator[tuple[int, str]]) -> None:
    """ml-20m's ratings.csv starts with its column names; anything else there is a DataError."""
    first = next(lines, None)
    if first is None or first[1].strip() != CSV_HEADER:
        raise DataError(file, f"line {first[0] if first else 1}: expected the header {CSV_HEADER}")


def _numbered_lines(file: Path, handle: IO[bytes]) -> Iterator[tuple[int, str]]:
    """Non-blank lines with 1-based numbers; a line that is not ASCII is a DataError."""
    for number, raw in enumerate(handle, start=1):
        try:
            line = raw.decode("ascii")
        except UnicodeDecodeError:
            raise DataError(file, f"line {number}: not ASCII text; expected {LAYOUT}") from None
        if line.strip():
            yield number, line


def _parse_line(file: Path, number: int, line: str, separator: str) -> tuple[int, int, float, int]:
    fields = line.rstrip("\r\n").split(separator)
    if len(fields) != 4:
        shown = "<TAB>" if separator == "\t" else separator
        raise DataError(file, f"line {number}: expected 4 fields separated by {shown} "
                              f"(user, item, rating, timestamp), found {len(fields)}")
    user, item, timestamp = (_integer(file, number, what, text) for what, text in zip(_FIELDS, fields)
                             if what != "rating")
    if user < 1 or item < 1:
        raise DataError(file, f"line {number}: ids start at 1, found user {user} item {item}")
    return user, item, _stars(file, number, fields[2]), timestamp


def _integer(file: Path, number: int, what: str, text: str) -> int:
    value = decimal(text)
    if value is None:
        raise DataError(file, f"line {number}: {what} {text[:40]!r} is not a non-negative integer of at most "
                              f"{MAX_INT_DIGITS} digits")
    return value


def _stars(file: Path, number: int, text: str) -> float:
    """A rating: whole stars 1-5 in u.data and ratings.dat, half stars 0.5-5.0 in ratings.csv."""
    half_stars = file.name == FILE_20M
    valid = text.isdigit() or (half_stars and text.replace(".", "", 1).isdigit())
    value = float(text) if valid else None
    if value is None:
        raise DataError(file, f"line {number}: rating {text!r} is not a number of stars ({_STARS[file.name]})")
    if not ((0.5 <= value <= 5 and (2 * value).is_integer()) if half_stars else 1 <= value <= 5):
        raise DataError(file, f"line {number}: rating {text} is not {_STARS[file.name]}")
    return value


def write_ratings(data_dir: Path, ratings: Ratings, file_name: str = FILE_100K) -> Path:
    """Write ratings in a GroupLens layout (u.data, ratings.dat or ratings.csv, chosen by file_name) under
    data_dir: whole stars as integers in the first two, one decimal (4.0, 3.5) and a header in ratings.csv."""
    if file_name not in SEPARATORS:
        raise ValueError(f"file_name must be one of {', '.join(SEPARATORS)}, not {file_name!r}")
    data_dir = Path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    sep = SEPARATORS[file_name]
    stars = [f"{float(r):.1f}" if file_name == FILE_20M else str(int(r)) for r in ratings.rating]
    lines = [f"{u}{sep}{i}{sep}{r}{sep}{t}\n"
             for u, i, r, t in zip(ratings.user, ratings.item, stars, ratings.timestamp)]
    path = data_dir / file_name
    with open(path, "w", encoding="ascii", newline="") as handle:
        handle.writelines([CSV_HEADER + "\n"] if file_name == FILE_20M else [])
        handle.writelines(lines)
    return path
