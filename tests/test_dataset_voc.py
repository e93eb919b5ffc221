"""The VOC2007 reader/writer and the VOC07 mAP metric, on hand-written fixtures and hand-computed cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from aibench.datasets.voc import (
    VOC_CLASSES, VocAnnotation, VocObject, find_voc_root, read_annotation, read_image_set, read_split,
    write_annotation, write_image_set)
from aibench.datasets.voc_eval import coco_map50, voc07_average_precision, voc07_map
from aibench.errors import DataError

# Written by hand in the schema of VOC2007's Annotations/*.xml (cf. 000005.xml): two chairs, one difficult,
# one truncated person without <pose>.
XML_A = """<annotation>
	<folder>VOC2007</folder>
	<filename>000005.jpg</filename>
	<source>
		<database>The VOC2007 Database</database>
		<annotation>PASCAL VOC2007</annotation>
		<image>flickr</image>
		<flickrid>325991873</flickrid>
	</source>
	<owner>
		<flickrid>archintent louisville</flickrid>
		<name>?</name>
	</owner>
	<size>
		<width>50</width>
		<height>40</height>
		<depth>3</depth>
	</size>
	<segmented>0</segmented>
	<object>
		<name>chair</name>
		<pose>Rear</pose>
		<truncated>0</truncated>
		<difficult>0</difficult>
		<bndbox>
			<xmin>3</xmin>
			<ymin>5</ymin>
			<xmax>20</xmax>
			<ymax>30</ymax>
		</bndbox>
	</object>
	<object>
		<name>chair</name>
		<pose>Unspecified</pose>
		<truncated>1</truncated>
		<difficult>1</difficult>
		<bndbox>
			<xmin>30</xmin>
			<ymin>10</ymin>
			<xmax>50</xmax>
			<ymax>40</ymax>
		</bndbox>
	</object>
	<object>
		<name>person</name>
		<truncated>1</truncated>
		<difficult>0</difficult>
		<bndbox><xmin>1</xmin><ymin>1</ymin><xmax>10</xmax><ymax>12</ymax></bndbox>
	</object>
