import html
import re

import numpy as np
import pytest

from aibench.characterize.breakdown import CATEGORIES
from aibench.report import html as report_html
from aibench.report.html import comparison_section, write_report
from aibench.report.numbers import count, percent, sig
from aibench.results.store import ResultStore
from report_records import (CONTROL_C15, LABEL_A, LABEL_B, MULTISTREAM_INVALID, SYSTEM_A, SYSTEM_B, TRAINED,
                            fill)


@pytest.fixture(scope="module")
def two_labels(tmp_path_factory):
    path = tmp_path_factory.mktemp("two") / "r.sqlite"
    store = ResultStore(f"sqlite:///{path}")
    fill(store)
    return store.records()


@pytest.fixture(scope="module")
def two_label_report(two_labels, tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "report.html"
    return out, write_report(two_labels, out).read_text()


def _cells(text: str, row_start: str) -> list[str]:
    """The cells of the first table row whose first cell is `row_start`, tags removed."""
    for row in re.findall(r"<tr>(.*?)</tr>", text):
        cells = [re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        if cells and cells[0] == row_start:
            return cells
    raise AssertionError(f"no row starting {row_start!r}")


def test_numbers_have_three_significant_digits_and_separators():
    assert [sig(v) for v in (0.92638, 35.4212, 1469.932, 27360, 4276568.0, 1.0, 0.5, None)] == \
        ["0.926", "35.4", "1,470", "27,400", "4,280,000", "1.00", "0.500", "–"]
    assert sig(1.2345e-5) == "1.23e-05"
    assert count(27360) == "27,360" and percent(0.07674) == "7.67%"


def test_report_has_the_paper_tables_and_figures_in_one_file(two_label_report):
    out, text = two_label_report
    for heading in ("Table 3", "Table 5", "Table 6", "Table 7", "Fig. 2", "Fig. 4", "Fig. 5", "LoadGen",
                    "Quality per epoch", "Hardware counters"):
        assert heading in text, heading
    assert "aten::convolution_op" in text
    # self-contained: every image a data URI, nothing else fetched, no folder of figures beside it
    srcs = re.findall(r'<img[^>]*src="([^"]*)"', text)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r"<(script|link)[^>]*(src|href)=", text)
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]


def test_every_row_names_its_label_date_and_system(two_labels, two_label_report):
    _, text = two_label_report
    # the systems table shows both machines (not the last record's only), with their library versions
    for system, label in ((SYSTEM_A, LABEL_A), (SYSTEM_B, LABEL_B)):
        assert system["cpu_model"] in text and system["hostname"] in text and label in text
    assert "torch 2.14.1" in text and "NVIDIA H200" in text
    a_row = _cells(text, "S1")
    assert a_row[1:3] == [LABEL_A, "box-a"]
    b_row = _cells(text, "S2")
    assert b_row[1:3] == [LABEL_B, "box-b"] and b_row[4] == "NVIDIA H200"
    # Table 3: one row per benchmark and label, each with its run date and system
    rows = report_html.quality_rows(two_labels, report_html.Systems(two_labels))
    assert len(rows) == 2 * len(TRAINED)
    c1 = [r for r in rows if r[0].endswith(">C1</span>")]
    assert [r[1] for r in c1] == [LABEL_A, LABEL_B]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", r[2]) for r in rows)
    assert [re.sub(r"<[^>]+>", "", r[3]) for r in c1] == ["S1", "S2"]


def test_numbers_are_right_aligned(two_label_report):
    _, text = two_label_report
    assert '<td class="num">163,000</td>' in text  # samples/s: 3 significant digits, separators
    assert '<td class="num">1,470</td>' in text  # Offline samples/s
    assert '<td class="num">1,230</td>' in text  # p99.9 latency 1234.5 ms
    assert '<td class="num">123,456</td>' in text  # Offline samples: an exact count
    assert "<td>success</td>" in text  # text stays left


def test_comparison_shows_what_aibench_compare_computes(two_labels):
    from aibench.analysis.compare import compare_labels

    section = comparison_section(two_labels)
    assert "Comparison of labels" in section
    for bench in TRAINED:
        cells = _cells(section, bench.removeprefix("DC-AI-"))
        # C1 tiny: A median 12.0 s over 3 runs, B median 6.00 s over 3 runs, B / A = 0.500, too few to test
        assert cells[:8] == [bench.removeprefix("DC-AI-"), "train", "tiny", "time to quality", "3/3", "12.0",
                             "6.00", "0.500"]
        assert cells[9] == "B faster, n &lt; 5: not tested"  # escaped in the page
    a, b = ([r for r in two_labels if r["label"] == name] for name in (LABEL_A, LABEL_B))
    rows = compare_labels(a, b, LABEL_A, LABEL_B).rows
    assert rows and all(f"<td>{html.escape(r['verdict'])}</td>" in section for r in rows)  # every compared metric is shown
    one_label = [r for r in two_labels if r["label"] == LABEL_A]
    assert comparison_section(one_label) == ""


