"""Gowalla check-ins in SNAP's layout: `loc-gowalla_totalCheckins.txt` (or its .gz), one check-in a line.

Each line is tab-separated: user id, check-in time (ISO-8601 UTC, e.g. 2010-10-19T23:55:27Z), latitude,
longitude, location id. SNAP lists each user's check-ins newest first; readers must not rely on the order.
"""

from __future__ import annotations

import datetime as dt
import gzip
import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from aibench.datasets.files import MAX_INT_DIGITS, decimal, text_lines
from aibench.errors import DataError

CHECKINS_FILE = "loc-gowalla_totalCheckins.txt"
LAYOUT = f"{CHECKINS_FILE} (or {CHECKINS_FILE}.gz): user<TAB>time (ISO-8601, Z)<TAB>latitude<TAB>longitude<TAB>location"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


@dataclass(frozen=True)
class CheckIns:
    """Check-ins as parallel arrays, in file order. `time` is in seconds since the Unix epoch (UTC)."""

    user: np.ndarray  # int64
    time: np.ndarray  # int64
    latitude: np.ndarray  # float64
    longitude: np.ndarray  # float64
    location: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.user)


def find_checkins_file(path: Path) -> Path:
    """The check-ins file itself, given the file, its .gz, or a directory holding either."""
    path = Path(path)
    if path.is_dir():
        for name in (CHECKINS_FILE, CHECKINS_FILE + ".gz"):
            if (path / name).is_file():
                return path / name
        raise DataError(path, f"no Gowalla check-ins here; expected {LAYOUT}")
    if not path.is_file():
        raise DataError(path, f"does not exist; expected {LAYOUT}")
    return path


def read_checkins(path: Path, fresh: bool = False) -> CheckIns:
    """Read and validate the whole file; a malformed line is a DataError naming the file and line number.

    The last file read is kept in memory for the next untimed reader; `fresh` parses the file anew and drops
    that copy, as a timed read must (a run's data preparation may not reuse what its untimed checks parsed)."""
    file = find_checkins_file(path)
    stat = file.stat()
    if fresh:
        _read_cached.cache_clear()
        return _read_cached.__wrapped__(str(file.resolve()), stat.st_mtime_ns, stat.st_size)
    return _read_cached(str(file.resolve()), stat.st_mtime_ns, stat.st_size)


@lru_cache(maxsize=1)  # check_data and the id map's build read the same (possibly 6.4M-line) file back to back
def _read_cached(file: str, mtime_ns: int, size: int) -> CheckIns:
    columns: tuple[list, ...] = ([], [], [], [], [])
    for number, line in _numbered_lines(Path(file)):
        for column, value in zip(columns, _parse_line(Path(file), number, line)):
            column.append(value)
    if not columns[0]:
        raise DataError(file, f"holds no check-ins; expected {LAYOUT}")
    users, times, lats, lons, locations = columns
    return CheckIns(user=np.asarray(users, np.int64), time=np.asarray(times, np.int64),
                    latitude=np.asarray(lats, np.float64), longitude=np.asarray(lons, np.float64),
                    location=np.asarray(locations, np.int64))


def _numbered_lines(file: Path) -> Iterator[tuple[int, str]]:
    """Non-blank lines with 1-based numbers; undecodable bytes, a damaged .gz (a truncated one, or damaged
    deflate data) or a line too long to be a check-in (a gzip bomb) become DataErrors."""
    for number, line in enumerate(text_lines(file, LAYOUT), start=1):
        if line.strip():
            yield number, line


def _parse_line(file: Path, number: int, line: str) -> tuple[int, int, float, float, int]:
    fields = line.rstrip("\r\n").split("\t")
    if len(fields) != 5:
        raise DataError(file, f"line {number}: expected 5 tab-separated fields "
                              f"(user, time, latitude, longitude, location), found {len(fields)}")
    user, time, lat, lon, location = fields
    return (_parse_id(file, number, "user id", user), _parse_time(file, number, time),
            _parse_coordinate(file, number, "latitude", lat), _parse_coordinate(file, number, "longitude", lon),
            _parse_id(file, number, "location id", location))


def _parse_id(file: Path, number: int, what: str, text: str) -> int:
    value = decimal(text)
    if value is None:
        raise DataError(file, f"line {number}: {what} {text[:40]!r} is not a non-negative integer of at most "
                              f"{MAX_INT_DIGITS} digits")
    return value


def _parse_time(file: Path, number: int, text: str) -> int:
    # fromisoformat is ~20x faster than strptime (6.4M lines) but lenient, so the shape is checked first
    stamp = None
    if len(text) == 20 and text[10] == "T" and text[19] == "Z":
        try:
            stamp = dt.datetime.fromisoformat(text)
        except ValueError:
            pass
    if stamp is None:
        raise DataError(file, f"line {number}: time {text!r} is not ISO-8601 like 2010-10-19T23:55:27Z")
    return int(stamp.timestamp())


def _parse_coordinate(file: Path, number: int, what: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise DataError(file, f"line {number}: {what} {text!r} is not a finite number")
    return value


def format_time(seconds: int) -> str:
    """A Unix time as SNAP writes it (2010-10-19T23:55:27Z)."""
    return dt.datetime.fromtimestamp(int(seconds), dt.UTC).strftime(_TIME_FORMAT)


def write_checkins(path: Path, checkins: CheckIns) -> Path:
    """Write check-ins in SNAP's layout and order (by user, each user's newest first); .gz if path ends so."""
    path = Path(path)
    order = np.lexsort((-checkins.time, checkins.user))
    # numpy formats all times at once (2010-10-19T23:55:27 + Z): a datetime object a line is 5x slower
    times = np.datetime_as_string(checkins.time[order].astype("datetime64[s]"), unit="s")
    lines = [f"{user}\t{time}Z\t{lat:.10f}\t{lon:.10f}\t{location}\n" for user, time, lat, lon, location in
             zip(checkins.user[order].tolist(), times.tolist(), checkins.latitude[order].tolist(),
                 checkins.longitude[order].tolist(), checkins.location[order].tolist())]
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wt", encoding="utf-8", newline="") as handle:
        handle.writelines(lines)
    return path
