import pytest
import torch
from torch import nn

from aibench.characterize.flops import count_flops, count_parameters
from aibench.harness.timing import olympic_mean, percentile, variation


def test_percentile_nearest_rank():
    values = list(range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile(values, 99.9) == 100
    assert percentile([3.0], 90) == 3.0


def test_olympic_mean_drops_extremes():
    assert olympic_mean([1, 2, 3, 100]) == 2.5
    assert olympic_mean([4, 6]) == 5


def test_variation_is_the_coefficient_of_variation():
    v = variation([10, 12, 14])
    assert v["mean"] == 12 and v["std"] == pytest.approx(2.0) and v["cv"] == pytest.approx(2 / 12)


def test_flops_of_a_linear_layer():
    layer = nn.Linear(16, 8)
    x = torch.randn(4, 16)
    assert count_flops(lambda: layer(x)) == 2 * 4 * 16 * 8
    # forward + backward: the input needs no gradient, so the backward is one matmul (the weight's gradient)
    assert count_flops(lambda: layer(x).sum().backward()) == 2 * 2 * 4 * 16 * 8
    # with an input that needs a gradient, the backward costs two matmuls
    x.requires_grad_(True)
    assert count_flops(lambda: layer(x).sum().backward()) == 3 * 2 * 4 * 16 * 8


def test_parameters_shared_modules_counted_once():
    shared = nn.Linear(10, 10)
    counts = count_parameters({"a": shared, "b": nn.Sequential(shared, nn.Linear(10, 1))})
    assert counts["a"] == 110 and counts["b"] == 121 and counts["total"] == 121
