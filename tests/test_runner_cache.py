"""The tiny data cache: written once, reused, and written again when the spec's settings change."""

import dataclasses

from aibench import registry
from aibench.harness import runner


class _NoCheck:
    @classmethod
    def check_data(cls, path, cfg):
        return {}


def test_cached_tiny_set_is_reused_until_the_spec_changes(tmp_path, monkeypatch):
    card = registry.card("C10")
    spec = registry.spec(card)
    writes = []
    monkeypatch.setattr(registry, "benchmark_class", lambda c: _NoCheck)

    def synthesize(c, path, scale, seed, fingerprint):
        writes.append(path)
        path.mkdir(parents=True, exist_ok=True)
        (path / runner.SYNTHESIZED).write_text(fingerprint)

    monkeypatch.setattr(runner, "synthesize", synthesize)
    opts = runner.RunOptions(scale="tiny", cache_dir=tmp_path)
    first = runner.prepare_data(card, opts)
    assert runner.prepare_data(card, opts) == first and len(writes) == 1  # reused

    tiny = spec.scales["tiny"]
    changed = dataclasses.replace(spec, scales={**spec.scales,
                                                "tiny": dataclasses.replace(tiny, hparams={**tiny.hparams, "x": 1})})
    monkeypatch.setattr(registry, "spec", lambda c: changed)
    runner.prepare_data(card, opts)
    assert len(writes) == 2  # an older set is not measured silently
    runner.prepare_data(card, opts)
    assert len(writes) == 2


class _Writer(_NoCheck):
    """Writes one file; `rival` is called mid-write, as another process finishing the same set first would."""
    rival = None

    @classmethod
    def synthesize(cls, path, cfg, seed):
        (path / "data.txt").write_text(f"written by {path.name}")
        if cls.rival:
            cls.rival()


def test_two_processes_writing_one_cached_set_keep_the_first_finished_copy(tmp_path, monkeypatch):
    card = registry.card("C10")
    monkeypatch.setattr(registry, "benchmark_class", lambda c: _Writer)
    path = tmp_path / "data" / "C10"

    def rival_finishes_first():
        path.mkdir(parents=True)
        (path / "data.txt").write_text("the rival's")
        (path / runner.SYNTHESIZED).write_text("f1\n")

    monkeypatch.setattr(_Writer, "rival", staticmethod(rival_finishes_first))
    runner.synthesize(card, path, "tiny", seed=1, fingerprint="f1")
    assert (path / "data.txt").read_text() == "the rival's"  # a run reading it is not pulled from under it
    assert sorted(p.name for p in path.parent.iterdir()) == ["C10"]  # our copy is gone, nothing half-written left

    monkeypatch.setattr(_Writer, "rival", None)
    runner.synthesize(card, path, "tiny", seed=1, fingerprint="f2")  # other settings: the stale set is replaced
    assert (path / runner.SYNTHESIZED).read_text() == "f2\n"
    assert (path / "data.txt").read_text().startswith("written by C10.partial-")
    assert sorted(p.name for p in path.parent.iterdir()) == ["C10"]


def test_a_changed_generator_writes_the_set_again(tmp_path):
    """Same settings, other code: the fingerprint covers the modules that write the set."""
    cfg = registry.spec(registry.card("C10")).scales["tiny"]
    source = tmp_path / "data.py"
    source.write_text("def write(): return 1\n")
    before = runner.synthesis_fingerprint(cfg, [source])
    assert runner.synthesis_fingerprint(cfg, [source]) == before
    source.write_text("def write(): return 2\n")
    assert runner.synthesis_fingerprint(cfg, [source]) != before
    assert runner.synthesis_fingerprint(cfg) != before  # the settings alone are another fingerprint


def test_the_sources_are_the_benchmarks_folder_and_the_shared_writers():
    sources = {p.relative_to(p.parents[1]).as_posix() for p in runner.synthesis_sources(
        registry.benchmark_class(registry.card("C14")))}
    assert {"c14_text_summarization/data.py", "c14_text_summarization/bench.py", "datasets/gigaword.py",
            "datasets/synthetic_words.py"} <= sources
    assert not any(s.startswith("c01_") for s in sources)
