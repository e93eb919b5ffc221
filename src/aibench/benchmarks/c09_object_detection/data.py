"""VOC2007 detection data for Faster R-CNN: image/target tensors, batches, the tiny synthetic set, the baseline.

Targets follow torchvision's detection convention: boxes in continuous (x1, y1, x2, y2) pixels, labels 1..20
(0 is the background class). Training targets leave out `difficult` objects, as py-faster-rcnn's
`use_diff=False` does; evaluation targets keep them, flagged, so the metric can ignore them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter
from torch.utils.data import DataLoader, Dataset

from aibench.datasets.voc import VOC_CLASSES, VocAnnotation, VocObject, image_path, write_annotation, write_image_set
from aibench.errors import DataError

Target = dict[str, torch.Tensor]
Batch = tuple[list[torch.Tensor], list[Target]]


def load_image(root: Path, image_id: str) -> torch.Tensor:
    """The JPEG as float RGB in [0, 1], shape [3, H, W]."""
    path = image_path(root, image_id)
    try:
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))
    except (OSError, SyntaxError) as err:  # PIL's errors for unreadable or truncated files
        raise DataError(path, f"cannot decode the JPEG ({err})") from None
    return torch.from_numpy(pixels.copy()).permute(2, 0, 1).float().div_(255.0)


def make_target(ann: VocAnnotation, keep_difficult: bool) -> Target:
    """Boxes, 1-based labels and difficult flags of one image (difficult objects dropped for training)."""
    objects = [o for o in ann.objects if keep_difficult or not o.difficult]
    boxes = torch.tensor([o.box() for o in objects], dtype=torch.float32).reshape(-1, 4)
    return {"boxes": boxes,
            "labels": torch.tensor([o.label + 1 for o in objects], dtype=torch.int64),
            "difficult": torch.tensor([o.difficult for o in objects], dtype=torch.bool)}


def hflip(image: torch.Tensor, target: Target) -> tuple[torch.Tensor, Target]:
    """Mirror an image and its boxes left-right."""
    width = image.shape[-1]
    boxes = target["boxes"].clone()
    boxes[:, [0, 2]] = width - target["boxes"][:, [2, 0]]
    return image.flip(-1), {**target, "boxes": boxes}


class VocDetection(Dataset):
    """Images and targets of a VOC split; keys are (index, flip) pairs so augmentation is drawn by the sampler."""

    def __init__(self, root: Path, annotations: Sequence[VocAnnotation], train: bool) -> None:
        self.root, self.annotations, self.train = root, list(annotations), train

    def __len__(self) -> int:
        return len(self.annotations)

    def __getitem__(self, key: tuple[int, bool]) -> tuple[torch.Tensor, Target]:
        index, flip = key
        ann = self.annotations[index]
        image, target = load_image(self.root, ann.image_id), make_target(ann, keep_difficult=not self.train)
        return hflip(image, target) if flip else (image, target)


def collate(items: list[tuple[torch.Tensor, Target]]) -> Batch:
    """Detection batches stay lists: images differ in size; the model's transform pads them."""
    return [image for image, _ in items], [target for _, target in items]


def train_loader(dataset: VocDetection, batch_size: int, epoch_seed: int, flip: bool, workers: int) -> DataLoader:
    """One epoch in a seeded random order, each image flipped with probability 0.5 when `flip`."""
    gen = torch.Generator().manual_seed(epoch_seed)
    order = torch.randperm(len(dataset), generator=gen).tolist()
    flips = (torch.rand(len(dataset), generator=gen) < 0.5).tolist() if flip else [False] * len(dataset)
    keys = [(i, flips[i]) for i in order]
    return DataLoader(dataset, batch_size=batch_size, sampler=keys, collate_fn=collate, num_workers=workers)


def eval_loader(dataset: VocDetection, batch_size: int, workers: int) -> DataLoader:
    keys = [(i, False) for i in range(len(dataset))]
    return DataLoader(dataset, batch_size=batch_size, sampler=keys, collate_fn=collate, num_workers=workers)


# ----- the trivial baseline ----------------------------------------------------------------------------

