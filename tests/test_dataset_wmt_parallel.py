"""The WMT14 parallel-text reader on hand-written files in the train.en/.de, newstest2014.en/.de layout."""

import pytest

from aibench.datasets.wmt_parallel import has_split, iter_pairs, read_pairs, split_paths, write_split
from aibench.errors import DataError

# raw (untokenized) text as WMT distributes it, one sentence a line
TRAIN_EN = "Resumption of the session\n\nI declare resumed the session of the European Parliament.\n"
TRAIN_DE = "Wiederaufnahme der Sitzungsperiode\n\nIch erkläre die Sitzungsperiode für wiederaufgenommen.\n"
TEST_EN = "Gutach: Increased safety for pedestrians\nThey are not even 100 metres apart.\n"
TEST_DE = "Gutach: Noch mehr Sicherheit für Fußgänger\nSie stehen keine 100 Meter voneinander entfernt.\n"


def write_wmt(root):
    root.mkdir(exist_ok=True)
    for name, text in (("train.en", TRAIN_EN), ("train.de", TRAIN_DE), ("newstest2014.en", TEST_EN),
                       ("newstest2014.de", TEST_DE)):
        (root / name).write_text(text, encoding="utf-8")
    return root


def test_reads_aligned_pairs_skipping_empty_lines(tmp_path):
    root = write_wmt(tmp_path / "wmt")
    train = read_pairs(root, "train")
    assert train == [("Resumption of the session", "Wiederaufnahme der Sitzungsperiode"),
                     ("I declare resumed the session of the European Parliament.",
                      "Ich erkläre die Sitzungsperiode für wiederaufgenommen.")]
    assert read_pairs(root, "test")[1][1] == "Sie stehen keine 100 Meter voneinander entfernt."
    assert [p[0] for p in iter_pairs(root, "train", limit=1)] == ["Resumption of the session"]
    assert not has_split(root, "valid") and has_split(root, "test")


def test_missing_file_is_named(tmp_path):
    root = write_wmt(tmp_path / "wmt")
    (root / "newstest2014.de").unlink()
    with pytest.raises(DataError, match="newstest2014.de: missing"):
        split_paths(root, "test")


def test_line_count_mismatch_names_the_german_file(tmp_path):
    root = write_wmt(tmp_path / "wmt")
    (root / "newstest2014.de").write_text("Nur eine Zeile\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"newstest2014\.de: has 1 lines"):
        read_pairs(root, "test")
    (root / "newstest2014.de").write_text(TEST_DE + "Eine zu viel\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"newstest2014\.de: has more lines"):
        read_pairs(root, "test")


def test_non_utf8_and_all_empty_files_are_errors(tmp_path):
    root = write_wmt(tmp_path / "wmt")
    (root / "train.de").write_bytes("Fußgänger\n\nx\n".encode("latin-1"))
    with pytest.raises(DataError, match="train.de: not UTF-8"):
        read_pairs(root, "train")
    (root / "newstest2014.en").write_text("\n\n")
    (root / "newstest2014.de").write_text("\n\n")
    with pytest.raises(DataError, match="newstest2014.en: no non-empty sentence pairs"):
        read_pairs(root, "test")


def test_writer_round_trips(tmp_path):
    pairs = [("A dog.", "Ein Hund."), ("The cat, too.", "Die Katze, auch.")]
    write_split(tmp_path, "valid", pairs)
    assert (tmp_path / "newstest2013.en").read_text() == "A dog.\nThe cat, too.\n"
    assert read_pairs(tmp_path, "valid") == pairs
