"""DC-AI-C7 data: face images as tensors, identity-balanced triplet batches, LFW's 10-fold verification
accuracy, and the synthetic tiny set (parametric faces in the VGGFace2 and LFW layouts).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchmetrics.functional.classification import binary_accuracy

from aibench.datasets.imagefolder import load_rgb
from aibench.datasets.lfw import image_file, write_pairs
from aibench.datasets.vggface2 import Box, box_key, identity_name, write_face, write_loose_boxes


# ----- images -------------------------------------------------------------------------------------------
def face_crop(image: Image.Image, box: Box | None = None, center: float = 1.0) -> Image.Image:
    """The face region of a photo: with a loose box, the square of side max(W, H) centred on it (the published
    boxes are taller than wide; a square keeps the face's proportions when resized), clipped to the image;
    without one, the centred square of `center` times the shorter side (LFW's faces sit at the image centre)."""
    width, height = image.size
    if box is not None:
        x, y, w, h = box
        side, cx, cy = max(w, h), x + w / 2, y + h / 2
    else:
        side, cx, cy = center * min(width, height), width / 2, height / 2
    left, top = max(0, round(cx - side / 2)), max(0, round(cy - side / 2))
    right, bottom = min(width, round(cx + side / 2)), min(height, round(cy + side / 2))
    if right - left < 2 or bottom - top < 2:  # a box outside the picture: keep the whole image
        return image
    return image if (left, top, right, bottom) == (0, 0, width, height) else image.crop((left, top, right, bottom))


def to_tensor(path: Path, size: int, box: Box | None = None, center: float = 1.0) -> torch.Tensor:
    """Decode, crop the face (face_crop), resize to size x size and scale to [-1, 1] (FaceNet's prewhitening is a
    per-image affine map of this kind; a fixed one keeps lighting differences for the network to learn to
    ignore)."""
    image = face_crop(load_rgb(path), box, center).resize((size, size), resample=3)  # bicubic
    array = torch.from_numpy(np.asarray(image, dtype=np.float32).copy())
    return array.permute(2, 0, 1) / 127.5 - 1.0


class FaceFiles(Dataset):
    """(image tensor, identity label) pairs decoded from files on access (for DataLoader workers at scale)."""

    def __init__(self, paths: Sequence[Path], labels: Sequence[int], size: int,
                 boxes: Sequence[Box | None] | None = None) -> None:
        self.paths, self.labels, self.size = list(paths), list(labels), size
        self.boxes = list(boxes) if boxes is not None else [None] * len(self.paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return to_tensor(self.paths[index], self.size, self.boxes[index]), self.labels[index]


def load_all(paths: Sequence[Path], size: int, boxes: Sequence[Box | None] | None = None,
             center: float = 1.0) -> torch.Tensor:
    """Every image as one (N, 3, size, size) tensor, each cropped by its box or the centre fraction."""
    boxes = boxes if boxes is not None else [None] * len(paths)
    tensors = [to_tensor(p, size, b, center) for p, b in zip(paths, boxes)]
    return torch.stack(tensors) if tensors else torch.empty(0, 3, size, size)


def identity_batches(image_counts: Sequence[int], identities: int, per_identity: int, batches: int,
                     rng: np.random.Generator) -> list[list[int]]:
    """FaceNet's mini-batches: `identities` people, `per_identity` faces each (drawn without replacement where
    a person has enough), as flat image indices; images are numbered identity by identity."""
    offsets = np.concatenate([[0], np.cumsum(image_counts)])
    out = []
    for _ in range(batches):
        people = rng.choice(len(image_counts), identities, replace=False)
        picks = [offsets[p] + rng.choice(image_counts[p], per_identity, replace=image_counts[p] < per_identity)
                 for p in people]
        out.append(np.concatenate(picks).tolist())
    return out


# ----- LFW verification protocol ---------------------------------------------------------------------------
def best_threshold(distances: torch.Tensor, same: torch.Tensor) -> float:
    """The distance threshold (predict 'same' when distance <= threshold) with the highest accuracy on these
    pairs; candidates are midpoints between sorted distances, plus both ends."""
    values = distances.sort().values
    candidates = torch.cat([values[:1] - 1e-6, (values[1:] + values[:-1]) / 2, values[-1:] + 1e-6])
    correct = ((distances[None, :] <= candidates[:, None]) == same[None, :]).float().mean(1)
    return float(candidates[correct.argmax()])


def verification_accuracy(distances: torch.Tensor, same: torch.Tensor, folds: torch.Tensor) -> dict[str, float]:
    """LFW's unrestricted-protocol accuracy: for each fold, the threshold is fitted on the other folds and the
    fold's accuracy measured with it (torchmetrics); the mean over folds, its std and the mean threshold."""
    accuracies, thresholds = [], []
    for fold in folds.unique():
        test = folds == fold
        train = ~test if (~test).any() else test  # a single fold can only be scored on itself
        threshold = best_threshold(distances[train], same[train])
        predicted = (distances[test] <= threshold).float()
        accuracies.append(float(binary_accuracy(predicted, same[test].long())))
        thresholds.append(threshold)
    acc = torch.tensor(accuracies)
    return {"accuracy": float(acc.mean()), "accuracy_std": float(acc.std()) if len(acc) > 1 else 0.0,
            "threshold": float(np.mean(thresholds)), "folds": float(len(acc))}


# ----- synthetic faces -------------------------------------------------------------------------------------
def face_identity(rng: np.random.Generator) -> dict[str, np.ndarray | float]:
    """An identity's fixed geometry and colours (coordinates in a unit square centred on the face)."""
    return {
        "skin": rng.uniform([110, 70, 50], [245, 205, 175]), "hair": rng.uniform(10, 200, 3),
        "iris": rng.uniform(20, 200, 3), "lips": rng.uniform([120, 30, 40], [220, 110, 120]),
        "face_w": rng.uniform(0.26, 0.38), "face_h": rng.uniform(0.34, 0.45), "hairline": rng.uniform(-0.33, -0.1),
        "hair_width": rng.uniform(1.0, 1.25), "eye_y": rng.uniform(-0.12, 0.0), "eye_dx": rng.uniform(0.08, 0.16),
        "eye_r": rng.uniform(0.03, 0.06), "brow_gap": rng.uniform(0.03, 0.07), "brow_t": rng.uniform(0.008, 0.025),
        "nose_len": rng.uniform(0.05, 0.15), "nose_w": rng.uniform(0.02, 0.06), "mouth_y": rng.uniform(0.14, 0.26),
        "mouth_w": rng.uniform(0.05, 0.15), "mouth_h": rng.uniform(0.012, 0.04),
    }


def render_face(person: dict, rng: np.random.Generator, size: int) -> np.ndarray:
    """One photo of a person: the identity's drawing under random pose (rotation, scale, shift), expression
    (mouth, gaze), lighting (directional gradient, brightness, colour cast), background and sensor noise."""
    hi = 2 * size  # drawn at twice the size, then averaged down: smooth edges
    angle, scale = rng.uniform(-0.25, 0.25), rng.uniform(0.88, 1.12)
    shift = rng.uniform(-0.06, 0.06, 2)
    ys, xs = (np.mgrid[0:hi, 0:hi] + 0.5) / hi - 0.5
    xs, ys = xs - shift[0], ys - shift[1]
    cos, sin = np.cos(angle), np.sin(angle)
    x, y = (cos * xs + sin * ys) / scale, (-sin * xs + cos * ys) / scale
    p = person
    image = np.empty((hi, hi, 3))
    image[:] = rng.uniform(0, 255, 3)  # background
    hair = ((x / (p["face_w"] * p["hair_width"] + 0.03)) ** 2 + ((y + 0.03) / (p["face_h"] + 0.05)) ** 2 <= 1) & (
        y < p["hairline"] + 0.25)
    face = (x / p["face_w"]) ** 2 + (y / p["face_h"]) ** 2 <= 1
    image[hair] = p["hair"]
    image[face & (y >= p["hairline"])] = p["skin"]
    gaze = rng.uniform(-0.3, 0.3, 2) * p["eye_r"]
    for side in (-1, 1):
        ex, ey = side * p["eye_dx"], p["eye_y"]
        white = ((x - ex) / (1.6 * p["eye_r"])) ** 2 + ((y - ey) / p["eye_r"]) ** 2 <= 1
        image[white] = 235
        image[white & ((x - ex - gaze[0]) ** 2 + (y - ey - gaze[1]) ** 2 <= (0.6 * p["eye_r"]) ** 2)] = p["iris"]
        brow = (np.abs(x - ex) <= 1.5 * p["eye_r"]) & (np.abs(y - (ey - p["eye_r"] - p["brow_gap"])) <= p["brow_t"])
        image[brow] = p["hair"] * 0.7
    nose = (y >= p["eye_y"]) & (y <= p["eye_y"] + p["nose_len"]) & (
        np.abs(x) <= p["nose_w"] * (y - p["eye_y"]) / p["nose_len"])
    image[nose] = p["skin"] * 0.75
    mouth_w = p["mouth_w"] * rng.uniform(0.85, 1.15)
    image[((x / mouth_w) ** 2 + ((y - p["mouth_y"]) / p["mouth_h"]) ** 2) <= 1] = p["lips"]
    light_dir = rng.uniform(0, 2 * np.pi)
    light = 1 + rng.uniform(0, 0.4) * (np.cos(light_dir) * xs + np.sin(light_dir) * ys)
    image = image * light[..., None] * rng.uniform(0.85, 1.15) + rng.uniform(-10, 10, 3)
    image = image.reshape(size, 2, size, 2, 3).mean(axis=(1, 3)) + rng.normal(0, 6, (size, size, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def synthesize_faces(data_dir: Path, seed: int, train_identities: int, train_images: int, test_identities: int,
                     test_images: int, folds: int, pairs_per_fold: int, size: int, loose_boxes: bool = False,
                     lfw_center: float = 1.0) -> None:
    """VGGFace2-layout training identities and disjoint LFW-layout test identities with a 10-fold pairs.txt
    whose folds, as LFW's, hold disjoint people. Faces are drawn at size x size. With loose_boxes each training
    face sits somewhere in a larger photo and bb_landmark/loose_bb_train.csv gives its box (taller than wide, as
    the published ones); with lfw_center < 1 each LFW face is the centre `lfw_center` of its photo."""
    rng = np.random.default_rng(seed)
    boxes: list[tuple[str, Box]] = []
    for index in range(1, train_identities + 1):
        person = face_identity(rng)
        for k in range(1, train_images + 1):
            face = render_face(person, rng, size)
            if loose_boxes:
                face, box = _in_photo(face, rng)
            path = write_face(data_dir, "train", identity_name(index), f"{k:04d}_01", face)
            if loose_boxes:
                boxes.append((box_key(path), box))
    if loose_boxes:
        write_loose_boxes(data_dir, "train", boxes)
    names = [f"Person_{chr(65 + i // 26)}{chr(65 + i % 26)}" for i in range(test_identities)]
    for name in names:
        person = face_identity(rng)
        for k in range(1, test_images + 1):
            path = image_file(data_dir / "lfw", name, k)
            path.parent.mkdir(parents=True, exist_ok=True)
            face = render_face(person, rng, size)
            if lfw_center < 1:
                face = _centred_in_photo(face, round(size / lfw_center), rng)
            write_face(data_dir, "lfw", name, path.stem, face)
    write_pairs(data_dir, [_fold_pairs(group, test_images, pairs_per_fold, rng)
                           for group in np.array_split(np.array(names), folds)])


def _backdrop(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A plain photo background: one random colour with sensor noise."""
    return np.clip(rng.uniform(0, 255, 3) + rng.normal(0, 12, (height, width, 3)), 0, 255).astype(np.uint8)


def _in_photo(face: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, Box]:
    """The face pasted at a random place of a larger photo, and its loose box: 0.8 of the face wide and the face
    high, so the square face_crop makes of it is exactly the pasted face."""
    side = len(face)
    height, width = (round(side * f) for f in rng.uniform(1.2, 1.8, 2))
    top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
    photo = _backdrop(height, width, rng)
    photo[top:top + side, left:left + side] = face
    return photo, (left + side // 10, top, side - 2 * (side // 10), side)


def _centred_in_photo(face: np.ndarray, photo_side: int, rng: np.random.Generator) -> np.ndarray:
    """The face pasted at the centre of a square photo (LFW's framing)."""
    side = len(face)
    photo = _backdrop(photo_side, photo_side, rng)
    offset = (photo_side - side) // 2
    photo[offset:offset + side, offset:offset + side] = face
    return photo


def _fold_pairs(people: Sequence[str], images: int, count: int, rng: np.random.Generator
                ) -> tuple[list[tuple[str, int, int]], list[tuple[str, int, str, int]]]:
    matched, mismatched = [], []
    for _ in range(count):
        name = str(rng.choice(people))
        i, j = sorted(rng.choice(images, 2, replace=False) + 1)
        matched.append((name, int(i), int(j)))
        a, b = rng.choice(people, 2, replace=False)
        mismatched.append((str(a), int(rng.integers(1, images + 1)), str(b), int(rng.integers(1, images + 1))))
    return matched, mismatched
