"""DC-AI-C12 image compression: the recurrent coder's parts, its entropy coder, its rate figures, the MS-SSIM
window, the smooth-scene tiny set, the full-size shape, and the benchmark learning and scoring with torchmetrics."""

import dataclasses

import numpy as np
import pytest
import torch
from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as ms_ssim
from torchmetrics.functional.image import structural_similarity_index_measure as ssim

from aibench.benchmarks.base import RunContext
from aibench.benchmarks.c12_image_compression import SPEC
from aibench.benchmarks.c12_image_compression.bench import BENCHMARK, msssim_sigma
from aibench.benchmarks.c12_image_compression.entropy import BinaryContextModel, RasterMaskedConv2d
from aibench.characterize.flops import count_parameters
from aibench.harness.runner import synthesis_config
from aibench.harness.smoke import smoke_context
from aibench.benchmarks.c12_image_compression.data import (
    downsampled_images, downsampling_block, mean_colour_images, smooth_scene,
)
from aibench.benchmarks.c12_image_compression.model import (
    Binarizer, RecurrentCompressor, bits_per_pixel, entropy_bits_per_pixel, residual_l1_loss,
)
from aibench.errors import DataError

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = SPEC.scales["tiny"]
FULL_PARAMS = {"model": 35_467_555, "entropy_coder": 4_988_256}  # codec + progressive entropy coder at full


def tiny_model() -> RecurrentCompressor:
    return RecurrentCompressor(TINY.hparams["encoder_widths"], 32, TINY.hparams["decoder_widths"],
                               TINY.hparams["decoder_hidden_kernels"])


def _ssim_reach(**window) -> int:
    """Rows of the SSIM map a one-pixel change reaches: the window torchmetrics really uses."""
    image = torch.full((1, 1, 41, 41), 0.5)
    changed = image.clone()
    changed[0, 0, 20, 20] = 1.0
    _, full = ssim(changed, image, data_range=1.0, return_full_image=True, **window)
    _, same = ssim(image, image, data_range=1.0, return_full_image=True, **window)
    return int(((full - same)[0, 0].abs() > 1e-4).any(dim=1).sum())


def test_msssim_window_is_the_configured_one():
    # the old call (kernel_size alone) left torchmetrics' 11-pixel Gaussian in place
    assert _ssim_reach(kernel_size=5) == 11
    for window in (5, 11):
        assert _ssim_reach(kernel_size=window, sigma=msssim_sigma(window)) == window
    assert msssim_sigma(11) == 1.5
    with pytest.raises(ValueError):
        msssim_sigma(4)


def test_entropy_coder_sees_only_bits_coded_before():
    torch.manual_seed(0)
    coder = BinaryContextModel(bits=6, iterations=3).eval()
    codes = [torch.randint(0, 2, (1, 6, 5, 6)).float() * 2 - 1 for _ in range(3)]
    base = coder(codes)
    for row, col in ((2, 3), (0, 0), (4, 5)):
        flipped = [c.clone() for c in codes]
        flipped[1][0, :, row, col] *= -1
        out = coder(flipped)
        moved = ((out[1] - base[1]).abs().sum(dim=1)[0] > 0).nonzero().tolist()
        assert all((r, c) > (row, col) for r, c in moved)  # only later positions of the same iteration
        assert torch.equal(out[0], base[0])  # earlier iterations never see later ones
        assert not torch.equal(out[2], base[2])  # later iterations see every bit of earlier ones
    with pytest.raises(ValueError, match="iterations"):
        coder(codes * 2)


def test_masked_convolution_hides_the_centre_only_when_strict():
    strict, loose = RasterMaskedConv2d(1, 1, (3, 3), strict=True), RasterMaskedConv2d(1, 1, (1, 3), strict=False)
    assert strict.mask.tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert loose.mask.tolist() == [[1, 1, 0]]


def test_entropy_coder_learns_predictable_bits_below_their_raw_count():
    torch.manual_seed(0)
    coder = BinaryContextModel(bits=4, iterations=2)
    optimizer = torch.optim.Adam(coder.parameters(), lr=1e-2)
    # each row repeats one random bit per channel: predictable from the position to the left
    rows = torch.randint(0, 2, (16, 4, 4, 1)).float() * 2 - 1
    codes = [rows.expand(16, 4, 4, 4).contiguous(), -rows.expand(16, 4, 4, 4).contiguous()]
    raw = 2 * 4 * 4 * 4
    for _ in range(60):
        optimizer.zero_grad()
        coder.code_bits(codes).mean().backward()
        optimizer.step()
    assert float(coder.code_bits(codes).mean().detach()) < 0.5 * raw


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
    assert full.hparams["decoder_hidden_kernels"] == [1, 1, 3, 3]
    assert bits_per_pixel(full.hparams["bits"], full.hparams["iterations"]) == 2.0
    assert TINY.target > TINY.baseline + 0.03  # the 5x5 window scores the mean colour 0.58


