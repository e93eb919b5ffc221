"""Gigaword headline generation as harvardnlp distributes it (github.com/harvardnlp/sent-summary): reader, writer.

    sumdata/train/train.article.txt[.gz]      sumdata/train/train.title.txt[.gz]     3.8M pairs
    sumdata/train/valid.article.filter.txt    sumdata/train/valid.title.filter.txt   189K pairs
    sumdata/Giga/input.txt                    sumdata/Giga/task1_ref0.txt            1,951 pairs (test)

Line i of an article file is the first sentence of a news article and line i of its title file is that
article's headline: tokenized, lower-cased, digits as `#` and rare words as `UNK`. The archive ships the
train pair gzipped; either the `.gz` or the unpacked file is read. The user may point at `sumdata/` or at the
folder holding it.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from aibench.datasets.files import text_lines
from aibench.errors import DataError

SPLITS: tuple[str, ...] = ("train", "valid", "test")
SPLIT_FILES: dict[str, tuple[str, str]] = {
    "train": ("train/train.article.txt", "train/train.title.txt"),
    "valid": ("train/valid.article.filter.txt", "train/valid.title.filter.txt"),
    "test": ("Giga/input.txt", "Giga/task1_ref0.txt"),
}
LAYOUT = ("harvardnlp's sumdata/: train/train.{article,title}.txt[.gz], "
          "train/valid.{article,title}.filter.txt, Giga/input.txt and Giga/task1_ref0.txt (one text a line)")


def find_sumdata_dir(path: Path) -> Path:
    """The `sumdata` folder: `path` itself when it holds train/ or Giga/, else `path/sumdata`."""
    path = Path(path)
    for candidate in (path, path / "sumdata"):
        if (candidate / "train").is_dir() or (candidate / "Giga").is_dir():
            return candidate
    raise DataError(path, f"no Gigaword data here; expected {LAYOUT}")


def split_paths(root: Path, split: str) -> tuple[Path, Path]:
    """The (article, title) files of a split, preferring the plain file and falling back to its `.gz`."""
    return tuple(_existing(root / name) for name in SPLIT_FILES[split])  # type: ignore[return-value]


def _existing(path: Path) -> Path:
    gz = path.with_name(path.name + ".gz")
    if path.is_file():
        return path
    if gz.is_file():
        return gz
    raise DataError(path, f"missing (nor {gz.name}); expected {LAYOUT}")


def _lines(path: Path) -> Iterator[str]:
    """The lines of a plain or gzipped UTF-8 file, without line ends; DataError if it is not text."""
    return text_lines(path, LAYOUT)


@dataclass(frozen=True)
class Pair:
    """One article (first sentence) and its headline, as token lists, with the headline's raw text."""

    article: list[str]
    title: list[str]
    title_text: str


def iter_pairs(root: Path, split: str, limit: int | None = None) -> Iterator[Pair]:
    """The split's pairs in file order (the first `limit` if given); line counts must match.

    A pair with an empty article or title is skipped (it has nothing to learn or score).
    """
    article_path, title_path = split_paths(root, split)
    articles, titles = _lines(article_path), _lines(title_path)
    count = 0
    for article, title in _zip_strict(articles, titles, article_path, title_path):
        if limit is not None and count >= limit:
            return
        if article.split() and title.split():
            count += 1
            yield Pair(article.split(), title.split(), title.strip())
    if count == 0:
        raise DataError(title_path, f"no non-empty article/title pairs; expected {LAYOUT}")


def _zip_strict(articles: Iterator[str], titles: Iterator[str], article_path: Path, title_path: Path
                ) -> Iterator[tuple[str, str]]:
    number = 0
    for number, article in enumerate(articles, 1):
        title = next(titles, None)
        if title is None:
            raise DataError(title_path, f"has {number - 1} lines but {article_path.name} has more; "
                                        "line i of one must be the headline of line i of the other")
        yield article, title
    if next(titles, None) is not None:
        raise DataError(title_path, f"has more lines than {article_path.name} ({number}); line i of one must be "
                                    "the headline of line i of the other")


def read_pairs(path: Path, split: str, limit: int | None = None) -> list[Pair]:
    """All (or the first `limit`) pairs of a split under a sumdata folder or its parent."""
    return list(iter_pairs(find_sumdata_dir(path), split, limit))


def write_split(root: Path, split: str, pairs: Iterable[tuple[Iterable[str], Iterable[str]]],
                compress: bool = False) -> None:
    """Write a split's two files under `root` (a sumdata folder), one space-joined text a line."""
    articles, titles = [], []
    for article, title in pairs:
        articles.append(" ".join(article) + "\n")
        titles.append(" ".join(title) + "\n")
    for name, lines in zip(SPLIT_FILES[split], (articles, titles)):
        path = Path(root) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        text = "".join(lines).encode("utf-8")
        if compress:
            # mtime 0: the same pairs give the same bytes, so synthesized sets are reproducible
            path.with_name(path.name + ".gz").write_bytes(gzip.compress(text, mtime=0))
        else:
            path.write_bytes(text)
