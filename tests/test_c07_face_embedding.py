"""DC-AI-C7 FaceNet: the Inception-ResNet-v1 body and embedding head, the triplet loss and semi-hard mining, LFW's
10-fold protocol, face crops, the synthetic faces, and the benchmark on small synthesized tiny- and full-shaped
sets."""

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from aibench.benchmarks.base import RunContext
from aibench.benchmarks.c07_face_embedding import SPEC
from aibench.benchmarks.c07_face_embedding.bench import BENCHMARK
from aibench.benchmarks.c07_face_embedding.data import (
    best_threshold, face_crop, face_identity, identity_batches, render_face, verification_accuracy,
)
from aibench.benchmarks.c07_face_embedding.model import (
    MIN_INPUT, FaceNet, Residual, semi_hard_triplets, squared_distances, triplet_loss,
)
from aibench.characterize.flops import count_parameters
from aibench.datasets.vggface2 import boxes_file
from aibench.errors import DataError, UserError
from aibench.harness.smoke import smoke_config

TINY = SPEC.scales["tiny"]
# a very small version of the tiny set, so the bench tests stay fast
SMALL_SYNTH = dataclasses.replace(TINY, batch_size=12, inference_samples=8, hparams={
    **TINY.hparams, "synth_train_identities": 4, "synth_train_images": 3, "synth_test_identities": 4,
    "synth_test_images": 3, "synth_folds": 2, "synth_pairs_per_fold": 2, "identities_per_batch": 4,
    "faces_per_identity": 3, "batches_per_epoch": 2})


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _blocks(model, scale):
    return [m for m in model.modules() if isinstance(m, Residual) and m.scale == pytest.approx(scale)]


def test_inception_resnet_v1_body_gives_unit_128d_embeddings():
    model = FaceNet(128, width=0.125).eval()  # tiny's width; the structure is the reference one
    assert (len(_blocks(model, 0.17)), len(_blocks(model, 0.10)), len(_blocks(model, 0.20))) == (5, 10, 5)
    last = model.body.repeat_c[-1]
    assert last.scale == 1.0 and not last.relu  # the extra C block without ReLU before pooling
    assert model.body.bottleneck.out_features == 128 and model.body.bottleneck.bias is None
    with torch.no_grad():
        out = model(torch.randn(3, 3, MIN_INPUT, MIN_INPUT))
        assert out.shape == (3, 128)
        assert torch.allclose(out.norm(dim=1), torch.ones(3), atol=1e-5)
        with pytest.raises(RuntimeError):  # one pixel less and Reduction-B has no output left
            model(torch.randn(3, 3, MIN_INPUT - 1, MIN_INPUT - 1))


def test_reference_model_is_facenet_pytorchs_inception_resnet_v1_at_128d():
    full = SPEC.scales["full"]
    with torch.device("meta"):
        models = BENCHMARK.reference_models(full)
        # facenet-pytorch's VGGFace2 model: 27,910,327 parameters with its 8,631-way logits (512 x 8,631 + 8,631)
        wide = FaceNet(512)
    assert count_parameters(models)["total"] == SPEC.full_size.params == 22_793_728
    assert count_parameters({"m": wide})["total"] == 27_910_327 - (512 * 8631 + 8631)
    assert full.hparams["image_size"] == 160 and full.hparams["embedding_dim"] == 128


@pytest.mark.parametrize("scale", ["tiny", "small", "full"])
def test_batches_are_identities_times_faces_also_in_smoke_runs(scale):
    configs = [SPEC.scales[scale]] + ([smoke_config(SPEC.scales[scale])] if scale != "tiny" else [])
    for cfg in configs:
        assert cfg.batch_size == cfg.hparams["identities_per_batch"] * cfg.hparams["faces_per_identity"]
        assert cfg.hparams["faces_per_identity"] >= 2 and cfg.hparams["identities_per_batch"] >= 2


def test_face_crop_squares_the_loose_box_and_centre_crops_otherwise():
    image = Image.new("RGB", (100, 80))
    assert face_crop(image, (30, 10, 20, 40)).size == (40, 40)  # 20 x 40 box -> 40 x 40 around its centre
    assert face_crop(image, (-10, -10, 30, 30)).size == (20, 20)  # clipped to the picture
    assert face_crop(image, (500, 500, 10, 10)).size == (100, 80)  # outside: the whole image
    assert face_crop(Image.new("RGB", (250, 250)), center=0.6).size == (150, 150)
    assert face_crop(image).size == (80, 80)  # no box: the centre square, so resizing keeps proportions


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
    assert batch[0].shape == (12, 3, 75, 75) and len(batch[1].unique()) == 4
    out = bench.train_step(batch)
    assert out.samples == 12 and out.losses["triplets"] == 4 * 3 * 2
    bench.train_mode(False)
    quality = bench.evaluate()
    assert 0.0 <= quality.value <= 1.0 and quality.samples == 8
    samples = bench.inference_samples()
    assert len(samples) == 8 and samples[0].shape == (2, 3, 75, 75)
    distances = bench.infer(samples)
    assert all(0.0 <= d <= 4.0 + 1e-5 for d in distances)
    assert 0.0 <= bench.score(range(8), distances).value <= 1.0


