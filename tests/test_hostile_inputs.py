"""Every data set reader fed hostile files (issue 12 item 5): truncated, random bytes, empty, wrong encodings,
hostile numbers and headers claiming absurd sizes. Property-based: each test writes a tiny valid layout with the
module's own writer, corrupts one file and reads everything back. The reader must either return sane data (a
corruption the format tolerates) or raise a DataError whose message names the corrupted file: never another
exception, a crash, a hang or a huge allocation.

Each read runs in a forked child (`_outcome`) under a time limit and an address-space limit of HEADROOM bytes
above what the process already maps: a reader that believes a header and allocates what it claims fails there
with a MemoryError (or is killed), and a reader that crashes the interpreter (LMDB reading past the end of a
truncated file: SIGBUS) or loops fails the test instead of taking the test session with it.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import resource
import select
import signal
import struct
import tempfile
import traceback
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from aibench.datasets import (binvox, cityscapes, coco_captions, gigaword, gowalla, imagefolder, lfw, librispeech,
                              lsun, mnist_idx, movielens, ptb, rgbd_faces, robot_push, shapenet_views, tfrecord,
                              vggface2, voc, wmt_parallel)
from aibench.errors import DataError

HEADROOM = 512 << 20  # address space a reader may add while reading a few-KB data set (PIL's largest image: 358 MB)
TIMEOUT_S = 30.0  # per read; a normal one takes milliseconds
SETTINGS = settings(max_examples=20, deadline=None, database=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])


# ----- running a read in a fenced child -------------------------------------------------------------------------

def _address_space() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


def _outcome(call: Callable[[], object]) -> tuple[str, str]:
    """Run call() in a forked child under the address-space and time limits: ("ok", "") if it returned,
    ("DataError", message) if it raised one, ("other", traceback) for any other exception; a crash or a hang
    fails the test here."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        try:
            os.close(read_fd)
            _, hard = resource.getrlimit(resource.RLIMIT_AS)
            limit = _address_space() + HEADROOM
            resource.setrlimit(resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard),
                                                    hard))
            try:
                call()
                payload = ("ok", "")
            except DataError as err:
                payload = ("DataError", str(err)[:20000])
            except BaseException as err:  # noqa: BLE001 - reported to the parent, which fails the test
                payload = ("other", "".join(traceback.format_exception(err))[-20000:])
            os.write(write_fd, json.dumps(payload).encode())
        finally:
            os._exit(0)
    os.close(write_fd)
    chunks = []
    try:
        while True:
            ready, _, _ = select.select([read_fd], [], [], TIMEOUT_S)
            if not ready:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail(f"the reader did not finish within {TIMEOUT_S:.0f} s (a hang)")
            chunk = os.read(read_fd, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(read_fd)
    _, status = os.waitpid(pid, 0)
    if not chunks:
        code = os.waitstatus_to_exitcode(status)
        what = f"signal {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
        pytest.fail(f"the reader crashed the interpreter ({what})")
    kind, detail = json.loads(b"".join(chunks))
    return kind, detail


def refused_or_sane(read: Callable[[], object], corrupted: Path) -> None:
    """read() (which also checks its result is sane) succeeds, or raises a DataError naming `corrupted`."""
    kind, detail = _outcome(read)
    if kind == "ok":
        return
    assert kind == "DataError", f"not a DataError but a traceback:\n{detail}"
    assert corrupted.name in detail, f"the DataError does not name {corrupted.name}: {detail}"


# ----- corruptions ----------------------------------------------------------------------------------------------

_NUMBER = re.compile(rb"\d+(?:\.\d+)?")
HOSTILE_NUMBERS = (b"9" * 5000, "\u00b2".encode(), "\u0663".encode(), b"1e999", b"-1e999", b"inf", b"nan", b"NaN",
                   b"Infinity", b"18446744073709551617", b"-3", b"0")
BAD_TEXT_BYTES = (b"\xff", b"\xe9", b"\xc3(", b"\xed\xa0\x80", b"\x00", b"\xf4\x90\x80\x80", b"\r", b"\x1b[0m")


def corruptions(text: bool = False, numbers: bool = False,
                absurd: st.SearchStrategy | None = None) -> st.SearchStrategy:
    """How to damage one file: always truncation, emptying, random bytes and a random splice; for text files also
    other encodings and undecodable bytes; for files holding numbers, a number replaced by a hostile one; and
    the format's own absurd-size header (the `absurd` parameters, applied by the test's own function)."""
    kinds = [
        st.tuples(st.just("truncate"), st.floats(0, 1, exclude_max=True)),
        st.just(("empty",)),
        st.tuples(st.just("random"), st.binary(min_size=1, max_size=300)),
        st.tuples(st.just("splice"), st.floats(0, 1, exclude_max=True), st.binary(min_size=1, max_size=24)),
    ]
    if text:
        kinds += [st.just(("utf16",)), st.just(("utf8_bom",)),
                  st.tuples(st.just("insert"), st.floats(0, 1), st.sampled_from(BAD_TEXT_BYTES))]
    if numbers:
        kinds.append(st.tuples(st.just("number"), st.integers(0, 40), st.sampled_from(HOSTILE_NUMBERS)))
    if absurd is not None:
        kinds.append(st.tuples(st.just("absurd"), absurd))
    return st.one_of(kinds)


def corrupt(path: Path, how: tuple, absurd: Callable[[bytes, object], bytes] | None = None) -> None:
    data = path.read_bytes()
    kind, *args = how
    if kind == "truncate":
        new = data[:int(args[0] * len(data))]
    elif kind == "empty":
        new = b""
    elif kind == "random":
        new = args[0]
    elif kind == "splice":
        at = int(args[0] * len(data))
        new = data[:at] + args[1] + data[at + len(args[1]):]
    elif kind == "utf16":
        new = data.decode("utf-8", errors="replace").encode("utf-16")  # with its byte order mark
    elif kind == "utf8_bom":
        new = b"\xef\xbb\xbf" + data
    elif kind == "insert":
        at = int(args[0] * len(data))
        new = data[:at] + args[1] + data[at:]
    elif kind == "number":
        found = list(_NUMBER.finditer(data))
        if not found:
            new = data + args[1]
        else:
            match = found[args[0] % len(found)]
            new = data[:match.start()] + args[1] + data[match.end():]
    elif kind == "absurd":
        assert absurd is not None, "this test has no absurd-size corruption"
        new = absurd(data, args[0])
    else:
        raise AssertionError(kind)
    path.write_bytes(new)


# ----- absurd sizes in image headers ------------------------------------------------------------------------------

IMAGE_CLAIMS = st.tuples(st.integers(10_000, 65_535), st.integers(10_000, 65_535))  # > PIL's 89M-pixel limit


def image_claiming(data: bytes, size: tuple[int, int]) -> bytes:
    """The PNG or JPEG `data` with its header claiming width x height pixels (checksums fixed)."""
    width, height = size
    if data.startswith(b"\x89PNG\r\n\x1a\n"):  # IHDR: length, type, 13 data bytes (width, height first), CRC
        body = b"IHDR" + struct.pack(">II", width, height) + data[24:29]
        return data[:12] + body + struct.pack(">I", zlib.crc32(body)) + data[33:]
    if data.startswith(b"\xff\xd8"):  # walk the segments to the start-of-frame: precision, height, width
        at = 2
        while at + 4 <= len(data) and data[at] == 0xFF:
            if data[at + 1] in (0xC0, 0xC1, 0xC2):
                return data[:at + 5] + struct.pack(">HH", height, width) + data[at + 9:]
            at += 2 + int.from_bytes(data[at + 2:at + 4], "big")
    return data


def _pixels(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _is_image_array(array: object, channels: int | None = 3) -> None:
    assert isinstance(array, np.ndarray) and array.dtype == np.uint8 and array.size > 0
    assert array.ndim == (2 if channels is None else 3)


# ----- image readers ----------------------------------------------------------------------------------------------

@SETTINGS
@given(target=st.sampled_from(["png", "jpeg"]), how=corruptions(absurd=IMAGE_CLAIMS))
@example(target="png", how=("absurd", (13_000, 13_000)))  # under PIL's error limit: it would allocate 676 MB
@example(target="jpeg", how=("absurd", (65_535, 65_535)))  # over it: PIL raises DecompressionBombError
def test_imagefolder(target, how):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for split in ("train", "val"):
            for name in ("n00000001", "n00000002"):
                imagefolder.write_image(root, split, name, f"{split}_{name}", _pixels((6, 8, 3)))
        path = root / "val" / "n00000002" / "val_n00000002.JPEG"
        if target == "png":
            Image.fromarray(_pixels((6, 8, 3))).save(path, format="PNG")  # any decodable image counts
        corrupt(path, how, image_claiming)

        def read():
            splits = imagefolder.read_splits(root)
            for split in splits.values():
                for sample, _ in split.samples:
                    _is_image_array(np.asarray(imagefolder.load_rgb(sample)))

        refused_or_sane(read, path)


@SETTINGS
@given(target=st.sampled_from(["photo", "color", "label_ids"]), how=corruptions(absurd=IMAGE_CLAIMS))
@example(target="label_ids", how=("absurd", (65_535, 65_535)))
@example(target="photo", how=("absurd", (13_000, 13_000)))
def test_cityscapes(target, how):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        frame = cityscapes.write_frame(root, "val", "lindau", 0, 19, _pixels((4, 8, 3)),
                                       np.full((4, 8), 7, np.uint8))
        path = getattr(frame, target)
        corrupt(path, how, image_claiming)

        def read():
            for found in cityscapes.read_split(root, "val"):
                _is_image_array(cityscapes.load_image(found.photo, "RGB", (8, 4)))
                _is_image_array(cityscapes.load_image(found.color, "RGB"))
                _is_image_array(cityscapes.train_ids(found.label_ids, (8, 4)), channels=None)

        refused_or_sane(read, path)


@SETTINGS
@given(target=st.sampled_from(["rgb", "depth"]), how=corruptions(absurd=IMAGE_CLAIMS))
@example(target="rgb", how=("absurd", (13_000, 13_000)))
def test_rgbd_faces(target, how):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = {}
        for split in ("train", "test"):
            for person in ("alice", "bob"):
                paths[split, person] = rgbd_faces.write_pair(root, split, person, "s0", _pixels((6, 5, 3)),
                                                             np.full((6, 5), 900.0))
        path = paths["test", "bob"][0 if target == "rgb" else 1]
        corrupt(path, how, image_claiming)

        def read():
            for split in rgbd_faces.read_splits(root).values():
                for sample in split.samples:
                    rgb, depth = rgbd_faces.load_pair(sample)
                    _is_image_array(rgb)
                    assert depth.dtype == np.float32 and depth.shape == rgb.shape[:2]

        refused_or_sane(read, path)


@SETTINGS
@given(target=st.sampled_from(["image", "boxes"]),
       how=corruptions(text=True, numbers=True, absurd=st.one_of(IMAGE_CLAIMS, st.just("long_field"))))
@example(target="boxes", how=("number", 1, b"inf"))  # int(float("inf")): OverflowError
@example(target="boxes", how=("absurd", "long_field"))  # a field over csv's 128 KiB limit: csv.Error
@example(target="image", how=("absurd", (65_535, 65_535)))
def test_vggface2(target, how):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        images = [vggface2.write_face(root, "train", vggface2.identity_name(i), "0001_01", _pixels((8, 8, 3)))
                  for i in (1, 2)]
        boxes = vggface2.write_loose_boxes(root, "train", [(vggface2.box_key(p), (1, 2, 5, 6)) for p in images])
        path = images[1] if target == "image" else boxes

        def absurd(data, claim):
            if claim == "long_field":  # an unterminated quote swallows the rest of the file into one field
                return data + b'"' + b"x" * 200_000 + b"\n"
            return image_claiming(data, claim)

        corrupt(path, how, absurd)

        def read():
            identities = vggface2.read_identities(root)
            loaded = vggface2.read_loose_boxes(root)
            assert loaded is not None
            for name, (x, y, w, h) in loaded.items():
                assert isinstance(name, str) and w > 0 and h > 0
            for files in identities.images:
                for file in files:
                    _is_image_array(np.asarray(imagefolder.load_rgb(file)))

        refused_or_sane(read, path)


# ----- LSUN: LMDB exports and image folders -----------------------------------------------------------------------

def lmdb_claiming(data: bytes, claim: tuple[int, int]) -> bytes:
    """An LMDB data file whose two meta pages claim a last page and a map size (LMDB keeps no checksums).
    Meta page k sits at k * page size: a 16-byte page header, then magic, version, address, map size, the two
    databases (48 bytes each; the first's md_pad is the page size), the last page number and the txn id."""
    last_page, map_size = claim
    page_size = struct.unpack_from("<I", data, 40)[0]
    out = bytearray(data)
    for meta in (0, page_size):
        struct.pack_into("<Q", out, meta + 32, map_size)
        struct.pack_into("<Q", out, meta + 136, last_page)
    return bytes(out)


LSUN_DAMAGE = st.one_of(
    st.tuples(st.just("truncate"), st.floats(0, 1, exclude_max=True)), st.just(("empty",)),
    st.tuples(st.just("random"), st.binary(min_size=1, max_size=300)),
    st.tuples(st.just("splice"), st.floats(0, 1, exclude_max=True), st.binary(min_size=1, max_size=24)),
    st.tuples(st.just("meta"), st.tuples(st.integers(3, 2**62), st.integers(0, 2**62))),
    st.tuples(st.just("claim"), IMAGE_CLAIMS))


@SETTINGS
@given(target=st.sampled_from(["data.mdb", "value", "folder"]), how=LSUN_DAMAGE)
@example(target="data.mdb", how=("truncate", 0.8))  # pages the meta page promises are missing: SIGBUS
@example(target="data.mdb", how=("meta", (2**40, 1 << 22)))
@example(target="value", how=("claim", (65_535, 65_535)))  # DecompressionBombError
@example(target="folder", how=("splice", 0.0, b"\x89PNG\r\n\x1a\n\x00\x00\x00\x00IHDR"))  # SyntaxError
def test_lsun(target, how):
    """In-place damage to data.mdb's B-tree pages is not drawn: LMDB keeps no checksums and trusts them (a
    corrupted node can make it read past the end of the map). Truncated, random and empty data files and absurd
    meta pages are drawn, and every kind of damage to the images it holds."""
    kind, arg = how[0], how[-1]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        images = [lsun.encode_jpeg(Image.fromarray(_pixels((6, 6, 3), seed))) for seed in range(3)]
        export, folder = root / "bedroom_train_lmdb", root / "images"
        if target in ("value", "folder"):  # damage one image; the LMDB file stays valid
            victim = root / "victim.jpg"
            victim.write_bytes(images[1])
            if kind == "meta":  # only meaningful for the LMDB file: claim a huge image instead
                kind, how, arg = "claim", ("claim", (20_000, 20_000)), (20_000, 20_000)
            corrupt(victim, ("absurd", arg) if kind == "claim" else how, image_claiming)
            images[1] = victim.read_bytes()
        lsun.write_lmdb(export, [(f"{i:040x}".encode(), value) for i, value in enumerate(images)], map_size=1 << 22)
        folder.mkdir()
        for i, value in enumerate(images):
            (folder / f"{i}.jpg").write_bytes(value)
        if target == "data.mdb":
            if kind == "splice":  # not drawn for the LMDB file itself (see the docstring)
                how = ("truncate", how[1])
            if kind != "claim":
                corrupt(export / "data.mdb", ("absurd", arg) if kind == "meta" else how, lmdb_claiming)
        path, source = (folder / "1.jpg", folder) if target == "folder" else (export / "data.mdb", export)

        def read():
            found = lsun.open_images(source)
            assert 1 <= len(found) <= 3
            for index in range(len(found)):
                _is_image_array(np.asarray(found.image(index)))

        refused_or_sane(read, path)


# ----- binary formats ---------------------------------------------------------------------------------------------

def binvox_claiming(data: bytes, dim: int | str) -> bytes:
    return re.sub(rb"dim \d+ \d+ \d+", f"dim {dim} {dim} {dim}".encode(), data, count=1)


@SETTINGS
@given(how=corruptions(numbers=True, absurd=st.one_of(st.integers(1 << 10, 1 << 40), st.just("9" * 5000))))
@example(how=("absurd", 1 << 20))
@example(how=("absurd", "9" * 5000))
@example(how=("number", 4, b"nan"))  # translate -nan was accepted
def test_binvox(how):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.binvox"
        binvox.write_binvox(path, binvox.VoxelGrid(_pixels((4, 4, 4)) > 128, (-0.5, -0.5, -0.5), 1.0))
        corrupt(path, how, binvox_claiming)

        def read():
            grid = binvox.read_binvox(path)
            assert grid.occupancy.dtype == bool and grid.occupancy.ndim == 3 and grid.occupancy.size <= 4 ** 3
            assert np.all(np.isfinite(grid.translate)) and np.isfinite(grid.scale)

        refused_or_sane(read, path)


_varint, _len_field = tfrecord._encode_varint, tfrecord._len_field  # the reader's own protobuf writer


def _example_with(feature: bytes) -> bytes:
    """A tf.train.Example whose only feature, 'x', is the given Feature message bytes."""
    return _len_field(1, _len_field(1, _len_field(1, b"x") + _len_field(2, feature)))


HOSTILE_RECORDS = {
    "odd_floats": _example_with(_len_field(2, _len_field(1, b"\x00" * 5))),  # a packed float list of 5 bytes
    "huge_varint": _example_with(_len_field(3, _len_field(1, b"\xff" * 9 + b"\x7f"))),  # a 70-bit int64
    "varint_float": _example_with(_len_field(2, _varint(1 << 3) + _varint(2**40))),  # a float as a varint
    "huge_length": _example_with(_len_field(1, _varint(1 << 3 | 2) + _varint(2**62))),
    "bad_utf8_key": _len_field(1, _len_field(1, _len_field(1, b"\xff\xfe"))),
    "wire_type_7": b"\x0f\x00",
}


def tfrecord_claiming(data: bytes, length: int) -> bytes:
    """A TFRecord file whose first record header claims `length` data bytes, with a valid length checksum."""
    length_bytes = struct.pack("<Q", length)
    return length_bytes + struct.pack("<I", tfrecord.masked_crc32c(length_bytes)) + data[12:]


@SETTINGS
@given(target=st.sampled_from(["shard", "record", "frame"]),
       how=corruptions(absurd=st.one_of(st.integers(2**31, 2**64 - 1), st.sampled_from(sorted(HOSTILE_RECORDS)))))
@example(target="shard", how=("absurd", 2**60))  # f.read(2**60): MemoryError
@example(target="shard", how=("absurd", 2**64 - 1))  # count_records seeks past 2**63: OverflowError
@example(target="record", how=("absurd", "odd_floats"))
@example(target="record", how=("absurd", "huge_varint"))
@example(target="record", how=("absurd", "varint_float"))
@example(target="frame", how=("absurd", (65_535, 65_535)))
def test_robot_push_tfrecord(target, how):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        frames = _pixels((2, 2, 8, 8, 3))
        poses = np.zeros((2, robot_push.POSE_DIM), np.float32)
        records = [robot_push.encode_sequence(frames[i], poses, poses) for i in range(2)]
        shard = root / "push_testseen" / "push_testseen.tfrecord-00000-of-00001"
        scratch = root / "scratch"
        if target == "record":  # damage the serialized Example; the framing (and its checksums) stays valid
            scratch.write_bytes(records[1])
            if how[0] == "absurd":
                how = ("absurd", how[1] if isinstance(how[1], str) else "huge_length")
            corrupt(scratch, how, lambda data, name: HOSTILE_RECORDS[name])
            records[1] = scratch.read_bytes()
        elif target == "frame":  # damage one camera frame inside a valid Example
            frame = io.BytesIO()
            Image.fromarray(frames[1, 1]).save(frame, format="JPEG")
            scratch.write_bytes(frame.getvalue())
            if how[0] == "absurd" and not isinstance(how[1], tuple):
                how = ("absurd", (20_000, 20_000))
            corrupt(scratch, how, image_claiming)
            features = {}
            for t in range(2):
                encoded = frame.getvalue() if t == 0 else scratch.read_bytes()
                features[robot_push.IMAGE_KEY.format(t=t)] = encoded
                features[robot_push.ACTION_KEY.format(t=t)] = poses[t]
                features[robot_push.STATE_KEY.format(t=t)] = poses[t]
            records[1] = tfrecord.encode_example(features)
        robot_push.write_split(root, "push_testseen", records, shards=1)
        if target == "shard":
            if how[0] == "absurd" and isinstance(how[1], str):
                how = ("absurd", 2**40)
            corrupt(shard, how, tfrecord_claiming)

        def read():
            files = robot_push.split_files(root, "push_testseen")
            assert 0 <= robot_push.split_size(files) <= 2
            for sequence in robot_push.read_sequences(files, steps=2, image_size=8):
                assert sequence.images.shape == (2, 8, 8, 3) and sequence.actions.shape == (2, 5)

        refused_or_sane(read, shard)


def flac_claiming(data: bytes, total_samples: int) -> bytes:
    """A FLAC file whose STREAMINFO claims `total_samples` samples (its low 36 bits after rate, channels, bits)."""
    at = 8 + 10  # 'fLaC', the metadata block header, block sizes and frame sizes
    bits = int.from_bytes(data[at:at + 8], "big")
    bits = (bits & ~((1 << 36) - 1)) | total_samples
    return data[:at] + bits.to_bytes(8, "big") + data[at + 8:]


@SETTINGS
@given(target=st.sampled_from(["flac", "transcript"]),
       how=corruptions(text=True, absurd=st.integers(2**28, 2**36 - 1)))
@example(target="flac", how=("absurd", 2**36 - 1))  # soundfile allocates the claimed 256 GiB up front
@example(target="flac", how=("absurd", 2**27 + 12345))  # 512 MiB claimed
def test_librispeech(target, how):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        audio = [np.sin(np.arange(800) / (3 + i)).astype(np.float32) * 0.3 for i in range(2)]
        flacs = librispeech.write_chapter(root, "dev-clean", 84, 121123, audio, ["HELLO", "IT'S ME"])
        path = flacs[1] if target == "flac" else flacs[0].parent / "84-121123.trans.txt"
        if target == "transcript" and how[0] == "absurd":
            how = ("truncate", 0.5)
        corrupt(path, how, flac_claiming)

        def read():
            for utterance in librispeech.read_split(root, "dev-clean"):
                assert set(utterance.transcript) <= set(librispeech.ALPHABET)
                samples = librispeech.read_audio(utterance.audio)
                assert samples.dtype == np.float32 and samples.ndim == 1 and len(samples) <= 800
                assert np.all(np.abs(samples) <= 1.0)

        refused_or_sane(read, path)


# ----- text and structured formats --------------------------------------------------------------------------------

def _deep_json(data: bytes, depth: int) -> bytes:
    return b'{"images": ' + b"[" * depth + b"]" * depth + b', "annotations": []}'


@SETTINGS
@given(how=corruptions(text=True, numbers=True, absurd=st.integers(2_000, 200_000)))
@example(how=("absurd", 100_000))  # nesting: RecursionError
@example(how=("number", 1, b"9" * 5000))  # an image id: int() refuses 5000 digits, a ValueError
@example(how=("number", 3, b"9" * 5000))  # a file name too long to stat: OSError
@example(how=("number", 1, b"1e999"))  # an image id: json makes it inf
def test_coco_captions(how):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        coco_captions.write_captions(root, "val", [(42, 8, 6, ["a cat", "a dog"]), (7, 8, 6, ["a bird"])])
        for image_id in (42, 7):
            folder = root / "val2014"
            folder.mkdir(exist_ok=True)
            (folder / coco_captions.image_name("val", image_id)).write_bytes(b"")
        path = coco_captions.annotation_path(root, "val")
        corrupt(path, how, _deep_json)

        def read():
            for item in coco_captions.read_captions(root, "val"):
                assert isinstance(item.image_id, int) and all(isinstance(c, str) for c in item.captions)

        refused_or_sane(read, path)


def gzip_bomb(data: bytes, mebibytes: int) -> bytes:
    """A gzip file of `mebibytes` MiB of 'a' with no line end (members of 1 MiB each, about 1 KiB gzipped)."""
    return gzip.compress(b"a" * (1 << 20), mtime=0) * mebibytes


@SETTINGS
@given(target=st.sampled_from(["train/train.article.txt.gz", "train/train.title.txt.gz",
                               "Giga/input.txt", "Giga/task1_ref0.txt"]),
       how=corruptions(text=True, absurd=st.just(640)))
@example(target="train/train.article.txt.gz", how=("splice", 0.5, b"\x00\x01\x02\x03"))  # zlib.error
@example(target="train/train.title.txt.gz", how=("absurd", 640))  # one 640 MiB line
def test_gigaword(target, how):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "sumdata"
        pairs = [(["the", "cat", "sat", str(i)], ["cat", "sits"]) for i in range(40)]
        gigaword.write_split(root, "train", pairs, compress=True)
        gigaword.write_split(root, "test", pairs[:3])
        path = root / target
        if how[0] == "absurd" and not target.endswith(".gz"):
            how = ("random", b"\xff" * 10)
        corrupt(path, how, gzip_bomb)

        def read():
            for split in ("train", "test"):
                for pair in gigaword.read_pairs(Path(tmp), split):
                    assert pair.article and pair.title and isinstance(pair.title_text, str)

        refused_or_sane(read, path)


@SETTINGS
@given(target=st.sampled_from(["train.en", "train.de", "newstest2014.en", "newstest2014.de"]),
       how=corruptions(text=True))
def test_wmt_parallel(target, how):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        wmt_parallel.write_split(root, "train", [("a house", "ein Haus"), ("the cat", "die Katze")] * 5)
        wmt_parallel.write_split(root, "test", [("good day", "guten Tag")] * 3)
        path = root / target
        corrupt(path, how)

        def read():
            for split in ("train", "test"):
                for source, translation in wmt_parallel.read_pairs(root, split):
                    assert source and translation

        refused_or_sane(read, path)


@SETTINGS
@given(target=st.sampled_from(["train", "valid", "test"]), how=corruptions(text=True))
@example(target="valid", how=("insert", 0.5, b"\xff"))
def test_ptb(target, how):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sentences = [["the", "cat", "sat"], ["a", "dog", "N", "<unk>"]]
        for split in ptb.SPLITS:
            ptb.write_split(root / ptb.split_file(split), sentences * (3 if split == "train" else 1))
        path = root / ptb.split_file(target)
        corrupt(path, how)

        def read():
            corpus = ptb.read_ptb(root)
            for split in ptb.SPLITS:
                ids = corpus.split(split)
                assert ids.dtype == np.int64 and 0 <= ids.min() and ids.max() < len(corpus.vocab)

        refused_or_sane(read, path)


@SETTINGS
@given(how=corruptions(text=True))
@example(how=("insert", 0.0, b"\xff"))
def test_ptb_vocabulary_file(how):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "vocab.txt"
        ptb.Vocabulary(("the", "cat", ptb.EOS)).save(path)
        corrupt(path, how)

        def read():
            assert all(isinstance(word, str) for word in ptb.Vocabulary.load(path).words)

        refused_or_sane(read, path)


@SETTINGS
@given(how=corruptions(text=True, numbers=True, absurd=st.integers(256, 5000)))
@example(how=("number", 0, b"9" * 5000))  # the header: int() refuses 5000 digits
@example(how=("number", 1, "\u00b2".encode()))  # '²'.isdigit() but int('²') raises ValueError
@example(how=("absurd", 300))  # a name too long to stat: OSError
def test_lfw(how):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folds = [([("Ann_Lee", 1, 2)], [("Ann_Lee", 1, "Bo_Wu", 1)]), ([("Bo_Wu", 1, 2)], [("Bo_Wu", 2, "Ann_Lee", 2)])]
        path = lfw.write_pairs(root, folds)
        for name in ("Ann_Lee", "Bo_Wu"):
            for number in (1, 2):
                image = lfw.image_file(root / lfw.IMAGES_DIR, name, number)
                image.parent.mkdir(parents=True, exist_ok=True)
                image.write_bytes(b"")
        corrupt(path, how, lambda data, length: data.replace(b"Ann_Lee", b"A" * length))

        def read():
            pairs = lfw.read_pairs(root)
            assert pairs.folds >= 1 and len(pairs.pairs) % pairs.folds == 0
            assert all(p.first.is_file() and p.second.is_file() for p in pairs.pairs)

        refused_or_sane(read, path)


BILLION_LAUGHS = ('<?xml version="1.0"?><!DOCTYPE annotation [<!ENTITY a "aaaaaaaaaa">'
                  + "".join(f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">' for i in range(9))
                  + "]><annotation><size><width>&j;</width><height>5</height></size></annotation>").encode()


@SETTINGS
@given(target=st.sampled_from(["xml", "image_set"]),
       how=corruptions(text=True, numbers=True, absurd=st.just("billion_laughs")))
@example(target="xml", how=("number", 6, b"nan"))  # <width>: int(nan) raises ValueError
@example(target="xml", how=("number", 6, b"1e999"))  # <width>: int(inf) raises OverflowError
@example(target="xml", how=("number", 8, "\u00b2".encode()))  # <depth>: '²'.isdigit() but int('²') fails
@example(target="xml", how=("number", 11, b"nan"))  # a NaN box coordinate was accepted
@example(target="image_set", how=("insert", 0.5, b"\xff"))  # read in the locale's encoding, undecoded
@example(target="image_set", how=("number", 0, b"9" * 5000))  # an image id too long to stat: OSError
@example(target="xml", how=("absurd", "billion_laughs"))
def test_voc(target, how):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "VOC2007"
        (root / "JPEGImages").mkdir(parents=True)
        ann = voc.VocAnnotation("000005", 20, 10, (voc.VocObject("dog", 2, 3, 9, 8),))
        xml = voc.write_annotation(root, ann)
        voc.image_path(root, "000005").write_bytes(b"")
        image_set = voc.write_image_set(root, "test", ["000005"])
        path = xml if target == "xml" else image_set
        corrupt(path, how, lambda data, _: BILLION_LAUGHS)

        def read():
            for found in voc.read_split(voc.find_voc_root(Path(tmp)), "test"):
                assert found.width > 0 and found.height > 0 and found.depth > 0
                for obj in found.objects:
                    assert np.all(np.isfinite(obj.box())) and obj.label >= 0

        refused_or_sane(read, path)


@SETTINGS
@given(target=st.sampled_from(["split", "cameras", "view", "mask", "voxels"]),
       how=corruptions(text=True, numbers=True, absurd=st.one_of(IMAGE_CLAIMS, st.integers(1 << 10, 1 << 40))))
@example(target="split", how=("insert", 0.5, b"\xff"))  # read in the locale's encoding, undecoded
@example(target="split", how=("number", 0, b"9" * 5000))  # a model directory too long to stat: OSError
@example(target="cameras", how=("insert", 0.5, b"\xff"))
@example(target="cameras", how=("number", 0, b"9" * 400))  # float() of a 400-digit integer: OverflowError
@example(target="cameras", how=("number", 2, b"NaN"))  # a NaN camera distance was accepted
@example(target="view", how=("absurd", (65_535, 65_535)))
@example(target="mask", how=("splice", 0.3, b"\x00\x00\x00"))
def test_shapenet_views(target, how):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        key = "02691156/abc123"
        cameras = [shapenet_views.Camera(15.0 * k, 30.0, 2.0, 1.5) for k in range(2)]
        shapenet_views.write_object(root, key, _pixels((2, 8, 8, 3)), _pixels((2, 8, 8)), cameras,
                                    binvox.VoxelGrid(_pixels((4, 4, 4)) > 128))
        shapenet_views.write_split(root, "test", [key])
        obj = shapenet_views.object_dir(root, key)
        path = {"split": shapenet_views.split_path(root, "test"), "cameras": obj / "cameras.json",
                "view": shapenet_views.view_path(obj, 1), "mask": shapenet_views.mask_path(obj, 0),
                "voxels": obj / "model.binvox"}[target]

        def absurd(data, claim):
            if isinstance(claim, tuple):
                return image_claiming(data, claim)
            return binvox_claiming(data, claim) if target == "voxels" else data[: len(data) // 2]

        corrupt(path, how, absurd)

        def read():
            for found in shapenet_views.read_split(root, "test"):
                shapenet_views.check_object(root, found)
                views = shapenet_views.read_object(root, found, 8, 8)
                assert views.images.shape[1:] == (8, 8, 3) and views.masks.shape[1:] == (8, 8)
                assert np.all(np.isfinite([c.as_row() for c in views.cameras]))

        refused_or_sane(read, path)


# ----- ratings, check-ins and IDX -------------------------------------------------------------------------------

@SETTINGS
@given(name=st.sampled_from(sorted(movielens.SEPARATORS)), how=corruptions(text=True, numbers=True))
@example(name="u.data", how=("number", 0, b"9" * 5000))  # int() refuses 5000 digits: ValueError
@example(name="ratings.dat", how=("number", 1, b"18446744073709551617"))  # no int64 holds it: OverflowError
def test_movielens(name, how):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        stars = [4.0, 3.5, 1.0] if name == movielens.FILE_20M else [4.0, 3.0, 1.0]
        path = movielens.write_ratings(root, movielens.Ratings(
            user=np.array([1, 1, 2]), item=np.array([10, 20, 10]), rating=np.array(stars),
            timestamp=np.array([881250949, 891717742, 878887116])), name)
        corrupt(path, how)

        def read():
            ratings = movielens.read_ratings(root)
            assert all(column.dtype == np.int64 for column in (ratings.user, ratings.item, ratings.timestamp))
            assert np.all(ratings.user >= 1) and np.all((ratings.rating >= 0.5) & (ratings.rating <= 5))

        refused_or_sane(read, path)


@SETTINGS
@given(gz=st.booleans(), how=corruptions(text=True, numbers=True, absurd=st.just(640)))
@example(gz=False, how=("number", 0, "\u00b2".encode()))  # '²'.isdigit() but int('²') raises ValueError
@example(gz=False, how=("number", 0, b"18446744073709551617"))  # no int64 holds it: OverflowError
@example(gz=True, how=("splice", 0.5, b"\x00\x01\x02\x03"))  # damaged deflate data: zlib.error
@example(gz=True, how=("absurd", 640))  # one 640 MiB line
def test_gowalla(gz, how):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = root / (gowalla.CHECKINS_FILE + (".gz" if gz else ""))
        gowalla.write_checkins(path, gowalla.CheckIns(
            user=np.array([0, 0, 1]), time=np.array([1287532527, 1287400000, 1287000000]),
            latitude=np.array([30.2, 30.3, -12.5]), longitude=np.array([-97.7, -97.8, 130.9]),
            location=np.array([22847, 420315, 316637])))
        corrupt(path, how, gzip_bomb if gz else lambda data, _: data + b"7" * (5 << 20))  # plain: a 5 MiB line

        def read():
            checkins = gowalla.read_checkins(root)
            assert all(column.dtype == np.int64 for column in (checkins.user, checkins.time, checkins.location))
            assert np.all(np.isfinite(checkins.latitude)) and np.all(np.isfinite(checkins.longitude))

        refused_or_sane(read, path)


def idx_claiming(data: bytes, shape: tuple[int, ...], keep_payload: bool = True) -> bytes:
    """An IDX file of unsigned bytes whose header claims `shape`, with or without the payload the file had."""
    old_ndim = data[3] if len(data) >= 4 else 0
    header = bytes([0, 0, 0x08, len(shape)]) + struct.pack(f">{len(shape)}I", *shape)
    return header + (data[4 + 4 * old_ndim:] if keep_payload else b"")


IDX_SHAPES = st.tuples(st.one_of(
    st.tuples(st.integers(2**31, 2**32 - 1), st.just(4), st.just(5)),  # 2**31 images and more
    st.just((2**22, 2**21, 2**21)),  # 2**64 bytes: the product wraps to 0 in int64
    st.tuples(st.integers(1, 2**32 - 1), st.integers(1, 2**32 - 1), st.integers(1, 2**32 - 1))), st.booleans())


@SETTINGS
@given(target=st.sampled_from(["images", "labels"]), gz=st.booleans(),
       how=corruptions(absurd=st.one_of(IDX_SHAPES, st.just("bomb"))))
@example(target="images", gz=False, how=("absurd", ((2**22, 2**21, 2**21), False)))  # no payload: reshape fails
@example(target="images", gz=True, how=("absurd", "bomb"))  # 640 MiB of zeros from 640 KiB of gzip
@example(target="images", gz=True, how=("absurd", ((3, 2**21, 2**21), True)))  # the header alone claimed 2**42 px
def test_mnist_idx(target, gz, how):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for split in ("train", "test"):
            mnist_idx.write_mnist_split(root, split, _pixels((3, 4, 5)), np.array([7, 0, 9]), compress=gz)
        path = root / (mnist_idx.SPLIT_FILES["train"][0 if target == "images" else 1] + (".gz" if gz else ""))

        def absurd(data, claim):
            plain = gzip.decompress(data) if gz else data
            if claim == "bomb":  # a header claiming 640 MiB of images, and the zeros to match, gzipped
                header = idx_claiming(plain, (640 << 14, 32, 32))[:16]
                return gzip.compress(header, mtime=0) + gzip.compress(bytes(1 << 20), mtime=0) * 640
            shape, keep_payload = claim
            out = idx_claiming(plain, shape if target == "images" else shape[:1], keep_payload)
            return gzip.compress(out, mtime=0) if gz else out

        corrupt(path, how, absurd)

        def read():
            height, width = mnist_idx.mnist_image_size(root, "train")  # from the header alone
            images = root / (mnist_idx.SPLIT_FILES["train"][0] + (".gz" if gz else ""))
            assert height * width <= 1032 * images.stat().st_size  # no more than the file can hold
            split = mnist_idx.read_mnist_split(root, "train")
            assert split.images.shape[1:] == (height, width)
            assert split.images.dtype == np.uint8 and split.images.ndim == 3 and len(split.images) <= 3
            assert split.labels.dtype == np.int64 and np.all((split.labels >= 0) & (split.labels <= 9))

        refused_or_sane(read, path)
