"""The ImageNet folder layout reader and writer, on small fixtures written by hand in exactly that layout."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aibench.datasets.imagefolder import (
    WNID_PATTERN,
    ImageFolderDataset,
    evenly_spaced_classes,
    load_rgb,
    read_split,
    read_splits,
    verify_images,
    write_image,
)
from aibench.errors import DataError

TENCH, GOLDFISH, SHARK = "n01440764", "n01443537", "n01484850"


def _save(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (20, 14), fmt: str = "JPEG") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path, format=fmt)
    return path


@pytest.fixture
def imagenet(tmp_path: Path) -> Path:
    """Three classes named as ImageNet names its files, plus the clutter real copies carry."""
    root = tmp_path / "imagenet"
    _save(root / "train" / TENCH / f"{TENCH}_10026.JPEG", (200, 0, 0))
    _save(root / "train" / TENCH / f"{TENCH}_10027.JPEG", (190, 10, 0))
    _save(root / "train" / GOLDFISH / f"{GOLDFISH}_1002.JPEG", (0, 200, 0))
    _save(root / "train" / SHARK / f"{SHARK}_3.png", (0, 0, 200), fmt="PNG")  # other formats are read too
    _save(root / "val" / TENCH / "ILSVRC2012_val_00000293.JPEG", (210, 0, 0))
    _save(root / "val" / GOLDFISH / "ILSVRC2012_val_00000001.JPEG", (0, 210, 0))
    _save(root / "val" / SHARK / "ILSVRC2012_val_00000002.jpg", (0, 0, 210))
    (root / "train" / TENCH / "notes.txt").write_text("not an image\n")  # ignored: not an image suffix
    (root / "train" / ".DS_Store").write_text("x")  # ignored: hidden
    (root / "LOC_synset_mapping.txt").write_text(f"{TENCH} tench, Tinca tinca\n")  # outside the splits
    return root


def test_reads_classes_in_sorted_wnid_order_with_matching_labels(imagenet):
    splits = read_splits(imagenet, class_pattern=WNID_PATTERN)
    train, val = splits["train"], splits["val"]
    assert train.classes == val.classes == (TENCH, GOLDFISH, SHARK)
    assert [(p.name, label) for p, label in train.samples] == [
        (f"{TENCH}_10026.JPEG", 0), (f"{TENCH}_10027.JPEG", 0), (f"{GOLDFISH}_1002.JPEG", 1), (f"{SHARK}_3.png", 2)]
    assert train.class_counts() == [2, 1, 1]
    assert [label for _, label in val.samples] == [0, 1, 2]
    assert train.root == imagenet / "train"


def test_loads_rgb_and_the_dataset_yields_transformed_pairs(imagenet):
    val = read_split(imagenet, "val")
    dataset = ImageFolderDataset(val.samples, transform=lambda image: np.asarray(image))
    pixels, label = dataset[1]
    assert len(dataset) == 3 and label == 1
    assert pixels.shape == (14, 20, 3)
    assert abs(int(pixels[..., 1].mean()) - 210) < 5  # the goldfish image is green (JPEG is lossy)


def test_writer_round_trips_through_the_reader(tmp_path):
    pixels = np.zeros((9, 11, 3), np.uint8)
    pixels[..., 2] = 255
    path = write_image(tmp_path, "val", TENCH, "ILSVRC2012_val_00000007", pixels)
    assert path == tmp_path / "val" / TENCH / "ILSVRC2012_val_00000007.JPEG"
    image = np.asarray(load_rgb(path))
    assert image.shape == (9, 11, 3) and image[..., 2].mean() > 240
    assert read_split(tmp_path, "val", class_pattern=WNID_PATTERN).samples == ((path, 0),)


def test_missing_root_and_missing_split_name_the_path(tmp_path, imagenet):
    with pytest.raises(DataError, match="missing data directory") as err:
        read_splits(tmp_path / "nowhere")
    assert err.value.path == str(tmp_path / "nowhere")
    for entry in (imagenet / "val").rglob("*"):
        if entry.is_file():
            entry.unlink()
    for entry in sorted((imagenet / "val").rglob("*"), reverse=True):
        entry.rmdir()
    (imagenet / "val").rmdir()
    with pytest.raises(DataError, match="missing split folder") as err:
        read_splits(imagenet)
    assert err.value.path == str(imagenet / "val")


def test_empty_class_folder_is_named(imagenet):
    (imagenet / "val" / SHARK / "ILSVRC2012_val_00000002.jpg").unlink()
    with pytest.raises(DataError, match="empty class folder") as err:
        read_splits(imagenet)
    assert err.value.path == str(imagenet / "val" / SHARK)


def test_class_sets_must_agree_between_splits(imagenet):
    (imagenet / "val" / "n09999999").mkdir()
    with pytest.raises(DataError, match=r"has class folders n09999999 that are not in train/") as err:
        read_splits(imagenet)
    assert err.value.path == str(imagenet / "val")
    (imagenet / "val" / "n09999999").rmdir()
    for path in (imagenet / "val" / SHARK).iterdir():
        path.unlink()
    (imagenet / "val" / SHARK).rmdir()
    with pytest.raises(DataError, match=f"lacks class folders {SHARK}"):
        read_splits(imagenet)


def test_class_folder_names_must_be_wordnet_ids_when_asked(imagenet):
    _save(imagenet / "train" / "goldfish" / "a.JPEG", (1, 2, 3))
    with pytest.raises(DataError, match="does not match") as err:
        read_splits(imagenet, class_pattern=WNID_PATTERN)
    assert err.value.path == str(imagenet / "train" / "goldfish")


def test_unsorted_validation_images_get_a_hint(tmp_path):
    _save(tmp_path / "val" / "ILSVRC2012_val_00000001.JPEG", (0, 0, 0))
    with pytest.raises(DataError, match="1 images lie directly in it") as err:
        read_split(tmp_path, "val")
    assert err.value.path == str(tmp_path / "val")


def test_corrupt_and_truncated_images_are_named(imagenet):
    fake = imagenet / "train" / TENCH / f"{TENCH}_10026.JPEG"
    fake.write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(DataError, match="unreadable image") as err:
        load_rgb(fake)
    assert err.value.path == str(fake)
    truncated = _save(imagenet / "train" / GOLDFISH / f"{GOLDFISH}_9.JPEG", (5, 5, 5), size=(64, 64))
    truncated.write_bytes(truncated.read_bytes()[:200])
    with pytest.raises(DataError) as err:
        verify_images([imagenet / "val" / TENCH / "ILSVRC2012_val_00000293.JPEG", truncated])
    assert err.value.path == str(truncated)


def test_class_subset_is_spread_over_the_sorted_names(imagenet):
    names = [f"n{i:08d}" for i in range(1000)]
    subset = evenly_spaced_classes(reversed(names), 100)
    assert len(subset) == 100 and subset[:3] == ["n00000000", "n00000010", "n00000020"]
    splits = read_splits(imagenet, num_classes=2)
    assert splits["train"].classes == splits["val"].classes == (TENCH, GOLDFISH)
    assert [p.parent.name for p, _ in splits["val"].samples] == [TENCH, GOLDFISH]
    assert evenly_spaced_classes(names, 300)[-1] == "n00000996"  # reaches the end of the list
    with pytest.raises(DataError, match="3 class folders, expected at least 4"):
        read_splits(imagenet, num_classes=4)
