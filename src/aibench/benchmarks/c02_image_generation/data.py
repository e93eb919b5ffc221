"""LSUN bedroom images for the WGAN: finding the split(s) under a data directory, the reference preprocessing
(resize the short side, centre crop, scale to [-1, 1]), epoch batches, and the synthetic "bedroom" set.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision.transforms import v2

from aibench.datasets.lsun import (
    FOLDER_LAYOUT,
    LMDB_LAYOUT,
    FolderImages,
    ImageSource,
    LmdbImages,
    encode_jpeg,
    is_lmdb_dir,
    write_lmdb,
)
from aibench.errors import DataError

TRAIN_LMDB = "bedroom_train_lmdb"
VAL_LMDB = "bedroom_val_lmdb"
LAYOUT = (f"{TRAIN_LMDB}/ ({LMDB_LAYOUT}), optionally with {VAL_LMDB}/ beside it; or the LMDB export "
          f"directory itself; or {FOLDER_LAYOUT}")
HELD_OUT_SEED = 0  # the held-out split of a set without a val export must not change with the run's seed


@dataclass
class Splits:
    """Training images and held-out images (indices into their sources)."""

    train: ImageSource
    train_indices: np.ndarray
    heldout: ImageSource
    heldout_indices: np.ndarray


def open_train_source(data_dir: Path) -> ImageSource:
    """The training images: `bedroom_train_lmdb/`, an LMDB export at data_dir itself, or an image folder."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise DataError(data_dir, f"missing; expected {LAYOUT}")
    if (data_dir / TRAIN_LMDB).exists():
        return LmdbImages(data_dir / TRAIN_LMDB)
    if is_lmdb_dir(data_dir):
        return LmdbImages(data_dir)
    if (data_dir / "lock.mdb").is_file():  # an LMDB export that lost its data file
        raise DataError(data_dir / "data.mdb", f"missing; expected {LAYOUT}")
    try:
        return FolderImages(data_dir)
    except DataError as err:
        raise DataError(data_dir, f"holds no LSUN LMDB export and no images; expected {LAYOUT}") from err


def split(data_dir: Path, heldout_images: int, max_train_images: int | None = None) -> Splits:
    """LSUN's val export is the held-out set where present; otherwise a fixed random subset of the images."""
    train = open_train_source(data_dir)
    val_dir = Path(data_dir) / VAL_LMDB
    if val_dir.exists():
        heldout: ImageSource = LmdbImages(val_dir)
        heldout_idx = np.arange(min(heldout_images, len(heldout)))
        train_idx = np.arange(len(train))
    else:
        if len(train) <= heldout_images:
            raise DataError(train.path, f"holds {len(train)} images; need more than the {heldout_images} "
                                        "held out for evaluation")
        order = np.random.default_rng(HELD_OUT_SEED).permutation(len(train))
        heldout, heldout_idx, train_idx = train, np.sort(order[:heldout_images]), np.sort(order[heldout_images:])
    if max_train_images is not None:  # LSUN's keys are hashes, so the first N in key order are a random subset
        train_idx = train_idx[:max_train_images]
    return Splits(train, train_idx, heldout, heldout_idx)


def index_keys(source: ImageSource) -> None:
    """List an LMDB export's image ids now (a folder lists its files when opened), so the listing is part of
    indexing the data set and not of the first image read."""
    if isinstance(source, LmdbImages):
        source.keys()


def image_transform(size: int) -> v2.Compose:
    """The reference preprocessing: Resize(size), CenterCrop(size), ToTensor, Normalize(0.5, 0.5)."""
    return v2.Compose([v2.ToImage(), v2.Resize(size, antialias=True), v2.CenterCrop(size),
                       v2.ToDtype(torch.float32, scale=True), v2.Normalize([0.5] * 3, [0.5] * 3)])


