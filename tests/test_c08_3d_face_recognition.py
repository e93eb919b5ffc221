"""DC-AI-C8 RGB-D ResNet-50: the 4-channel stem, identity logits, depth preprocessing, the synthetic faces."""

import numpy as np
import pytest
import torch

from aibench.benchmarks.base import RunContext
from aibench.benchmarks.c08_3d_face_recognition import SPEC
from aibench.benchmarks.c08_3d_face_recognition.bench import BENCHMARK, identification_accuracy
from aibench.benchmarks.c08_3d_face_recognition.data import (RGBDFaceDataset, rgbd_tensor, rgbd_transform,
                                                             shared_complexions)
from aibench.benchmarks.c08_3d_face_recognition.model import rgbd_resnet50
from aibench.characterize.flops import count_parameters
from aibench.datasets.rgbd_faces import load_pair, read_splits
from aibench.errors import DataError
from aibench.harness.runner import synthesis_config
from aibench.harness.smoke import smoke_config, smoke_context

TINY = SPEC.scales["tiny"]

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_resnet50_with_a_four_channel_stem_and_one_logit_per_identity():
    model = rgbd_resnet50(num_identities=253)
    assert model.conv1.in_channels == 4 and model.conv1.out_channels == 64 and model.fc.out_features == 253
    assert [len(layer) for layer in (model.layer1, model.layer2, model.layer3, model.layer4)] == [3, 4, 6, 3]
    narrow = rgbd_resnet50(num_identities=10, base_width=16)
    assert narrow(torch.randn(2, 4, 32, 32)).shape == (2, 10)


def test_depth_becomes_face_relative_and_missing_readings_stay_zero():
    rgb = np.full((2, 2, 3), 128, np.uint8)
    depth = np.array([[700.0, 750.0], [0.0, 650.0]], np.float32)  # median of valid = 700
    tensor = rgbd_tensor(rgb, depth)
    assert tensor.shape == (4, 2, 2)
    assert tensor[3].flatten().tolist() == pytest.approx([0.0, -2.5, 0.0, 2.5])  # (700 - d) / 20 mm: nearer is higher


def test_the_background_is_segmented_by_depth_and_zero_in_every_channel():
    rgb = np.full((2, 3, 3), 200, np.uint8)
    depth = np.array([[700.0, 720.0, 0.0], [680.0, 700.0, 1400.0]], np.float32)  # no reading; a wall 700 mm behind
    tensor = rgbd_tensor(rgb, depth)
    face = torch.tensor([[True, True, False], [True, True, False]])
    assert (tensor[:, ~face] == 0).all()  # RGB and depth: the background carries nothing
    assert (tensor[:3, face] != 0).all() and tensor[3, 1, 0] == pytest.approx(1.0)  # (700 - 680) / 20 mm


def test_identification_accuracy_is_top1():
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.0, 0.0, 1.0], [5.0, 0.0, 0.0]])
    assert identification_accuracy(logits, torch.tensor([0, 1, 1, 0]), 3) == pytest.approx(0.75)


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("c08")
    BENCHMARK.synthesize(path, TINY, seed=4)
    return path


def test_synthetic_faces_are_rgbd_pairs_per_identity(tiny_dir):
    splits = read_splits(tiny_dir)
    hp = TINY.hparams
    assert len(splits["train"].identities) == hp["num_identities"]
    assert len(splits["train"]) == hp["num_identities"] * hp["synth_train_per_identity"]
    assert len(splits["test"]) == hp["num_identities"] * hp["synth_test_per_identity"]
    rgb, depth = load_pair(splits["test"].samples[0])
    face = depth > 0
    assert 0.2 < face.mean() < 0.9 and 500 < np.median(depth[face]) < 1000  # a head in front of the camera
    assert BENCHMARK.check_data(tiny_dir, TINY)["identities"] == hp["num_identities"]


