"""TFRecord files and tf.train.Example records, read and written without TensorFlow.

A TFRecord file is a sequence of records, each framed as

    uint64 length (little endian) | uint32 masked_crc32c(length bytes) | data | uint32 masked_crc32c(data)

where masked_crc32c(x) = ((crc >> 15) | (crc << 17)) + 0xa282ead8 (mod 2^32) and crc is CRC-32C (Castagnoli),
computed by google-crc32c. Both checksums are verified, so a truncated or corrupted shard is reported with the
file and byte offset instead of decoding garbage.

A record of the data sets we read is a serialized tf.train.Example protobuf:

    Example  { Features features = 1; }
    Features { map<string, Feature> feature = 1; }          (map entry: string key = 1; Feature value = 2)
    Feature  { oneof { BytesList bytes_list = 1; FloatList float_list = 2; Int64List int64_list = 3; } }
    BytesList { repeated bytes value = 1; }  FloatList { repeated float value = 1 [packed]; }
    Int64List { repeated int64 value = 1 [packed]; }

This module decodes and encodes exactly that message family with a small protobuf wire-format codec (varints,
length-delimited fields, packed and unpacked repeated scalars), so no protobuf schema or TensorFlow is needed.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import google_crc32c
import numpy as np

from aibench.errors import DataError

FeatureValue = list[bytes] | np.ndarray  # bytes_list, or float32 / int64 arrays
_MASK_DELTA = 0xA282EAD8
_HEADER = 12  # length (8) + its crc (4)
# wire types
_VARINT, _I64, _LEN, _I32 = 0, 1, 2, 5


# ----- framing --------------------------------------------------------------------------------------------------
def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC-32C of `data` (masking keeps CRCs of CRC-bearing data well distributed)."""
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def read_records(path: Path) -> Iterator[bytes]:
    """The records of one TFRecord file, checking both CRCs of each; a bad frame is a DataError naming the file
    and the byte offset of the record."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "missing: expected a TFRecord file")
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        offset = 0
        while True:
            header = f.read(_HEADER)
            if not header:
                return
            length = _record_length(path, header, offset)
            if length > size - offset - _HEADER - 4:  # checked before reading: a damaged length may say 2**60
                raise DataError(path, f"record at byte {offset} is truncated (expected {length} data bytes, the "
                                      f"file has {max(size - offset - _HEADER - 4, 0)} more)")
            data, footer = f.read(length), f.read(4)
            if len(data) < length or len(footer) < 4:
                raise DataError(path, f"record at byte {offset} is truncated (expected {length} data bytes)")
            if masked_crc32c(data) != struct.unpack("<I", footer)[0]:
                raise DataError(path, f"bad data checksum in the record at byte {offset}")
            yield data
            offset += _HEADER + length + 4


def _record_length(path: Path, header: bytes, offset: int) -> int:
    """The data length a record header (length and its checksum) gives, checked."""
    if len(header) < _HEADER:
        raise DataError(path, f"truncated record header at byte {offset}")
    length_bytes, length_crc = header[:8], struct.unpack("<I", header[8:])[0]
    if masked_crc32c(length_bytes) != length_crc:
        raise DataError(path, f"bad length checksum at byte {offset}: not a TFRecord file or corrupted")
    return struct.unpack("<Q", length_bytes)[0]


def count_records(path: Path) -> int:
    """Number of records in a TFRecord file, found by reading the length headers only (checked) and seeking."""
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "missing: expected a TFRecord file")
    count, offset = 0, 0
    with path.open("rb") as f:
        size = os.fstat(f.fileno()).st_size
        while offset < size:
            length = _record_length(path, f.read(_HEADER), offset)
            if length > size - offset - _HEADER - 4:
                raise DataError(path, f"the last record (at byte {offset}) runs past the end of the file")
            offset += _HEADER + length + 4
            f.seek(offset)
            count += 1
    return count


def frame_record(data: bytes) -> bytes:
    """One record's bytes in TFRecord framing."""
    length = struct.pack("<Q", len(data))
    return (length + struct.pack("<I", masked_crc32c(length)) + data + struct.pack("<I", masked_crc32c(data)))


def write_records(path: Path, records: Iterable[bytes]) -> None:
    """Write records to a TFRecord file (uncompressed, as the robot pushing shards are)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        for data in records:
            f.write(frame_record(data))


# ----- protobuf wire format -------------------------------------------------------------------------------------
class _WireError(ValueError):
    """Malformed protobuf bytes (turned into a DataError naming the record by the caller)."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if pos >= len(buf):
            raise _WireError("truncated varint")
        byte = buf[pos]
        result |= (byte & 0x7F) << shift
        pos += 1
        if not byte & 0x80:
            if result >> 64:  # a 10th byte above 1: no int64 or uint64 is that large
                raise _WireError("varint exceeds 64 bits")
            return result, pos
        shift += 7
        if shift > 63:
            raise _WireError("varint longer than 10 bytes")


