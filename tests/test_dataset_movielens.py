"""The MovieLens reader and writer on hand-written files in GroupLens' ml-100k and ml-1m layouts."""

from pathlib import Path

import numpy as np
import pytest

from aibench.datasets.movielens import (
    FILE_1M, FILE_20M, FILE_100K, Ratings, find_ratings_file, read_ratings, write_ratings,
)
from aibench.errors import DataError

# the first lines of the real files
U_DATA = "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n244\t51\t2\t880606923\n"
RATINGS_DAT = "1::1193::5::978300760\n1::661::3::978302109\n1::914::3::978301968\n2::3408::4::978300275\n"
RATINGS_CSV = ("userId,movieId,rating,timestamp\n1,2,3.5,1112486027\n1,29,3.5,1112484676\n"
               "1,32,3.5,1112484819\n2,3,4.0,974820889\n")


def write(folder: Path, name: str, text: str | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_reads_u_data(tmp_path):
    write(tmp_path / "ml-100k", FILE_100K, U_DATA)
    ratings = read_ratings(tmp_path / "ml-100k")
    assert ratings.user.tolist() == [196, 186, 22, 244]
    assert ratings.item.tolist() == [242, 302, 377, 51]
    assert ratings.rating.tolist() == [3, 3, 1, 2]
    assert ratings.timestamp.tolist() == [881250949, 891717742, 878887116, 880606923]
    assert ratings.source.name == FILE_100K


def test_reads_ratings_dat_with_crlf_and_blank_lines(tmp_path):
    text = RATINGS_DAT.replace("\n", "\r\n") + "\r\n"
    write(tmp_path / "ml-1m", FILE_1M, text)
    ratings = read_ratings(tmp_path / "ml-1m")
    assert ratings.user.tolist() == [1, 1, 1, 2]
    assert ratings.item.tolist() == [1193, 661, 914, 3408]
    assert ratings.rating.tolist() == [5, 3, 3, 4]
    assert ratings.timestamp[-1] == 978300275


def test_reads_ml_20m_ratings_csv_with_its_header_and_half_stars(tmp_path):
    write(tmp_path / "ml-20m", FILE_20M, RATINGS_CSV)
    ratings = read_ratings(tmp_path / "ml-20m")
    assert ratings.user.tolist() == [1, 1, 1, 2]
    assert ratings.item.tolist() == [2, 29, 32, 3]
    assert ratings.rating.tolist() == [3.5, 3.5, 3.5, 4.0]
    assert ratings.timestamp.tolist() == [1112486027, 1112484676, 1112484819, 974820889]
    assert ratings.source.name == FILE_20M


@pytest.mark.parametrize("text, problem", [
    (RATINGS_CSV.split("\n", 1)[1], r"ratings\.csv: line 1: expected the header userId,movieId,rating,timestamp"),
    (RATINGS_CSV + "3,4,3.3,974820889\n", r"line 6: rating 3.3 is not 0.5-5.0 in half stars"),
    (RATINGS_CSV + "3,4,0.0,974820889\n", r"line 6: rating 0.0 is not 0.5-5.0"),
    (RATINGS_CSV + "3,4,high,974820889\n", r"line 6: rating 'high' is not a number of stars"),
    (RATINGS_CSV + "3\t4\t3.5\t974820889\n", r"line 6: expected 4 fields separated by ,"),
])
def test_malformed_ratings_csv_names_the_line(tmp_path, text, problem):
    write(tmp_path, FILE_20M, text)
    with pytest.raises(DataError, match=problem):
        read_ratings(tmp_path)


@pytest.mark.parametrize("dataset, name", [("ml-100k", FILE_100K), ("ml-1m", FILE_1M), ("ml-20m", FILE_20M)])
def test_the_dataset_name_chooses_the_file_in_the_folder_or_its_release_subfolder(tmp_path, dataset, name):
    for folder, file, text in (("ml-100k", FILE_100K, U_DATA), ("ml-1m", FILE_1M, RATINGS_DAT),
                               ("ml-20m", FILE_20M, RATINGS_CSV)):
        write(tmp_path / folder, file, text)
    assert find_ratings_file(tmp_path, dataset) == tmp_path / dataset / name
    assert find_ratings_file(tmp_path / dataset, dataset) == tmp_path / dataset / name
    assert len(read_ratings(tmp_path, dataset)) == 4


def test_the_chosen_release_missing_is_a_one_line_error(tmp_path):
    write(tmp_path, FILE_100K, U_DATA)  # another release's file does not stand in for the chosen one
    with pytest.raises(DataError, match=r"no ratings\.csv here or in ml-20m/: the configuration reads MovieLens "
                                        r"ml-20m") as err:
        read_ratings(tmp_path, "ml-20m")
    assert "\n" not in str(err.value)
    with pytest.raises(DataError, match="unknown MovieLens release 'ml-10m'"):
        find_ratings_file(tmp_path, "ml-10m")


def test_accepts_the_file_itself(tmp_path):
    path = write(tmp_path, FILE_1M, RATINGS_DAT)
    assert find_ratings_file(path) == path
    assert len(read_ratings(path)) == 4


@pytest.mark.parametrize("name", [FILE_100K, FILE_1M, FILE_20M])
def test_write_read_round_trip(tmp_path, name):
    ratings = Ratings(user=np.array([3, 1, 2]), item=np.array([10, 20, 30]), rating=np.array([5, 1, 4]),
                      timestamp=np.array([100, 300, 200]))
    path = write_ratings(tmp_path, ratings, name)
    assert path.name == name
    back = read_ratings(tmp_path)
    for column in ("user", "item", "rating", "timestamp"):
        assert getattr(back, column).tolist() == getattr(ratings, column).tolist()


def test_writer_uses_the_real_separators(tmp_path):
    ratings = Ratings(user=np.array([1]), item=np.array([2]), rating=np.array([3]), timestamp=np.array([4]))
    assert write_ratings(tmp_path / "a", ratings, FILE_100K).read_text() == "1\t2\t3\t4\n"
    assert write_ratings(tmp_path / "b", ratings, FILE_1M).read_text() == "1::2::3::4\n"
    assert write_ratings(tmp_path / "c", ratings, FILE_20M).read_text() == "userId,movieId,rating,timestamp\n1,2,3.0,4\n"
    with pytest.raises(ValueError):
        write_ratings(tmp_path / "d", ratings, "ratings.json")


def test_missing_folder_and_empty_folder(tmp_path):
    with pytest.raises(DataError, match="nowhere"):
        read_ratings(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty.*u.data.*ratings.dat.*ratings.csv"):
        read_ratings(tmp_path / "empty")


def test_both_files_is_ambiguous(tmp_path):
    write(tmp_path, FILE_100K, U_DATA)
    write(tmp_path, FILE_1M, RATINGS_DAT)
    with pytest.raises(DataError, match="holds u.data and ratings.dat; point at one"):
        find_ratings_file(tmp_path)


def test_empty_file(tmp_path):
    write(tmp_path, FILE_100K, "\n")
    with pytest.raises(DataError, match=r"u\.data: holds no ratings"):
        read_ratings(tmp_path)


@pytest.mark.parametrize("name, text, problem", [
    (FILE_100K, U_DATA + "7\t8\t3\n", r"u\.data: line 5: expected 4 fields"),
    (FILE_100K, "196 242 3 881250949\n", r"u\.data: line 1: expected 4 fields"),  # spaces, not tabs
    (FILE_100K, U_DATA + "7\t8\tfour\t881250949\n", r"u\.data: line 5: rating 'four'"),
    (FILE_100K, "7\t8\t6\t881250949\n", r"line 1: rating 6 is not 1-5"),
    (FILE_100K, "0\t8\t3\t881250949\n", r"line 1: ids start at 1"),
    (FILE_100K, "7\t-8\t3\t881250949\n", r"line 1: item id '-8'"),
    (FILE_1M, RATINGS_DAT + "1:1193:5:978300760\n", r"ratings\.dat: line 5: expected 4 fields separated by ::"),
    (FILE_1M, "1::1193::3.5::978300760\n", r"ratings\.dat: line 1: rating '3.5'"),
    (FILE_1M, "1::1193::5::\n", r"line 1: timestamp ''"),
])
def test_malformed_lines_name_file_and_line(tmp_path, name, text, problem):
    write(tmp_path, name, text)
    with pytest.raises(DataError, match=problem) as err:
        read_ratings(tmp_path)
    assert err.value.path.endswith(name)


def test_non_ascii_bytes(tmp_path):
    write(tmp_path, FILE_1M, RATINGS_DAT.encode() + b"1::\xe9::5::978300760\n")
    with pytest.raises(DataError, match=r"ratings\.dat: line 5: not ASCII"):
        read_ratings(tmp_path)


def test_rereads_a_changed_file(tmp_path):
    """The parse cache is keyed on the file's mtime and size, so an edited file is read again."""
    path = write(tmp_path, FILE_100K, U_DATA)
    assert len(read_ratings(tmp_path)) == 4
    path.write_text(U_DATA + "1\t1\t1\t1\n")
    assert len(read_ratings(tmp_path)) == 5
