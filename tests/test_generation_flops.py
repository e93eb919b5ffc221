"""Inference FLOPs of the generating benchmarks (C3, C4, C14) are counted as generated.

`characterize_compute()` counts `forward_example()`, which runs `infer()`: C3 decodes greedily and recomputes the
growing prefix at every step, C4 captions greedily one LSTM step a word, C14 runs beam search one decoder step at a
time. So the count must follow the tokens actually generated: each extra token allowed to an output that never
ends costs exactly one more decoder step (counted on its own here), and an output that ends at once costs the same
whatever the length limit. The tiny models are untrained: the end token is forced off (or on) by biasing its logit.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
import torch

from aibench.benchmarks.base import Benchmark, RunContext
from aibench.characterize.flops import characterize_compute, count_flops

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BIG = 1e4  # far beyond any logit of an untrained tiny model


def tiny_bench(cls: type[Benchmark], tmp_path, batch_size: int, **hparams) -> Benchmark:
    """The tiny configuration on a small synthesized set (the model's shape is tiny's; only the data is fewer),
    and a small training batch: characterize_compute also counts a training step, which the test does not need."""
    tiny = cls.SPEC.scales["tiny"]
    cfg = dataclasses.replace(tiny, batch_size=batch_size, hparams={**tiny.hparams, **hparams})
    cls.synthesize(tmp_path / "data", cfg, seed=1)
    torch.manual_seed(0)
    bench = cls(RunContext("tiny", cfg, tmp_path / "data", torch.device("cpu"), seed=0, cache_dir=tmp_path / "cache"))
    bench.setup()
    return bench


def inference_flops(bench: Benchmark, length_key: str, length: int) -> int:
    bench.hp[length_key] = length
    return characterize_compute(bench)["flops_inference_batch"]


def queries(bench: Benchmark) -> list:
    _, count = bench.forward_example()
    return list(bench.inference_samples())[:count]


def assert_counted_as_generated(bench: Benchmark, length_key: str, lengths: tuple[int, int, int],
                                step_flops: Callable[[int], int], set_end_bias: Callable[[float], None]) -> None:
    """Never ending, each extra allowed token adds one decoder step's FLOPs; ending at once, the limit costs none."""
    set_end_bias(-BIG)
    counted = [inference_flops(bench, length_key, n) for n in lengths]
    for (shorter, longer), (fewer, more) in zip(zip(lengths, lengths[1:]), zip(counted, counted[1:])):
        expected = sum(step_flops(n) for n in range(shorter + 1, longer + 1))
        assert expected > 0 and more - fewer == expected, (lengths, counted)
    set_end_bias(+BIG)
    assert inference_flops(bench, length_key, lengths[0]) == inference_flops(bench, length_key, lengths[-1])
    assert inference_flops(bench, length_key, lengths[0]) < counted[0]


def test_c3_greedy_translation_counts_every_decoded_token(tmp_path):
    from aibench.benchmarks.c03_text_to_text_translation.bench import BENCHMARK
    from aibench.benchmarks.c03_text_to_text_translation.data import BOS_ID, EOS_ID, PAD_ID, pad
    from aibench.benchmarks.c03_text_to_text_translation.model import Transformer

    bench = tiny_bench(BENCHMARK, tmp_path, 100, synth_pairs={"train": 300, "valid": 8, "test": 12})
    model = bench.model
    end_bias = torch.zeros(model.embedding.num_embeddings)

    def set_end_bias(value: float) -> None:  # the projection is tied to the embedding: no bias term of its own
        end_bias[EOS_ID] = value

    model.project = lambda states: Transformer.project(model, states) + end_bias
    source = pad([q.source for q in queries(bench)], suffix=EOS_ID)
    longest = int((source != PAD_ID).sum(dim=1).max())  # greedy_translate allows longest + max_decode_extra steps
    model.eval()
    with torch.no_grad():
        memory = model.encode(source)

    def step_flops(extra: int) -> int:
        """The step that an extra allowance of `extra` adds: the decoder over the whole prefix, one projection."""
        prefix = torch.full((len(source), longest + extra), BOS_ID)
        with torch.no_grad():
            return count_flops(lambda: model.project(model.decode_states(prefix, memory, source)[:, -1]))

    assert_counted_as_generated(bench, "max_decode_extra", (0, 1, 3), step_flops, set_end_bias)


def test_c4_greedy_captions_count_every_generated_word(tmp_path):
    from aibench.benchmarks.c04_image_to_text.bench import BENCHMARK
    from aibench.benchmarks.c04_image_to_text.data import BOS_ID, EOS_ID

    bench = tiny_bench(BENCHMARK, tmp_path, 4, synth_images={"train": 40, "val": 10})
    model, rows = bench.model, len(queries(bench))

    def set_end_bias(value: float) -> None:
        with torch.no_grad():
            model.output.bias[EOS_ID] = value

    def step_flops(_: int) -> int:
        """One word: an LSTM step and the softmax layer, for every query."""
        words = torch.full((rows,), BOS_ID)
        state = (torch.zeros(1, rows, model.lstm.hidden_size), torch.zeros(1, rows, model.lstm.hidden_size))
        with torch.no_grad():
            return count_flops(lambda: model.output(model.lstm(model.embedding(words)[:, None], state)[0][:, 0]))

    assert_counted_as_generated(bench, "max_caption", (3, 4, 6), step_flops, set_end_bias)


def test_c14_beam_search_counts_every_decoder_step_of_every_beam(tmp_path):
    from aibench.benchmarks.c14_text_summarization.bench import BENCHMARK
    from aibench.benchmarks.c14_text_summarization.data import BOS_ID, EOS_ID, pad

    bench = tiny_bench(BENCHMARK, tmp_path, 8, synth_pairs={"train": 200, "valid": 8, "test": 12})
    model, beam = bench.model, bench.hp["beam"]

    def set_end_bias(value: float) -> None:
        with torch.no_grad():
            model.output.bias[EOS_ID] = value

    sources = [q.numpy() for q in queries(bench)]
    model.eval()
    with torch.no_grad():
        memory, state = model.encode(pad(sources), torch.tensor([len(s) for s in sources]))
    rows = torch.arange(len(sources)).repeat_interleave(beam)  # every source decodes as `beam` rows
    memory, state = memory.select(rows), state[rows]

    def step_flops(_: int) -> int:
        """One decoder step (attention over the source, GRU cell, maxout readout, softmax) for every beam row."""
        with torch.no_grad():
            return count_flops(lambda: model.step(torch.full((len(rows),), BOS_ID), state, memory))

    assert_counted_as_generated(bench, "max_decode", (3, 4, 6), step_flops, set_end_bias)
