"""DC-AI-C12 image compression: the recurrent coder's parts, its rate figures, the smooth-scene tiny set, and
the benchmark learning and scoring with torchmetrics' MS-SSIM."""

import numpy as np
import pytest
import torch

from aibench.benchmarks.base import RunContext
from aibench.benchmarks.c12_image_compression import SPEC
from aibench.benchmarks.c12_image_compression.bench import BENCHMARK
from aibench.benchmarks.c12_image_compression.data import (
    downsampled_images, downsampling_block, mean_colour_images, smooth_scene,
)
from aibench.benchmarks.c12_image_compression.model import (
    Binarizer, RecurrentCompressor, bits_per_pixel, entropy_bits_per_pixel, residual_l1_loss,
)
from aibench.errors import DataError

TINY = SPEC.scales["tiny"]


def tiny_model() -> RecurrentCompressor:
    return RecurrentCompressor(TINY.hparams["encoder_widths"], 32, TINY.hparams["decoder_widths"])


def test_each_iteration_codes_32_bits_per_16x16_block_and_reconstructs_the_whole_image():
    model = tiny_model().eval()
    images = torch.rand(2, 3, 48, 32) * 2 - 1
    reconstructions, codes = model(images, iterations=3)
    assert len(reconstructions) == len(codes) == 3
    assert all(r.shape == images.shape for r in reconstructions)
    assert all(c.shape == (2, 32, 3, 2) for c in codes)
    assert all(set(c.unique().tolist()) <= {-1.0, 1.0} for c in codes)  # sign at test time


def test_later_iterations_code_the_residual_left_by_earlier_ones():
    torch.manual_seed(0)
    model = tiny_model().eval()
    images = torch.rand(1, 3, 32, 32) * 2 - 1
    seen = []
    original_forward = model.encoder.forward
    model.encoder.forward = lambda x, states: (seen.append(x.clone()), original_forward(x, states))[1]
    reconstructions, _ = model(images, iterations=2)
    assert torch.equal(seen[0], images)
    assert torch.allclose(seen[1], images - reconstructions[0])


def test_image_sides_must_be_multiples_of_16():
    with pytest.raises(ValueError, match="multiples of 16"):
        tiny_model()(torch.zeros(1, 3, 40, 32), iterations=1)


def test_stochastic_binarizer_is_unbiased_with_a_straight_through_gradient():
    torch.manual_seed(0)
    binarizer = Binarizer(4, 8)
    features = torch.randn(1, 4, 1, 1, requires_grad=True)
    expected = torch.tanh(binarizer.project(features)).detach()
    draws = torch.stack([binarizer(features) for _ in range(4000)])
    assert torch.allclose(draws.detach().abs(), torch.ones(()), atol=1e-6)  # +-1 (straight-through rounding)
    assert torch.allclose(draws.mean(0).detach(), expected, atol=0.05)
    binarizer(features).sum().backward()
    assert features.grad is not None and features.grad.abs().sum() > 0


def test_loss_is_the_mean_l1_residual_over_iterations():
    images = torch.zeros(1, 3, 4, 4)
    loss = residual_l1_loss(images, [torch.full_like(images, 0.5), torch.full_like(images, 0.1)])
    assert float(loss) == pytest.approx(0.3)


def test_rates_raw_and_order0_entropy():
    assert bits_per_pixel(32, 16) == 2.0 and bits_per_pixel(32, 4) == 0.5
    constant = [torch.ones(10, 32, 2, 2)] * 4
    assert entropy_bits_per_pixel(constant) == pytest.approx(0.0, abs=1e-6)
    coin = [torch.randint(0, 2, (500, 32, 2, 2)).float() * 2 - 1 for _ in range(4)]
    assert entropy_bits_per_pixel(coin) == pytest.approx(bits_per_pixel(32, 4), rel=0.01)


def test_reference_codes():
    assert downsampling_block(0.5) == 8 and downsampling_block(2.0) == 4 and downsampling_block(0.1) == 16
    flat = torch.full((1, 3, 16, 16), 0.2)
    assert torch.allclose(mean_colour_images(flat), flat)
    assert torch.allclose(downsampled_images(flat, 8), flat, atol=1 / 127.5)


