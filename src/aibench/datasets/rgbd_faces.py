"""RGB-D face identification sets on disk: reader and writer.

    <root>/train/<identity>/<sample>_rgb.png     8-bit RGB (any mode PIL converts to RGB)
    <root>/train/<identity>/<sample>_depth.png   16-bit greyscale depth in millimetres, 0 = no reading
    <root>/test/<identity>/<sample>_rgb.png      ... and the same pairs for the test split

One folder per identity; the identity's index is its position in the sorted train folder names. Every
`<sample>_rgb.png` needs its pixel-aligned `<sample>_depth.png` of the same size and vice versa. The paper's
Intellifusion set (77,715 samples of 253 identities) is private, so this is the layout we document for any RGB-D
face set (e.g. a Kinect capture exported as aligned PNG pairs). Hidden entries (names starting with ".") and other
files are ignored. A missing split, an identity folder without pairs, a sample missing its partner, a test identity
that is not in train, an unreadable image or an RGB/depth size mismatch is a DataError naming the path.
Nothing here knows a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from aibench.datasets.files import decode_image
from aibench.datasets.imagefolder import evenly_spaced_classes
from aibench.errors import DataError

RGB_SUFFIX = "_rgb.png"
DEPTH_SUFFIX = "_depth.png"
LAYOUT = ("{train,test}/<identity>/<sample>_rgb.png with an aligned <sample>_depth.png (16-bit depth in mm, "
          "0 = missing), one folder per identity")
DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I")  # what PIL reports for 16-bit greyscale PNGs


@dataclass(frozen=True)
class RGBDSample:
    rgb: Path
    depth: Path
    label: int


@dataclass(frozen=True)
class RGBDSplit:
    """One split: its folder, the identity names (sorted, shared with train) and its samples."""

    root: Path
    identities: tuple[str, ...]
    samples: tuple[RGBDSample, ...]

    def __len__(self) -> int:
        return len(self.samples)


def _visible_dirs(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def list_identities(split_dir: Path) -> list[str]:
    """Sorted identity folder names of one split; DataError if the split is missing or has none."""
    if not split_dir.is_dir():
        raise DataError(split_dir, f"missing split folder; expected {LAYOUT}")
    identities = _visible_dirs(split_dir)
    if not identities:
        raise DataError(split_dir, f"no identity folders; expected {LAYOUT}")
    return identities


def list_pairs(identity_dir: Path) -> list[tuple[Path, Path]]:
    """(rgb, depth) paths of one identity folder, sorted by sample name; DataError on an unpaired file."""
    files = {p.name for p in identity_dir.iterdir() if p.is_file() and not p.name.startswith(".")}
    rgb_stems = {name[: -len(RGB_SUFFIX)] for name in files if name.endswith(RGB_SUFFIX)}
    depth_stems = {name[: -len(DEPTH_SUFFIX)] for name in files if name.endswith(DEPTH_SUFFIX)}
    for stem in sorted(rgb_stems ^ depth_stems):
        present, partner = ((RGB_SUFFIX, DEPTH_SUFFIX) if stem in rgb_stems else (DEPTH_SUFFIX, RGB_SUFFIX))
        raise DataError(identity_dir / f"{stem}{present}", f"has no partner {stem}{partner}; expected {LAYOUT}")
    if not rgb_stems:
        raise DataError(identity_dir, f"identity folder holds no *{RGB_SUFFIX}/*{DEPTH_SUFFIX} pairs")
    return [(identity_dir / f"{stem}{RGB_SUFFIX}", identity_dir / f"{stem}{DEPTH_SUFFIX}")
            for stem in sorted(rgb_stems)]


def read_split(root: Path, split: str, identities: Sequence[str]) -> RGBDSplit:
    """List one split's pairs for the given identities (labels = their positions); others are skipped.
    An identity folder of this split that is not among `identities` is ignored, so a caller may pick a subset."""
    split_dir = Path(root) / split
    present = set(list_identities(split_dir))
    samples = tuple(RGBDSample(rgb, depth, label) for label, name in enumerate(identities) if name in present
                    for rgb, depth in list_pairs(split_dir / name))
    return RGBDSplit(root=split_dir, identities=tuple(identities), samples=samples)


def read_splits(root: Path, num_identities: int | None = None,
                splits: Sequence[str] = ("train", "test")) -> dict[str, RGBDSplit]:
    """List the splits. Identities come from the first (train) split; every other split's identity folder must
    exist there. With `num_identities`, a set with more is cut to that many spread evenly over the sorted names;
    one with fewer is a DataError."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, f"missing data directory; expected {LAYOUT}")
    identities = list_identities(root / splits[0])
    for split in splits[1:]:
        for name in list_identities(root / split):
            if name not in identities:
                raise DataError(root / split / name, f"identity is not in {splits[0]}/; a model can only "
                                                     f"identify people it was trained on")
    if num_identities is not None:
        if len(identities) < num_identities:
            raise DataError(root / splits[0], f"{len(identities)} identity folders, expected {num_identities}")
        identities = evenly_spaced_classes(identities, num_identities)
    return {split: read_split(root, split, identities) for split in splits}


def load_pair(sample: RGBDSample) -> tuple[np.ndarray, np.ndarray]:
    """Decode one sample: HxWx3 uint8 RGB and HxW float32 depth in millimetres (0 where missing)."""
    rgb = np.asarray(decode_image(sample.rgb, sample.rgb, "RGB"))
    depth_image = decode_image(sample.depth, sample.depth)
    if depth_image.mode not in DEPTH_MODES:
        raise DataError(sample.depth, f"depth image has mode {depth_image.mode}; expected a 16-bit greyscale PNG "
                                      f"in millimetres")
    depth = np.asarray(depth_image, dtype=np.float32)
    if depth.shape != rgb.shape[:2]:
        raise DataError(sample.depth, f"depth is {depth.shape[1]}x{depth.shape[0]} but {sample.rgb.name} is "
                                      f"{rgb.shape[1]}x{rgb.shape[0]}; expected pixel-aligned pairs")
    return rgb, depth


# ----- writer (used to synthesize data sets in exactly this layout) --------------------------------------

def write_pair(root: Path, split: str, identity: str, stem: str, rgb: np.ndarray,
               depth_mm: np.ndarray) -> tuple[Path, Path]:
    """Write root/split/identity/stem_rgb.png (HxWx3 uint8) and stem_depth.png (HxW, 16-bit millimetres)."""
    folder = Path(root) / split / identity
    folder.mkdir(parents=True, exist_ok=True)
    rgb_path, depth_path = folder / f"{stem}{RGB_SUFFIX}", folder / f"{stem}{DEPTH_SUFFIX}"
    Image.fromarray(np.asarray(rgb, dtype=np.uint8)).save(rgb_path)
    depth = np.clip(np.rint(depth_mm), 0, 65535).astype(np.uint16)
    Image.fromarray(depth).save(depth_path)  # a uint16 array becomes a 16-bit PNG (mode I;16)
    return rgb_path, depth_path
