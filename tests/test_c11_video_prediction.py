"""DC-AI-C11: CDNA's structural parts, scheduled sampling, the per-frame MSE metric, the synthetic pushing set."""

import dataclasses

import numpy as np
import pytest
import torch

from aibench import registry
from aibench.benchmarks.c11_video_prediction import SPEC
from aibench.benchmarks.base import RunContext
from aibench.benchmarks.c11_video_prediction.bench import VideoPrediction
from aibench.benchmarks.c11_video_prediction.data import (
    copy_last_frame, frame_mse, prediction_quality, synthesize_scene)
from aibench.benchmarks.c11_video_prediction.model import (
    CDNA, cdna_transform, ground_truth_share, normalized_kernels)
from aibench.characterize.flops import count_parameters
from aibench.datasets.robot_push import read_sequences, split_files
from aibench.errors import DataError
from aibench.harness.runner import RunOptions, build

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = SPEC.scale("tiny")
SMALL_MODEL = {"image_size": 16, "lstm_sizes": (4, 4, 8, 8, 8, 8, 4), "num_masks": 3, "context_frames": 2}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("c11")
    hp = {**TINY.hparams, "synth_train": 16, "synth_test": 8, "synth_shards": 2}
    VideoPrediction.synthesize(path, TINY.__class__(**{**TINY.__dict__, "hparams": hp}), seed=3)
    return path


@pytest.fixture(scope="module")
def bench(data_dir):
    torch.manual_seed(0)
    b = build(registry.card("C11"), RunOptions(scale="tiny", device="cpu"), data_dir, seed=0)
    b.setup()
    return b


# ----- model parts ---------------------------------------------------------------------------------------------
def test_cdna_transform_identity_and_shift_by_hand():
    image = torch.arange(2 * 3 * 4 * 4, dtype=torch.float32).view(2, 3, 4, 4)
    identity = torch.zeros(2, 2, 3, 3)
    identity[:, :, 1, 1] = 1
    identity[1, 1] = 0
    identity[1, 1, 1, 0] = 1  # sample 1, kernel 1 takes the left neighbour: the image moves one pixel right
    out = cdna_transform(image, identity)
    assert out.shape == (2, 2, 3, 4, 4)
    torch.testing.assert_close(out[0, 0], image[0])
    torch.testing.assert_close(out[1, 0], image[1])
    torch.testing.assert_close(out[1, 1][..., 1:], image[1][..., :-1])
    torch.testing.assert_close(out[1, 1][..., 0], torch.zeros(3, 4))  # zero padding enters at the edge


def test_cdna_kernels_are_positive_and_normalized():
    k = normalized_kernels(torch.randn(4, 10 * 25) * 3, 10, 5)
    assert k.shape == (4, 10, 5, 5)
    assert (k > 0).all()
    torch.testing.assert_close(k.sum((2, 3)), torch.ones(4, 10))


def test_scheduled_sampling_share_decays_from_k_over_k_plus_one():
    assert ground_truth_share(0, 900.0) == pytest.approx(900 / 901)
    assert ground_truth_share(900 * np.log(900), 900.0) == pytest.approx(0.5)
    assert ground_truth_share(10**7, 900.0) == pytest.approx(0.0)


def test_model_shapes_masks_and_state():
    torch.manual_seed(0)
    model = CDNA(**SMALL_MODEL)
    images, actions, states = torch.rand(3, 5, 3, 16, 16), torch.randn(3, 5, 5), torch.randn(3, 5, 5)
    gen_images, gen_states = model(images, actions, states)
    assert gen_images.shape == (3, 4, 3, 16, 16) and gen_states.shape == (3, 4, 5)
    assert model.masks.out_channels == 3 + 2  # background, scratch image, one per CDNA kernel
    assert model.cdna_kernels.out_features == 3 * 25
    # the prediction is a convex combination of images in [0, 1]
    assert gen_images.min() >= 0 and gen_images.max() <= 1 + 1e-6


