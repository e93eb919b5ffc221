"""The MSCOCO 2014 captions reader on hand-written files in the released layout, and its errors."""

import json

import pytest
from PIL import Image

from aibench.datasets.coco_captions import image_name, read_captions, write_captions
from aibench.errors import DataError


def write_coco(root, split="val", images=((42, ["A man riding a horse.", "A person on a horse "]),
                                          (9, ["Two plates of food."]))):
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    (root / f"{split}2014").mkdir(exist_ok=True)
    listed, notes = [], []
    for image_id, captions in images:
        name = f"COCO_{split}2014_{image_id:012d}.jpg"
        Image.new("RGB", (8, 6), (10, 20, 30)).save(root / f"{split}2014" / name)
        listed.append({"license": 3, "file_name": name, "height": 6, "width": 8, "id": image_id})
        notes += [{"image_id": image_id, "id": 100 + len(notes), "caption": c} for c in captions]
    document = {"info": {"year": 2014}, "images": listed, "licenses": [], "annotations": notes}
    (root / "annotations" / f"captions_{split}2014.json").write_text(json.dumps(document))
    return root


def test_reads_images_sorted_by_id_with_their_captions(tmp_path):
    items = read_captions(write_coco(tmp_path), "val")
    assert [i.image_id for i in items] == [9, 42]
    assert items[1].captions == ("A man riding a horse.", "A person on a horse")
    assert items[1].path == tmp_path / "val2014" / "COCO_val2014_000000000042.jpg"
    assert len(read_captions(tmp_path, "val", limit=1)) == 1
    assert image_name("train", 9) == "COCO_train2014_000000000009.jpg"


def test_missing_json_and_missing_image_are_named(tmp_path):
    with pytest.raises(DataError, match="captions_train2014.json: missing"):
        read_captions(tmp_path, "train")
    write_coco(tmp_path)
    (tmp_path / "val2014" / "COCO_val2014_000000000042.jpg").unlink()
    with pytest.raises(DataError, match="COCO_val2014_000000000042.jpg: missing"):
        read_captions(tmp_path, "val")
    assert len(read_captions(tmp_path, "val", check_files=False)) == 2


def test_malformed_json_and_dangling_annotations_are_errors(tmp_path):
    write_coco(tmp_path)
    path = tmp_path / "annotations" / "captions_val2014.json"
    path.write_text('{"images": [')
    with pytest.raises(DataError, match="captions_val2014.json: not valid JSON"):
        read_captions(tmp_path, "val")
    path.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.jpg"}],
                                "annotations": [{"image_id": 2, "id": 5, "caption": "x"}]}))
    with pytest.raises(DataError, match="names image 2"):
        read_captions(tmp_path, "val")
    path.write_text(json.dumps({"images": [{"id": 1}], "annotations": []}))
    with pytest.raises(DataError, match="'file_name'"):
        read_captions(tmp_path, "val")
    path.write_text(json.dumps({"annotations": []}))
    with pytest.raises(DataError, match="lists 'images' and 'annotations'"):
        read_captions(tmp_path, "val")


def test_writer_round_trips(tmp_path):
    write_captions(tmp_path, "train", [(7, 8, 8, ["A red circle.", "There is a red circle."])])
    (tmp_path / "train2014").mkdir()  # the writer writes captions only; the images are the caller's
    Image.new("RGB", (8, 8)).save(tmp_path / "train2014" / image_name("train", 7))
    items = read_captions(tmp_path, "train")
    assert items[0].image_id == 7 and items[0].captions == ("A red circle.", "There is a red circle.")