class ImageTensors(Dataset):
    """Preprocessed image tensors (3, size, size) in [-1, 1], decoded on access."""

    def __init__(self, source: ImageSource, indices: Sequence[int], size: int) -> None:
        self.source, self.indices, self.transform = source, np.asarray(indices), image_transform(size)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.transform(self.source.image(int(self.indices[i])))


def load_all(dataset: ImageTensors) -> torch.Tensor:
    """Every image of a (small) set as one tensor (N, 3, size, size)."""
    return torch.stack([dataset[i] for i in range(len(dataset))])


def preloaded_batches(images: torch.Tensor, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Shuffled full batches of an in-memory set (the last partial batch is dropped: every critic step
    sees the same batch size)."""
    order = torch.randperm(len(images), generator=generator)
    for start in range(0, len(order) - batch_size + 1, batch_size):
        yield images[order[start:start + batch_size]]


def streamed_batches(dataset: ImageTensors, batch_size: int, workers: int, generator: torch.Generator,
                     pin_memory: bool) -> DataLoader:
    """Shuffled full batches decoded by worker processes (LSUN bedrooms is ~3M images, too large to hold)."""
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True, num_workers=workers,
                      generator=generator, pin_memory=pin_memory)


# ----- the synthetic set ---------------------------------------------------------------------------------
# A "bedroom" is one of four room templates (clearly different wall and floor colours, so an average of them
# resembles none), split at a random horizon, with a bed (a rectangle with a pillow strip) of one of three
# colours standing on the floor at a random place. A generator can learn it; an untrained one produces grey
# noise, and one collapsed onto a single room or onto the average room is far from most of the data.
_WALL_FLOOR = np.array([[[235, 230, 215], [95, 60, 35]], [[40, 60, 120], [200, 185, 150]],
                        [[230, 200, 80], [70, 110, 80]], [[210, 150, 170], [50, 50, 55]]], np.float32)
_BED = np.array([[200, 40, 40], [40, 90, 200], [240, 240, 240]], np.float32)
_PILLOW = np.array([250, 250, 250], np.float32)
SYNTH_WIDTH, SYNTH_HEIGHT = 80, 64  # landscape, like most LSUN photos: the centre crop matters


def render_room(rng: np.random.Generator, width: int = SYNTH_WIDTH, height: int = SYNTH_HEIGHT) -> np.ndarray:
    """One synthetic bedroom as an (height, width, 3) uint8 array."""
    wall, floor = _WALL_FLOOR[rng.integers(len(_WALL_FLOOR))]
    img = np.empty((height, width, 3), np.float32)
    horizon = int(height * rng.uniform(0.35, 0.65))
    img[:horizon], img[horizon:] = wall, floor
    bed_w, bed_h = int(width * rng.uniform(0.3, 0.45)), int(height * rng.uniform(0.25, 0.35))
    left = int(rng.uniform(0.25, 0.75) * width - bed_w / 2)
    top = min(horizon - bed_h // 3 + int(rng.uniform(0, 0.1) * height), height - bed_h)
    img[top:top + bed_h, left:left + bed_w] = _BED[rng.integers(len(_BED))]
    img[top:top + max(2, bed_h // 4), left:left + bed_w] = _PILLOW * 0.9 + img[top, left] * 0.1
    img += rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def image_id(split_name: str, index: int) -> bytes:
    """A 40-hex-digit id, like LSUN's keys."""
    return hashlib.sha1(f"{split_name}-{index}".encode()).hexdigest().encode()


def write_synthetic_lsun(data_dir: Path, train_images: int, val_images: int, seed: int) -> None:
    """bedroom_train_lmdb/ and bedroom_val_lmdb/ of JPEG-encoded synthetic bedrooms."""
    rng = np.random.default_rng(seed)
    for name, count in ((TRAIN_LMDB, train_images), (VAL_LMDB, val_images)):
        records = [(image_id(name, i), encode_jpeg(Image.fromarray(render_room(rng)))) for i in range(count)]
        write_lmdb(Path(data_dir) / name, records, map_size=max(1 << 24, 64 * sum(len(v) for _, v in records)))
