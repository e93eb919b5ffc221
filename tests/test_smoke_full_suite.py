"""Issue 10's proof that every full configuration builds, steps, evaluates and serves, as a user would run it:

    aibench data synth all --scale full --dir D && aibench run all --scale full --data-dir D --smoke --threads 2

Slow (several minutes on 2 cores): CI runs it once. Every record must be `smoke` and carry the real model's size,
the one the spec lists and the paper's envelope holds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from aibench import registry

pytestmark = pytest.mark.slow

# issue 10: all 17 in under 10 minutes on a 2-core CPU, the synthesis not counted. Timings are not asserted here
# (a loaded CI host varies +-30%); the time is printed and the subprocess limit only catches a hang.
SMOKE_LIMIT_S = 600
PAPER_MAX = 68_400_000


def _aibench(*args: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aibench.cli", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_every_full_configuration_passes_its_smoke_run(tmp_path):
    data, out = tmp_path / "data", tmp_path / "out"
    synth = _aibench("data", "synth", "all", "--scale", "full", "--dir", str(data), timeout=900)
    assert synth.returncode == 0, synth.stderr[-3000:]
    start = time.monotonic()
    run = _aibench("run", "all", "--scale", "full", "--data-dir", str(data), "--smoke", "--threads", "2",
                   "--out", str(out), timeout=2 * SMOKE_LIMIT_S)
    elapsed = time.monotonic() - start
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    rows = json.loads(_aibench("results", "--json", "--out", str(out), timeout=120).stdout)
    by_bench = {r["benchmark"]: r for r in rows}
    assert set(by_bench) == {c.id for c in registry.CARDS}
    for card in registry.CARDS:
        record = by_bench[card.id]
        spec = registry.spec(card)
        assert record["status"] == "smoke", (card.alias, record["status"])
        assert record["params"] == spec.full_size.params, card.alias
        if card.alias != "C17":  # §5.1 leaves NAS out of Fig. 2's envelope (tests/test_model_sizes.py)
            assert record["params"] <= PAPER_MAX * (1.05 if spec.full_size.note else 1.0), card.alias
        # the static FLOPs `aibench list --json` shows are this measurement (the synthesized set is seeded)
        assert record["characterization"]["flops_inference_per_sample"] == pytest.approx(
            spec.full_size.flops_per_sample, rel=0.01), card.alias
    print(f"smoke run of all 17 at full: {elapsed:.0f} s (issue 10 asks for under {SMOKE_LIMIT_S} s on 2 cores)")
