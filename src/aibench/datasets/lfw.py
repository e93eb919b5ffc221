"""Labeled Faces in the Wild (LFW) with its verification protocol file `pairs.txt` (View 2): reader and writer.

    <root>/lfw/<Name>/<Name>_0001.jpg     one folder per person, images numbered from 1, 4 digits
    <root>/pairs.txt                      (or <root>/lfw/pairs.txt)

`pairs.txt` starts with a header line `<folds><TAB><pairs per fold>` (the real file: `10<TAB>300`). Then come the
folds, each `pairs per fold` matched lines `name<TAB>i<TAB>j` followed by as many mismatched lines
`name1<TAB>i<TAB>name2<TAB>j`. Fields may be separated by any whitespace (some copies use spaces). Aligned
variants of LFW (lfw-deepfunneled, MTCNN crops) keep the same names, so the same reader reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aibench.datasets.files import decimal, is_file, read_bytes
from aibench.errors import DataError

IMAGES_DIR = "lfw"
PAIRS_FILE = "pairs.txt"
LAYOUT = ("lfw/<Name>/<Name>_0001.jpg (one folder per person) and pairs.txt beside lfw/ (or inside it): a header "
          "'<folds> <pairs per fold>', then per fold the matched lines 'name i j' and the mismatched lines "
          "'name1 i name2 j'")


@dataclass(frozen=True)
class FacePair:
    """One verification pair: the two image files, whether they show the same person, and its fold (0-based)."""

    first: Path
    second: Path
    same: bool
    fold: int


@dataclass(frozen=True)
class LfwPairs:
    pairs: tuple[FacePair, ...]
    folds: int
    pairs_file: Path

    def images(self) -> list[Path]:
        """Every image the pairs use, each once, in first-use order."""
        return list(dict.fromkeys(p for pair in self.pairs for p in (pair.first, pair.second)))


def image_file(images_dir: Path, name: str, number: int) -> Path:
    """LFW's file name for a person's image number `number` (1-based): <Name>/<Name>_0001.jpg."""
    return Path(images_dir) / name / f"{name}_{number:04d}.jpg"


def find_pairs_file(root: Path) -> Path:
    root = Path(root)
    for candidate in (root / PAIRS_FILE, root / IMAGES_DIR / PAIRS_FILE):
        if candidate.is_file():
            return candidate
    raise DataError(root / PAIRS_FILE, f"missing LFW protocol file; expected {LAYOUT}")


def read_pairs(root: Path, check_images: bool = True) -> LfwPairs:
    """Parse pairs.txt under root (folds in file order) and resolve its images under root/lfw; a malformed line,
    a fold of the wrong size or (with check_images) a missing image is a DataError naming the file."""
    root = Path(root)
    pairs_file = find_pairs_file(root)
    images_dir = root / IMAGES_DIR
    if not images_dir.is_dir():
        raise DataError(images_dir, f"missing LFW image folder; expected {LAYOUT}")
    text = read_bytes(pairs_file, LAYOUT).decode("utf-8", errors="replace")  # a bad byte spoils only its name
    lines = [(n, line.split()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines:
        raise DataError(pairs_file, f"empty file; expected {LAYOUT}")
    folds, per_fold = _header(pairs_file, lines[0][1])
    body = lines[1:]
    if len(body) != folds * 2 * per_fold:
        raise DataError(pairs_file, f"header promises {folds} folds x {per_fold} matched + {per_fold} mismatched "
                                    f"pairs = {folds * 2 * per_fold} lines, found {len(body)}")
    pairs = []
    for index, (number, fields) in enumerate(body):
        fold, within = divmod(index, 2 * per_fold)
        pairs.append(_pair(pairs_file, images_dir, number, fields, same=within < per_fold, fold=fold))
    result = LfwPairs(pairs=tuple(pairs), folds=folds, pairs_file=pairs_file)
    if check_images:
        for path in result.images():
            if not is_file(path):
                raise DataError(path, f"image named by {pairs_file.name} is missing; expected {LAYOUT}")
    return result


def _header(pairs_file: Path, fields: list[str]) -> tuple[int, int]:
    numbers = [decimal(f) for f in fields]
    if len(numbers) != 2 or not all(numbers):  # None (not a number) and 0 are both refused
        raise DataError(pairs_file, f"line 1: expected the header '<folds> <pairs per fold>' (e.g. '10 300'), "
                                    f"found {' '.join(fields)[:200]!r}")
    return numbers[0], numbers[1]  # type: ignore[return-value]


def _pair(pairs_file: Path, images_dir: Path, number: int, fields: list[str], same: bool, fold: int) -> FacePair:
    expected = "'name i j' (a matched pair)" if same else "'name1 i name2 j' (a mismatched pair)"
    if len(fields) != (3 if same else 4):
        raise DataError(pairs_file, f"line {number}: expected {expected} in fold {fold + 1}, found "
                                    f"{len(fields)} fields")
    names, texts = ([fields[0], fields[0]], fields[1:]) if same else ([fields[0], fields[2]], fields[1::2])
    numbers = [decimal(n) for n in texts]
    if not all(numbers):  # None (not a number) and 0 are both refused
        raise DataError(pairs_file, f"line {number}: image numbers {[n[:20] for n in texts]} must be integers from 1")
    first, second = (image_file(images_dir, name, n) for name, n in zip(names, numbers))  # type: ignore[arg-type]
    return FacePair(first=first, second=second, same=same, fold=fold)


# ----- writer (used to synthesize data sets in exactly this layout) --------------------------------------

def write_pairs(root: Path, folds: Sequence[tuple[Sequence[tuple[str, int, int]],
                                                   Sequence[tuple[str, int, str, int]]]]) -> Path:
    """Write root/pairs.txt from folds of (matched, mismatched) pair lists, all folds of one size."""
    per_fold = {len(m) for m, _ in folds} | {len(u) for _, u in folds}
    if len(per_fold) != 1:
        raise ValueError(f"every fold needs the same number of matched and mismatched pairs, got {per_fold}")
    lines = [f"{len(folds)}\t{per_fold.pop()}"]
    for matched, mismatched in folds:
        lines += [f"{name}\t{i}\t{j}" for name, i, j in matched]
        lines += [f"{a}\t{i}\t{b}\t{j}" for a, i, b, j in mismatched]
    path = Path(root) / PAIRS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path
