import json
import stat
import subprocess
import sys
import time
from pathlib import Path

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


# A fake `perf stat -x, -o OUT ... -p PID` that behaves like the real one (perf 6.1 under strace): it opens OUT,
# then installs its own SIGINT handler (so SIGINT stops it even where it was inherited as ignored: a background
# job of a non-interactive shell, `nohup cmd &`), then attaches, and writes its counts to OUT when interrupted. It
# records how SIGINT was disposed at its start, so a test can check it emulated what it meant to, and writes its
# pids once set up. "deaf" ignores SIGINT and SIGTERM instead (as a shell `trap ... INT` started with SIGINT
# ignored does SIGINT) and starts a child that ignores them too; "deaf-int" ignores only SIGINT.
FAKE_PERF = r"""
import os, signal, subprocess, sys, time
from pathlib import Path

here, mode, body = Path(sys.argv[0]).parent, MODE, BODY
out = Path(sys.argv[sys.argv.index("-o") + 1])
at_entry = signal.getsignal(signal.SIGINT)
(here / "sigint-at-entry").write_text("ignored" if at_entry == signal.SIG_IGN else "default")
if at_entry != signal.SIG_IGN:  # as perf, a C program, starts: SIGINT as inherited, not Python's KeyboardInterrupt
    signal.signal(signal.SIGINT, signal.SIG_DFL)
pids = [os.getpid()]


def finish(signum, frame):
    out.write_text(body)  # like perf: the counts, when interrupted
    sys.exit(0)


if mode != "perf":  # deaf from the start, and so is the child it starts
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if mode == "deaf":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        pids.append(subprocess.Popen([sys.executable, "-c", "import time\nwhile True: time.sleep(0.05)"]).pid)
out.write_text("")  # perf opens its output first,
time.sleep(0.2)  # sets up (slowly here: a SIGINT now finds no handler yet, and kills it or is lost),
if mode == "perf":
    signal.signal(signal.SIGINT, finish)  # then installs its SIGINT handler and attaches
(here / "pids").write_text("".join(f"{pid}\n" for pid in pids))
while True:
    time.sleep(0.02)
"""


def _fake_perf(tmp_path, body: str, mode: str = "perf") -> str:
    script = tmp_path / "perf"
    script.write_text(f"#!{sys.executable}\n" + FAKE_PERF.replace("MODE", repr(mode)).replace("BODY", repr(body)))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def _wait_until_set_up(tmp_path) -> None:
    """The work of the tests with a deaf fake: wait until the fake has set up (its interpreter's start on a loaded
    host must not race measure's short grace periods) and then say how long measure() takes to stop it."""
    deadline = time.monotonic() + 15
    while not (tmp_path / "pids").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert (tmp_path / "pids").exists(), "the fake perf did not start"


def _fake_pids(tmp_path) -> list[int]:
    return [int(line) for line in (tmp_path / "pids").read_text().split()]


