"""The Gigaword reader on hand-written files in harvardnlp's sumdata/ layout, and its errors on bad input."""

import gzip

import pytest

from aibench.datasets.gigaword import find_sumdata_dir, iter_pairs, read_pairs, split_paths, write_split
from aibench.errors import DataError

# the style of harvardnlp's files: tokenized, lower case, digits as #, rare words as UNK
TRAIN_ARTICLES = ("australia 's current account deficit shrunk by a record #.## billion dollars in the june "
                  "quarter due to soaring commodity prices , figures released monday showed .\n"
                  "at least two people were killed in a suspected bomb attack on a passenger bus in UNK .\n")
TRAIN_TITLES = "australian current account deficit narrows sharply\nat least two dead in southern philippines blast\n"
VALID_ARTICLES = "the dollar rose against the yen in tokyo on friday .\n"
VALID_TITLES = "dollar rises against yen\n"
TEST_ARTICLES = "japan 's nec corp. said it would cut # jobs .\n\nchina opened a new airport .\n"
TEST_TITLES = "nec to cut jobs\n\nchina opens airport\n"


def write_sumdata(parent, gz_train=True):
    root = parent / "sumdata"
    (root / "train").mkdir(parents=True)
    (root / "Giga").mkdir()
    for name, text in (("train.article.txt", TRAIN_ARTICLES), ("train.title.txt", TRAIN_TITLES)):
        if gz_train:  # as the archive ships them
            (root / "train" / f"{name}.gz").write_bytes(gzip.compress(text.encode()))
        else:
            (root / "train" / name).write_text(text)
    (root / "train" / "valid.article.filter.txt").write_text(VALID_ARTICLES)
    (root / "train" / "valid.title.filter.txt").write_text(VALID_TITLES)
    (root / "Giga" / "input.txt").write_text(TEST_ARTICLES)
    (root / "Giga" / "task1_ref0.txt").write_text(TEST_TITLES)
    return root


def test_reads_gzipped_train_and_plain_valid_test(tmp_path):
    root = write_sumdata(tmp_path)
    train = read_pairs(tmp_path, "train")  # the folder holding sumdata/
    assert [p.title for p in train][1] == ["at", "least", "two", "dead", "in", "southern", "philippines", "blast"]
    assert train[0].article[:3] == ["australia", "'s", "current"] and train[0].article[-1] == "."
    assert read_pairs(root, "valid")[0].title_text == "dollar rises against yen"
    assert split_paths(root, "train")[0].name == "train.article.txt.gz"


def test_test_split_is_giga_and_empty_pairs_are_skipped(tmp_path):
    test = read_pairs(write_sumdata(tmp_path), "test")
    assert [p.title_text for p in test] == ["nec to cut jobs", "china opens airport"]
    assert test[0].article[7] == "cut"


def test_plain_file_preferred_over_gz_and_limit(tmp_path):
    root = write_sumdata(tmp_path)
    (root / "train" / "train.article.txt").write_text("one plain article .\ntwo .\n")
    (root / "train" / "train.title.txt").write_text("plain title\nsecond\n")
    assert [p.title_text for p in iter_pairs(root, "train", limit=1)] == ["plain title"]
    assert find_sumdata_dir(root) == root


def test_mismatched_line_counts_name_the_title_file(tmp_path):
    root = write_sumdata(tmp_path)
    (root / "Giga" / "task1_ref0.txt").write_text("nec to cut jobs\n")
    with pytest.raises(DataError, match=r"task1_ref0\.txt: has 1 lines but input\.txt has more"):
        read_pairs(root, "test")
    (root / "Giga" / "task1_ref0.txt").write_text(TEST_TITLES + "one too many\n")
    with pytest.raises(DataError, match=r"task1_ref0\.txt: has more lines than input\.txt"):
        read_pairs(root, "test")


def test_missing_file_is_named(tmp_path):
    root = write_sumdata(tmp_path)
    (root / "train" / "valid.title.filter.txt").unlink()
    with pytest.raises(DataError, match=r"valid\.title\.filter\.txt: missing"):
        read_pairs(root, "valid")


def test_folder_without_gigaword_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="no Gigaword data here"):
        read_pairs(tmp_path, "train")


def test_all_empty_pairs_and_binary_files_are_rejected(tmp_path):
    root = write_sumdata(tmp_path)
    (root / "Giga" / "input.txt").write_text("\n \n")
    (root / "Giga" / "task1_ref0.txt").write_text("a\nb\n")
    with pytest.raises(DataError, match=r"task1_ref0\.txt: no non-empty"):
        read_pairs(root, "test")
    (root / "train" / "valid.article.filter.txt").write_bytes(b"\xff\xfe bad\n")
    with pytest.raises(DataError, match=r"valid\.article\.filter\.txt: not UTF-8"):
        read_pairs(root, "valid")


def test_damaged_gzip_is_a_data_error(tmp_path):
    root = write_sumdata(tmp_path)
    (root / "train" / "train.title.txt.gz").write_bytes(b"\x1f\x8b\x08\x00 truncated")
    with pytest.raises(DataError, match=r"train\.title\.txt\.gz: cannot be read"):
        read_pairs(root, "train")


def test_writer_round_trips_reproducibly(tmp_path):
    pairs = [(["a", "b", "c", "."], ["a", "c"]), (["d", "e"], ["e"])]
    for folder in ("one", "two"):
        write_split(tmp_path / folder, "train", pairs, compress=True)
    first = (tmp_path / "one" / "train" / "train.article.txt.gz").read_bytes()
    assert first == (tmp_path / "two" / "train" / "train.article.txt.gz").read_bytes()
    assert gzip.decompress(first).decode() == "a b c .\nd e\n"
    assert [(p.article, p.title) for p in read_pairs(tmp_path / "one", "train")] == pairs
