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
    monkeypatch.setattr(runner, "synthesize", lambda c, path, scale, seed: (writes.append(path),
                                                                           path.mkdir(parents=True, exist_ok=True)))
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
