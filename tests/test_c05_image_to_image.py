"""DC-AI-C5 CycleGAN: the paper's generator, 70x70 PatchGAN, LSGAN loss, image pool, scoring and the bench."""

import random

import pytest
import torch

from aibench.benchmarks.base import RunContext
from aibench.benchmarks.c05_image_to_image import SPEC
from aibench.benchmarks.c05_image_to_image.bench import BENCHMARK
from aibench.benchmarks.c05_image_to_image.data import confusion, nearest_class, segmentation_scores
from aibench.benchmarks.c05_image_to_image.model import (
    ImagePool, PatchDiscriminator, ResidualBlock, ResnetGenerator, lsgan_loss, receptive_field,
)
from aibench.datasets.cityscapes import TRAIN_COLOURS, read_split

TINY = SPEC.scales["tiny"]


def test_generator_keeps_size_and_has_the_residual_blocks():
    gen = ResnetGenerator(width=8, blocks=6)
    assert sum(isinstance(m, ResidualBlock) for m in gen.modules()) == 6
    assert sum(isinstance(m, torch.nn.InstanceNorm2d) for m in gen.modules()) > 6
    out = gen(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 3, 32, 32) and out.abs().max() <= 1  # tanh output


def test_patch_discriminator_sees_70x70_patches():
    disc = PatchDiscriminator(width=8)
    assert receptive_field(disc) == 70
    assert disc(torch.randn(1, 3, 64, 64)).shape == (1, 1, 6, 6)  # one score per overlapping patch


def test_least_squares_loss_and_image_pool():
    assert float(lsgan_loss(torch.tensor([1.0, 0.0]), real=True)) == pytest.approx(0.5)
    assert float(lsgan_loss(torch.tensor([1.0, 0.0]), real=False)) == pytest.approx(0.5)
    pool = ImagePool(size=2, rng=random.Random(1))
    first = pool.query(torch.zeros(2, 1, 1, 1))
    assert torch.equal(first, torch.zeros(2, 1, 1, 1)) and len(pool.images) == 2
    later = torch.cat([pool.query(torch.ones(1, 1, 1, 1)) for _ in range(40)])
    assert 0 < int((later == 0).sum()) < 40  # some old fakes come back, about half the time at first
    assert ImagePool(size=0).query(torch.ones(1)).tolist() == [1.0]


def test_generated_colours_are_read_as_the_nearest_class_and_scored():
    colours = torch.from_numpy(TRAIN_COLOURS[[0, 13, 10]]).float()  # road, car, sky
    image = (colours.T.reshape(1, 3, 1, 3) / 127.5 - 1) + 0.02  # slightly off each colour
    predicted = nearest_class(image)
    assert predicted.tolist() == [[[0, 13, 10]]]
    truth = torch.tensor([[[0, 13, 0]]])
    scores = segmentation_scores(confusion(predicted, truth))
    assert scores["pixel_accuracy"] == pytest.approx(2 / 3)
    assert scores["per_class_accuracy"] == pytest.approx((1 / 2 + 1) / 2)  # road 1 of 2, car 1 of 1
    assert scores["class_iou"] == pytest.approx((1 / 2 + 1 + 0) / 3)  # sky predicted, never true: IoU 0


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("c05")
    BENCHMARK.synthesize(path, TINY, seed=2)
    return path


def test_synthesized_scenes_are_cityscapes_with_the_major_classes(tiny_dir):
    train, val = read_split(tiny_dir, "train"), read_split(tiny_dir, "val")
    assert len(train) == 120 and len(val) == 32
    assert {f.photo.parent.name for f in train} == {"aachen", "bochum"}
    from aibench.datasets.cityscapes import train_ids
    present = set(train_ids(train[0].label_ids).ravel().tolist())
    assert {0, 10} <= present  # road and sky in every street scene
    assert BENCHMARK.check_data(tiny_dir, TINY)


def test_one_cycle_step_updates_both_generators_and_is_scored(tiny_dir):
    torch.manual_seed(0)
    bench = BENCHMARK(RunContext("tiny", TINY, tiny_dir, torch.device("cpu"), seed=0))
    bench.setup()
    before = [p.detach().clone() for p in (*bench.gen_ab.parameters(), *bench.gen_ba.parameters())]
    bench.train_mode(True)
    step = bench.train_step(next(iter(bench.train_batches(0))))
    assert {"adversarial", "cycle", "identity", "discriminator_a", "discriminator_b"} <= set(step.losses)
    after = list((*bench.gen_ab.parameters(), *bench.gen_ba.parameters()))
    assert all(not torch.equal(a, b) for a, b in zip(before[:1] + before[-1:], after[:1] + after[-1:]))
    bench.train_mode(False)
    quality = bench.evaluate()
    assert 0 <= quality.value <= 1 and {"per_class_accuracy", "class_iou"} <= set(quality.extra)
