"""The LFW reader on hand-written pairs.txt files and image folders in LFW's real layout."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from aibench.datasets.lfw import image_file, read_pairs, write_pairs
from aibench.errors import DataError

# a two-fold pairs.txt in the real file's format (header, then per fold matched then mismatched lines)
PAIRS = """2\t2
Abel_Pacheco\t1\t4
Akhmed_Zakayev\t1\t3
Abdel_Madi_Shabneh\t1\tDean_Barker\t1
Abdel_Madi_Shabneh\t1\tGiancarlo_Fisichella\t1
Aaron_Peirsol\t1\t2
Aaron_Peirsol\t3\t4
AJ_Cook\t1\tMarsha_Thomason\t1
Aaron_Sorkin\t2\tFrank_Solich\t5
"""


def make_lfw(root: Path, pairs_text: str = PAIRS, skip: str = "") -> None:
    """Write pairs.txt and a small grey JPEG for every image it names, file by file, as LFW ships them."""
    (root / "pairs.txt").write_text(pairs_text)
    for line in pairs_text.splitlines()[1:]:
        f = line.split()
        named = [(f[0], f[1]), (f[0], f[2])] if len(f) == 3 else [(f[0], f[1]), (f[2], f[3])]
        for name, number in named:
            path = root / "lfw" / name / f"{name}_{int(number):04d}.jpg"
            if path.name == skip:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((250, 250, 3), 128, np.uint8)).save(path)


def test_reads_folds_and_matched_and_mismatched_pairs(tmp_path):
    make_lfw(tmp_path)
    lfw = read_pairs(tmp_path)
    assert lfw.folds == 2 and len(lfw.pairs) == 8
    assert [p.same for p in lfw.pairs] == [True, True, False, False] * 2
    assert [p.fold for p in lfw.pairs] == [0] * 4 + [1] * 4
    first = lfw.pairs[0]
    assert first.first == tmp_path / "lfw" / "Abel_Pacheco" / "Abel_Pacheco_0001.jpg"
    assert first.second.name == "Abel_Pacheco_0004.jpg"
    assert lfw.pairs[7].second == tmp_path / "lfw" / "Frank_Solich" / "Frank_Solich_0005.jpg"
    # Abdel_Madi_Shabneh_0001 appears twice, listed once
    assert len(lfw.images()) == 15


def test_pairs_file_inside_the_image_folder_and_space_separated(tmp_path):
    make_lfw(tmp_path)
    (tmp_path / "pairs.txt").rename(tmp_path / "lfw" / "pairs.txt")
    (tmp_path / "lfw" / "pairs.txt").write_text(PAIRS.replace("\t", " "))
    assert len(read_pairs(tmp_path).pairs) == 8


def test_image_file_name():
    assert image_file(Path("lfw"), "George_W_Bush", 12) == Path("lfw/George_W_Bush/George_W_Bush_0012.jpg")


@pytest.mark.parametrize("text, problem", [
    ("", "empty"),
    ("10\n", "header"),
    (PAIRS.replace("2\t2", "3\t2", 1), "promises 3 folds"),
    (PAIRS.replace("Abel_Pacheco\t1\t4", "Abel_Pacheco\t1\t4\t5"), "line 2: expected 'name i j'"),
    (PAIRS.replace("AJ_Cook\t1\tMarsha_Thomason\t1", "AJ_Cook\t1\t2"), "line 8: expected 'name1 i name2 j'"),
    (PAIRS.replace("Akhmed_Zakayev\t1\t3", "Akhmed_Zakayev\tone\t3"), "line 3: image numbers"),
])
def test_malformed_pairs_file_names_the_file(tmp_path, text, problem):
    make_lfw(tmp_path)
    (tmp_path / "pairs.txt").write_text(text)
    with pytest.raises(DataError, match=problem) as err:
        read_pairs(tmp_path)
    assert err.value.path.endswith("pairs.txt")


def test_missing_pairs_file_images_and_folder(tmp_path):
    with pytest.raises(DataError, match="pairs.txt"):
        read_pairs(tmp_path)
    (tmp_path / "pairs.txt").write_text(PAIRS)
    with pytest.raises(DataError, match="missing LFW image folder"):
        read_pairs(tmp_path)
    make_lfw(tmp_path, skip="Dean_Barker_0001.jpg")
    with pytest.raises(DataError, match="Dean_Barker_0001.jpg.*missing"):
        read_pairs(tmp_path)


def test_writer_round_trip(tmp_path):
    folds = [([("A_B", 1, 2)], [("A_B", 1, "C_D", 3)]), ([("C_D", 2, 3)], [("C_D", 1, "A_B", 2)])]
    path = write_pairs(tmp_path, folds)
    assert path.read_text().splitlines() == ["2\t1", "A_B\t1\t2", "A_B\t1\tC_D\t3", "C_D\t2\t3", "C_D\t1\tA_B\t2"]
    (tmp_path / "lfw").mkdir()
    lfw = read_pairs(tmp_path, check_images=False)
    assert [(p.first.name, p.second.name, p.same, p.fold) for p in lfw.pairs][1] == (
        "A_B_0001.jpg", "C_D_0003.jpg", False, 0)
