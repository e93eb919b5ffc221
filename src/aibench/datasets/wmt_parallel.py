"""WMT14 English-German as parallel plain-text files: reader and writer.

    train.en            train.de            4.5M sentence pairs (WMT14 training data, one sentence a line)
    newstest2013.en     newstest2013.de     3,000 pairs (development; optional)
    newstest2014.en     newstest2014.de     3,003 pairs (test; 2,737 in the filtered release)

Line i of a `.de` file is the translation of line i of its `.en` file. The text is raw (untokenized) UTF-8;
subword segmentation is the benchmark's business. A pair with an empty side is skipped, as the WMT training
data has a few.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

from aibench.datasets.files import text_lines
from aibench.errors import DataError

SOURCE, TARGET = "en", "de"
SPLIT_STEMS: dict[str, str] = {"train": "train", "valid": "newstest2013", "test": "newstest2014"}
REQUIRED_SPLITS: tuple[str, ...] = ("train", "test")
LAYOUT = ("WMT14 en-de as parallel text: train.en/train.de and newstest2014.en/newstest2014.de "
          "(newstest2013.en/.de optional), one sentence a line, line i of .de translating line i of .en")


def split_paths(root: Path, split: str) -> tuple[Path, Path]:
    """The (English, German) files of a split; DataError naming the first one missing."""
    stem = SPLIT_STEMS[split]
    paths = (Path(root) / f"{stem}.{SOURCE}", Path(root) / f"{stem}.{TARGET}")
    for path in paths:
        if not path.is_file():
            raise DataError(path, f"missing; expected {LAYOUT}")
    return paths


def has_split(root: Path, split: str) -> bool:
    stem = SPLIT_STEMS[split]
    return all((Path(root) / f"{stem}.{lang}").is_file() for lang in (SOURCE, TARGET))


def _lines(path: Path) -> Iterator[str]:
    return (line.rstrip("\r") for line in text_lines(path, LAYOUT))


def iter_pairs(root: Path, split: str, limit: int | None = None) -> Iterator[tuple[str, str]]:
    """The split's (English, German) sentence pairs in file order, the first `limit` if given.

    The two files must have the same number of lines: a shifted file would pair every sentence with the
    wrong translation, so a mismatch is an error rather than a silent truncation.
    """
    source_path, target_path = split_paths(root, split)
    sources, targets = _lines(source_path), _lines(target_path)
    count = lines = 0
    for lines, source in enumerate(sources, 1):
        target = next(targets, None)
        if target is None:
            raise DataError(target_path, f"has {lines - 1} lines but {source_path.name} has more; "
                                         "line i of one must translate line i of the other")
        if limit is not None and count >= limit:
            return
        if source.strip() and target.strip():
            count += 1
            yield source.strip(), target.strip()
    if next(targets, None) is not None:
        raise DataError(target_path, f"has more lines than {source_path.name} ({lines}); "
                                     "line i of one must translate line i of the other")
    if count == 0:
        raise DataError(source_path, f"no non-empty sentence pairs; expected {LAYOUT}")


def read_pairs(root: Path, split: str, limit: int | None = None) -> list[tuple[str, str]]:
    return list(iter_pairs(root, split, limit))


def write_split(root: Path, split: str, pairs: Iterable[tuple[str, str]]) -> None:
    """Write a split's two files under `root`, one sentence a line."""
    sources, targets = [], []
    for source, target in pairs:
        sources.append(source + "\n")
        targets.append(target + "\n")
    stem = SPLIT_STEMS[split]
    Path(root).mkdir(parents=True, exist_ok=True)
    for lang, lines in ((SOURCE, sources), (TARGET, targets)):
        (Path(root) / f"{stem}.{lang}").write_text("".join(lines), encoding="utf-8")
