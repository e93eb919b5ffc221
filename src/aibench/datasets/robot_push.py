"""The robot pushing data set (Finn, Goodfellow & Levine 2016) in its released TFRecord layout.

Layout (as downloaded, `push/` may be the root itself):

    <root>/push_train/push_train.tfrecord-00000-of-00264 ...      51,615 sequences
    <root>/push_testseen/push_testseen.tfrecord-00000-of-00005    1,038 sequences (objects seen in training)
    <root>/push_testnovel/push_testnovel.tfrecord-00000-of-00005  995 sequences (novel objects)

Each record is a tf.train.Example holding one pushing sequence; per time step t = 0, 1, ...:

    move/{t}/image/encoded                  bytes     the camera frame, JPEG 640x512 RGB
    move/{t}/commanded_pose/vec_pitch_yaw   float[5]  the action: the commanded gripper pose (x, y, z, pitch, yaw)
    move/{t}/endeffector/vec_pitch_yaw      float[5]  the state: the gripper's measured pose

(the release holds further per-step features, such as joint positions, which are not read). Frames are
prepared as the authors' input pipeline does: the central square crop (512x512) resized bicubically to the
model's resolution. Any image PIL decodes (JPEG, PNG) is accepted.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from aibench.datasets.files import decode_image
from aibench.datasets.tfrecord import count_records, encode_example, parse_example, read_records, write_records
from aibench.errors import DataError

SPLITS = ("push_train", "push_testseen", "push_testnovel")
IMAGE_KEY = "move/{t}/image/encoded"
ACTION_KEY = "move/{t}/commanded_pose/vec_pitch_yaw"
STATE_KEY = "move/{t}/endeffector/vec_pitch_yaw"
POSE_DIM = 5  # x, y, z, pitch, yaw
_SHARD = re.compile(r"\.tfrecord(-\d+-of-\d+)?$")


@dataclass
class PushSequence:
    """The first `steps` time steps of one pushing sequence."""

    images: np.ndarray  # uint8 (T, S, S, 3), the centre square resized to S
    actions: np.ndarray  # float32 (T, 5)
    states: np.ndarray  # float32 (T, 5)


def push_root(data_dir: Path) -> Path:
    """The folder holding the split folders: data_dir itself, or its `push/` subfolder as downloaded."""
    data_dir = Path(data_dir)
    nested = data_dir / "push"
    return nested if not (data_dir / SPLITS[0]).is_dir() and nested.is_dir() else data_dir


def split_files(data_dir: Path, split: str) -> list[Path]:
    """The TFRecord shards of one split, in name order; a missing or empty split is a DataError."""
    folder = push_root(data_dir) / split
    if not folder.is_dir():
        raise DataError(folder, f"missing: expected the {split} folder of TFRecord shards "
                                f"({split}.tfrecord-00000-of-NNNNN, ...)")
    files = sorted(p for p in folder.iterdir() if p.is_file() and _SHARD.search(p.name))
    if not files:
        raise DataError(folder, f"holds no TFRecord shards named {split}.tfrecord-NNNNN-of-NNNNN")
    return files


def split_size(files: Sequence[Path]) -> int:
    """Sequences in a split (headers only: the data are not read)."""
    return sum(count_records(f) for f in files)


def _feature(features: dict, key: str, source: str) -> object:
    if key not in features:
        raise DataError(source, f"has no feature {key!r}")
    return features[key]


def _pose(features: dict, key: str, source: str) -> np.ndarray:
    value = _feature(features, key, source)
    if not isinstance(value, np.ndarray) or value.dtype != np.float32 or len(value) != POSE_DIM:
        raise DataError(source, f"feature {key!r} should be {POSE_DIM} floats")
    return value


def decode_frame(encoded: bytes, size: int, source: str) -> np.ndarray:
    """An encoded camera frame as uint8 (size, size, 3): the central square, resized bicubically."""
    img = decode_image(encoded, source, "RGB", "image is not a decodable JPEG/PNG")
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    img = img.crop((left, top, left + side, top + side))
    if side != size:
        img = img.resize((size, size), Image.Resampling.BICUBIC)
    return np.asarray(img, dtype=np.uint8)


def decode_sequence(record: bytes, steps: int, image_size: int, source: str) -> PushSequence:
    """The first `steps` steps of one serialized Example; a missing or malformed feature names `source`."""
    features = parse_example(record, source)
    images, actions, states = [], [], []
    for t in range(steps):
        encoded = _feature(features, IMAGE_KEY.format(t=t), source)
        if not isinstance(encoded, list) or len(encoded) != 1:
            raise DataError(source, f"feature {IMAGE_KEY.format(t=t)!r} should hold one encoded image")
        images.append(decode_frame(encoded[0], image_size, f"{source}, {IMAGE_KEY.format(t=t)}"))
        actions.append(_pose(features, ACTION_KEY.format(t=t), source))
        states.append(_pose(features, STATE_KEY.format(t=t), source))
    return PushSequence(np.stack(images), np.stack(actions), np.stack(states))


def read_sequences(files: Sequence[Path], steps: int, image_size: int) -> Iterator[PushSequence]:
    """Every sequence of the given shards, in file order."""
    for path in files:
        for index, record in enumerate(read_records(path)):
            yield decode_sequence(record, steps, image_size, f"{path}, record {index}")


# ----- writer ---------------------------------------------------------------------------------------------------
def encode_sequence(frames: np.ndarray, actions: np.ndarray, states: np.ndarray, image_format: str = "JPEG",
                    quality: int = 95) -> bytes:
    """One sequence as a serialized Example in the release's feature layout; frames are uint8 (T, H, W, 3)."""
    features: dict[str, object] = {}
    for t, frame in enumerate(frames):
        buffer = io.BytesIO()
        options = {"quality": quality, "subsampling": 0} if image_format == "JPEG" else {}
        Image.fromarray(frame).save(buffer, format=image_format, **options)
        features[IMAGE_KEY.format(t=t)] = buffer.getvalue()
        features[ACTION_KEY.format(t=t)] = np.asarray(actions[t], np.float32)
        features[STATE_KEY.format(t=t)] = np.asarray(states[t], np.float32)
    return encode_example(features)


def write_split(data_dir: Path, split: str, records: Sequence[bytes], shards: int) -> list[Path]:
    """Write serialized sequences as `shards` TFRecord files named as the release names them."""
    folder = Path(data_dir) / split
    paths = []
    for shard in range(shards):
        path = folder / f"{split}.tfrecord-{shard:05d}-of-{shards:05d}"
        write_records(path, records[shard::shards])
        paths.append(path)
    return paths
