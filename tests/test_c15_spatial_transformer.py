"""DC-AI-C15 spatial transformer: the STN's three parts, the distorted-digit tiny set, and the benchmark."""

import dataclasses

import numpy as np
import pytest
import torch

from aibench.benchmarks.base import RunContext
from aibench.benchmarks.c15_spatial_transformer import SPEC
from aibench.benchmarks.c15_spatial_transformer.bench import BENCHMARK
from aibench.benchmarks.c15_spatial_transformer.data import Distortion, enlarge_digits, random_distortions
from aibench.benchmarks.c15_spatial_transformer.model import STNClassifier, SpatialTransformer
from aibench.datasets.mnist_idx import read_mnist_split
from aibench.errors import DataError

TINY = SPEC.scales["tiny"]


def test_transformer_starts_at_identity_and_samples_bilinearly():
    stn = SpatialTransformer(channels=1, image_size=(28, 28))
    images = torch.rand(3, 1, 28, 28)
    warped, theta = stn(images)
    assert theta.shape == (3, 2, 3)
    assert torch.allclose(theta, torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).expand(3, 2, 3))
    assert torch.allclose(warped, images, atol=1e-5)  # identity warp: the classifier sees the input at first


def test_the_control_is_the_same_classifier_without_the_transformer():
    method = STNClassifier(num_classes=10, channels=1, image_size=(32, 32))
    control = STNClassifier(num_classes=10, channels=1, image_size=(32, 32), spatial_transformer=False)
    assert control.transformer is None
    control.load_state_dict({k: v for k, v in method.state_dict().items() if not k.startswith("transformer.")})
    images = torch.rand(3, 1, 32, 32)
    method.eval(), control.eval()
    # the method's transformer starts at the identity warp, so until it learns the two see the same image
    assert torch.allclose(method(images), control(images), atol=1e-5)


def test_distortion_settings_come_from_the_scale():
    assert Distortion.from_hparams({}) == Distortion()  # MNIST's 28x28 canvas and the defaults
    rts = Distortion.from_hparams({"distortion": {"canvas": 32, "scale_range": [0.7, 1.2], "max_shift_px": 6}})
    assert rts == Distortion(canvas=32, scale_range=(0.7, 1.2), max_shift_px=6.0)
    digits = enlarge_digits(np.ones((2, 8, 8)) * 16, canvas=rts.canvas)
    assert random_distortions(digits, 2, np.random.default_rng(0), rts).shape == (4, 32, 32)