def test_initialize_decodes_no_face_and_prepare_data_decodes_them_on_the_clock(synth_dir, monkeypatch):
    """The untimed initialize() lists identities and parses pairs.txt only; prepare_data(), which the harness
    times, decodes the training faces (tiny preloads them) and every LFW image the pairs use."""
    bench = BENCHMARK(RunContext("tiny", SMALL_SYNTH, synth_dir, torch.device("cpu"), seed=0))
    with monkeypatch.context() as patch:
        patch.setattr(Image, "open", lambda path, *a, **k: pytest.fail(f"initialize() decoded {path}"))
        bench.initialize()
    assert not hasattr(bench, "train_images") and not hasattr(bench, "lfw_images")
    assert len(bench.pairs) == 8 and len(bench.query_pairs) == 8 and int(bench.pair_index.max()) < len(bench.lfw_paths)
    decoded = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda path, *a, **k: decoded.append(path) or real_open(path, *a, **k))
    bench.prepare_data()
    assert len(decoded) == 12 + len(bench.lfw_paths)
    assert bench.train_images.shape == (12, 3, 75, 75) and bench.lfw_images.shape == (len(bench.lfw_paths), 3, 75, 75)
    assert 0.0 <= bench.evaluate().value <= 1.0 and len(decoded) == 12 + len(bench.lfw_paths)


# ----- the full configuration on its small full-shaped synthetic set ------------------------------------------
FULL = SPEC.scales["full"]
# the smoke synthesis at full, with fewer and smaller photos so the test stays fast
FULL_SYNTH = dataclasses.replace(FULL, hparams={**FULL.hparams, **FULL.smoke.synth, "synth_size": 40,
                                                "synth_test_identities": 4, "synth_folds": 2})


@pytest.fixture(scope="module")
def full_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("c07-full")
    BENCHMARK.synthesize(path, FULL_SYNTH, seed=5)
    return path


def _full_bench(path, eval_limit=FULL.smoke.eval_samples):
    cfg = smoke_config(FULL)
    return BENCHMARK(RunContext("full", cfg, path, torch.device("cpu"), seed=0, smoke=True, eval_limit=eval_limit))


def test_full_synthesis_writes_loose_boxes_that_frame_the_face(full_dir):
    rows = boxes_file(full_dir, "train").read_text().splitlines()
    assert rows[0] == "NAME_ID,X,Y,W,H" and rows[1].startswith("n000001/0001_01,")
    x, y, w, h = map(int, rows[1].split(",")[1:])
    photo = Image.open(full_dir / "train" / "n000001" / "0001_01.jpg")
    assert photo.size[0] > 40 and w < h == 40  # the face sits inside a larger photo; the box is taller than wide
    assert face_crop(photo, (x, y, w, h)).size == (40, 40)
    assert Image.open(full_dir / "lfw" / "Person_AA" / "Person_AA_0001.jpg").size == (67, 67)  # 40 / 0.6
    assert BENCHMARK.check_data(full_dir, FULL)["loose_boxes"] is True


def test_full_smoke_setup_builds_the_reference_model_and_honours_the_eval_limit(full_dir):
    bench = _full_bench(full_dir)
    bench.setup()
    assert count_parameters(bench.models())["total"] == SPEC.full_size.params
    assert bench.lfw_images.shape[1:] == (3, 160, 160) and bench.ctx.warnings == []
    assert len(bench.pairs) == 4 and [p.same for p in bench.pairs] == [True, False, True, False]
    images, labels = next(iter(bench.train_batches(0)))
    assert images.shape == (6, 3, 160, 160) and sorted(labels.bincount().tolist())[-3:] == [2, 2, 2]


def test_missing_boxes_file_warns_and_a_malformed_one_is_a_data_error(tmp_path, full_dir):
    import shutil
    shutil.copytree(full_dir, tmp_path / "d")
    boxes = boxes_file(tmp_path / "d", "train")
    lines = boxes.read_text().splitlines()
    boxes.write_text("\n".join(lines[:1] + lines[2:]) + "\n")  # the first image's box is gone
    with pytest.raises(DataError, match="loose_bb_train.csv.*no loose box for training image n000001/0001_01"):
        BENCHMARK.check_data(tmp_path / "d", FULL)
    boxes.write_text("NAME_ID,X,Y,W,H\nn000001/0001_01,1,2,three,4\n")
    with pytest.raises(DataError, match="loose_bb_train.csv: line 2"):
        _full_bench(tmp_path / "d").setup()
    boxes.unlink()
    bench = _full_bench(tmp_path / "d")
    bench.setup()
    assert "centre square of each VGGFace2 photo" in bench.ctx.warnings[0]


def test_a_batch_that_breaks_the_identity_structure_is_refused(full_dir):
    cfg = smoke_config(FULL)
    bench = BENCHMARK(RunContext("full", dataclasses.replace(cfg, batch_size=7), full_dir, torch.device("cpu"), 0))
    with pytest.raises(UserError, match="identities_per_batch x faces_per_identity"):
        bench.setup()
    many = dataclasses.replace(cfg, batch_size=40, hparams={**cfg.hparams, "identities_per_batch": 20})
    with pytest.raises(DataError, match="has 6 identities; a FaceNet batch draws 20"):
        BENCHMARK(RunContext("full", many, full_dir, torch.device("cpu"), 0)).setup()
