"""DC-AI-C7 FaceNet: the GoogLeNet body and embedding head, the triplet loss and semi-hard mining, LFW's 10-fold
protocol, the synthetic faces and the benchmark on a small synthesized set."""

import dataclasses

import numpy as np
import pytest
import torch
from torchvision.models.googlenet import Inception

from aibench.benchmarks.base import RunContext
from aibench.benchmarks.c07_face_embedding import SPEC
from aibench.benchmarks.c07_face_embedding.bench import BENCHMARK
from aibench.benchmarks.c07_face_embedding.data import (
    best_threshold, face_identity, identity_batches, render_face, verification_accuracy,
)
from aibench.benchmarks.c07_face_embedding.model import FaceNet, semi_hard_triplets, squared_distances, triplet_loss
from aibench.errors import DataError

TINY = SPEC.scales["tiny"]
# a very small version of the tiny set, so the bench tests stay fast
SMALL_SYNTH = dataclasses.replace(TINY, batch_size=12, inference_samples=8, hparams={
    **TINY.hparams, "synth_train_identities": 4, "synth_train_images": 3, "synth_test_identities": 4,
    "synth_test_images": 3, "synth_folds": 2, "synth_pairs_per_fold": 2, "identities_per_batch": 4,
    "faces_per_identity": 3, "batches_per_epoch": 2})


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_googlenet_body_gives_unit_128d_embeddings_without_aux_heads():
    model = FaceNet(128).eval()
    inceptions = [m for m in model.body.modules() if isinstance(m, Inception)]
    assert len(inceptions) == 9  # 3a, 3b, 4a-4e, 5a, 5b
    assert model.body.aux1 is None and model.body.aux2 is None
    assert model.body.fc.in_features == 1024 and model.body.fc.out_features == 128
    with torch.no_grad():
        out = model(torch.randn(3, 3, 32, 32))
    assert out.shape == (3, 128)
    assert torch.allclose(out.norm(dim=1), torch.ones(3), atol=1e-5)
    assert 5e6 < sum(p.numel() for p in model.parameters()) < 7e6  # GoogLeNet without fc-1000 and aux heads


def test_squared_distances():
    e = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    assert torch.allclose(squared_distances(e), torch.tensor([[0.0, 2, 4], [2, 0, 2], [4, 2, 0]]))


def test_semi_hard_negative_is_the_closest_farther_than_the_positive():
    # anchor 0 and positive 1 at distance 1; negatives at 0.5 (hard), 1.5 (semi-hard), 3 (easy)
    d = torch.tensor([[0.0, 1.0, 0.5, 1.5, 3.0],
                      [1.0, 0.0, 9.0, 4.0, 7.0],
                      [0.5, 9.0, 0.0, 9.0, 9.0],
                      [1.5, 4.0, 9.0, 0.0, 9.0],
                      [3.0, 7.0, 9.0, 9.0, 0.0]])
    labels = torch.tensor([0, 0, 1, 2, 3])
    anchor, positive, negative = semi_hard_triplets(d, labels)
    pairs = {(int(a), int(p)): int(n) for a, p, n in zip(anchor, positive, negative)}
    assert pairs == {(0, 1): 3, (1, 0): 3}  # anchor 1: negatives at 9, 4, 7 are all farther: the closest, 4


def test_without_a_farther_negative_the_farthest_is_used():
    d = torch.tensor([[0.0, 5.0, 1.0, 2.0], [5.0, 0.0, 1.0, 1.0], [1.0, 1.0, 0.0, 9.0], [2.0, 1.0, 9.0, 0.0]])
    anchor, positive, negative = semi_hard_triplets(d, torch.tensor([0, 0, 1, 2]))
    assert {(int(a), int(p)): int(n) for a, p, n in zip(anchor, positive, negative)}[(0, 1)] == 3