def test_reference_configuration_is_the_papers():
    full = SPEC.scales["full"]
    assert full.target == 0.99 and full.hparams["iterations"] == 16 and full.hparams["bits"] == 32
    assert full.hparams["encoder_widths"] == [64, 256, 512, 512]
    assert full.hparams["decoder_widths"] == [512, 512, 256, 128]
    assert bits_per_pixel(full.hparams["bits"], full.hparams["iterations"]) == 2.0
    assert TINY.target > TINY.baseline + 0.3


def test_smooth_scenes_vary_and_have_no_pixel_noise():
    rng = np.random.default_rng(0)
    first, second = smooth_scene(rng, (54, 72)), smooth_scene(rng, (54, 72))
    assert first.dtype == np.uint8 and 54 <= first.shape[0] <= 72 and first.shape[2] == 3
    assert first.shape != second.shape or not np.array_equal(first, second)
    # smooth: neighbouring pixels differ little almost everywhere (soft edges, no noise)
    steps = np.abs(np.diff(first.astype(int), axis=1))
    assert np.median(steps) <= 2


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("c12")
    BENCHMARK.synthesize(path, TINY, seed=5)
    return path


def test_synthesized_set_is_in_the_imagenet_layout(tiny_dir):
    hp = TINY.hparams
    train = sorted((tiny_dir / "train").glob("n9*/n9*_*.JPEG"))
    val = sorted((tiny_dir / "val").glob("n9*/ILSVRC2012_val_*.JPEG"))
    assert len(train) == hp["synth_folders"] * hp["synth_train_per_folder"]
    assert len(val) == hp["synth_folders"] * hp["synth_val_per_folder"]
    assert BENCHMARK.check_data(tiny_dir, TINY) == {"train_images": len(train), "eval_images": len(val)}


def test_check_data_names_a_corrupt_evaluation_image(tiny_dir, tmp_path):
    import shutil
    copy = tmp_path / "imagenet"
    shutil.copytree(tiny_dir, copy)
    broken = sorted((copy / "val").rglob("*.JPEG"))[7]
    broken.write_bytes(broken.read_bytes()[:40])
    with pytest.raises(DataError) as err:
        BENCHMARK.check_data(copy, TINY)
    assert err.value.path == str(broken)


def test_benchmark_learns_beyond_the_mean_colour_and_scores_with_torchmetrics(tiny_dir):
    torch.manual_seed(0)
    bench = BENCHMARK(RunContext("tiny", TINY, tiny_dir, torch.device("cpu"), seed=0))
    bench.setup()
    details = bench.describe()
    assert details["mean_colour_baseline_ms_ssim"] < details["downsampling_reference"]["ms_ssim"]
    before = bench.evaluate().value
    bench.train_mode(True)
    for epoch in range(3):
        for batch in bench.train_batches(epoch):
            bench.train_step(batch)
    bench.train_mode(False)
    after = bench.evaluate()
    assert after.samples == len(bench.val_images)
    assert after.value > max(before, details["mean_colour_baseline_ms_ssim"]) + 0.05
    assert after.extra["bpp"] == 0.5 and 0 < after.extra["bpp_entropy_order0"] <= 0.5
    samples = list(bench.inference_samples())[:6]
    outputs = bench.infer(samples)
    assert bench.score(range(6), outputs).value == pytest.approx(
        bench._ms_ssim(torch.stack(outputs), torch.stack(samples)), abs=1e-6)


def test_learning_rate_steps_down_at_the_milestones(tiny_dir):
    bench = BENCHMARK(RunContext("tiny", TINY, tiny_dir, torch.device("cpu"), seed=0))
    bench.setup()
    hp = TINY.hparams
    for epoch, expected in ((0, hp["lr"]), (hp["lr_milestones"][0], hp["lr"] * hp["lr_gamma"]), (1, hp["lr"])):
        next(iter(bench.train_batches(epoch)))
        assert bench.optimizer.param_groups[0]["lr"] == pytest.approx(expected)