def mean_box_detections(train: Sequence[VocAnnotation], test: Sequence[VocAnnotation]) -> list[Target]:
    """A detector that ignores the pixels: per image, one box per training class at that class's mean box.

    The mean is of training boxes in coordinates relative to the image size; every detection gets the same
    score (ties rank in image order), since the predictor has no evidence to prefer one image to another.
    """
    sums: dict[int, np.ndarray] = {}
    counts: dict[int, int] = {}
    for ann in train:
        scale = np.array([ann.width, ann.height, ann.width, ann.height], dtype=np.float64)
        for obj in ann.objects:
            if not obj.difficult:
                sums[obj.label + 1] = sums.get(obj.label + 1, 0) + np.array(obj.box()) / scale
                counts[obj.label + 1] = counts.get(obj.label + 1, 0) + 1
    labels = sorted(sums)
    relative = torch.tensor(np.stack([sums[k] / counts[k] for k in labels]), dtype=torch.float32)
    out = []
    for ann in test:
        scale = torch.tensor([ann.width, ann.height, ann.width, ann.height], dtype=torch.float32)
        out.append({"boxes": relative * scale, "scores": torch.ones(len(labels)),
                    "labels": torch.tensor(labels, dtype=torch.int64)})
    return out


# ----- the tiny synthetic set ----------------------------------------------------------------------------

# Three VOC classes, each a distinct colour and shape; the background is clutter of grey shapes, so neither
# colour nor shape alone is the whole cue (grey clutter shares the shapes, colour is only on objects).
SYNTH_CLASSES: dict[str, tuple[str, tuple[int, int, int]]] = {
    "car": ("rectangle", (210, 40, 40)),
    "pottedplant": ("ellipse", (40, 180, 60)),
    "boat": ("triangle", (50, 80, 220)),
}


def _draw_shape(draw: ImageDraw.ImageDraw, shape: str, box: tuple[float, float, float, float],
                fill: tuple[int, ...]) -> None:
    x1, y1, x2, y2 = box
    if shape == "rectangle":
        draw.rectangle(box, fill=fill)
    elif shape == "ellipse":
        draw.ellipse(box, fill=fill)
    else:
        draw.polygon([((x1 + x2) / 2, y1), (x2, y2), (x1, y2)], fill=fill)


def _clutter(rng: np.random.Generator, size: tuple[int, int]) -> Image.Image:
    """A grey-ish background: a gradient, then shapes of every kind in random grey levels, then blur."""
    width, height = size
    base = rng.integers(70, 170, 3)
    ramp = np.linspace(-30, 30, width)[None, :, None] * rng.choice([-1, 1])
    pixels = np.clip(base[None, None, :] + ramp + rng.normal(0, 6, (height, width, 3)), 0, 255).astype(np.uint8)
    image = Image.fromarray(pixels)
    draw = ImageDraw.Draw(image)
    shapes = ("rectangle", "ellipse", "triangle")
    for _ in range(int(rng.integers(6, 12))):
        x, y = rng.uniform(-8, width), rng.uniform(-8, height)
        w, h = rng.uniform(6, width / 3), rng.uniform(6, height / 3)
        grey = int(rng.integers(40, 220))
        tint = rng.integers(-15, 16, 3)
        fill = tuple(int(np.clip(grey + t, 0, 255)) for t in tint)
        _draw_shape(draw, shapes[int(rng.integers(3))], (x, y, x + w, y + h), fill)
    return image.filter(ImageFilter.GaussianBlur(0.6))


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def voc_styles() -> dict[str, tuple[str, tuple[int, int, int]]]:
    """A shape and a colour for each of the 20 VOC classes (the full-shaped smoke set): shapes cycle, hues are
    spread around the colour wheel so every class has its own (shape, colour) pair."""
    import colorsys

    shapes = ("rectangle", "ellipse", "triangle")
    styles = {}
    for i, name in enumerate(VOC_CLASSES):
        red, green, blue = colorsys.hsv_to_rgb(i / len(VOC_CLASSES), 0.8, 0.85)
        styles[name] = (shapes[i % 3], (int(255 * red), int(255 * green), int(255 * blue)))
    return styles


