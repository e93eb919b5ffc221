"""Reading data-set files so that whatever is wrong with one is a DataError naming it, never a traceback.

A data set on disk may be missing, truncated, replaced by other bytes, written in another encoding or damaged so
that a header claims an absurd size. The readers parse their formats themselves; what they share lives here:
whole-file and line-by-line reads, JSON, numbers written as text and image decoding. Sizes a file claims are
checked before anything that large is allocated.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aibench.errors import DataError

# No line of a text corpus is this long; a longer one is a damaged file or a decompression bomb (a few KB of
# gzip can inflate to gigabytes without a line end), refused before it is held in memory.
MAX_LINE_CHARS = 1 << 22
MAX_INT_DIGITS = 18  # integers written as text fit in int64; longer digit strings are damage


def _expected(expected: str | None) -> str:
    return f"; expected {expected}" if expected else ""


def is_file(path: Path) -> bool:
    """Path.is_file(), but False rather than an OSError for a path the file system refuses (a name over 255
    bytes, say): paths built from names a list file gives are only as sane as that file."""
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False


def is_dir(path: Path) -> bool:
    """Path.is_dir(), but False rather than an OSError for a path the file system refuses."""
    try:
        return Path(path).is_dir()
    except (OSError, ValueError):
        return False


def read_bytes(path: Path, expected: str | None = None) -> bytes:
    """The whole file; a missing or unreadable file is a DataError naming it."""
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise DataError(path, f"missing{_expected(expected)}") from None
    except OSError as err:
        raise DataError(path, f"cannot be read ({err.strerror or err}){_expected(expected)}") from None


def decode_text(data: bytes, path: Path, encoding: str = "utf-8", expected: str | None = None) -> str:
    """`data` (the bytes of `path`) as text; bytes that are not `encoding` are a DataError saying where."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as err:
        hint = " (it starts with a UTF-16 byte order mark)" if data[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
        raise DataError(path, f"not {encoding.upper()} text: undecodable byte at offset {err.start}{hint}"
                              f"{_expected(expected)}") from None


def read_text(path: Path, encoding: str = "utf-8", expected: str | None = None) -> str:
    """The whole file as text in `encoding` (UTF-8 unless the format says otherwise, never the locale's)."""
    return decode_text(read_bytes(path, expected), path, encoding, expected)


def text_lines(path: Path, expected: str | None = None) -> Iterator[str]:
    """The lines of a UTF-8 text file, gzipped when its name ends in .gz, without their line ends. Undecodable
    text, a damaged .gz or a line longer than MAX_LINE_CHARS is a DataError naming the file and the line.

    The text is read in chunks and split here (as fast as iterating over the file) so that a line without end
    is refused once it passes the limit, not held whole."""
    path = Path(path)
    number = 0  # lines yielded so far
    try:
        with (gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz"
              else open(path, encoding="utf-8")) as handle:
            rest = ""
            while chunk := handle.read(1 << 20):
                lines = (rest + chunk).split("\n")  # universal newlines: \r\n and \r arrive as \n
                rest = lines.pop()
                if len(rest) > MAX_LINE_CHARS:
                    raise DataError(path, f"line {number + len(lines) + 1} is longer than {MAX_LINE_CHARS} "
                                          f"characters: a damaged file{_expected(expected)}")
                number += len(lines)
                yield from lines
            if rest:
                number += 1
                yield rest
    except UnicodeDecodeError:
        raise DataError(path, f"not UTF-8 text (after line {number}){_expected(expected)}") from None
    except (OSError, EOFError, zlib.error) as err:  # missing, unreadable, or a damaged .gz
        raise DataError(path, f"cannot be read: unreadable after line {number} ({err}){_expected(expected)}"
                        ) from None


def _finite_json_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def load_json(path: Path, expected: str | None = None) -> Any:
    """A JSON document. Invalid JSON, NaN or infinite numbers, integers of thousands of digits and nesting too
    deep to parse are a DataError naming the file."""
    text = read_text(path, "utf-8", expected)
    try:
        return json.loads(text, parse_float=_finite_json_float, parse_constant=_no_constant)
    except RecursionError:
        raise DataError(path, f"JSON nested too deeply to read{_expected(expected)}") from None
    except ValueError as err:  # json.JSONDecodeError, and the number checks
        raise DataError(path, f"not valid JSON ({err}){_expected(expected)}") from None


def decimal(text: str) -> int | None:
    """A non-negative integer written in ASCII digits (at most MAX_INT_DIGITS of them), else None. Unlike
    str.isdigit() and int(), this refuses superscripts and other scripts' digits."""
    if 0 < len(text) <= MAX_INT_DIGITS and text.isascii() and text.isdigit():
        return int(text)
    return None


def finite_float(text: str) -> float | None:
    """A finite number written as text, else None (for NaN, infinities and what is no number)."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def decode_image(source: Path | bytes, where: object, mode: str | None = None,
                 problem: str = "unreadable image") -> Any:
    """Open and fully decode an image (a file, or its encoded bytes), converted to `mode` if given; a missing
    file, undecodable or truncated data, or a header claiming more pixels than PIL's decompression-bomb limit is
    a DataError naming `where` and starting with `problem`. The size is checked from the header, before the
    pixels are allocated."""
    from PIL import Image  # not at import time: specs import the readers' LAYOUTs

    errors = (OSError, ValueError, SyntaxError, EOFError, IndexError, struct.error, Image.DecompressionBombError)
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
            width, height = image.size
            limit = Image.MAX_IMAGE_PIXELS
            if limit is not None and width * height > limit:
                raise DataError(where, f"{problem}: its header claims {width}x{height} pixels, more than the {limit} "
                                       "an image may have (a damaged file or a decompression bomb)")
            image.load()  # decode fully, so truncation is caught here
            return image.convert(mode) if mode else image.copy()
    except FileNotFoundError:
        raise DataError(where, "missing: expected an image file") from None
    except errors as err:
        raise DataError(where, f"{problem} ({type(err).__name__}: {err})") from None