def test_context_frames_and_scheduled_sampling_decide_what_is_seen():
    torch.manual_seed(0)
    model = CDNA(**SMALL_MODEL).eval()
    images, actions, states = torch.rand(2, 5, 3, 16, 16), torch.randn(2, 5, 5), torch.randn(2, 5, 5)
    changed = images.clone()
    changed[:, 2:] = torch.rand(2, 3, 3, 16, 16)  # frames after the context
    with torch.no_grad():
        base = model(images, actions, states, ground_truth=0.0)[0]
        torch.testing.assert_close(model(changed, actions, states, ground_truth=0.0)[0], base)  # never seen
        teacher = model(images, actions, states, ground_truth=1.0)[0]
        assert not torch.allclose(model(changed, actions, states, ground_truth=1.0)[0][:, 2:], teacher[:, 2:])
        moved = actions.clone()
        moved[:, 0, :2] += 1.0
        assert not torch.allclose(model(images, moved, states)[0][:, 0], base[:, 0])  # the action matters


# ----- metric and baseline -------------------------------------------------------------------------------------
def test_frame_mse_sums_over_a_frame_by_hand():
    pred, target = torch.zeros(2, 3, 3, 4, 4), torch.full((2, 3, 3, 4, 4), 0.5)
    assert frame_mse(pred, target) == pytest.approx(0.25 * 48)
    target[0, 0, 0, 0, 0] = 1.5  # one value off by 1.5 instead of 0.5 in one of 6 frames: + (2.25 - 0.25) / 6
    assert frame_mse(pred, target) == pytest.approx(0.25 * 48 + 2.0 / 6)
    q = prediction_quality(torch.zeros(1, 1, 1, 2, 2), torch.full((1, 1, 1, 2, 2), 0.1))
    assert q["mse"] == pytest.approx(0.04) and q["psnr"] == pytest.approx(20.0)


def test_copy_last_frame_repeats_the_last_context_frame():
    images = torch.arange(5, dtype=torch.float32).view(1, 5, 1, 1, 1).expand(1, 5, 1, 2, 2)
    out = copy_last_frame(images, context=2)
    assert out.shape == (1, 3, 1, 2, 2)
    assert (out == 1).all()


# ----- synthetic data ------------------------------------------------------------------------------------------
def test_scene_moves_by_the_commanded_displacement():
    frames, actions, states = synthesize_scene(np.random.default_rng(5), steps=8, size=32)
    assert frames.shape == (8, 32, 40, 3)
    np.testing.assert_allclose(states[1:], actions[:-1])  # the gripper reaches each commanded pose
    dark = (frames.astype(int).sum(-1) < 120)  # the gripper is the only dark thing
    xs = np.array([np.nonzero(d.any(0))[0].min() for d in dark])
    np.testing.assert_allclose(np.diff(xs), (actions[:-1, 0] - states[:-1, 0]) * 32 / 16)


def test_synth_check_data_round_trip(data_dir):
    summary = VideoPrediction.check_data(data_dir, TINY)
    assert summary == {"push_train_shards": 2, "push_train_sequences": 16, "push_testseen_shards": 2,
                       "push_testseen_sequences": 8}
    seq = next(read_sequences(split_files(data_dir, "push_testseen"), TINY.hparams["sequence_length"],
                              TINY.hparams["image_size"]))
    assert seq.images.shape == (10, 32, 32, 3)


def test_check_data_names_a_missing_split(tmp_path):
    with pytest.raises(DataError, match="push_train"):
        VideoPrediction.check_data(tmp_path, TINY)


# ----- the benchmark -------------------------------------------------------------------------------------------
def test_loss_falls_over_a_few_steps(bench):
    batch = next(iter(bench.train_batches(0)))
    losses = [bench.train_step(batch).loss for _ in range(3)]
    assert losses[-1] < losses[0]
    assert bench.iteration >= 3