def _running(pid: int) -> bool:
    """Whether pid is a live process (a zombie waiting for its reaper is not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def _none_running(pids: list[int], seconds: float = 2.0) -> bool:
    deadline = time.monotonic() + seconds
    while any(_running(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not any(_running(pid) for pid in pids)


def test_measure_with_counters(tmp_path):
    """Also: measure() starts the work (and so its SIGINT) only once perf has installed its SIGINT handler."""
    out = measure(lambda: None, perf=_fake_perf(tmp_path, PERF_OK))
    assert out["status"] == "measured" and out["ipc"] == pytest.approx(1.5)
    assert _none_running(_fake_pids(tmp_path))


def test_measure_reports_unavailable_honestly(tmp_path):
    body = "<not supported>,,cycles,0,100.00,,\n<not supported>,,instructions,0,100.00,,\n"
    out = measure(lambda: None, perf=_fake_perf(tmp_path, body))
    assert out["status"] == "unavailable" and "ipc" not in out and out["reason"] == "events not supported"


@pytest.mark.parametrize("mode, stopped_with", [("deaf-int", "SIGTERM"), ("deaf", "SIGKILL")])
def test_measure_stops_a_perf_that_ignores_sigint_and_reports_why(tmp_path, mode, stopped_with):
    work_done = []
    out = measure(lambda: work_done.append(_wait_until_set_up(tmp_path) or time.monotonic()),
                  perf=_fake_perf(tmp_path, PERF_OK, mode=mode), grace_s=0.3)
    assert time.monotonic() - work_done[0] < 2.0  # 0.3 s a signal: SIGINT, SIGTERM, SIGKILL
    assert out["status"] == "unavailable" and "ipc" not in out
    assert "did not stop within 0.3 s of SIGINT" in out["reason"] and f"stopped with {stopped_with}" in out["reason"]
    pids = _fake_pids(tmp_path)
    assert len(pids) == (2 if mode == "deaf" else 1)
    assert _none_running(pids), "perf, and what it started, must not outlive measure()"


def test_measure_reports_a_perf_that_cannot_start(tmp_path):
    out = measure(lambda: None, perf=str(tmp_path / "no-such-perf"))
    assert out["status"] == "unavailable" and out["reason"].startswith("perf could not start")


def test_measure_propagates_the_work_error_after_stopping_perf(tmp_path):
    def work():
        _wait_until_set_up(tmp_path)
        raise ValueError("the work failed")

    with pytest.raises(ValueError, match="the work failed"):
        measure(work, perf=_fake_perf(tmp_path, PERF_OK, mode="deaf"), grace_s=0.2)
    assert _none_running(_fake_pids(tmp_path))


# How pytest (and so measure) was started must not matter: a background job of a non-interactive shell (`cmd &` in
# a script or CI, `nohup cmd &`) inherits SIGINT ignored; a foreground one does not. Each case runs measure() in a
# fresh interpreter with SIGINT set that way before perf is started.
MEASURE_IN_CHILD = """
import json, signal, sys, time
from pathlib import Path
perf, sigint, grace_s, set_up = sys.argv[1], sys.argv[2], float(sys.argv[3]), Path(sys.argv[4])
signal.signal(signal.SIGINT, signal.SIG_IGN if sigint == "ignored" else signal.SIG_DFL)
from aibench.characterize.counters import measure


def work():
    deadline = time.monotonic() + 15
    while not set_up.exists() and time.monotonic() < deadline:
        time.sleep(0.01)


print(json.dumps(measure(work, perf=perf, grace_s=grace_s)))
"""


def _measure_in_child(perf: str, sigint: str, grace_s: float, set_up) -> dict:
    proc = subprocess.run([sys.executable, "-c", MEASURE_IN_CHILD, perf, sigint, str(grace_s), str(set_up)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("sigint", ["default", "ignored"])
def test_measure_alike_in_the_foreground_and_the_background(tmp_path, sigint):
    out = _measure_in_child(_fake_perf(tmp_path, PERF_OK), sigint, 5.0, tmp_path / "pids")
    assert (tmp_path / "sigint-at-entry").read_text() == sigint  # the fake perf started the way this case means
    assert out["status"] == "measured" and out["ipc"] == pytest.approx(1.5)
    assert _none_running(_fake_pids(tmp_path))


def test_measure_stops_a_shell_trap_perf_in_the_background(tmp_path):
    """The fake of issue 12: a shell script's `trap ... INT` cannot catch a SIGINT ignored at its start, so in the
    background it kept looping (its `sleep` children too) and measure() raised TimeoutExpired after 30 s."""
    script = tmp_path / "perf"
    script.write_text("#!/usr/bin/env bash\n"
                      "trap 'exit 0' INT\n"
                      'while [ "$1" != "-o" ]; do shift; done; out="$2"\n'
                      f"cat > \"$out\" <<'EOF'\n{PERF_OK}EOF\n"
                      f"echo $$ > {tmp_path / 'pids'}\n"
                      "while true; do sleep 0.05; done\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    out = _measure_in_child(str(script), "ignored", 0.5, tmp_path / "pids")
    assert out["status"] == "unavailable" and "stopped with SIGTERM" in out["reason"]
    assert _none_running(_fake_pids(tmp_path))


def test_busy_host_warning_only_when_threads_and_load_oversubscribe_the_cpus():
    from aibench.characterize.system import busy_host_warning, system_info

    assert busy_host_warning(None, 2, 2) is None  # no load average on this OS: nothing to say
    assert busy_host_warning(0.2, 2, 2) is None  # idle
    assert busy_host_warning(1.0, 2, 1) is None  # one other job, one thread: each has a core
    warning = busy_host_warning(1.1, 2, 2)
    assert warning is not None and "load average 1.1 on 2 logical CPUs" in warning and "--threads 1" in warning
    assert "--threads 1" in busy_host_warning(5.0, 2, 2)  # never suggests fewer than one thread
    assert "load_average_1m" in system_info()
