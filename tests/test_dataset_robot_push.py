"""TFRecord framing, tf.train.Example decoding and the robot pushing layout, on fixtures built byte by byte here
(an independent bitwise CRC-32C and a hand protobuf encoder), not by the package's writer."""

import io
import struct

import numpy as np
import pytest
from PIL import Image

from aibench.datasets.robot_push import (
    decode_sequence, encode_sequence, push_root, read_sequences, split_files, split_size, write_split)
from aibench.datasets.tfrecord import count_records, encode_example, masked_crc32c, parse_example, read_records
from aibench.errors import DataError


# ----- an independent TFRecord + protobuf writer -------------------------------------------------------------
def crc32c_bitwise(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def masked(data: bytes) -> int:
    crc = crc32c_bitwise(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def frame(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return length + struct.pack("<I", masked(length)) + data + struct.pack("<I", masked(data))


def varint(n: int) -> bytes:
    out = b""
    while n > 0x7F:
        out += bytes([n & 0x7F | 0x80])
        n >>= 7
    return out + bytes([n])


def ld(field: int, payload: bytes) -> bytes:  # a length-delimited field
    return varint(field << 3 | 2) + varint(len(payload)) + payload


def example(features: dict) -> bytes:
    entries = b""
    for key, value in features.items():
        if isinstance(value, bytes):
            feature = ld(1, ld(1, value))
        else:
            feature = ld(2, ld(1, struct.pack(f"<{len(value)}f", *value)))
        entries += ld(1, ld(1, key.encode()) + ld(2, feature))
    return ld(1, entries)


def jpeg(colour, size=(50, 40)) -> bytes:
    buffer = io.BytesIO()
    img = Image.new("RGB", size, colour)
    img.paste((255, 255, 255), (0, 0, 5, 40))  # a white stripe left of the central 40x40 square
    img.save(buffer, format="PNG")
    return buffer.getvalue()


def push_record(step_count: int, offset: float) -> bytes:
    features = {}
    for t in range(step_count):
        features[f"move/{t}/image/encoded"] = jpeg((10 * t, 100, 200))
        features[f"move/{t}/commanded_pose/vec_pitch_yaw"] = [offset + t + 1, 0.5, 0.2, 0.0, 0.0]
        features[f"move/{t}/endeffector/vec_pitch_yaw"] = [offset + t, 0.5, 0.2, 0.0, 0.0]
        features[f"move/{t}/joint/positions"] = [0.0] * 7  # the release has more features; they are skipped
    return example(features)


@pytest.fixture
def push_dir(tmp_path):
    folder = tmp_path / "push" / "push_train"
    folder.mkdir(parents=True)
    (folder / "push_train.tfrecord-00000-of-00001").write_bytes(frame(push_record(3, 0.0)) +
                                                                frame(push_record(3, 10.0)))
    return tmp_path


# ----- framing and Example -----------------------------------------------------------------------------------
def test_masked_crc_matches_an_independent_crc32c():
    assert crc32c_bitwise(b"123456789") == 0xE3069283  # the CRC-32C check value
    for data in (b"", b"abc", bytes(range(256))):
        assert masked_crc32c(data) == masked(data)


def test_hand_written_example_decodes():
    floats = ld(2, ld(1, struct.pack("<2f", 1.0, 2.0)))  # packed FloatList
    unpacked = ld(2, b"\x0d" + struct.pack("<f", 3.5) + b"\x0d" + struct.pack("<f", -1.0))
    ints = ld(3, ld(1, varint(7) + varint(300)))
    strings = ld(1, ld(1, b"hi") + ld(1, b""))
    entries = b"".join(ld(1, ld(1, k.encode()) + ld(2, f))
                       for k, f in (("f", floats), ("u", unpacked), ("i", ints), ("s", strings)))
    parsed = parse_example(ld(1, entries))
    np.testing.assert_array_equal(parsed["f"], [1.0, 2.0])
    np.testing.assert_array_equal(parsed["u"], [3.5, -1.0])
    np.testing.assert_array_equal(parsed["i"], [7, 300])
    assert parsed["s"] == [b"hi", b""]


def test_encoder_round_trips_and_matches_hand_bytes():
    features = {"a": np.array([1.0, 2.0], np.float32), "b": b"xyz", "c": np.array([-1, 5], np.int64)}
    parsed = parse_example(encode_example(features))
    np.testing.assert_array_equal(parsed["a"], [1.0, 2.0])
    np.testing.assert_array_equal(parsed["c"], [-1, 5])
    assert parsed["b"] == [b"xyz"]
    assert encode_example({"a": features["a"]}) == example({"a": [1.0, 2.0]})


def test_records_are_read_and_counted(tmp_path):
    path = tmp_path / "x.tfrecord"
    path.write_bytes(frame(b"one") + frame(b"") + frame(b"three"))
    assert list(read_records(path)) == [b"one", b"", b"three"]
    assert count_records(path) == 3


@pytest.mark.parametrize("corrupt, problem", [
    (lambda raw: raw[:-2], "truncated"),
    (lambda raw: raw[:5], "truncated record header"),
    (lambda raw: raw[:14] + b"X" + raw[15:], "bad data checksum"),
    (lambda raw: b"\x09" + raw[1:], "bad length checksum"),
])
def test_corrupt_records_are_data_errors_naming_the_file(tmp_path, corrupt, problem):
    path = tmp_path / "bad.tfrecord"
    path.write_bytes(corrupt(frame(b"payload")))
    with pytest.raises(DataError, match=problem) as err:
        list(read_records(path))
    assert "bad.tfrecord" in str(err.value)


def test_not_an_example_names_the_source():
    with pytest.raises(DataError, match="shard-7, record 2.*not a tf.train.Example"):
        parse_example(b"\x0a\x50abc", "shard-7, record 2")


# ----- the push layout ---------------------------------------------------------------------------------------
def test_reader_reads_the_hand_written_shard(push_dir):
    files = split_files(push_dir, "push_train")  # found under the download's push/ folder
    assert push_root(push_dir) == push_dir / "push"
    assert split_size(files) == 2
    seqs = list(read_sequences(files, steps=2, image_size=20))
    assert len(seqs) == 2
    first = seqs[0]
    assert first.images.shape == (2, 20, 20, 3)
    # the central 40x40 square (x 5..44) excludes the white stripe at x 0..4, and is resized to 20x20
    np.testing.assert_array_equal(first.images[1, :, :, 0], 10)
    np.testing.assert_array_equal(first.images[0, :, :, 2], 200)
    np.testing.assert_allclose(seqs[1].actions[:, 0], [11, 12])
    np.testing.assert_allclose(seqs[1].states[:, 0], [10, 11])


def _write_one(tmp_path, features: dict) -> list:
    folder = tmp_path / "push_train"
    folder.mkdir(exist_ok=True)
    (folder / "push_train.tfrecord-00000-of-00001").write_bytes(frame(example(features)))
    return split_files(tmp_path, "push_train")


def test_missing_feature_is_named(tmp_path):
    files = _write_one(tmp_path, {"move/0/image/encoded": jpeg((1, 2, 3))})
    with pytest.raises(DataError, match="push_train.tfrecord-00000-of-00001, record 0.*commanded_pose"):
        list(read_sequences(files, 1, 8))


def test_wrong_pose_length_is_named(tmp_path):
    files = _write_one(tmp_path, {"move/0/image/encoded": jpeg((1, 2, 3)),
                                  "move/0/commanded_pose/vec_pitch_yaw": [1.0, 2.0],
                                  "move/0/endeffector/vec_pitch_yaw": [0.0] * 5})
    with pytest.raises(DataError, match="should be 5 floats"):
        list(read_sequences(files, 1, 8))


def test_undecodable_image_is_named(tmp_path):
    files = _write_one(tmp_path, {"move/0/image/encoded": b"not an image",
                                  "move/0/commanded_pose/vec_pitch_yaw": [0.0] * 5,
                                  "move/0/endeffector/vec_pitch_yaw": [0.0] * 5})
    with pytest.raises(DataError, match="record 0, move/0/image/encoded.*not a decodable"):
        list(read_sequences(files, 1, 8))


def test_missing_or_empty_split_is_named(tmp_path):
    with pytest.raises(DataError, match="push_testseen.*missing"):
        split_files(tmp_path, "push_testseen")
    (tmp_path / "push_testseen").mkdir()
    (tmp_path / "push_testseen" / "README").write_text("x")
    with pytest.raises(DataError, match="no TFRecord shards"):
        split_files(tmp_path, "push_testseen")


def test_writer_round_trip_lossless_png(tmp_path):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, 8, 10, 3), dtype=np.uint8)
    actions, states = rng.normal(size=(3, 5)).astype(np.float32), rng.normal(size=(3, 5)).astype(np.float32)
    record = encode_sequence(frames, actions, states, image_format="PNG")
    write_split(tmp_path, "push_train", [record, record, record], shards=2)
    files = split_files(tmp_path, "push_train")
    assert [f.name for f in files] == ["push_train.tfrecord-00000-of-00002", "push_train.tfrecord-00001-of-00002"]
    seq = decode_sequence(record, 3, 8, "r")
    np.testing.assert_array_equal(seq.images, frames[:, :, 1:9])
    np.testing.assert_array_equal(seq.actions, actions)
    assert sum(1 for _ in read_sequences(files, 3, 8)) == 3
