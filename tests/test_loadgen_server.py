"""LoadGen's Server scenario on aibench's asynchronous system under test, and the peak-QPS search.

The search is pinned on an M/D/1 queue: one worker, batches of one, a fixed sleep as the service time, Poisson
arrivals from LoadGen. The p99 of the M/D/1 sojourn time has a closed form (Erlang's waiting-time distribution),
so the highest arrival rate whose p99 stays under the bound is known; the search must find it within 20%.
"""

import math
import time

from aibench.harness.energy import EnergyMeter
from aibench.harness.infer import InferSettings, server_search
from aibench.harness.loadgen_sut import Batching, SampleLibrary
from aibench.harness.qps_search import find_peak_qps

import torch


def md1_wait_cdf(t: float, lam: float, service: float) -> float:
    """P(W <= t) for M/D/1 (Erlang 1909): (1 - rho) * sum_{k=0}^{floor(t/D)} (lam(kD - t))^k / k! * e^{-lam(kD - t)}."""
    total = 0.0
    for k in range(int(math.floor(t / service)) + 1):
        x = lam * (k * service - t)
        total += x ** k / math.factorial(k) * math.exp(-x)
    return (1 - lam * service) * total


def md1_peak_rate(bound: float, service: float, percentile: float = 0.99) -> float:
    """The highest arrival rate whose sojourn time (wait + service) has its percentile at most `bound`."""
    lo, hi = 0.0, (1 - 1e-9) / service
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if md1_wait_cdf(bound - service, mid, service) >= percentile else (lo, mid)
    return lo


def test_md1_closed_form_matches_known_values():
    # no waiting below the service time's first multiple: P(W <= 0) = 1 - rho
    assert math.isclose(md1_wait_cdf(0.0, 100.0, 0.004), 0.6)
    # M/D/1 mean wait rho D / (2 (1 - rho)): integrate the tail numerically
    lam, d = 150.0, 0.004
    step = d / 200
    mean = sum((1 - md1_wait_cdf(i * step, lam, d)) * step for i in range(4000))
    assert math.isclose(mean, lam * d * d / (2 * (1 - lam * d)), rel_tol=0.02)


def test_search_brackets_and_bisects_with_bounded_steps():
    calls = []

    def run_at(qps):
        calls.append(qps)
        return qps <= 137.0, {"qps": qps}

    out = find_peak_qps(run_at, start_qps=20.0, max_steps=12, precision=0.02)
    assert len(out.steps) == len(calls) <= 12
    assert out.peak_qps <= 137.0 and out.peak_qps > 137.0 / 1.02 ** 2
    assert out.bracket[1] > 137.0
    # every tried QPS is kept with its validity
    assert [s.target_qps for s in out.steps] == calls and all(s.valid == (s.target_qps <= 137) for s in out.steps)
    # a step budget of 3 ends after three runs, whatever the answer
    assert len(find_peak_qps(run_at, start_qps=1.0, max_steps=3).steps) == 3
    # once a step is VALID, a step the time budget cannot afford ends the search (here: above 150 QPS)
    short = find_peak_qps(lambda q: (q <= 137.0, None), start_qps=100.0, max_steps=10,
                          affordable=lambda q: q < 150)
    assert [s.target_qps for s in short.steps] == [100.0] and short.peak_qps == 100.0
    # before any VALID step the budget does not stop it: the floor and the step count bound it, so a search short
    # of time never reports INVALID what a lower target would serve
    late = find_peak_qps(lambda q: (q <= 20, None), start_qps=100.0, max_steps=10, floor_qps=10.0,
                         affordable=lambda q: False)
    assert [s.target_qps for s in late.steps] == [100.0, 50.0, 25.0, 12.5] and late.peak_qps == 12.5
    # halving past the floor tries the floor itself before giving up (a busy machine may meet the bound there)
    floored = find_peak_qps(lambda q: (q <= 30, None), start_qps=100.0, max_steps=10, floor_qps=30.0)
    assert [s.target_qps for s in floored.steps][:3] == [100.0, 50.0, 30.0] and floored.peak_qps >= 30.0
    assert [s.target_qps for s in find_peak_qps(lambda q: (False, None), start_qps=100.0, max_steps=10,
                                                floor_qps=30.0).steps] == [100.0, 50.0, 30.0]
    # nothing VALID: no peak
    assert find_peak_qps(lambda q: (False, None), start_qps=8.0, max_steps=4).peak is None


def test_server_search_finds_the_md1_peak(tmp_path):
    # a service time long against the scheduler's wake-up jitter on a shared 2-core machine, and a bound of ten
    # of them; the analytic peak uses the service time the sleeps really took (their mean)
    service, bound = 0.008, 0.080
    took = []

    def predict(samples):
        start = time.perf_counter()
        time.sleep(service)
        took.append(time.perf_counter() - start)
        return [0] * len(samples)

    library = SampleLibrary(16, lambda i: torch.tensor([i]))
    cfg = InferSettings(scenarios=("Server",), min_duration_ms=1000, server_latency_ms=bound * 1e3,
                        min_query_count={"Server": 600},  # LoadGen's early stopping needs 459 at least
                        server_batching=Batching(max_batch_size=1, max_wait_s=0.0, workers=1),
                        search_steps=8, search_precision=0.05, log_dir=tmp_path)
    result = server_search(predict, library, cfg, EnergyMeter(device=torch.device("cpu")), tmp_path / "Server",
                           latency_s=service, served_qps=1 / service, ms_latency_s=8 * service)
    measured = sum(took) / len(took)
    analytic = md1_peak_rate(bound, measured)
    assert result.valid and result.headline == result.target_qps
    assert abs(result.headline - analytic) <= 0.2 * analytic, (result.headline, analytic, measured, result.search)
    assert result.latency_ms["99.00"] <= bound * 1e3
    assert 2 <= len(result.search) <= 8
    assert any(not s["valid"] for s in result.search)  # the bracket's INVALID side was tried and kept
    assert result.batching == {"max_batch_size": 1, "max_wait_s": 0.0, "workers": 1}