def test_curves_carry_the_target_and_the_control(two_labels, monkeypatch):
    from aibench.report import figures

    drawn = {}
    real = figures.quality_curve_figure

    def spy(title, metric, runs, target, controls, colours):
        drawn[title.split()[0]] = {"runs": runs, "target": target, "controls": controls}
        return real(title, metric, runs, target, controls, colours)

    monkeypatch.setattr(figures, "quality_curve_figure", spy)
    section = report_html.curves_section(two_labels, figures.label_colours([LABEL_A, LABEL_B]))
    assert sorted(drawn) == ["C1", "C15", "C16", "C9"]
    assert section.count("<img") == 4
    c15 = drawn["C15"]
    assert c15["target"] == 0.9 and c15["controls"] == [(LABEL_A, CONTROL_C15)]
    assert drawn["C1"]["controls"] == []  # no control stored: none drawn, nothing fails
    assert len(c15["runs"]) == 8  # 3 successful and 1 aborted run per label
    assert c15["runs"][0]["points"][0] == (1, 0.5 + 0.45 / 3, True)


def test_latency_percentiles_and_validity_per_scenario(two_labels, two_label_report):
    _, text = two_label_report
    rows = report_html.scenario_rows(two_labels)
    assert [r[2] for r in rows if r[1] == LABEL_A] == ["SingleStream", "MultiStream", "Server", "Offline"]
    single = rows[0]
    assert single[3:9] == ["1.25", "2.50", "3.00", "3.50", "4.75", "1,230"] and single[-1] == "VALID"
    assert rows[1][-1] == f"INVALID: {MULTISTREAM_INVALID}"
    headline = report_html.inference_rows(two_labels)[0]  # the headline table carries LoadGen's verdicts too
    assert headline[1] == LABEL_A and f"MultiStream: INVALID ({MULTISTREAM_INVALID})" in headline[-1]
    assert "Server: p99 latency vs offered QPS" in text
    assert set(report_html.server_curves(two_labels)) == {f"C15 ({LABEL_A})", f"C15 ({LABEL_B})"}


def test_caveats_where_paper_and_local_numbers_differ(two_label_report):
    _, text = two_label_report
    assert "says nothing about relative speed" in text  # beside Table 6
    assert "no: tiny data, not the paper&#x27;s" in text
    assert "synthetic DC-AI-C15 data" in text  # what the tiny scale changed, from the record


def test_hardware_counters_or_why_not(two_labels):
    rows = {(r[0], r[1]): r for r in report_html.counter_rows(two_labels)}
    assert rows[("C1", LABEL_A)][3] == "measured"
    assert rows[("C1", LABEL_A)][4:6] == ["2,000,000,000", "3,000,000,000"]
    assert rows[("C1", LABEL_A)][10:] == ["1.50", "2.50%", "1.00%"]
    assert rows[("C9", LABEL_A)][3] == "unavailable: events not supported"
    assert set(rows[("C9", LABEL_A)][4:]) == {"–"}
    old = {**two_labels[0], "mode": "profile", "status": "completed", "characterization": {}}
    assert report_html.counter_rows([old])[0][3] == "unavailable: not recorded by this profile"


def test_clustering_drawn_only_with_three_profiled_benchmarks(two_label_report):
    _, text = two_label_report
    assert f'alt="t-SNE clustering, {LABEL_A}"' in text  # A profiled 4 benchmarks
    assert f'alt="t-SNE clustering, {LABEL_B}"' not in text  # B profiled 2
    assert f"{LABEL_B}: not drawn: clustering needs profiles of at least 3 benchmarks" in text