def test_complexions_are_shared_when_fewer_than_the_identities():
    one = shared_complexions(5, 1, np.random.default_rng(0))
    assert one.shape == (5, 3) and (one == one[0]).all()  # one complexion: colour tells nobody apart
    two = shared_complexions(5, 2, np.random.default_rng(0))
    assert (two[0] == two[2]).all() and (two[0] != two[1]).any()
    own = shared_complexions(5, None, np.random.default_rng(0))  # the default: everyone their own tone
    assert len({tuple(row) for row in own}) == 5


def test_the_control_zeroes_the_depth_channel_only(tiny_dir):
    samples = read_splits(tiny_dir)["test"].samples[:2]
    transform = rgbd_transform(32, False, (0.8, 1.0))
    method, control = RGBDFaceDataset(samples, transform), RGBDFaceDataset(samples, transform, zero_depth=True)
    (x, y), (xc, yc) = method[0], control[0]
    assert y == yc and torch.equal(x[:3], xc[:3])
    assert x[3].abs().sum() > 0 and xc[3].abs().sum() == 0
    bench = BENCHMARK(RunContext("tiny", TINY, tiny_dir, torch.device("cpu"), seed=0, control=True))
    bench.initialize()
    assert bench.train_set.zero_depth and bench.eval_set.zero_depth
    assert bench.model.conv1.in_channels == 4  # the same network: only its input differs


def test_benchmark_trains_and_scores(tiny_dir):
    torch.manual_seed(0)
    bench = BENCHMARK(RunContext("tiny", TINY, tiny_dir, torch.device("cpu"), seed=0))
    bench.setup()
    bench.train_mode(True)
    batch = next(iter(bench.train_batches(0)))
    losses = [bench.train_step(batch).loss for _ in range(5)]
    assert losses[-1] < losses[0]
    bench.train_mode(False)
    quality = bench.evaluate()
    assert quality.samples == len(bench.eval_set) and 0 <= quality.value <= 1
    outputs = bench.infer(list(bench.inference_samples())[:4])
    assert len(outputs) == 4 and outputs[0].shape == (5,)  # the 5 best identities, best first
    every = range(bench.query_count())
    served = bench.score(every, bench.infer([bench.load_query(i) for i in every]))
    assert served.value == pytest.approx(quality.value) and served.extra == {}  # identification: top-1 alone


def test_reference_models_on_the_meta_device_are_the_rgbd_resnet50_at_253_identities():
    with torch.device("meta"):
        models = BENCHMARK.reference_models(SPEC.scales["full"])
    model = models["model"]
    assert model.conv1.in_channels == 4 and model.fc.out_features == 253
    # torchvision resnet50's 25,557,032 with 253 instead of 1,000 logits and a 4th input channel on the stem
    assert count_parameters(models)["total"] == SPEC.full_size.params == 25_557_032 - 747 * 2049 + 64 * 7 * 7


def test_full_shaped_set_has_every_identity_and_smoke_setup_builds_the_reference(tmp_path):
    cfg = synthesis_config(SPEC.scales["full"], "full")
    BENCHMARK.synthesize(tmp_path, cfg, seed=0)
    assert BENCHMARK.check_data(tmp_path, cfg) == {"identities": 253, "train_samples": 253, "test_samples": 253}
    smoke = smoke_config(SPEC.scales["full"])
    bench = BENCHMARK(smoke_context("full", SPEC.scales["full"], tmp_path))
    bench.setup()
    assert len(bench.eval_set) == smoke.smoke.eval_samples and bench.train_loader.num_workers == 0
    assert count_parameters(bench.models())["total"] == SPEC.full_size.params
    assert bench.example_batch()[0].shape == (smoke.batch_size, 4, 224, 224)


def test_a_set_with_fewer_identities_than_the_scale_is_one_clear_data_error(tiny_dir):
    with pytest.raises(DataError, match="10 identity folders, expected 253"):
        BENCHMARK.check_data(tiny_dir, SPEC.scales["full"])
