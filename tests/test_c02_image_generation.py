"""DC-AI-C2 image generation (WGAN, MLP generator and critic): data, schedule, metric, learning, inference."""

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from aibench.benchmarks.base import RunContext
from aibench.benchmarks.c02_image_generation.bench import BENCHMARK, nearest_neighbour_rmse
from aibench.benchmarks.c02_image_generation.data import TRAIN_LMDB, VAL_LMDB
from aibench.benchmarks.c02_image_generation.model import MLPCritic, MLPGenerator, em_estimate
from aibench.datasets.lsun import LmdbImages, encode_jpeg, write_lmdb
from aibench.errors import DataError

TINY = BENCHMARK.SPEC.scales["tiny"]
# a smaller tiny, so each test takes well under a second or two
SMALL_HP = {"synth_train_images": 192, "synth_val_images": 48, "eval_images": 48, "hidden": 64,
            "eval_critic_steps": 4, "eval_critic_images": 128}


def _config(**hparams):
    return dataclasses.replace(TINY, batch_size=16, inference_samples=8,
                               hparams={**TINY.hparams, **SMALL_HP, **hparams})


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("c02")
    BENCHMARK.synthesize(path, _config(), seed=3)
    return path


def _bench(data_dir, seed=0, **hparams):
    cfg = _config(**hparams)
    torch.manual_seed(seed)
    bench = BENCHMARK(RunContext("tiny", cfg, data_dir, torch.device("cpu"), seed))
    bench.setup()
    return bench


# ----- data ---------------------------------------------------------------------------------------------
def test_synthesis_writes_lsun_lmdb_exports(synthetic_dir):
    for name, count in ((TRAIN_LMDB, 192), (VAL_LMDB, 48)):
        assert sorted(p.name for p in (synthetic_dir / name).iterdir()) == ["data.mdb", "lock.mdb"]
        images = LmdbImages(synthetic_dir / name)
        assert len(images) == count and all(len(k) == 40 for k in images.keys())
        assert images.read(0)[:2] == b"\xff\xd8"  # JPEG
    summary = BENCHMARK.check_data(synthetic_dir, _config())
    assert (summary["train_images"], summary["heldout_images"]) == (192, 48)


def test_synthesis_is_deterministic(tmp_path):
    contents = []
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        BENCHMARK.synthesize(tmp_path / name, _config(synth_train_images=8, synth_val_images=2), seed)
        images = LmdbImages(tmp_path / name / TRAIN_LMDB)
        contents.append([images.read(i) for i in range(len(images))])
    assert contents[0] == contents[1]
    assert contents[0] != contents[2]


def test_synthetic_rooms_have_learnable_structure(synthetic_dir):
    """Wall above, floor below, and a bed: rows differ far more between the halves than within them."""
    bench = _bench(synthetic_dir)
    images = bench.train_images
    assert images.shape[1:] == (3, 16, 16) and images.min() >= -1 and images.max() <= 1
    top, bottom = images[:, :, :4].mean((2, 3)), images[:, :, -3:].mean((2, 3))
    assert (top - bottom).abs().mean() > 0.3
    assert images[:, :, :4].std((2, 3)).mean() < 0.1  # the wall is one colour


