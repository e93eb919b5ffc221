"""DC-AI-C5 CycleGAN: generator and PatchGAN structure, losses, image pool, the photo -> label scores, the
synthetic scenes and the benchmark on a small synthesized set."""

import dataclasses
import random

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from aibench.benchmarks.base import RunContext
from aibench.benchmarks.c05_image_to_image import SPEC
from aibench.benchmarks.c05_image_to_image.bench import BENCHMARK
from aibench.benchmarks.c05_image_to_image.data import (
    confusion, nearest_class, segmentation_scores, street_scene,
)
from aibench.benchmarks.c05_image_to_image.model import (
    ImagePool, PatchDiscriminator, ResidualBlock, ResnetGenerator, lsgan_loss, receptive_field,
)
from aibench.datasets.cityscapes import IGNORE, TRAIN_COLOURS

TINY = SPEC.scales["tiny"]
SMALL_SYNTH = dataclasses.replace(TINY, batch_size=2, inference_samples=3, hparams={
    **TINY.hparams, "synth_train_per_city": 2, "synth_val_per_city": 3, "width": 4, "blocks": 2})


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_generator_is_johnsons_network():
    g = ResnetGenerator(width=64, blocks=9)
    convs = [m for m in g.net if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert [(c.in_channels, c.out_channels, c.kernel_size[0], c.stride[0]) for c in convs] == [
        (3, 64, 7, 1), (64, 128, 3, 2), (128, 256, 3, 2), (256, 128, 3, 2), (128, 64, 3, 2), (64, 3, 7, 1)]
    assert sum(isinstance(m, ResidualBlock) for m in g.net) == 9
    assert any(isinstance(m, nn.InstanceNorm2d) for m in g.net) and isinstance(g.net[-1], nn.Tanh)
    small = ResnetGenerator(width=8, blocks=2)
    assert small(torch.randn(1, 3, 32, 32)).shape == (1, 3, 32, 32)


def test_discriminator_is_a_70x70_patchgan():
    d = PatchDiscriminator(64)
    assert receptive_field(d) == 70
    widths = [m.out_channels for m in d.net if isinstance(m, nn.Conv2d)]
    assert widths == [64, 128, 256, 512, 1]
    assert PatchDiscriminator(8)(torch.randn(2, 3, 256, 256)).shape == (2, 1, 30, 30)


def test_lsgan_loss():
    scores = torch.tensor([0.0, 1.0, 2.0])
    assert lsgan_loss(scores, True).item() == pytest.approx((1 + 0 + 1) / 3)
    assert lsgan_loss(scores, False).item() == pytest.approx((0 + 1 + 4) / 3)


def test_image_pool_fills_then_swaps_half_the_time():
    pool = ImagePool(2, random.Random(0))
    first = pool.query(torch.stack([torch.full((1,), 1.0), torch.full((1,), 2.0)]))
    assert first.flatten().tolist() == [1.0, 2.0]
    out = [float(pool.query(torch.full((1, 1), float(v)))) for v in range(3, 203)]
    from_history = sum(o != v for o, v in zip(out, range(3, 203)))
    assert 60 < from_history < 140  # about half come from the pool
    assert ImagePool(0).query(torch.ones(1, 1)).item() == 1.0


def test_nearest_class_reads_palette_colours():
    colours = torch.from_numpy(TRAIN_COLOURS[[0, 10, 13]]).float() / 127.5 - 1  # road, sky, car
    image = colours.T.reshape(1, 3, 1, 3) + 0.02
    assert nearest_class(image).tolist() == [[[0, 10, 13]]]


def test_segmentation_scores_by_hand():
    truth = torch.tensor([0, 0, 0, 1, IGNORE])
    predicted = torch.tensor([0, 0, 1, 1, 5])  # the ignored pixel does not count
    scores = segmentation_scores(confusion(predicted, truth))
    assert scores["pixel_accuracy"] == pytest.approx(3 / 4)
    assert scores["per_class_accuracy"] == pytest.approx((2 / 3 + 1) / 2)
    assert scores["class_iou"] == pytest.approx((2 / 3 + 1 / 2) / 2)


def test_street_scene_labels_use_cityscapes_ids():
    photo, labels = street_scene(np.random.default_rng(0), 64, 32)
    assert photo.shape == (32, 64, 3) and labels.shape == (32, 64)
    assert {23, 7, 11} <= set(np.unique(labels).tolist()) <= {1, 7, 8, 11, 21, 23, 26}
    assert labels[0].tolist().count(23) > 0 and labels[-1].tolist() == [1] * 64  # sky above, bonnet below


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("c05")
    BENCHMARK.synthesize(path, SMALL_SYNTH, seed=2)
    return path


def test_synthesize_and_check_data(synth_dir):
    assert (synth_dir / "leftImg8bit/train/aachen/aachen_000000_000019_leftImg8bit.png").is_file()
    assert (synth_dir / "gtFine/val/frankfurt/frankfurt_000002_000019_gtFine_labelIds.png").is_file()
    assert BENCHMARK.check_data(synth_dir, SMALL_SYNTH) == {"train_frames": 4, "val_frames": 3}


def test_bench_step_evaluate_infer(synth_dir):
    bench = BENCHMARK(RunContext("tiny", SMALL_SYNTH, synth_dir, torch.device("cpu"), seed=0))
    bench.setup()
    bench.train_mode(True)
    batch = next(iter(bench.train_batches(0)))
    assert batch[0].shape == (2, 3, 36, 36) and batch[0].dtype == torch.uint8
    before = [p.clone() for p in bench.disc_b.parameters()]
    out = bench.train_step(batch)
    assert out.samples == 2 and {"cycle", "identity", "adversarial", "discriminator_a"} <= set(out.losses)
    assert any(not torch.equal(a, b) for a, b in zip(before, bench.disc_b.parameters()))
    assert len(bench.pool_a.images) == 2
    bench.train_mode(False)
    quality = bench.evaluate()
    assert 0 <= quality.value <= 1 and set(quality.extra) == {"per_class_accuracy", "class_iou"}
    maps = bench.infer(bench.inference_samples())
    assert len(maps) == 3 and maps[0].shape == (32, 32)
    assert bench.score(range(3), maps).value == pytest.approx(quality.value)
    assert 0 <= bench.describe()["majority_pixel_accuracy"] <= 1


def test_the_gan_alone_control_has_no_cycle_term(synth_dir):
    """The control's generators learn from the adversarial loss alone: no image is translated back (no cycle
    term) nor through its own domain's generator (no identity term)."""
    bench = BENCHMARK(RunContext("tiny", SMALL_SYNTH, synth_dir, torch.device("cpu"), seed=0, control=True))
    bench.setup()
    bench.train_mode(True)
    real_a, real_b = bench._prepare(next(iter(bench.train_batches(0))))
    calls = []
    for generator in (bench.gen_ab, bench.gen_ba):
        generator.register_forward_hook(lambda module, inputs, output: calls.append(module))
    losses = bench._generator_losses(real_a, real_b)
    assert "cycle" not in losses and "identity" not in losses
    assert losses["total"] is losses["adversarial"]
    assert calls == [bench.gen_ab, bench.gen_ba]  # each generator once, on the other domain's real images
    out = bench.train_step(next(iter(bench.train_batches(0))))
    assert "cycle" not in out.losses and out.loss == pytest.approx(out.losses["adversarial"])


def test_initialize_decodes_no_image_and_prepare_data_decodes_them_on_the_clock(synth_dir, monkeypatch):
    """The untimed initialize() lists the frames only; the photos, label images and validation truth are decoded
    by prepare_data(), which the harness times; the majority-class baseline, which only the record needs, on
    first use."""
    bench = BENCHMARK(RunContext("tiny", SMALL_SYNTH, synth_dir, torch.device("cpu"), seed=0))
    decoded = []
    with monkeypatch.context() as patch:
        patch.setattr(Image, "open", lambda path, *a, **k: pytest.fail(f"initialize() decoded {path}"))
        bench.initialize()
    assert not hasattr(bench, "photos") and not hasattr(bench, "val_truth")
    assert bench.train_samples() == 4 and len(bench.query_rows) == 3
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda path, *a, **k: decoded.append(path) or real_open(path, *a, **k))
    bench.prepare_data()
    assert len(decoded) == 4 + 4 + 3 + 3  # train photos and colour labels, val photos and their label ids
    assert bench.photos.shape == (4, 3, 36, 36) and bench.val_truth.shape == (3, 32, 32)
    assert 0 <= bench.evaluate().value <= 1
    assert 0 <= bench.describe()["majority_class"] < 19 and len(decoded) == 14 + 4  # the 4 train label ids


