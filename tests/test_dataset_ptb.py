"""The PTB reader and writer on hand-written files in Mikolov's layout, and its errors on bad input."""

import math

import numpy as np
import pytest

from aibench.datasets.ptb import (EOS, UNK, find_ptb_dir, read_ptb, read_sentences, read_tokens,
                                  replace_rare_words, unigram_perplexity, write_split)
from aibench.errors import DataError

# as in the real files: a space before and after every line's words
TRAIN = " the cat sat \n the <unk> sat on the mat \n"
VALID = " the cat sat on the <unk> \n"
TEST = " a cat \n"  # `a` is not in train


def write_ptb(folder, train=TRAIN, valid=VALID, test=" the mat \n"):
    folder.mkdir(parents=True, exist_ok=True)
    for split, text in (("train", train), ("valid", valid), ("test", test)):
        (folder / f"ptb.{split}.txt").write_text(text)
    return folder


def test_reads_mikolov_layout_with_eos_per_line(tmp_path):
    corpus = read_ptb(write_ptb(tmp_path))
    assert corpus.vocab.words == ("the", "cat", "sat", EOS, UNK, "on", "mat")
    assert corpus.train.tolist() == [0, 1, 2, 3, 0, 4, 2, 5, 0, 6, 3]
    assert corpus.valid.tolist() == [0, 1, 2, 5, 0, 4, 3]
    assert corpus.test.tolist() == [0, 6, 3]
    assert corpus.train.dtype == np.int64


def test_finds_files_under_simple_examples_data(tmp_path):
    write_ptb(tmp_path / "simple-examples" / "data")
    assert find_ptb_dir(tmp_path) == tmp_path / "simple-examples" / "data"
    assert len(read_ptb(tmp_path).vocab) == 7


def test_missing_split_names_the_file(tmp_path):
    write_ptb(tmp_path)
    (tmp_path / "ptb.valid.txt").unlink()
    with pytest.raises(DataError, match=r"ptb\.valid\.txt.*missing"):
        read_ptb(tmp_path)


def test_missing_directory_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="nowhere"):
        read_ptb(tmp_path / "nowhere")


@pytest.mark.parametrize("text", ["", "  \n\n \n"])
def test_empty_file_names_the_file(tmp_path, text):
    write_ptb(tmp_path, test=text)
    with pytest.raises(DataError, match=r"ptb\.test\.txt: empty"):
        read_ptb(tmp_path)


def test_word_outside_train_vocabulary_names_the_file(tmp_path):
    write_ptb(tmp_path, test=TEST)
    with pytest.raises(DataError, match=r"ptb\.test\.txt: 1 word\(s\) not in ptb\.train\.txt \(a\)"):
        read_ptb(tmp_path)


def test_literal_eos_in_file_is_rejected(tmp_path):
    write_ptb(tmp_path, train=" the cat <eos> \n")
    with pytest.raises(DataError, match=r"ptb\.train\.txt: line 1 contains <eos>"):
        read_ptb(tmp_path)


def test_binary_file_names_the_file(tmp_path):
    write_ptb(tmp_path)
    (tmp_path / "ptb.train.txt").write_bytes(b"\xff\xfe\x00 cat")
    with pytest.raises(DataError, match=r"ptb\.train\.txt: not UTF-8"):
        read_ptb(tmp_path)


def test_writer_round_trips_in_mikolov_format(tmp_path):
    path = tmp_path / "ptb.train.txt"
    write_split(path, [["no", "it", "was", "n't"], ["N", "<unk>"]])
    assert path.read_text() == " no it was n't \n N <unk> \n"
    assert read_sentences(path) == [["no", "it", "was", "n't"], ["N", "<unk>"]]
    assert read_tokens(path) == ["no", "it", "was", "n't", EOS, "N", "<unk>", EOS]


def test_rare_words_become_unk_in_every_split():
    splits = {"train": [["a", "b", "a"], ["a", "c"]], "valid": [["c", "d"]], "test": [["b"]]}
    out = replace_rare_words(splits, min_count=2)
    assert out == {"train": [["a", UNK, "a"], ["a", UNK]], "valid": [[UNK, UNK]], "test": [[UNK]]}


def test_unigram_perplexity_hand_computed():
    # train frequencies 1/2, 1/4, 1/4; test words 0 and 1: exp(-(ln 1/2 + ln 1/4) / 2) = sqrt(8)
    ppl = unigram_perplexity(np.array([0, 0, 1, 2]), np.array([0, 1]), vocab_size=3)
    assert ppl == pytest.approx(math.sqrt(8))