def test_evaluate_infer_and_score_agree(bench):
    bench.train_mode(False)
    quality = bench.evaluate()
    assert quality.samples == 8 and quality.extra["copy_last_frame_mse"] > 0
    samples = bench.inference_samples()
    assert (samples[0]["images"][2:] == 0).all()  # future frames are not given
    outputs = bench.infer(samples[:8])
    assert outputs[0].shape == (8, 3, 32, 32)
    assert bench.score(range(8), outputs).value == pytest.approx(quality.value, rel=1e-4)


def test_spec_targets():
    assert TINY.target < TINY.baseline / 1.5  # lower is better: well below the copy-last-frame baseline
    assert SPEC.scale("full").target == registry.card("C11").paper_target == 72.0
    assert not registry.card("C11").higher_is_better


# ----- the full-size configuration ---------------------------------------------------------------------------
TF_REFERENCE_PARAMS = 8_311_967  # tensorflow/models research/video_prediction CDNA at 64x64, counted layer by layer


def test_full_reference_model_is_the_tensorflow_cdna_plus_one_mask_on_the_meta_device():
    with torch.device("meta"):
        model = VideoPrediction.reference_models(SPEC.scale("full"))["model"]
    # convt3 keeps its input's width (lstm7 + enc0 = 32 + 32); layer-normed convolutions carry no bias
    assert model.enc6[0].out_channels == 64 and model.enc6[0].bias is None and model.enc0[0].bias is None
    assert (model.masks.in_channels, model.masks.out_channels) == (64, 12)
    assert model.cdna_kernels.in_features == 128 * 8 * 8
    total = count_parameters({"model": model})["total"]
    assert total == SPEC.full_size.params == TF_REFERENCE_PARAMS + 64 + 1  # the 12th mask channel


@pytest.mark.parametrize("scale", ["small", "full"])
def test_smoke_set_has_the_release_shards_and_the_run_honours_the_eval_limit(tmp_path, scale):
    config = SPEC.scale(scale)
    VideoPrediction.synthesize(tmp_path, dataclasses.replace(config, hparams={**config.hparams,
                                                                              **config.smoke.synth}), seed=0)
    summary = VideoPrediction.check_data(tmp_path, config)
    train_shards = config.hparams["train_shards"] or 264
    assert (summary["push_train_shards"], summary["push_testseen_shards"]) == (train_shards, 5)
    assert summary["push_testseen_sequences"] == config.smoke.synth["synth_test"]
    ctx = RunContext(scale, config, tmp_path, torch.device("cpu"), seed=0, smoke=True,
                     eval_limit=config.smoke.eval_samples)
    bench = VideoPrediction(ctx)
    bench.setup()
    assert len(bench.test_set) == config.smoke.eval_samples
    assert bench.test_set.images.shape[1:] == (10, 3, 64, 64)
    assert count_parameters(bench.models())["total"] == SPEC.full_size.params
    assert set(SPEC.choices) >= {"metric", "model"}


# ----- initialization (untimed) and data preparation (timed) ----------------------------------------------
def test_initialize_decodes_no_sequence_and_prepare_data_loads_the_configured_shards(data_dir, monkeypatch):
    from aibench.benchmarks.c11_video_prediction import data as data_module

    def no_decoding(*args, **kwargs):
        raise AssertionError("initialize() decoded sequences: that belongs to the timed prepare_data()")

    config = dataclasses.replace(TINY, hparams={**TINY.hparams, "train_shards": 1})  # preload, first shard
    bench = VideoPrediction(RunContext("tiny", config, data_dir, torch.device("cpu"), seed=0))
    monkeypatch.setattr(data_module, "read_sequences", no_decoding)
    bench.initialize()
    assert not hasattr(bench, "test_set") and not hasattr(bench, "train_set")
    assert bench.n_train == 8  # the first of the 2 shards' 16 sequences, counted from the framing alone
    monkeypatch.undo()
    bench.prepare_data()
    assert len(bench.train_set) == bench.n_train == 8 and len(bench.test_set) == 8
    assert bench.baseline_mse > 0 and bench.train_samples() == 0  # 8 sequences: no full batch of 16