def _fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of each field of a message; LEN values are bytes, others ints."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            value, pos = _varint(buf, pos)
        elif wire in (_I64, _I32):
            size = 8 if wire == _I64 else 4
            if pos + size > len(buf):
                raise _WireError("truncated fixed-width field")
            value, pos = int.from_bytes(buf[pos:pos + size], "little"), pos + size
        elif wire == _LEN:
            size, pos = _varint(buf, pos)
            if pos + size > len(buf):
                raise _WireError(f"field {number} claims {size} bytes past the end of its message")
            value, pos = buf[pos:pos + size], pos + size
        else:
            raise _WireError(f"unsupported wire type {wire} for field {number}")
        yield number, wire, value


def _decode_feature(buf: bytes) -> FeatureValue:
    for kind, _, payload in _fields(buf):
        if kind not in (1, 2, 3) or not isinstance(payload, bytes):
            continue
        if kind == 1:  # BytesList
            return [v for n, w, v in _fields(payload) if n == 1 and isinstance(v, bytes)]
        floats, ints = [], []
        for n, wire, v in _fields(payload):
            if n != 1:
                continue
            if kind == 2:  # FloatList: packed (LEN) or one fixed32 per value
                if wire not in (_LEN, _I32):
                    raise _WireError(f"float list value with wire type {wire}, expected packed or fixed32")
                if wire == _LEN and len(v) % 4:
                    raise _WireError(f"packed float list of {len(v)} bytes, not a whole number of floats")
                floats.append(np.frombuffer(v, "<f4") if wire == _LEN else
                              np.array([v], "<u4").view("<f4"))
            else:  # Int64List: packed varints or one varint per value
                ints.extend(_packed_varints(v) if wire == _LEN else [v])
        if kind == 2:
            return np.concatenate(floats).astype(np.float32) if floats else np.zeros(0, np.float32)
        return np.array(ints, dtype=np.uint64).astype(np.int64)  # two's complement of negative int64
    return []  # a Feature with no list set holds no values


def _packed_varints(buf: bytes) -> list[int]:
    values, pos = [], 0
    while pos < len(buf):
        value, pos = _varint(buf, pos)
        values.append(value)
    return values


def parse_example(data: bytes, source: object = "<record>") -> dict[str, FeatureValue]:
    """The features of a serialized tf.train.Example: bytes features as lists of bytes, float and int64 ones as
    numpy arrays. Malformed bytes are a DataError naming `source` (e.g. 'shard.tfrecord, record 3')."""
    features: dict[str, FeatureValue] = {}
    try:
        for number, _, features_msg in _fields(data):
            if number != 1 or not isinstance(features_msg, bytes):
                continue
            for entry_number, _, entry in _fields(features_msg):
                if entry_number != 1 or not isinstance(entry, bytes):
                    continue
                key, value = "", b""
                for n, _, v in _fields(entry):
                    if n == 1 and isinstance(v, bytes):
                        key = v.decode("utf-8")
                    elif n == 2 and isinstance(v, bytes):
                        value = v
                features[key] = _decode_feature(value)
    except (_WireError, UnicodeDecodeError) as err:
        raise DataError(source, f"not a tf.train.Example protobuf: {err}") from None
    return features


def _key(number: int, wire: int) -> bytes:
    return _encode_varint(number << 3 | wire)


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    value &= (1 << 64) - 1  # negative int64s are written as 10-byte two's complement varints
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _len_field(number: int, payload: bytes) -> bytes:
    return _key(number, _LEN) + _encode_varint(len(payload)) + payload


def _encode_feature(value: FeatureValue | bytes) -> bytes:
    if isinstance(value, bytes):
        value = [value]
    if isinstance(value, list):
        return _len_field(1, b"".join(_len_field(1, v) for v in value))
    array = np.asarray(value)
    if array.dtype.kind == "f":
        return _len_field(2, _len_field(1, array.astype("<f4").tobytes()))
    packed = b"".join(_encode_varint(int(v)) for v in array.astype(np.int64))
    return _len_field(3, _len_field(1, packed))


def encode_example(features: Mapping[str, FeatureValue | bytes]) -> bytes:
    """Serialize a tf.train.Example: bytes (or lists of bytes) become a BytesList, float arrays a packed
    FloatList, integer arrays a packed Int64List. Keys are written sorted, as TensorFlow's map serializer does."""
    entries = b"".join(_len_field(1, _len_field(1, key.encode()) + _len_field(2, _encode_feature(features[key])))
                       for key in sorted(features))
    return _len_field(1, entries)
