import json
import subprocess
import sys
import time

import pytest

from aibench import registry
from aibench.errors import UserError


def test_seventeen_cards_in_paper_order():
    assert [c.alias for c in registry.CARDS] == [f"C{i}" for i in range(1, 18)]
    assert [c.alias for c in registry.CARDS if c.in_subset] == ["C1", "C9", "C16"]
    assert registry.card("C1").paper_target == pytest.approx(0.749)
    assert registry.card("C9").variation_pct == 0.0 and registry.card("C9").repeat_times == 10
    assert registry.card("C6").epoch_time_s == pytest.approx(14326.86)
    assert not registry.card("C6").higher_is_better  # WER: lower is better


@pytest.mark.parametrize("key", ["DC-AI-C16", "C16", "c16", "learning_to_rank", " Learning_To_Rank "])
def test_lookup_by_id_alias_or_name(key):
    assert registry.card(key).id == "DC-AI-C16"


def test_unknown_name_suggests_the_closest():
    with pytest.raises(UserError, match="did you mean C9 \\(object_detection\\)"):
        registry.card("object_detectoin")


def test_groups_and_duplicates():
    assert [c.alias for c in registry.select(["subset", "C1"])] == ["C1", "C9", "C16"]
    assert len(registry.select(["all"])) == 17


def _cold(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_listing_does_not_import_torch_and_is_fast():
    code = ("import sys, time; t=time.perf_counter(); from aibench.cli import main; "
            "main(['list', '--json']); print('TORCH', 'torch' in sys.modules, time.perf_counter()-t, file=sys.stderr)")
    started = time.perf_counter()
    proc = _cold(code)
    wall = time.perf_counter() - started
    assert proc.returncode == 0, proc.stderr
    assert "TORCH False" in proc.stderr
    rows = json.loads(proc.stdout)
    assert len(rows) == 17 and rows[0]["id"] == "DC-AI-C1" and rows[0]["alias"] == "C1"
    assert wall < 1.5, f"cold `aibench list --json` took {wall:.2f} s"


def test_implemented_specs_have_all_scales_and_honest_tiny_targets():
    for c in registry.CARDS:
        if not registry.implemented(c):
            continue
        spec = registry.spec(c)
        assert set(spec.scales) == {"tiny", "small", "full"}, c.id
        tiny = spec.scales["tiny"]
        assert tiny.baseline is not None and tiny.baseline_kind, c.id
        assert tiny.shrink, f"{c.id}: tiny must say how it departs from the reference sizes"
        # the target sits clearly beyond the trivial baseline, in the metric's direction
        assert not spec.meets_target(tiny.baseline, tiny.target), c.id
        if c.paper_target is not None:
            assert spec.scales["full"].target == pytest.approx(c.paper_target), c.id


def test_a_benchmark_is_registered_by_its_folder_and_a_bare_folder_is_not(tmp_path, monkeypatch):
    import importlib

    import aibench.benchmarks

    monkeypatch.setattr(aibench.benchmarks, "__path__", [str(tmp_path)])
    c = registry.card("C3")
    monkeypatch.delitem(sys.modules, f"aibench.benchmarks.{c.package}", raising=False)  # as if never imported
    assert c.package == "c03_text_to_text_translation"
    (tmp_path / c.package / "__pycache__").mkdir(parents=True)  # what a checkout can leave behind
    importlib.invalidate_caches()
    assert not registry.implemented(c)
    (tmp_path / c.package / "__init__.py").write_text("SPEC = None\n")
    importlib.invalidate_caches()
    assert registry.implemented(c)
