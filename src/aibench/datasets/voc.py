"""PASCAL VOC2007 on disk: reader and writer of its layout.

    VOC2007/Annotations/<id>.xml        one XML annotation per image (size, objects with name, pose,
                                        truncated, difficult and a bndbox of 1-based inclusive pixel coordinates)
    VOC2007/JPEGImages/<id>.jpg         the images
    VOC2007/ImageSets/Main/<split>.txt  image ids, one per line (train, val, trainval, test)

The user may point at VOC2007 itself, at its parent VOCdevkit, or at the folder holding VOCdevkit (where the
tar files unpack). XML is parsed with the standard library's ElementTree; anything missing or malformed is a
DataError naming the file.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from aibench.datasets.files import decimal, is_file, read_text
from aibench.errors import DataError

VOC_CLASSES: tuple[str, ...] = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train", "tvmonitor",
)
LAYOUT = ("VOC2007/ with Annotations/<id>.xml, JPEGImages/<id>.jpg and ImageSets/Main/{trainval,test}.txt "
          "(give VOC2007, its parent VOCdevkit, or the folder holding VOCdevkit)")
_REQUIRED_DIRS = ("Annotations", "JPEGImages", "ImageSets/Main")


@dataclass(frozen=True)
class VocObject:
    """One annotated object; the box is as written in the XML: 1-based, inclusive pixel coordinates."""

    name: str
    xmin: float
    ymin: float
    xmax: float
    ymax: float
    difficult: bool = False
    truncated: bool = False
    pose: str = "Unspecified"

    @property
    def label(self) -> int:
        """0-based index of the class in VOC_CLASSES."""
        return VOC_CLASSES.index(self.name)

    def box(self) -> tuple[float, float, float, float]:
        """The box in continuous 0-based coordinates (x1, y1, x2, y2), as torchvision detectors use.

        Pixel columns xmin..xmax (1-based, inclusive) cover the interval [xmin - 1, xmax], so the continuous
        width xmax - xmin + 1 equals the VOC devkit's inclusive pixel width and IoUs agree with the devkit's.
        """
        return (self.xmin - 1, self.ymin - 1, self.xmax, self.ymax)


@dataclass(frozen=True)
class VocAnnotation:
    image_id: str
    width: int
    height: int
    objects: tuple[VocObject, ...]
    depth: int = 3
    filename: str = ""


def find_voc_root(path: Path) -> Path:
    """The VOC2007 folder under `path` (itself, VOC2007/ or VOCdevkit/VOC2007/); DataError if none."""
    path = Path(path)
    for candidate in (path, path / "VOC2007", path / "VOCdevkit" / "VOC2007"):
        if all((candidate / sub).is_dir() for sub in _REQUIRED_DIRS):
            return candidate
    if not path.exists():
        raise DataError(path, f"missing: expected {LAYOUT}")
    present = [sub for sub in _REQUIRED_DIRS if (path / sub).is_dir() or (path / "VOC2007" / sub).is_dir()]
    what = f"found only {', '.join(present)}" if present else "found none of its folders"
    raise DataError(path, f"not a VOC2007 directory ({what}); expected {LAYOUT}")


def image_set_path(root: Path, split: str) -> Path:
    return root / "ImageSets" / "Main" / f"{split}.txt"


def annotation_path(root: Path, image_id: str) -> Path:
    return root / "Annotations" / f"{image_id}.xml"


def image_path(root: Path, image_id: str) -> Path:
    return root / "JPEGImages" / f"{image_id}.jpg"


def read_image_set(root: Path, split: str) -> list[str]:
    """The image ids of a split: the first token of each non-blank line of ImageSets/Main/<split>.txt."""
    path = image_set_path(root, split)
    if not path.is_file():
        raise DataError(path, f"missing: expected the {split} image ids, one per line")
    ids = [line.split()[0] for line in read_text(path, "utf-8", f"the {split} image ids, one per line").splitlines()
           if line.strip()]
    if not ids:
        raise DataError(path, f"empty: expected the {split} image ids, one per line")
    return ids


def _child_text(node: ET.Element, tag: str, path: Path, where: str) -> str:
    child = node.find(tag)
    if child is None or child.text is None or not child.text.strip():
        raise DataError(path, f"missing <{tag}> in {where}")
    return child.text.strip()


def _number(node: ET.Element, tag: str, path: Path, where: str) -> float:
    text = _child_text(node, tag, path, where)
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise DataError(path, f"<{tag}> in {where} is {text[:40]!r}, expected a number (finite)")
    return value


def _flag(node: ET.Element, tag: str) -> bool:
    """Optional 0/1 flags (<difficult>, <truncated>): absent counts as 0, as the VOC devkit reads them."""
    child = node.find(tag)
    return child is not None and (child.text or "0").strip() not in ("0", "")


def _parse_object(node: ET.Element, path: Path, index: int) -> VocObject:
    where = f"<object> #{index + 1}"
    name = _child_text(node, "name", path, where)
    if name not in VOC_CLASSES:
        raise DataError(path, f"{where} has unknown class {name!r}; expected one of the 20 VOC classes")
    bndbox = node.find("bndbox")
    if bndbox is None:
        raise DataError(path, f"missing <bndbox> in {where} ({name})")
    xmin, ymin, xmax, ymax = (_number(bndbox, tag, path, f"{where} ({name})")
                              for tag in ("xmin", "ymin", "xmax", "ymax"))
    if xmax < xmin or ymax < ymin:
        raise DataError(path, f"{where} ({name}) has an empty box: xmin={xmin:g} xmax={xmax:g} "
                              f"ymin={ymin:g} ymax={ymax:g} (expected xmin <= xmax and ymin <= ymax)")
    pose = node.findtext("pose", default="Unspecified").strip() or "Unspecified"
    return VocObject(name, xmin, ymin, xmax, ymax, difficult=_flag(node, "difficult"),
                     truncated=_flag(node, "truncated"), pose=pose)


def read_annotation(path: Path) -> VocAnnotation:
    """Parse one Annotations/<id>.xml file."""
    path = Path(path)
    if not is_file(path):
        raise DataError(path, "missing: expected the image's VOC XML annotation")
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as err:
        raise DataError(path, f"malformed XML ({err})") from None
    if root.tag != "annotation":
        raise DataError(path, f"root element is <{root.tag}>, expected <annotation>")
    size = root.find("size")
    if size is None:
        raise DataError(path, "missing <size>")
    width, height = int(_number(size, "width", path, "<size>")), int(_number(size, "height", path, "<size>"))
    if width <= 0 or height <= 0:
        raise DataError(path, f"<size> is {width}x{height}, expected a positive width and height")
    depth_text = size.findtext("depth", default="3").strip()
    objects = tuple(_parse_object(node, path, i) for i, node in enumerate(root.findall("object")))
    return VocAnnotation(image_id=path.stem, width=width, height=height, objects=objects,
                         depth=3 if decimal(depth_text) is None else decimal(depth_text),  # type: ignore[arg-type]
                         filename=root.findtext("filename", default=f"{path.stem}.jpg").strip())


def read_split(root: Path, split: str) -> list[VocAnnotation]:
    """The annotations of every image of a split, after checking each image file exists."""
    annotations = []
    for image_id in read_image_set(root, split):
        xml = annotation_path(root, image_id)
        if not is_file(xml):
            raise DataError(xml, f"missing: image id {image_id} is listed in {split}.txt but has no annotation")
        jpg = image_path(root, image_id)
        if not is_file(jpg):
            raise DataError(jpg, f"missing: image id {image_id} is listed in {split}.txt but has no JPEG")
        annotations.append(read_annotation(xml))
    return annotations


# ----- writer (used to synthesize data sets in exactly this layout) --------------------------------------

def _add(parent: ET.Element, tag: str, text: object) -> ET.Element:
    node = ET.SubElement(parent, tag)
    node.text = str(text)
    return node


def annotation_xml(ann: VocAnnotation, database: str = "The VOC2007 Database") -> ET.ElementTree:
    """The annotation in VOC's XML schema (folder, filename, source, size, segmented, objects)."""
    root = ET.Element("annotation")
    _add(root, "folder", "VOC2007")
    _add(root, "filename", ann.filename or f"{ann.image_id}.jpg")
    source = ET.SubElement(root, "source")
    _add(source, "database", database)
    _add(source, "annotation", "PASCAL VOC2007")
    size = ET.SubElement(root, "size")
    for tag, value in (("width", ann.width), ("height", ann.height), ("depth", ann.depth)):
        _add(size, tag, value)
    _add(root, "segmented", 0)
    for obj in ann.objects:
        node = ET.SubElement(root, "object")
        _add(node, "name", obj.name)
        _add(node, "pose", obj.pose)
        _add(node, "truncated", int(obj.truncated))
        _add(node, "difficult", int(obj.difficult))
        box = ET.SubElement(node, "bndbox")
        for tag in ("xmin", "ymin", "xmax", "ymax"):
            _add(box, tag, f"{getattr(obj, tag):g}")
    tree = ET.ElementTree(root)
    ET.indent(tree, space="\t")
    return tree


def write_annotation(root: Path, ann: VocAnnotation, database: str = "The VOC2007 Database") -> Path:
    path = annotation_path(root, ann.image_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    annotation_xml(ann, database).write(path, encoding="utf-8")
    return path


def write_image_set(root: Path, split: str, image_ids: list[str]) -> Path:
    path = image_set_path(root, split)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{i}\n" for i in image_ids))
    return path