</annotation>
"""

XML_B = """<annotation><folder>VOC2007</folder><filename>000007.jpg</filename>
<size><width>50</width><height>40</height><depth>3</depth></size><segmented>0</segmented>
<object><name>car</name><pose>Left</pose><truncated>0</truncated><difficult>0</difficult>
<bndbox><xmin>10</xmin><ymin>11</ymin><xmax>40</xmax><ymax>31</ymax></bndbox></object></annotation>
"""


def _write_fixture(root: Path) -> Path:
    """A VOC2007 folder with two images written by hand: 000005 (trainval) and 000007 (test)."""
    for sub in ("Annotations", "JPEGImages", "ImageSets/Main"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "Annotations" / "000005.xml").write_text(XML_A)
    (root / "Annotations" / "000007.xml").write_text(XML_B)
    for image_id in ("000005", "000007"):
        Image.new("RGB", (50, 40), (90, 120, 30)).save(root / "JPEGImages" / f"{image_id}.jpg")
    (root / "ImageSets" / "Main" / "trainval.txt").write_text("000005\n")
    (root / "ImageSets" / "Main" / "test.txt").write_text("000007\n\n")
    return root


@pytest.fixture()
def voc_root(tmp_path: Path) -> Path:
    return _write_fixture(tmp_path / "VOCdevkit" / "VOC2007")


# ----- reader ------------------------------------------------------------------------------------------

def test_classes_are_the_twenty_voc_classes_in_standard_order():
    assert len(VOC_CLASSES) == 20
    assert VOC_CLASSES[0] == "aeroplane" and VOC_CLASSES[14] == "person" and VOC_CLASSES[-1] == "tvmonitor"


def test_reads_hand_written_annotation(voc_root: Path):
    ann = read_annotation(voc_root / "Annotations" / "000005.xml")
    assert (ann.image_id, ann.width, ann.height, ann.depth, ann.filename) == ("000005", 50, 40, 3, "000005.jpg")
    chair, hard_chair, person = ann.objects
    assert (chair.name, chair.pose, chair.difficult, chair.truncated) == ("chair", "Rear", False, False)
    assert (hard_chair.difficult, hard_chair.truncated) == (True, True)
    assert person.pose == "Unspecified" and person.label == VOC_CLASSES.index("person")
    # 1-based inclusive pixels 3..20 cover the continuous interval [2, 20]: width 18 = 20 - 3 + 1
    assert chair.box() == (2, 4, 20, 30)


def test_reads_splits_and_image_sets(voc_root: Path):
    assert read_image_set(voc_root, "test") == ["000007"]
    train, test = read_split(voc_root, "trainval"), read_split(voc_root, "test")
    assert [a.image_id for a in train] == ["000005"] and len(train[0].objects) == 3
    assert test[0].objects[0].name == "car"


@pytest.mark.parametrize("given", ["VOCdevkit/VOC2007", "VOCdevkit", "."])
def test_finds_root_from_voc2007_or_its_parents(voc_root: Path, given: str):
    base = voc_root.parent.parent
    assert find_voc_root(base / given) == voc_root


def test_missing_difficult_flag_reads_as_not_difficult(tmp_path: Path):
    path = tmp_path / "x.xml"
    path.write_text(XML_B.replace("<difficult>0</difficult>", ""))
    assert read_annotation(path).objects[0].difficult is False


def test_writer_round_trips(tmp_path: Path):
    ann = VocAnnotation("000123", 64, 48, (VocObject("dog", 1, 2, 30, 40, difficult=True, pose="Left"),
                                          VocObject("cat", 5, 6, 64, 48, truncated=True)), filename="000123.jpg")
    path = write_annotation(tmp_path, ann)
    assert path == tmp_path / "Annotations" / "000123.xml"
    assert read_annotation(path) == ann
    write_image_set(tmp_path, "trainval", ["000123", "000124"])
    assert read_image_set(tmp_path, "trainval") == ["000123", "000124"]


# ----- errors name the file ------------------------------------------------------------------------------

def test_not_a_voc_directory(tmp_path: Path):
    (tmp_path / "Annotations").mkdir()
    with pytest.raises(DataError, match="not a VOC2007 directory") as err:
        find_voc_root(tmp_path)
    assert str(tmp_path) in str(err.value)
    with pytest.raises(DataError, match="missing"):
        find_voc_root(tmp_path / "nowhere")


def test_missing_image_set(voc_root: Path):
    (voc_root / "ImageSets" / "Main" / "test.txt").unlink()
    with pytest.raises(DataError, match=r"test\.txt: missing"):
        read_split(voc_root, "test")


def test_listed_image_without_annotation_or_jpeg(voc_root: Path):
    (voc_root / "ImageSets" / "Main" / "test.txt").write_text("000007\n000009\n")
    with pytest.raises(DataError, match=r"000009\.xml: missing"):
        read_split(voc_root, "test")
    (voc_root / "JPEGImages" / "000007.jpg").unlink()
    with pytest.raises(DataError, match=r"000007\.jpg: missing"):
        read_split(voc_root, "test")


@pytest.mark.parametrize("broken, message", [
    (XML_B.replace("</annotation>", ""), "malformed XML"),
    (XML_B.replace("<name>car</name>", "<name>spaceship</name>"), "unknown class 'spaceship'"),
    (XML_B.replace("<xmax>40</xmax>", "<xmax>5</xmax>"), "empty box"),
    (XML_B.replace("<ymax>31</ymax>", ""), "missing <ymax>"),
    (XML_B.replace("<xmin>10</xmin>", "<xmin>ten</xmin>"), "'ten', expected a number"),
    (XML_B.replace("<size><width>50</width>", "<size><width>0</width>"), "positive width"),
    ("<html></html>", "expected <annotation>"),
])
def test_malformed_annotation_is_a_data_error_naming_the_file(voc_root: Path, broken: str, message: str):
    path = voc_root / "Annotations" / "000007.xml"
    path.write_text(broken)
    with pytest.raises(DataError, match=message) as err:
        read_split(voc_root, "test")
    assert err.value.path == str(path)


# ----- the VOC07 metric, against hand-computed values ------------------------------------------------------

def _gt(boxes, labels, difficult=None):
    return {"boxes": torch.tensor(boxes, dtype=torch.float32), "labels": torch.tensor(labels),
            "difficult": torch.tensor(difficult or [False] * len(labels))}


def _det(boxes, scores, labels):
    return {"boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), "scores": torch.tensor(scores),
            "labels": torch.tensor(labels, dtype=torch.int64)}


A, B, ELSEWHERE = [0, 0, 10, 10], [20, 20, 30, 30], [50, 50, 60, 60]


def test_eleven_point_interpolation():
    # t = 0, 0.1, 0.2 -> 1; t = 0.3, 0.4 -> 0.5; t >= 0.5 unreachable -> 0
    assert voc07_average_precision(np.array([0.2, 0.4]), np.array([1.0, 0.5])) == pytest.approx(4 / 11)


def test_ap_of_a_ranked_list():
    # TP, FP, TP over 2 positives: recall .5 .5 1, precision 1 .5 .667 -> (6 * 1 + 5 * 2/3) / 11
    result = voc07_map([_det([A, ELSEWHERE, B], [0.9, 0.8, 0.7], [1, 1, 1])], [_gt([A, B], [1, 1])])
    assert result.map == pytest.approx((6 + 5 * 2 / 3) / 11)
    assert result.ap == {1: pytest.approx(0.848484848)}


def test_duplicate_detection_is_a_false_positive():
    result = voc07_map([_det([A, A, B], [0.9, 0.8, 0.7], [1, 1, 1])], [_gt([A, B], [1, 1])])
    assert result.map == pytest.approx((6 + 5 * 2 / 3) / 11)


def test_difficult_boxes_are_neither_positives_nor_false_positives():
    hard_a = [_gt([A, B], [1, 1], [True, False])]
    # the top detection hits the difficult box: ignored, not a false positive
    assert voc07_map([_det([A, B], [0.9, 0.8], [1, 1])], hard_a).map == pytest.approx(1.0)
    # ignored, false positive, true positive: precision 1/2 at full recall (not 2/3 as a TP, not 1/3 as a FP)
    assert voc07_map([_det([A, ELSEWHERE, B], [0.9, 0.8, 0.7], [1, 1, 1])], hard_a).map == pytest.approx(0.5)
    # missing the difficult box costs no recall
    assert voc07_map([_det([B], [0.8], [1])], hard_a).map == pytest.approx(1.0)
    # the same boxes without the flag: recall stops at 0.5
    assert voc07_map([_det([B], [0.8], [1])], [_gt([A, B], [1, 1])]).map == pytest.approx(6 / 11)


def test_iou_must_exceed_half():
    # IoU of [0,0,10,5] with [0,0,10,10] is exactly 0.5: not a match under VOC's strict '>'
    assert voc07_map([_det([[0, 0, 10, 5]], [0.9], [1])], [_gt([A], [1])]).map == 0.0
    assert voc07_map([_det([[0, 0, 10, 5.2]], [0.9], [1])], [_gt([A], [1])]).map == pytest.approx(1.0)


def test_classes_and_images_are_kept_apart():
    gts = [_gt([A], [1]), _gt([B], [2])]
    # class 1 found in image 0; class 2's detection is in the wrong image; class 3 has no ground truth
    dets = [_det([A, A], [0.9, 0.5], [1, 3]), _det([A], [0.8], [2])]
    result = voc07_map(dets, gts)
    assert result.ap == {1: pytest.approx(1.0), 2: 0.0}
    assert result.map == pytest.approx(0.5)


def test_ranking_is_global_across_images():
    gts = [_gt([A], [1]), _gt([A], [1])]
    dets = [_det([ELSEWHERE], [0.95], [1]), _det([A], [0.9], [1])]  # FP first, then TP: P=.5 at R=.5
    assert voc07_map(dets, gts).map == pytest.approx(6 * 0.5 / 11)


def test_torchmetrics_cross_check_uses_101_points():
    dets, gts = [_det([A, ELSEWHERE, B], [0.9, 0.8, 0.7], [1, 1, 1])], [_gt([A, B], [1, 1])]
    # COCO interpolation: recall 0..0.5 (51 points) precision 1, 0.51..1 (50 points) precision 2/3
    assert coco_map50(dets, gts) == pytest.approx((51 + 50 * 2 / 3) / 101, abs=1e-4)
