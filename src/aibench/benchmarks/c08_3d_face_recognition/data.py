"""3D face recognition data: RGB-D preprocessing, the dataset, and the synthetic tiny set.

A sample becomes one 4-channel tensor, as RGB-D face pipelines prepare a face crop: the face is segmented by its
depth (pixels with no reading, or more than FACE_DEPTH_RANGE_MM behind the face's median depth, are background);
RGB is normalized by ImageNet's statistics; depth is made relative to the face (median valid depth minus depth,
so nearer is positive and camera distance drops out) and standardised to about unit spread over the face (units
of DEPTH_SCALE_MM), like the normalized RGB channels; background is 0 in every channel.

The synthetic set renders parametric face-like surfaces: an ellipsoid head with a nose bump, two eye sockets and a
mouth groove whose sizes and positions are identity-specific. Each sample is a small random pose (yaw, pitch,
roll), scale, shift and camera distance, with sensor noise and dropped depth readings; its RGB image is the
surface shaded under a random light with the identity's skin tone over a random background, so the RGB channels
see the shape only through shading and outline while the depth channel measures it. Identities may share skin
tones (`complexions`): then colour tells nobody apart and face shape must.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2

from aibench.datasets.rgbd_faces import RGBDSample, load_pair, write_pair

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# One depth unit: about one standard deviation of a face's relief around its median depth (16 mm on the synthetic
# faces), so the depth channel spreads like the standardised RGB channels and does not start out weaker than them.
DEPTH_SCALE_MM = 20.0
# Segmentation: farther than this behind the face's median depth is background (a wall, a shoulder), not face.
FACE_DEPTH_RANGE_MM = 150.0


# ----- preprocessing ---------------------------------------------------------------------------------------

def rgbd_tensor(rgb: np.ndarray, depth_mm: np.ndarray) -> torch.Tensor:
    """4xHxW float32: normalized RGB and standardised face-relative depth on the face, 0 on the background (no
    depth reading, or far behind the face). Masking the background keeps the network from telling training photos
    apart by their backdrops instead of learning the face."""
    colour = torch.from_numpy(np.array(rgb)).permute(2, 0, 1).float() / 255.0  # a copy: PIL arrays are read-only
    colour = v2.functional.normalize(colour, list(IMAGENET_MEAN), list(IMAGENET_STD))
    depth = torch.from_numpy(np.ascontiguousarray(depth_mm, dtype=np.float32))
    valid = depth > 0
    centre = depth[valid].median() if valid.any() else torch.tensor(0.0)
    relative = (centre - depth) / DEPTH_SCALE_MM
    face = valid & (relative >= -FACE_DEPTH_RANGE_MM / DEPTH_SCALE_MM)
    colour = torch.where(face, colour, torch.zeros_like(colour))
    relative = torch.where(face, relative, torch.zeros_like(relative))
    return torch.cat([colour, relative[None]])


def rgbd_transform(image_size: int, train: bool, crop_scale: tuple[float, float]) -> v2.Transform:
    """Resize to image_size; for training, a random-resized crop and horizontal flip (a mirrored face is the same
    person). Applied to the 4-channel tensor so RGB and depth stay aligned."""
    if not train:
        return v2.Resize((image_size, image_size), antialias=True)
    return v2.Compose([v2.RandomResizedCrop(image_size, scale=crop_scale, ratio=(0.9, 1.1), antialias=True),
                       v2.RandomHorizontalFlip()])


class RGBDFaceDataset(Dataset):
    """(4xSxS tensor, identity index) pairs decoded from the PNG pairs on each access, as a DataLoader reads them.
    With `zero_depth` (the benchmark's control) the depth channel is all zeros: the network keeps its 4-channel
    stem but sees only the RGB image (its background masked as the method's is)."""

    def __init__(self, samples: tuple[RGBDSample, ...], transform: v2.Transform, zero_depth: bool = False) -> None:
        self.samples = list(samples)
        self.transform = transform
        self.zero_depth = zero_depth

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        sample = self.samples[index]
        tensor = rgbd_tensor(*load_pair(sample))
        if self.zero_depth:
            tensor[3] = 0.0
        return self.transform(tensor), sample.label


# ----- synthesis -------------------------------------------------------------------------------------------

# Identity parameters (millimetres) and the ranges they are spread over.
FACE_PARAMETERS = {
    "half_width": (62.0, 86.0), "half_height": (85.0, 112.0), "head_depth": (45.0, 80.0),
    "nose_height": (10.0, 32.0), "nose_length": (14.0, 34.0), "nose_y": (-12.0, 12.0),
    "eye_spacing": (22.0, 40.0), "eye_y": (14.0, 36.0), "eye_depth": (4.0, 18.0), "eye_size": (7.0, 14.0),
    "mouth_y": (-52.0, -30.0), "mouth_depth": (2.0, 10.0),
}
SKIN_RANGE = ((90.0, 50.0, 30.0), (240.0, 200.0, 170.0))  # RGB skin tones, before shading
FIELD_OF_VIEW_MM = 260.0  # the image spans this many millimetres at unit scale
AMBIENT_LIGHT = (0.25, 0.45)  # share of the skin tone lit whatever the surface's orientation
DIRECT_LIGHT = (0.5, 0.8)  # share lit by the directional light, by the cosine of its angle to the surface


def synthetic_identity(index: int) -> str:
    return f"id{index:04d}"


def identity_parameters(num_identities: int, rng: np.random.Generator) -> list[dict[str, float]]:
    """Each parameter's values spread evenly over its range and shuffled across identities, so no two
    identities share a value and every pair differs in every parameter."""
    columns = {}
    for name, (low, high) in FACE_PARAMETERS.items():
        steps = (rng.permutation(num_identities) + 0.5) / num_identities
        columns[name] = low + steps * (high - low)
    return [{name: float(values[i]) for name, values in columns.items()} for i in range(num_identities)]


def face_height(face: dict[str, float], x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Height above the head's back plane (mm) of face coordinates x (right), y (up), and the head mask."""
    radial = 1.0 - (x / face["half_width"]) ** 2 - (y / face["half_height"]) ** 2
    inside = radial > 0
    height = face["head_depth"] * np.sqrt(np.clip(radial, 0, None))
    height += face["nose_height"] * np.exp(-(x / 8.0) ** 2 - ((y - face["nose_y"]) / face["nose_length"]) ** 2)
    for side in (-1, 1):
        eye = ((x - side * face["eye_spacing"]) ** 2 + (y - face["eye_y"]) ** 2) / face["eye_size"] ** 2
        height -= face["eye_depth"] * np.exp(-eye)
    height -= face["mouth_depth"] * np.exp(-(x / 22.0) ** 2 - ((y - face["mouth_y"]) / 4.0) ** 2)
    return height, inside


def _rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    cy, sy, cp, sp, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(pitch), np.sin(pitch), np.cos(roll), np.sin(roll)
    about_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    about_x = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    about_z = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return about_z @ about_x @ about_y


def render_depth(face: dict[str, float], size: int, rng: np.random.Generator) -> np.ndarray:
    """Noise-free depth image (mm, 0 = background) of the face in a random small pose, by z-buffered splatting
    of a dense grid of surface points under orthographic projection."""
    points_per_side = size * 3
    grid = np.linspace(-FIELD_OF_VIEW_MM / 2, FIELD_OF_VIEW_MM / 2, points_per_side)
    x, y = np.meshgrid(grid, grid)
    height, inside = face_height(face, x, y)
    surface = np.stack([x[inside], y[inside], height[inside]], axis=1)
    pose = _rotation(*np.deg2rad(rng.uniform([-15, -10, -6], [15, 10, 6])))
    moved = surface @ pose.T
    scale = rng.uniform(0.92, 1.08) * size / FIELD_OF_VIEW_MM  # pixels per mm
    shift = rng.uniform(-1.5, 1.5, size=2)
    column = np.floor(moved[:, 0] * scale + size / 2 + shift[0]).astype(int)
    row = np.floor(-moved[:, 1] * scale + size / 2 + shift[1]).astype(int)
    keep = (column >= 0) & (column < size) & (row >= 0) & (row < size)
    nearest = np.full(size * size, -np.inf)
    np.maximum.at(nearest, row[keep] * size + column[keep], moved[keep, 2])
    nearest = nearest.reshape(size, size)
    distance = rng.uniform(600.0, 900.0)  # camera to the head's back plane
    return np.where(np.isfinite(nearest), distance - nearest, 0.0)


def sensor_noise(depth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A depth camera's reading of a depth map: Gaussian noise and a few dropped (0) readings."""
    noisy = np.where(depth > 0, depth + rng.normal(0, 1.5, depth.shape), 0.0)
    noisy[rng.random(depth.shape) < 0.02] = 0.0
    return noisy


def shade(depth: np.ndarray, rng: np.random.Generator, skin: np.ndarray) -> np.ndarray:
    """RGB image: Lambertian shading of the depth map's surface under a random light, the identity's skin tone
    (varied a little per photo, as white balance does) over a random background, plus noise."""
    valid = depth > 0
    filled = np.where(valid, depth, depth[valid].max() if valid.any() else 0.0)
    dz_dy, dz_dx = np.gradient(-filled)
    pixel_mm = FIELD_OF_VIEW_MM / depth.shape[0]
    normals = np.stack([-dz_dx / pixel_mm, dz_dy / pixel_mm, np.ones_like(depth)], axis=-1)
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    light = np.array([rng.uniform(-0.6, 0.6), rng.uniform(-0.3, 0.6), 1.0])
    light /= np.linalg.norm(light)
    lambert = np.clip(normals @ light, 0, 1)
    skin = np.clip(skin + rng.normal(0, 8.0, size=3), 0, 255)
    face = skin * (rng.uniform(*AMBIENT_LIGHT) + rng.uniform(*DIRECT_LIGHT) * lambert[..., None])
    background = rng.uniform(0, 255, size=3)
    image = np.where(valid[..., None], face, background) + rng.normal(0, 8.0, depth.shape + (3,))
    return np.clip(image, 0, 255).astype(np.uint8)


def shared_complexions(num_identities: int, complexions: int | None, rng: np.random.Generator) -> np.ndarray:
    """(num_identities, 3) skin tones: `complexions` tones drawn from SKIN_RANGE, dealt round-robin, so that with
    fewer tones than identities people share them and a face's colour does not tell who it is (its shape does);
    None: every identity its own tone."""
    complexions = num_identities if complexions is None else complexions
    tones = rng.uniform(SKIN_RANGE[0], SKIN_RANGE[1], size=(complexions, 3))
    return tones[np.arange(num_identities) % complexions]


def synthesize_rgbd_faces(root: Path, num_identities: int, train_per_identity: int, test_per_identity: int,
                          size: int, seed: int, complexions: int | None = None) -> None:
    """Write train/<id>/<id>_<n>_{rgb,depth}.png and test/... for synthetic identities sharing `complexions`
    skin tones."""
    rng = np.random.default_rng(seed)
    faces = identity_parameters(num_identities, rng)
    skins = shared_complexions(num_identities, complexions, rng)
    for index, face in enumerate(faces):
        identity = synthetic_identity(index)
        for split, count in (("train", train_per_identity), ("test", test_per_identity)):
            for n in range(count):
                depth = render_depth(face, size, rng)
                rgb = shade(depth, rng, skins[index])
                write_pair(root, split, identity, f"{identity}_{split}{n:04d}", rgb, sensor_noise(depth, rng))
