import stat

import pytest

from aibench.characterize.counters import derived_metrics, measure, parse_perf_csv

PERF_OK = """# started on Sat Nov 28
2000000,,cycles,1000,100.00,,
3000000,,instructions,1000,100.00,1.50,insn per cycle
1000,,cache-references,1000,100.00,,
100,,cache-misses,1000,100.00,10.00,of all cache refs
<not supported>,,branches,0,100.00,,
<not counted>,,branch-misses,0,0.00,,
"""


def test_parse_perf_csv_and_derived_metrics():
    values = parse_perf_csv(PERF_OK)
    assert values["cycles"] == 2e6 and values["branches"] is None and values["branch-misses"] is None
    derived = derived_metrics(values)
    assert derived["ipc"] == pytest.approx(1.5) and derived["cache_miss_rate"] == pytest.approx(0.1)
    assert derived["branch_miss_rate"] is None


def _fake_perf(tmp_path, body: str):
    script = tmp_path / "perf"
    script.write_text("#!/usr/bin/env bash\n"
                      "trap 'exit 0' INT\n"
                      'while [ "$1" != "-o" ]; do shift; done; out="$2"\n'
                      f"cat > \"$out\" <<'EOF'\n{body}EOF\n"
                      "while true; do sleep 0.05; done\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_measure_with_counters(tmp_path):
    out = measure(lambda: None, perf=_fake_perf(tmp_path, PERF_OK))
    assert out["status"] == "measured" and out["ipc"] == pytest.approx(1.5)


def test_measure_reports_unavailable_honestly(tmp_path):
    body = "<not supported>,,cycles,0,100.00,,\n<not supported>,,instructions,0,100.00,,\n"
    out = measure(lambda: None, perf=_fake_perf(tmp_path, body))
    assert out["status"] == "unavailable" and "ipc" not in out


def test_busy_host_warning_only_when_threads_and_load_oversubscribe_the_cpus():
    from aibench.characterize.system import busy_host_warning, system_info

    assert busy_host_warning(None, 2, 2) is None  # no load average on this OS: nothing to say
    assert busy_host_warning(0.2, 2, 2) is None  # idle
    assert busy_host_warning(1.0, 2, 1) is None  # one other job, one thread: each has a core
    warning = busy_host_warning(1.1, 2, 2)
    assert warning is not None and "load average 1.1 on 2 logical CPUs" in warning and "--threads 1" in warning
    assert "--threads 1" in busy_host_warning(5.0, 2, 2)  # never suggests fewer than one thread
    assert "load_average_1m" in system_info()
