"""The SNAP Gowalla check-ins reader and writer, on hand-written files in exactly SNAP's layout."""

import gzip

import numpy as np
import pytest

from aibench.datasets.gowalla import CHECKINS_FILE, CheckIns, find_checkins_file, read_checkins, write_checkins
from aibench.errors import DataError

# Three lines as SNAP ships them: user, time, latitude, longitude, location; each user's newest first.
SNAP_LINES = (
    "0\t2010-10-19T23:55:27Z\t30.2359091167\t-97.7951395833\t22847\n"
    "0\t2010-10-18T22:17:43Z\t30.2691029532\t-97.7493953705\t420315\n"
    "1\t2010-07-25T20:48:08Z\t59.3307\t18.0598\t9410\n"
)


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_snap_lines(tmp_path):
    data = read_checkins(_write(tmp_path / CHECKINS_FILE, SNAP_LINES))
    assert len(data) == 3
    assert data.user.tolist() == [0, 0, 1]
    assert data.time.tolist()[:2] == [1287532527, 1287440263]  # seconds since the epoch, UTC
    assert data.latitude[0] == pytest.approx(30.2359091167)
    assert data.longitude[1] == pytest.approx(-97.7493953705)
    assert data.location.tolist() == [22847, 420315, 9410]


def test_accepts_directory_gzip_and_trailing_blank_line(tmp_path):
    with gzip.open(tmp_path / (CHECKINS_FILE + ".gz"), "wt", encoding="utf-8") as f:
        f.write(SNAP_LINES + "\n")
    assert find_checkins_file(tmp_path).name == CHECKINS_FILE + ".gz"
    assert read_checkins(tmp_path).location.tolist() == [22847, 420315, 9410]


def test_writer_round_trips_in_snap_order(tmp_path):
    original = CheckIns(user=np.array([5, 2, 5]), time=np.array([100, 200, 300]),
                        latitude=np.array([1.5, -2.25, 3.0]), longitude=np.array([10.0, 20.0, -30.125]),
                        location=np.array([7, 8, 9]))
    path = write_checkins(tmp_path / CHECKINS_FILE, original)
    lines = path.read_text().splitlines()
    assert lines[0] == "2\t1970-01-01T00:03:20Z\t-2.2500000000\t20.0000000000\t8"
    assert [line.split("\t")[4] for line in lines] == ["8", "9", "7"]  # by user, each user's newest first
    back = read_checkins(path)
    assert sorted(zip(back.user, back.time, back.location)) == sorted(zip(original.user, original.time,
                                                                          original.location))


def test_missing_file_or_directory_names_the_path(tmp_path):
    with pytest.raises(DataError, match="nothing-here"):
        read_checkins(tmp_path / "nothing-here")
    with pytest.raises(DataError, match=CHECKINS_FILE):
        read_checkins(tmp_path)  # a directory without the file: the message says what was expected


@pytest.mark.parametrize("bad_line, problem", [
    ("0\t2010-10-19T23:55:27Z\t30.2\t-97.7\n", "5 tab-separated fields"),
    ("0 2010-10-19T23:55:27Z 30.2 -97.7 22847\n", "5 tab-separated fields"),
    ("0\t2010-10-19 23:55:27\t30.2\t-97.7\t22847\n", "time"),
    ("0\t2010-13-19T23:55:27Z\t30.2\t-97.7\t22847\n", "time"),
    ("0\t2010-10-19T23:55:27Z\tnorth\t-97.7\t22847\n", "latitude"),
    ("0\t2010-10-19T23:55:27Z\t30.2\tnan\t22847\n", "longitude"),
    ("x7\t2010-10-19T23:55:27Z\t30.2\t-97.7\t22847\n", "user id"),
    ("0\t2010-10-19T23:55:27Z\t30.2\t-97.7\t-5\n", "location id"),
])
def test_malformed_line_names_file_and_line(tmp_path, bad_line, problem):
    path = _write(tmp_path / CHECKINS_FILE, SNAP_LINES + bad_line)
    with pytest.raises(DataError, match=problem) as err:
        read_checkins(path)
    assert CHECKINS_FILE in str(err.value) and "line 4" in str(err.value)


def test_empty_and_truncated_files_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="no check-ins"):
        read_checkins(_write(tmp_path / CHECKINS_FILE, "\n"))
    gz = tmp_path / "cut" / (CHECKINS_FILE + ".gz")
    gz.parent.mkdir()
    whole = gzip.compress((SNAP_LINES * 200).encode())
    gz.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(DataError, match="unreadable") as err:
        read_checkins(gz)
    assert CHECKINS_FILE in str(err.value)