def test_triplet_loss_is_the_hinge_on_squared_distances():
    e = torch.tensor([[1.0, 0.0], [0.8, 0.6], [0.6, 0.8]])  # a, p (d_ap = 0.4), n (d_an = 0.8)
    loss, stats = triplet_loss(e, torch.tensor([0, 0, 1]), margin=0.5)
    # pairs (0,1): 0.4 - 0.8 + 0.5 = 0.1; (1,0): d(1,2) = 0.08 -> 0.4 - 0.08 + 0.5 = 0.82
    assert loss.item() == pytest.approx((0.1 + 0.82) / 2, abs=1e-5)
    assert stats == {"triplets": 2.0, "active_fraction": 1.0}
    assert triplet_loss(e, torch.tensor([0, 0, 1]), margin=0.0)[0].item() == pytest.approx(0.32 / 2, abs=1e-5)


def test_threshold_and_ten_fold_style_accuracy():
    d = torch.tensor([0.1, 0.2, 0.9, 1.0])
    same = torch.tensor([True, True, False, False])
    assert 0.2 < best_threshold(d, same) < 0.9
    # fold 0's pairs fit a threshold that fold 1 gets half wrong
    distances = torch.tensor([0.1, 0.9, 0.1, 0.9, 0.5, 0.6])
    same = torch.tensor([True, False, True, False, True, False])
    folds = torch.tensor([0, 0, 1, 1, 2, 2])
    result = verification_accuracy(distances, same, folds)
    # each fold is scored with a threshold fitted on the others: folds 0, 1 -> 1.0; fold 2 -> 0.5 (both <= thr)
    assert result["accuracy"] == pytest.approx((1 + 1 + 0.5) / 3)
    assert result["folds"] == 3


def test_identity_batches_hold_p_identities_times_k_faces():
    batches = identity_batches([5, 2, 4], identities=2, per_identity=3, batches=20, rng=np.random.default_rng(0))
    owner = np.repeat([0, 1, 2], [5, 2, 4])
    for batch in batches:
        people, counts = np.unique(owner[batch], return_counts=True)
        assert len(people) == 2 and counts.tolist() == [3, 3]


def test_synthetic_faces_are_reproducible_and_every_photo_differs():
    rng = np.random.default_rng(0)
    person = face_identity(rng)
    first, second = render_face(person, rng, 32), render_face(person, rng, 32)
    assert first.shape == (32, 32, 3) and first.dtype == np.uint8
    assert not np.array_equal(first, second)  # pose, lighting and background change every photo
    again = np.random.default_rng(0)
    assert np.array_equal(render_face(face_identity(again), again, 32), first)


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("c07")
    BENCHMARK.synthesize(path, SMALL_SYNTH, seed=3)
    return path


def test_synthesize_writes_the_real_layouts_and_check_data_reads_them(synth_dir):
    assert (synth_dir / "train" / "n000001" / "0001_01.jpg").is_file()
    assert (synth_dir / "lfw" / "Person_AA" / "Person_AA_0001.jpg").is_file()
    assert (synth_dir / "pairs.txt").read_text().splitlines()[0] == "2\t2"
    summary = BENCHMARK.check_data(synth_dir, SMALL_SYNTH)
    assert summary["train_identities"] == 4 and summary["train_images"] == 12 and summary["lfw_pairs"] == 8


def test_check_data_names_a_broken_image(tmp_path, synth_dir):
    import shutil
    shutil.copytree(synth_dir, tmp_path / "d")
    (tmp_path / "d" / "train" / "n000001" / "0001_01.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match="0001_01.jpg"):
        BENCHMARK.check_data(tmp_path / "d", SMALL_SYNTH)


def test_bench_trains_evaluates_and_infers(synth_dir):
    bench = BENCHMARK(RunContext("tiny", SMALL_SYNTH, synth_dir, torch.device("cpu"), seed=0))
    bench.setup()
    bench.train_mode(True)
    batch = next(iter(bench.train_batches(0)))
    assert batch[0].shape == (12, 3, 32, 32) and len(batch[1].unique()) == 4
    out = bench.train_step(batch)
    assert out.samples == 12 and out.losses["triplets"] == 4 * 3 * 2
    bench.train_mode(False)
    quality = bench.evaluate()
    assert 0.0 <= quality.value <= 1.0 and quality.samples == 8
    samples = bench.inference_samples()
    assert len(samples) == 8 and samples[0].shape == (2, 3, 32, 32)
    distances = bench.infer(samples)
    assert all(0.0 <= d <= 4.0 + 1e-5 for d in distances)
    assert 0.0 <= bench.score(range(8), distances).value <= 1.0
