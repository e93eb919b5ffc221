"""Characterization never changes the model that is saved or served (issue 11): FLOP counting runs a train-mode
forward and backward, which moved BatchNorm statistics and random streams of the trained model."""

import torch
from torch import nn

from aibench.characterize.flops import characterize_compute
from aibench.harness.preserve import model_state_preserved
from toy import make_toy


def _toy_with_batchnorm(tmp_path):
    bench = make_toy(tmp_path)
    bench.setup()
    bench.model = nn.Sequential(nn.BatchNorm1d(4), nn.Linear(4, 2))
    bench.model.eval()
    return bench


def test_characterization_moves_batchnorm_statistics_unless_preserved(tmp_path):
    bench = _toy_with_batchnorm(tmp_path)
    before = {k: v.clone() for k, v in bench.model.state_dict().items()}
    characterize_compute(bench)  # what the runner called before: the statistics move
    assert int(bench.model[0].num_batches_tracked) == 1
    assert not torch.equal(bench.model[0].running_mean, before["0.running_mean"])

    bench = _toy_with_batchnorm(tmp_path)
    before = {k: v.clone() for k, v in bench.model.state_dict().items()}
    rng = torch.get_rng_state()
    with model_state_preserved(bench):
        characterize_compute(bench)
        torch.rand(3)  # draws from the global stream
    after = bench.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert torch.equal(torch.get_rng_state(), rng)
    assert not bench.model.training and not bench.model[0].training  # eval mode as it was
    assert all(p.grad is None for p in bench.model.parameters())