def test_image_folder_is_an_alternative_layout(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(60):
        colour = tuple(int(c) for c in rng.integers(0, 255, 3))
        Image.new("RGB", (40, 30), colour).save(tmp_path / f"room{i:02d}.{'png' if i % 2 else 'jpg'}")
    summary = BENCHMARK.check_data(tmp_path, _config(eval_images=10))
    assert summary["train_images"] == 50 and summary["heldout_images"] == 10
    bench = _bench(tmp_path, eval_images=10)
    assert bench.heldout.shape == (10, 3, 16, 16)


def test_missing_data_directory_names_it(tmp_path):
    with pytest.raises(DataError, match="nowhere: missing; expected bedroom_train_lmdb"):
        BENCHMARK.check_data(tmp_path / "nowhere", _config())


def test_empty_directory_names_the_expected_layout(tmp_path):
    with pytest.raises(DataError, match=f"{tmp_path}: holds no LSUN LMDB export and no images"):
        BENCHMARK.check_data(tmp_path, _config())


def test_partial_lmdb_export_names_data_mdb(tmp_path):
    (tmp_path / TRAIN_LMDB).mkdir()
    (tmp_path / TRAIN_LMDB / "lock.mdb").write_bytes(b"")
    with pytest.raises(DataError, match=rf"{TRAIN_LMDB}/data\.mdb: missing"):
        BENCHMARK.check_data(tmp_path, _config())


def test_empty_lmdb_export_is_an_error(tmp_path):
    write_lmdb(tmp_path / TRAIN_LMDB, [])
    with pytest.raises(DataError, match=rf"{TRAIN_LMDB}/data\.mdb: .*no images"):
        BENCHMARK.check_data(tmp_path, _config())


def test_corrupt_image_in_export_is_found_by_check_data(tmp_path):
    good = encode_jpeg(Image.new("RGB", (20, 20), (9, 9, 9)))
    write_lmdb(tmp_path / TRAIN_LMDB, [(b"0" * 40, b"not a jpeg"), (b"1" * 40, good)])
    write_lmdb(tmp_path / VAL_LMDB, [(b"2" * 40, good)])
    with pytest.raises(DataError, match=rf"{TRAIN_LMDB}/data\.mdb \[key 0{{40}}\]: not a decodable"):
        BENCHMARK.check_data(tmp_path, _config())


def test_a_smaller_export_than_the_scale_assumes_is_used_with_a_warning(synthetic_dir):
    bench = _bench(synthetic_dir, eval_images=60, max_train_images=1000)
    assert len(bench.heldout) == 48 and len(bench.train_set) == 192
    assert bench.ctx.warnings == ["LSUN: 48 held-out images, fewer than the 60 this scale evaluates",
                                  "LSUN: 192 training images, fewer than the 1000 this scale trains on"]
    assert _bench(synthetic_dir).ctx.warnings == []


def test_too_few_images_to_hold_out_is_an_error(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "only.png")
    with pytest.raises(DataError, match="holds 1 images; need more than the 48"):
        BENCHMARK.check_data(tmp_path, _config())


def test_initialize_only_indexes_the_images_and_the_timed_preparation_decodes_them(synthetic_dir, tmp_path,
                                                                                    monkeypatch):
    """The untimed initialize() splits the export's keys and builds the GAN; decoding the held-out images and
    the (preloaded) training images happens in prepare_data(), inside the clock."""
    from aibench.datasets import lsun

    def untouched(*args, **kwargs):
        raise AssertionError("an image decoded during the untimed initialization")

    monkeypatch.setattr(lsun, "decode_image", untouched)
    torch.manual_seed(0)
    bench = BENCHMARK(RunContext("tiny", _config(), synthetic_dir, torch.device("cpu"), 0, cache_dir=tmp_path))
    bench.initialize()
    assert not hasattr(bench, "heldout") and not hasattr(bench, "train_images")
    assert len(bench.train_set) == 192 and len(bench.eval_noise) == len(bench.heldout_set) == 48
    assert bench.train_set.source._keys is not None  # LSUN's keys are listed: indexing, not reading
    monkeypatch.undo()
    bench.prepare_data()
    size = TINY.hparams["image_size"]
    assert bench.heldout.shape == (48, 3, size, size) and bench.train_images.shape == (192, 3, size, size)
    assert len(bench.eval_critic_images) == 128 and bench.train_samples() == 192
    reference = _bench(synthetic_dir)  # setup(): the same images, weights and evaluation noise
    assert torch.equal(bench.heldout, reference.heldout) and torch.equal(bench.train_images, reference.train_images)
    assert torch.equal(bench.eval_noise, reference.eval_noise)
    assert bench.training_estimate() == reference.training_estimate()


# ----- metric -------------------------------------------------------------------------------------------
class _SumCritic(nn.Module):
    def forward(self, x):
        return x.flatten(1).sum(1)


def test_em_estimate_by_hand():
    # real: two images of 12 pixels with sums 6 and 12 (mean 9); fake: sums -3 and 3 (mean 0) -> 9
    real = torch.stack([torch.full((3, 2, 2), 0.5), torch.full((3, 2, 2), 1.0)])
    fake = torch.stack([torch.full((3, 2, 2), -0.25), torch.full((3, 2, 2), 0.25)])
    assert float(em_estimate(_SumCritic(), real, fake)) == pytest.approx(9.0)
    assert float(em_estimate(_SumCritic(), fake, real)) == pytest.approx(-9.0)


def test_nearest_neighbour_rmse_by_hand():
    # one-pixel images in [-1, 1], i.e. [0, 1] after /2: queries 0 and 1, references 0.25 and -1
    queries, references = torch.tensor([[0.0], [1.0]]), torch.tensor([[0.25], [-1.0]])
    # query 0 -> nearest 0.25 at 0.125; query 1 -> nearest 0.25 at 0.375; mean 0.25
    assert nearest_neighbour_rmse(queries, references) == pytest.approx(0.25)
    # reference 0.25 -> 0.125; reference -1 -> query 0 at 0.5; mean 0.3125
    assert nearest_neighbour_rmse(references, queries) == pytest.approx(0.3125)


def test_quality_is_zero_when_fakes_are_the_held_out_images(synthetic_dir):
    bench = _bench(synthetic_dir)
    quality = bench._quality(bench.heldout)
    assert quality.value == pytest.approx(0.0, abs=1e-5)
    assert quality.extra["nn_rmse_fake_to_real"] == pytest.approx(0.0, abs=1e-3)


def test_evaluation_is_reproducible_and_leaves_training_untouched(synthetic_dir):
    bench = _bench(synthetic_dir)
    critic_before = [p.clone() for p in bench.critic.parameters()]
    noise_state = bench.noise_gen.get_state()
    first, second = bench.evaluate(), bench.evaluate()
    assert first.value == second.value and first.extra == second.extra
    assert first.extra["em_evaluation_critic"] > 0  # untrained generator: clearly not the data
    assert all(torch.equal(a, b) for a, b in zip(critic_before, bench.critic.parameters()))
    assert torch.equal(noise_state, bench.noise_gen.get_state())


def test_quality_is_the_training_critics_estimate_and_the_evaluation_critic_an_extra(synthetic_dir):
    """A training critic that outputs a constant reads EM 0: that is the quality (the paper's measure); the
    evaluation critic in extra does not depend on it."""
    bench = _bench(synthetic_dir)
    before = bench.evaluate()
    assert before.value == pytest.approx(bench.training_estimate())
    with torch.no_grad():
        for p in bench.critic.parameters():
            p.zero_()
    after = bench.evaluate()
    assert after.value == 0.0
    assert after.extra["em_evaluation_critic"] == before.extra["em_evaluation_critic"] > 0


def _step_to_generator_iteration(bench, g):
    batch = bench.train_images[:16]
    while bench.generator_iterations < g:
        bench.train_step(batch)


BURSTS = {"critic_burst_iters": 4, "critic_burst_first": 2, "critic_burst_every": 4, "n_critic": 2}


def test_an_estimate_near_zero_before_the_warm_up_does_not_meet_the_target(synthetic_dir):
    """Before the critic has learned, its estimate reads about 0, below any positive target: no evaluation is
    counts, so it cannot end the run."""
    bench = _bench(synthetic_dir)
    assert abs(bench.training_estimate()) < TINY.target
    assert BENCHMARK.SPEC.meets_target(bench.training_estimate(), TINY.target)  # what would end the run
    assert not bench.target_counts() and not bench.evaluate().counts


def test_target_counts_after_a_refresh_burst_once_the_estimate_rose_above_it(synthetic_dir):
    cfg = dataclasses.replace(_config(**BURSTS), target=0.0)
    torch.manual_seed(0)
    bench = BENCHMARK(RunContext("tiny", cfg, synthetic_dir, torch.device("cpu"), 0))
    bench.setup()
    _step_to_generator_iteration(bench, 2)  # the warm-up's two bursts: trained, but not yet refreshed
    assert bench.peak_estimate > 0 and not bench.target_counts()
    _step_to_generator_iteration(bench, 4)  # regular rounds: a lagging critic must not count either
    assert not bench.target_counts()
    _step_to_generator_iteration(bench, 5)  # the burst at generator iteration 4 refreshes the critic
    assert bench.critic_trained_at == 4 and bench.target_counts()
    assert bench.describe()["critic_trained_at_generator_iteration"] == 4


def test_target_never_counts_while_the_estimate_stays_below_it(synthetic_dir):
    """An estimate that never rose above the target says the critic never learned, not that the generator is
    good (a dead critic reads 0 from the start)."""
    bench = _bench(synthetic_dir, **BURSTS)
    with torch.no_grad():
        for p in bench.critic.parameters():
            p.zero_()
    for group in bench.critic_opt.param_groups:
        group["lr"] = 0.0
    _step_to_generator_iteration(bench, 9)
    assert bench.critic_trained_at == 4 and bench.peak_estimate == 0.0
    assert not bench.target_counts()


def test_a_trained_critic_reads_the_untrained_generator_far_above_the_tiny_target(tmp_path):
    """The tiny target must be a quality the untrained generator does not have: the training critic, after the
    warm-up's critic steps against it, reads about the spec's baseline."""
    BENCHMARK.synthesize(tmp_path, TINY, seed=11)
    torch.manual_seed(11)
    bench = BENCHMARK(RunContext("tiny", TINY, tmp_path, torch.device("cpu"), 11))
    bench.setup()
    hp = TINY.hparams
    batches = iter(())
    for _ in range(hp["critic_burst_first"] * hp["critic_burst_iters"]):
        batch = next(batches, None)
        if batch is None:
            batches = iter(bench.train_batches(0))
            batch = next(batches)
        bench._critic_step(batch)
    estimate = bench.training_estimate()
    assert estimate > 2 * TINY.target
    assert estimate == pytest.approx(TINY.baseline, rel=0.3)


# ----- training -----------------------------------------------------------------------------------------
def test_streamed_batches_decode_in_worker_processes(synthetic_dir):
    """small/full stream LSUN from the LMDB export through DataLoader workers instead of holding it."""
    bench = _bench(synthetic_dir, preload=False, workers=1, eval_critic_images=32)
    assert bench.train_images is None and len(bench.eval_critic_images) == 32
    batches = list(bench.train_batches(0))
    assert len(batches) == 192 // 16 and batches[0].shape == (16, 3, 16, 16)
    assert not torch.equal(batches[0], list(bench.train_batches(1))[0])  # reshuffled every epoch
    assert bench.train_step(batches[0]).samples == 16


def test_critic_schedule_follows_the_reference(synthetic_dir):
    bench = _bench(synthetic_dir, critic_burst_iters=7, critic_burst_first=2, critic_burst_every=4, n_critic=3)
    batch = bench.train_images[:16]
    steps_at_generator_step = []
    for step in range(1, 40):
        before = bench.generator_iterations
        bench.train_step(batch)
        if bench.generator_iterations > before:
            steps_at_generator_step.append(step)
    # bursts of 7 for generator iterations 0, 1 (first 2) and 4, 8 (every 4th); otherwise 3
    assert steps_at_generator_step == [7, 14, 17, 20, 27, 30, 33, 36]


def test_weights_stay_clipped(synthetic_dir):
    bench = _bench(synthetic_dir)
    for batch in list(bench.train_batches(0))[:3]:
        bench.train_step(batch)
    clip = bench.hp["clip"]
    assert all(p.abs().max() <= clip for p in bench.critic.parameters())


def test_critic_loss_falls_on_a_fixed_batch(synthetic_dir):
    bench = _bench(synthetic_dir)
    batch = next(iter(bench.train_batches(0)))
    losses = [bench.train_step(batch).loss for _ in range(8)]
    assert all(later < earlier for earlier, later in zip(losses, losses[1:])), losses


def test_generator_steps_raise_the_critic_score_of_fakes(synthetic_dir):
    bench = _bench(synthetic_dir)
    for batch in bench.train_batches(0):  # a critic that tells real from (untrained) fake
        bench._critic_step(batch)
    noise = torch.randn(64, bench.hp["noise_dim"], generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        before = float(bench.critic(bench.generator(noise)).mean())
    for _ in range(5):
        bench._generator_step(64)
    with torch.no_grad():
        after = float(bench.critic(bench.generator(noise)).mean())
    assert after > before


# ----- inference and characterization -------------------------------------------------------------------
def test_inference_generates_images_from_noise(synthetic_dir):
    bench = _bench(synthetic_dir)
    samples = bench.inference_samples()
    assert len(samples) == 8 and samples[0].shape == (100,)
    assert all(torch.equal(a, b) for a, b in zip(samples, bench.inference_samples()))
    outputs = bench.infer(samples[:3])
    assert len(outputs) == 3 and outputs[0].shape == (3, 16, 16)
    assert all(o.abs().max() <= 1 for o in outputs)
    quality = bench.score(range(3), outputs)
    assert set(quality.extra) >= {"em_evaluation_critic", "nn_rmse_fake_to_real", "nn_rmse_real_to_fake"}
    assert quality.extra["em_evaluation_critic"] > 0


def test_training_example_counts_critic_and_generator_passes(synthetic_dir):
    from aibench.characterize.flops import characterize_compute

    bench = _bench(synthetic_dir)
    info = characterize_compute(bench)
    assert set(info["params"]) == {"generator", "critic", "total"}
    assert info["flops_train_per_sample"] > 3 * info["flops_inference_per_sample"]
    assert all(p.grad is None for p in bench.critic.parameters())


def test_four_layer_relu_mlps_critic_without_sigmoid_generator_with_tanh():
    critic, generator = MLPCritic(hidden=8, image_size=4), MLPGenerator(noise_dim=5, hidden=8, image_size=4)
    for net in (critic.net, generator.net):
        assert [m.out_features for m in net if isinstance(m, nn.Linear)][:3] == [8, 8, 8]
        assert sum(isinstance(m, nn.ReLU) for m in net) == 3
    assert isinstance(critic.net[-1], nn.Linear) and isinstance(generator.net[-1], nn.Tanh)
    assert generator(torch.randn(2, 5)).shape == (2, 3, 4, 4) and critic(torch.rand(2, 3, 4, 4)).shape == (2,)


# ----- the full configuration -------------------------------------------------------------------------------
FULL = BENCHMARK.SPEC.scales["full"]
FULL_PARAMS = 13_698_561  # WassersteinGAN models/mlp.py: MLP_G 6,880,768 + MLP_D 6,817,793 at 64x64x3


def test_reference_models_on_the_meta_device_have_the_reference_size():
    with torch.device("meta"):
        models = BENCHMARK.reference_models(FULL)
    counts = {role: sum(p.numel() for p in m.parameters()) for role, m in models.items()}
    assert counts == {"generator": 6_880_768, "critic": 6_817_793}
    assert BENCHMARK.SPEC.full_size.params == FULL_PARAMS == sum(counts.values())


def test_full_smoke_set_is_lsun_shaped_and_builds_the_reference_models(tmp_path):
    from aibench.harness.runner import synthesis_config
    from aibench.harness.smoke import smoke_config, smoke_context

    BENCHMARK.synthesize(tmp_path, synthesis_config(FULL, "full"), seed=0)
    summary = BENCHMARK.check_data(tmp_path, FULL)
    assert summary["heldout_images"] == 300  # LSUN's bedroom_val_lmdb
    cfg = smoke_config(FULL)
    bench = BENCHMARK(smoke_context("full", FULL, tmp_path))
    bench.setup()
    assert sum(p.numel() for m in bench.models().values() for p in m.parameters()) == FULL_PARAMS
    assert bench.heldout.shape == (cfg.smoke.eval_samples, 3, 64, 64)
    assert bench.train_images is None  # full streams LSUN from the export