def test_learning_rate_is_constant_then_linear():
    bench = BENCHMARK.__new__(BENCHMARK)
    bench.hp = {"constant_epochs": 100, "decay_epochs": 100}
    assert [round(bench.lr_factor(e), 3) for e in (0, 99, 100, 149, 199)] == [1.0, 1.0, 0.99, 0.505, 0.01]


# ----- the full configuration ------------------------------------------------------------------------------------
FULL = SPEC.scales["full"]
# junyanz/pytorch-CycleGAN-and-pix2pix: resnet_9blocks generator 11.378 M, 'basic' 70x70 PatchGAN 2.765 M (ngf=ndf=64)
GENERATOR, DISCRIMINATOR = 11_378_179, 2_764_737


def test_reference_models_on_the_meta_device_have_the_reference_size():
    with torch.device("meta"):
        models = BENCHMARK.reference_models(FULL)
    counts = {role: sum(p.numel() for p in m.parameters()) for role, m in models.items()}
    assert counts == {"generator_ab": GENERATOR, "generator_ba": GENERATOR, "discriminator_a": DISCRIMINATOR,
                      "discriminator_b": DISCRIMINATOR}
    assert SPEC.full_size.params == 2 * GENERATOR + 2 * DISCRIMINATOR


@pytest.mark.parametrize("scale", ["small", "full"])
def test_smoke_set_is_cityscapes_shaped_and_the_smoke_run_honours_the_eval_limit(tmp_path, scale):
    from aibench.harness.runner import synthesis_config
    from aibench.harness.smoke import smoke_config, smoke_context

    base = SPEC.scales[scale]
    BENCHMARK.synthesize(tmp_path, synthesis_config(base, scale), seed=0)
    assert BENCHMARK.check_data(tmp_path, base) == {"train_frames": 4, "val_frames": 2}
    photo = next((tmp_path / "leftImg8bit" / "val" / "frankfurt").iterdir())
    with Image.open(photo) as image:
        assert image.size == (512, 256)  # Cityscapes' 2:1 at the 256 px CycleGAN's Cityscapes set is made at
    cfg = smoke_config(base)
    bench = BENCHMARK(smoke_context(scale, base, tmp_path))
    bench.setup()
    assert bench.photos.shape == (4, 3, 286, 286) and bench.val_photos.shape == (cfg.smoke.eval_samples, 3, 256, 256)
    assert sum(p.numel() for m in bench.models().values() for p in m.parameters()) == SPEC.full_size.params
    # small trains on the first 1,000 frames: fewer is an adaptation the record keeps, not an error
    assert any("4 training frames, fewer than the 1000" in w for w in bench.ctx.warnings) == (scale == "small")