def _place_objects(rng: np.random.Generator, size: tuple[int, int], object_px: tuple[int, int],
                   classes: Sequence[str]) -> list[tuple]:
    """(class, continuous box, difficult) for 1-3 objects that overlap little; one in eight is a small,
    `difficult` object, and some cross the border (their box is clipped and they are `truncated`)."""
    width, height = size
    placed: list[tuple] = []
    for _ in range(int(rng.integers(1, 4))):
        for _attempt in range(20):
            difficult = rng.random() < 0.125
            lo, hi = (object_px[0] // 2, object_px[0]) if difficult else object_px
            w = rng.uniform(lo, hi) * rng.uniform(0.8, 1.25)
            h = rng.uniform(lo, hi) * rng.uniform(0.8, 1.25)
            x = rng.uniform(-0.25 * w, width - 0.75 * w)
            y = rng.uniform(-0.25 * h, height - 0.75 * h)
            box = (x, y, x + w, y + h)
            if all(_iou(box, other[1]) < 0.2 for other in placed):
                placed.append((classes[int(rng.integers(len(classes)))], box, difficult))
                break
    return placed


def _voc_object(name: str, box: tuple[float, ...], difficult: bool, size: tuple[int, int]) -> VocObject:
    """The XML's 1-based inclusive pixel box of a drawn shape, clipped to the image."""
    width, height = size
    xmin, ymin = max(1, int(np.floor(box[0])) + 1), max(1, int(np.floor(box[1])) + 1)
    xmax, ymax = min(width, int(np.ceil(box[2]))), min(height, int(np.ceil(box[3])))
    truncated = box[0] < 0 or box[1] < 0 or box[2] > width or box[3] > height
    return VocObject(name, xmin, ymin, xmax, ymax, difficult=difficult, truncated=truncated,
                     pose="Unspecified")


def synthesize_image(rng: np.random.Generator, image_id: str, size: tuple[int, int], object_px: tuple[int, int],
                     styles: dict[str, tuple[str, tuple[int, int, int]]] = SYNTH_CLASSES,
                     ) -> tuple[Image.Image, VocAnnotation]:
    """One (width, height) image of 1-3 styled objects on clutter, and its annotation."""
    image = _clutter(rng, size)
    draw = ImageDraw.Draw(image)
    objects = []
    for name, box, difficult in _place_objects(rng, size, object_px, list(styles)):
        shape, colour = styles[name]
        fill = tuple(int(np.clip(c + rng.integers(-25, 26), 0, 255)) for c in colour)
        _draw_shape(draw, shape, box, fill)
        objects.append(_voc_object(name, box, difficult, size))
    return image, VocAnnotation(image_id=image_id, width=size[0], height=size[1], objects=tuple(objects),
                                filename=f"{image_id}.jpg")


def synthesize_voc(root: Path, trainval: int, test: int, size: int | Sequence[int], object_px: tuple[int, int],
                   seed: int, all_classes: bool = False) -> None:
    """Write a VOC2007 folder (JPEGImages, Annotations, ImageSets/Main/{trainval,test}.txt) of synthetic images:
    `size` is a side (square) or (width, height); `all_classes` draws from all 20 VOC classes instead of tiny's
    three."""
    rng = np.random.default_rng(seed)
    width, height = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    styles = voc_styles() if all_classes else SYNTH_CLASSES
    (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
    ids = [f"{i:06d}" for i in range(1, trainval + test + 1)]
    for image_id in ids:
        image, ann = synthesize_image(rng, image_id, (width, height), object_px, styles)
        image.save(image_path(root, image_id), quality=92)
        write_annotation(root, ann, database="aibench synthetic VOC2007")
    write_image_set(root, "trainval", ids[:trainval])
    write_image_set(root, "test", ids[trainval:])


def class_names(labels: Sequence[int]) -> list[str]:
    """VOC class names of 1-based labels."""
    return [VOC_CLASSES[label - 1] for label in labels]