def test_localisation_gets_gradient_from_the_classification_loss():
    model = STNClassifier(num_classes=10, channels=1, image_size=(28, 28))
    loss = torch.nn.functional.cross_entropy(model(torch.rand(4, 1, 28, 28)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    regressor = model.transformer.localisation.regressor[-1]
    assert regressor.weight.grad is not None and regressor.weight.grad.abs().sum() > 0


def test_distortions_move_the_ink_but_keep_it():
    digits = np.zeros((1, 8, 8)); digits[0, 1:7, 3:5] = 16  # a vertical bar, a "1"
    centred = enlarge_digits(digits)
    assert centred.shape == (1, 1, 28, 28)
    distorted = random_distortions(centred, copies=6, rng=np.random.default_rng(0))
    assert distorted.shape == (6, 28, 28) and distorted.dtype == torch.uint8
    original = (centred[0, 0] * 255).round().to(torch.uint8)
    assert all(not torch.equal(d, original) for d in distorted)
    ink = distorted.float().sum(dim=(1, 2)) / original.float().sum()
    assert ((ink > 0.4) & (ink < 2.0)).all()  # scaled 0.75-1.25: the digit is still on the canvas


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("c15")
    BENCHMARK.synthesize(path, TINY, seed=3)
    return path


# the training mechanics on undistorted digits: the tiny RTS set takes a few epochs before accuracy leaves chance
UPRIGHT = dataclasses.replace(TINY, hparams={**TINY.hparams, "train_copies": 1, "distortion": {
    "canvas": 32, "max_rotation_deg": 0.0, "scale_range": [1.0, 1.0], "max_shift_px": 0.0}})


@pytest.fixture(scope="module")
def upright_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("c15-upright")
    BENCHMARK.synthesize(path, UPRIGHT, seed=3)
    return path


def test_synthesized_set_is_mnist_idx_with_held_out_source_digits(tiny_dir):
    assert sorted(p.name for p in tiny_dir.iterdir()) == [
        "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz",
        "train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    train, test = read_mnist_split(tiny_dir, "train"), read_mnist_split(tiny_dir, "test")
    canvas = Distortion.from_hparams(TINY.hparams).canvas
    assert train.images.shape[1:] == (canvas, canvas) and len(train) == 1437 * TINY.hparams["train_copies"]
    assert len(test) == 360 * TINY.hparams["test_copies"]
    assert np.bincount(test.labels, minlength=10).min() > 0
    summary = BENCHMARK.check_data(tiny_dir, TINY)
    assert summary["train_images"] == len(train) and summary["image_size"] == [canvas, canvas]


def test_check_data_rejects_a_split_of_another_size(tmp_path):
    from aibench.datasets.mnist_idx import write_mnist_split
    write_mnist_split(tmp_path, "train", np.zeros((2, 28, 28), np.uint8), np.array([0, 1]))
    write_mnist_split(tmp_path, "test", np.zeros((2, 32, 32), np.uint8), np.array([0, 1]))
    with pytest.raises(DataError, match="one image size"):
        BENCHMARK.check_data(tmp_path, TINY)


def test_benchmark_learns_and_scores_with_torchmetrics(upright_dir):
    torch.manual_seed(0)
    bench = BENCHMARK(RunContext("tiny", UPRIGHT, upright_dir, torch.device("cpu"), seed=0))
    bench.setup()
    before = bench.evaluate().value
    bench.train_mode(True)
    for epoch in range(2):
        for batch in bench.train_batches(epoch):
            bench.train_step(batch)
    bench.train_mode(False)
    after = bench.evaluate()
    assert after.samples == 720 and after.value > max(before, TINY.baseline + 0.2)
    samples = list(bench.inference_samples())
    outputs = bench.infer(samples[:8])
    labels = bench.test_data.labels[:8].tolist()
    expected = sum(o == y for o, y in zip(outputs, labels)) / 8
    assert bench.score(range(8), outputs).value == pytest.approx(expected)


@pytest.mark.filterwarnings("ignore:Detected call of:UserWarning")  # the scheduler is stepped alone here
def test_tiny_learning_rate_decays_to_zero_over_the_epoch_budget_and_other_scales_keep_it_constant(upright_dir):
    bench = BENCHMARK(RunContext("tiny", UPRIGHT, upright_dir, torch.device("cpu"), seed=0))
    bench.setup()
    steps = UPRIGHT.max_epochs * -(-len(bench.train_data) // UPRIGHT.batch_size)
    assert bench.scheduler.T_max == steps
    for _ in range(steps // 2):
        bench.scheduler.step()
    assert bench.optimizer.param_groups[0]["lr"] == pytest.approx(UPRIGHT.hparams["lr"] / 2, rel=0.01)
    for _ in range(steps - steps // 2):
        bench.scheduler.step()
    assert bench.optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-9)
    assert SPEC.scales["small"].hparams["lr_schedule"] == SPEC.scales["full"].hparams["lr_schedule"] == "constant"
    constant = dataclasses.replace(UPRIGHT, hparams={**UPRIGHT.hparams, "lr_schedule": "constant"})
    bench = BENCHMARK(RunContext("tiny", constant, upright_dir, torch.device("cpu"), seed=0))
    bench.setup()
    assert bench.scheduler is None
    unknown = dataclasses.replace(UPRIGHT, hparams={**UPRIGHT.hparams, "lr_schedule": "linear"})
    with pytest.raises(ValueError, match="lr_schedule 'linear'"):
        BENCHMARK(RunContext("tiny", unknown, upright_dir, torch.device("cpu"), seed=0)).setup()


# ----- initialization (untimed) and data preparation (timed) ----------------------------------------------
def test_initialize_sizes_the_model_from_the_idx_headers_and_reads_no_pixels(tmp_path, monkeypatch):
    from aibench.benchmarks.c15_spatial_transformer import bench as bench_module
    from aibench.datasets.mnist_idx import write_mnist_split
    write_mnist_split(tmp_path, "train", np.zeros((4, 32, 32), np.uint8), np.array([0, 1, 2, 3]))
    write_mnist_split(tmp_path, "test", np.full((2, 32, 32), 255, np.uint8), np.array([0, 1]))

    def no_reading(*args, **kwargs):
        raise AssertionError("initialize() read the pixels: that belongs to the timed prepare_data()")

    monkeypatch.setattr(bench_module, "read_mnist_split", no_reading)
    bench = BENCHMARK(RunContext("tiny", TINY, tmp_path, torch.device("cpu"), seed=0))
    bench.initialize()
    assert bench.image_size == (32, 32) and not hasattr(bench, "train_data")
    assert bench.model(torch.zeros(1, 1, 32, 32)).shape == (1, 10)
    monkeypatch.undo()
    bench.prepare_data()
    assert len(bench.train_data) == 4 and len(bench.test_data) == 2
    assert bench.normalize.mean == 0.0  # fitted to the (all-black) training pixels only


def test_idx_header_is_read_without_the_values_and_mismatched_sizes_are_refused(tmp_path):
    import gzip
    from aibench.datasets.mnist_idx import read_idx, read_idx_header, write_mnist_split
    header_only = tmp_path / "header-only.gz"  # promises 5 x 32 x 32 bytes it does not hold
    header_only.write_bytes(gzip.compress(bytes([0, 0, 0x08, 3]) + np.array([5, 32, 32], ">u4").tobytes()))
    assert read_idx_header(header_only) == (np.dtype(np.uint8), (5, 32, 32))
    with pytest.raises(DataError, match="bytes after the header"):
        read_idx(header_only)
    write_mnist_split(tmp_path, "train", np.zeros((2, 28, 28), np.uint8), np.array([0, 1]))
    write_mnist_split(tmp_path, "test", np.zeros((2, 32, 32), np.uint8), np.array([0, 1]))
    with pytest.raises(DataError, match="one image size"):
        BENCHMARK(RunContext("tiny", TINY, tmp_path, torch.device("cpu"), seed=0)).initialize()