def test_reference_models_have_the_full_size_on_the_meta_device():
    with torch.device("meta"):
        models = BENCHMARK.reference_models(SPEC.scales["full"])
    counts = count_parameters(models)
    assert {role: counts[role] for role in FULL_PARAMS} == FULL_PARAMS
    assert counts["total"] == SPEC.full_size.params == sum(FULL_PARAMS.values())


@pytest.mark.parametrize("scale", ["small", "full"])
def test_smoke_set_builds_the_full_model_and_limits_evaluation(scale, tmp_path):
    config = SPEC.scales[scale]
    BENCHMARK.synthesize(tmp_path, synthesis_config(config, scale), seed=1)
    synth = config.smoke.synth
    assert len(list((tmp_path / "train").iterdir())) == synth["synth_folders"]
    info = BENCHMARK.check_data(tmp_path, config)
    assert info["eval_images"] == synth["synth_folders"] * synth["synth_val_per_folder"]
    bench = BENCHMARK(smoke_context(scale, config, tmp_path))
    bench.setup()
    assert count_parameters(bench.models())["total"] == SPEC.full_size.params
    assert len(bench.val_images) == config.smoke.eval_samples
    assert any("validation images, fewer than" in w for w in bench.ctx.warnings)


def test_too_few_training_images_is_a_data_error(tiny_dir):
    big_batch = dataclasses.replace(TINY, batch_size=10_000)
    with pytest.raises(DataError, match="fewer than one batch"):
        BENCHMARK(RunContext("tiny", big_batch, tiny_dir, torch.device("cpu"), seed=0)).setup()


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
    assert after.value > max(before, details["mean_colour_baseline_ms_ssim"]) + 0.03
    assert after.extra["bpp"] == 0.5 and 0 < after.extra["bpp_entropy_order0"] <= 0.5
    assert 0 < after.extra["bpp_entropy"] < 0.6  # a cross-entropy: can exceed the raw rate only by a little
    samples = list(bench.inference_samples())[:6]
    outputs = bench.infer(samples)
    scored = bench.score(range(6), outputs)
    assert scored.value == pytest.approx(
        bench._ms_ssim(torch.stack([image for image, _ in outputs]), torch.stack(samples)), abs=1e-6)
    assert scored.value == pytest.approx(float(ms_ssim(
        (torch.stack([image for image, _ in outputs]) + 1) / 2, (torch.stack(samples) + 1) / 2, data_range=1.0,
        kernel_size=5, sigma=1.5 * 5 / 11, betas=tuple(TINY.hparams["msssim_betas"]))), abs=1e-6)
    assert scored.extra["bpp_entropy"] == pytest.approx(sum(bpp for _, bpp in outputs) / 6)


def test_learning_rate_steps_down_at_the_milestones(tiny_dir):
    bench = BENCHMARK(RunContext("tiny", TINY, tiny_dir, torch.device("cpu"), seed=0))
    bench.setup()
    hp = TINY.hparams
    for epoch, expected in ((0, hp["lr"]), (hp["lr_milestones"][0], hp["lr"] * hp["lr_gamma"]), (1, hp["lr"])):
        next(iter(bench.train_batches(epoch)))
        assert bench.optimizer.param_groups[0]["lr"] == pytest.approx(expected)


# ----- initialization (untimed) and data preparation (timed) ----------------------------------------------
def test_initialize_decodes_no_image_and_prepare_data_decodes_the_evaluation_set(tiny_dir, monkeypatch):
    from aibench.datasets import imagefolder
    decoded = []
    load_rgb = imagefolder.load_rgb

    def counting(path):
        decoded.append(path)
        return load_rgb(path)

    monkeypatch.setattr(imagefolder, "load_rgb", counting)
    bench = BENCHMARK(RunContext("tiny", TINY, tiny_dir, torch.device("cpu"), seed=0))
    bench.initialize()
    assert decoded == [] and not hasattr(bench, "val_images")  # listing only, before the clock
    bench.prepare_data()
    val = sorted((tiny_dir / "val").rglob("*.JPEG"))
    assert sorted(decoded) == val and bench.val_images.shape == (len(val), 3, *(TINY.hparams["eval_size"],) * 2)
    assert bench.val_images.min() >= -1 and bench.val_images.max() <= 1