def test_cluster_figure_labels_its_axes_and_keeps_names_inside():
    from types import SimpleNamespace

    from aibench.report.figures import cluster_plot

    names = [f"DC-AI-C{i}" for i in range(1, 18)]
    rng = np.random.default_rng(0)
    embedding = np.concatenate([rng.normal(size=(15, 2)) * 40, [[-300.0, 250.0], [310.0, -260.0]]])
    clustering = SimpleNamespace(benchmarks=names, embedding=embedding, labels=[i % 4 for i in range(17)],
                                 subset=names[:4])
    fig = cluster_plot(clustering)
    ax = fig.axes[0]
    assert "t-SNE" in ax.get_xlabel() and "t-SNE" in ax.get_ylabel()
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = fig.bbox
    names_drawn = [t for t in ax.texts]
    assert len(names_drawn) == 17
    for t in names_drawn:  # every benchmark's name wholly inside the axes (so inside the picture)
        extent = t.get_window_extent(renderer)
        assert ax.bbox.x0 <= extent.x0 and extent.x1 <= ax.bbox.x1, t.get_text()
        assert ax.bbox.y0 <= extent.y0 and extent.y1 <= ax.bbox.y1, t.get_text()
        assert box.x0 <= extent.x0 and extent.x1 <= box.x1


def test_a_later_failed_run_never_replaces_the_successful_result(tmp_path):
    """Issue 11: one Ctrl-C'd run of C15 replaced the successful run in the Table 3 headline."""
    from aibench.report.html import _latest, other_run_rows

    store = ResultStore(f"sqlite:///{tmp_path / 'r.sqlite'}")
    common = dict(benchmark="DC-AI-C15", name="x", scale="tiny", metric="m", target=0.9, seed=0, system={},
                  mode="train", label="one")
    store.add(**common, status="success", quality=0.93,
              metrics={"epochs_to_quality": 9, "time_to_quality_s": 20.0, "epochs": 9})
    store.add(**common, status="aborted", quality=0.30, metrics={"epochs": 2})
    records = store.records()
    assert _latest(records, "train")[("DC-AI-C15", "one")]["quality"] == 0.93
    assert other_run_rows(records, "train") == [["C15", "one", "tiny", "aborted", "1"]]
    text = write_report(records, tmp_path / "report.html").read_text()
    assert "Other training runs" in text and "n/a (1 run)" in text


def test_a_resumed_run_is_marked_in_tables_and_the_report():
    from aibench.report.html import quality_rows
    from aibench.report.tables import status_label

    record = {"id": 2, "benchmark": "DC-AI-C1", "mode": "train", "scale": "tiny", "status": "success",
              "quality": 0.9, "target": 0.8, "metrics": {"time_to_quality_s": 3.0}, "config": {"resumed_from": 1},
              "created_at": "2026-01-02T03:04:05", "label": "x", "system": {}}
    assert status_label(record) == "success (resumed #1)"
    assert status_label({**record, "config": {}}) == "success"
    assert quality_rows([record])[0][9] == "success (resumed #1)"


def test_an_empty_store_writes_a_page_saying_so(tmp_path):
    text = write_report([], tmp_path / "r.html").read_text()
    assert "holds no runs yet" in text and "<table" not in text


def test_categories_unknown_to_an_old_profile_do_not_break_the_breakdown():
    from aibench.report.figures import breakdown_figure

    old = {"breakdown": {"category_share": {c: 1 / 9 for c in CATEGORIES[:9]}}}
    assert breakdown_figure({"C1": old})[:4] == b"\x89PNG"


def test_model_figure_has_one_point_per_benchmark(two_labels):
    """Parameters and FLOPs belong to the model: two machines give one point, not two names on top of each other."""
    points = report_html.model_points(two_labels)
    assert sorted(points) == ["C1", "C15", "C16", "C9"]
    assert points["C1"]["params"] == 2.5e7 and points["C1"]["epochs"] == 5  # both labels' shown runs: 5 epochs


def test_variation_rows_name_their_label(two_label_report):
    _, text = two_label_report
    table5 = text[text.index("id='variation'"):text.index("id='curves'")]
    c1_rows = [r for r in re.findall(r"<tr>(.*?)</tr>", table5) if r.startswith("<td>C1</td>")]
    assert [re.findall(r"<td[^>]*>(.*?)</td>", r)[1] for r in c1_rows] == [LABEL_A, LABEL_B]
    assert [re.findall(r"<td[^>]*>(.*?)</td>", r)[-1] for r in c1_rows] == ["12.0", "6.00"]  # olympic means


def test_a_skipped_scenario_says_why():
    record = {"benchmark": "DC-AI-C15", "mode": "infer", "status": "completed", "label": "x", "scale": "tiny",
              "metrics": {"scenarios": {"Server": {"skipped": "no p99 latency bound given for the Server scenario"}}}}
    [row] = report_html.scenario_rows([record])
    assert row[2] == "Server" and set(row[3:12]) == {"–"}
    assert row[-1] == "skipped: no p99 latency bound given for the Server scenario"
