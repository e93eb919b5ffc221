"""DC-AI-C13: the perspective transformer's geometry, synthesis, the IoU metric and learning."""

import dataclasses
import statistics
from pathlib import Path

import numpy as np
import pytest
import torch

from aibench.benchmarks.base import RunContext
from aibench.benchmarks.c13_3d_object_reconstruction import SPEC
from aibench.benchmarks.c13_3d_object_reconstruction.bench import BENCHMARK
from aibench.benchmarks.c13_3d_object_reconstruction.data import (
    ObjectDataset, collate_objects, constant_predictor_iou, voxel_iou)
from aibench.benchmarks.c13_3d_object_reconstruction.model import (
    PTN, PerspectiveTransformer, frustum_grid, sample_frustums)
from aibench.datasets.shapenet_views import read_cameras, read_split
from aibench.errors import DataError

TINY = SPEC.scales["tiny"]
# a handful of models so the file stays fast; everything else as tiny
SMALL_SET = dataclasses.replace(TINY, batch_size=4, inference_samples=8,
                                hparams={**TINY.hparams, "objects_train": 8, "objects_test": 3})


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("c13")
    BENCHMARK.synthesize(root, SMALL_SET, seed=3)
    return root


@pytest.fixture()
def bench(data_dir):
    torch.manual_seed(0)
    b = BENCHMARK(RunContext("tiny", SMALL_SET, data_dir, torch.device("cpu"), 0))
    b.setup()
    return b


# ----- geometry ----------------------------------------------------------------------------------------------
def test_central_ray_passes_through_the_cube_centre():
    cams = torch.tensor([[37.0, 21.0, 3.0, 1.4]])
    grid = frustum_grid(cams, height=1, width=1, depth=3)  # one pixel: the optical axis; near, middle, far
    assert torch.allclose(grid[0, 1, 0, 0], torch.zeros(3), atol=1e-5)
    # the near and far planes touch the sphere around the [-1, 1]^3 cube, on either side of its centre
    near, far = grid[0, 0, 0, 0], grid[0, 2, 0, 0]
    assert near.norm() == pytest.approx(3 ** 0.5, abs=1e-4) and far.norm() == pytest.approx(3 ** 0.5, abs=1e-4)
    assert torch.allclose(near, -far, atol=1e-5)


def _single_voxel_silhouette(index, azimuth, elevation=0.0):
    vol = torch.zeros(1, 1, 8, 8, 8)
    vol[(0, 0, *index)] = 1.0
    cams = torch.tensor([[[azimuth, elevation, 3.0, 1.4]]])
    return PerspectiveTransformer(out_size=16, depth_samples=64)(vol, cams)[0, 0]


def test_projection_follows_the_camera_convention():
    """Camera at +z (azimuth 0) looking at the centre: +x is image right, +y is image up."""
    right_up = _single_voxel_silhouette((7, 7, 4), azimuth=0)  # [x, y, z]: large x, large y
    rows, cols = torch.nonzero(right_up > 0.2, as_tuple=True)
    assert len(rows) and cols.float().mean() > 8 and rows.float().mean() < 8
    # from azimuth 90 the camera sits at +x and image right is -z: a voxel at small z lands on the right
    side = _single_voxel_silhouette((4, 4, 0), azimuth=90)
    assert torch.nonzero(side > 0.2, as_tuple=True)[1].float().mean() > 8


def test_max_projection_gradient_equals_plain_amax():
    torch.manual_seed(0)
    vol = torch.rand(2, 1, 8, 8, 8, requires_grad=True)
    cams = torch.tensor([[[30.0, 30, 3, 1.4], [200, 10, 2.5, 1.2]]] * 2)
    projector = PerspectiveTransformer(out_size=8, depth_samples=16)
    target = torch.rand(2, 2, 8, 8)
    out = projector(vol, cams)
    (grad,) = torch.autograd.grad(((out - target) ** 2).sum(), vol)
    plain = sample_frustums(vol, frustum_grid(cams, 8, 8, 16)).amax(dim=3)[:, 0]
    (plain_grad,) = torch.autograd.grad(((plain - target) ** 2).sum(), vol)
    assert torch.allclose(out, plain) and torch.allclose(grad, plain_grad, atol=1e-6)


def test_model_shapes():
    model = PTN(image_size=32, vox_size=16, encoder_channels=(8, 8, 8), fc_dim=16, z_dim=8,
                decoder_channels=(8, 8, 4), mask_size=8, depth_samples=8, occupancy_prior=0.12)
    vol = model(torch.rand(3, 3, 32, 32))
    assert vol.shape == (3, 1, 16, 16, 16)
    assert model.project(vol, torch.tensor([[[0.0, 30, 3, 1.4]] * 5] * 3)).shape == (3, 5, 8, 8)


# ----- data --------------------------------------------------------------------------------------------------
def test_synthesis_is_deterministic(tmp_path):
    cfg = dataclasses.replace(TINY, hparams={**TINY.hparams, "objects_train": 2, "objects_test": 1})
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        BENCHMARK.synthesize(tmp_path / name, cfg, seed)

    def files(root):
        return {p.relative_to(root): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}

    assert files(tmp_path / "a") == files(tmp_path / "b")
    assert files(tmp_path / "a") != files(tmp_path / "c")


def test_synthesized_masks_are_the_models_projection_of_the_voxels(data_dir):
    """Masks come from the same perspective transformer the model trains through."""
    key = read_split(data_dir, "train")[0]
    obj = ObjectDataset(data_dir, [key], image_size=32, mask_size=32, vox_size=16)[0]
    projector = PerspectiveTransformer(32, int(TINY.hparams["depth_samples"]))
    sil = projector(obj.voxels[None, None].float(), obj.cameras[None])[0] >= 0.5
    assert torch.equal(sil, obj.masks >= 0.5)
    assert 0.01 < obj.masks.mean() < 0.6  # something is there, and it is not everything
    assert len(read_cameras(data_dir / key / "cameras.json")) == TINY.hparams["views"]


def test_check_data_counts_and_rejects_mismatched_views(data_dir, tmp_path):
    assert BENCHMARK.check_data(data_dir, SMALL_SET) == {"train_objects": 8, "test_objects": 3, "views": 8}
    cfg = dataclasses.replace(TINY, hparams={**TINY.hparams, "objects_train": 2, "objects_test": 1})
    BENCHMARK.synthesize(tmp_path, cfg, 0)
    cams = tmp_path / read_split(tmp_path, "test")[0] / "cameras.json"
    cams.write_text(cams.read_text().replace('"views": [', '"views": [{"azimuth": 1, "elevation": 2, "distance": 3},'))
    (cams.parent / "views" / "08.png").write_bytes((cams.parent / "views" / "00.png").read_bytes())
    (cams.parent / "masks" / "08.png").write_bytes((cams.parent / "masks" / "00.png").read_bytes())
    with pytest.raises(DataError, match="lists 9 views") as err:
        BENCHMARK.check_data(tmp_path, cfg)
    assert str(cams) in str(err.value)


def test_check_data_names_a_missing_directory(tmp_path):
    with pytest.raises(DataError) as err:
        BENCHMARK.check_data(tmp_path / "nowhere", TINY)
    assert "nowhere" in str(err.value)


def test_a_synset_filter_with_no_models_is_an_error(data_dir):
    cfg = dataclasses.replace(TINY, hparams={**TINY.hparams, "synsets": ["03001627"]})
    with pytest.raises(DataError, match="no models of synsets 03001627"):
        BENCHMARK.check_data(data_dir, cfg)


# ----- metric ------------------------------------------------------------------------------------------------
def test_voxel_iou_by_hand():
    pred = torch.zeros(3, 2, 2, 2, dtype=torch.bool)
    target = torch.zeros_like(pred)
    pred[0, 0, 0, :] = True
    target[0, 0, 0, 0] = True  # IoU 1/2
    pred[1, 1] = True
    target[1, 1, 0] = True
    target[1, 0, 0, 0] = True  # |pred & target| = 2, |pred | target| = 5: IoU 2/5
    # grid 2 is empty in both: IoU undefined, left out of the mean
    mean_iou, pooled = voxel_iou(pred, target)
    assert mean_iou == pytest.approx((1 / 2 + 2 / 5) / 2)
    assert pooled == pytest.approx(3 / 7)


def test_constant_predictors_by_hand():
    train = torch.zeros(4, 2, 2, 2, dtype=torch.bool)
    train[:3, 0, 0, 0] = True  # voxel (0,0,0) in 3 of 4 training grids, (1,1,1) in 1 of 4
    train[3, 1, 1, 1] = True
    test = torch.zeros(2, 2, 2, 2, dtype=torch.bool)
    test[0, 0, 0, 0] = True
    test[1, 0, 0, :] = True
    base = constant_predictor_iou(train, test)
    assert base["mean_shape"] == pytest.approx((1 + 1 / 2) / 2)
    assert base["all_full"] == pytest.approx((1 / 8 + 2 / 8) / 2)


# ----- the benchmark ----------------------------------------------------------------------------------------
def test_loss_falls_over_a_few_steps(bench):
    bench.train_mode(True)
    batch = next(iter(bench.train_batches(0)))
    # 30 steps: after 12 the fall depends on the draw (the first batch of some sets starts near a plateau)
    losses = [bench.train_step(batch).loss for _ in range(30)]
    assert all(np.isfinite(losses))
    assert statistics.fmean(losses[-3:]) < 0.8 * losses[0], losses


def test_batches_hold_one_view_per_model_and_every_views_mask(bench):
    batch = next(iter(bench.train_batches(0)))
    assert batch["images"].shape == (4, 3, 32, 32)
    assert batch["cameras"].shape == (4, 8, 4) and batch["masks"].shape == (4, 8, 16, 16)
    assert 0 <= float(batch["images"].min()) and float(batch["images"].max()) <= 1


def test_evaluate_infer_and_score(bench):
    bench.train_mode(False)
    quality = bench.evaluate()
    assert 0 <= quality.value <= 1 and quality.samples == 3 * len(bench.eval_views) == 3 * 4
    samples = bench.inference_samples()
    assert len(samples) == 8 and samples[0].shape == (3, 32, 32)
    outputs = bench.infer(samples[:5])
    assert len(outputs) == 5 and outputs[0].shape == (16, 16, 16) and outputs[0].dtype == torch.bool
    truth = [bench.test_set[bench.query_pairs[i][0]].voxels for i in range(5)]
    assert bench.score(range(5), truth).value == pytest.approx(1.0)
    assert bench.score(range(5), outputs).value == pytest.approx(voxel_iou(torch.stack(outputs),
                                                                             torch.stack(truth))[0])


def test_query_pairs_cover_models_and_views(bench):
    pairs = bench.query_pairs
    assert len(set(pairs)) == len(pairs)
    assert {obj for obj, _ in pairs} == set(range(3))


def test_examples_for_flops(bench):
    run, n = bench.forward_example()
    assert n == 8 and len(run()) == 8
    bench.training_example()()
    assert bench.model.decoder.fc[0].weight.grad is not None


def test_spec_tiny_target_is_well_above_its_baseline():
    assert TINY.target >= TINY.baseline + 0.15
    assert TINY.time_budget_s == 170 and TINY.shrink
    for scale in ("small", "full"):
        cfg = SPEC.scales[scale]
        assert cfg.target == pytest.approx(0.4583)
        assert cfg.hparams["lr"] == 1e-4 and cfg.batch_size == 6 and cfg.hparams["vox_size"] == 32


def test_collate_stacks_models(data_dir):
    ds = ObjectDataset(data_dir, read_split(data_dir, "test"), 32, 16, 16).load()
    objs = collate_objects([ds[0], ds[1]])
    assert objs.images.shape == (2, 8, 3, 32, 32) and objs.voxels.shape == (2, 16, 16, 16)


# ----- the full configuration ------------------------------------------------------------------------------------
FULL = SPEC.scales["full"]
# tensorflow/models research/ptn: ptn_encoder 19,381,888 + ptn_vox_decoder 28,291,681 at 64x64 views, 32^3 volume
FULL_PARAMS = 47_673_569


def test_reference_model_on_the_meta_device_has_the_reference_size():
    with torch.device("meta"):
        model = BENCHMARK.reference_models(FULL)["model"]
    assert sum(p.numel() for p in model.encoder.parameters()) == 19_381_888
    assert sum(p.numel() for p in model.decoder.parameters()) == 28_291_681
    assert SPEC.full_size.params == FULL_PARAMS


@pytest.mark.parametrize("scale", ["small", "full"])
def test_smoke_set_has_the_reference_sizes_and_the_smoke_run_honours_the_eval_limit(tmp_path, scale):
    from aibench.harness.runner import synthesis_config
    from aibench.harness.smoke import smoke_config, smoke_context

    base = SPEC.scales[scale]
    BENCHMARK.synthesize(tmp_path, synthesis_config(base, scale), seed=0)
    summary = BENCHMARK.check_data(tmp_path, base)
    assert summary == {"train_objects": 4, "test_objects": 2, "views": 24}
    if scale == "small":  # the chairs the small scale reads
        assert {k.split("/")[0] for k in read_split(tmp_path, "train")} == {"03001627"}
    cfg = smoke_config(base)
    bench = BENCHMARK(smoke_context(scale, base, tmp_path))
    bench.setup()
    obj = bench.test_set[0]
    assert obj.images.shape == (24, 3, 64, 64) and obj.voxels.shape == (32, 32, 32)
    assert sum(p.numel() for p in bench.model.parameters()) == FULL_PARAMS
    assert len(bench.test_set) * len(bench.eval_views) <= cfg.smoke.eval_samples


# ----- initialization (untimed) and data preparation (timed) ----------------------------------------------
def test_initialize_reads_no_model_and_prepare_data_preloads_them_all(data_dir, monkeypatch):
    from aibench.benchmarks.c13_3d_object_reconstruction import data as data_module

    def no_reading(*args, **kwargs):
        raise AssertionError("read a model's views or voxels outside the timed prepare_data()")

    bench = BENCHMARK(RunContext("tiny", SMALL_SET, data_dir, torch.device("cpu"), 0))
    monkeypatch.setattr(data_module, "read_object", no_reading)
    bench.initialize()  # lists the splits and reads one cameras.json for the view count
    assert bench.n_views == 8 and bench.train_set.cache is None and bench.test_set.cache is None
    monkeypatch.undo()
    bench.prepare_data()
    assert len(bench.train_set.cache) == len(read_split(data_dir, "train"))
    assert len(bench.test_set.cache) == len(read_split(data_dir, "test"))
    monkeypatch.setattr(data_module, "read_object", no_reading)
    assert 0 <= bench.evaluate().value <= 1  # evaluation reads from memory only


def test_tiny_baseline_is_the_mean_shape_of_the_tiny_sets_own_grids():
    """The spec's baseline is measured, not guessed: the mean training grid (threshold tuned on the training
    grids) scored on the test grids of the set the harness synthesizes for tiny (seed 1234); the target stands
    0.15 above it."""
    from aibench.benchmarks.c13_3d_object_reconstruction.data import synthetic_solids

    grids = torch.from_numpy(np.stack([occ for _, occ, _ in synthetic_solids(TINY.hparams, 1234)]))
    n_train = TINY.hparams["objects_train"]
    measured = constant_predictor_iou(grids[:n_train], grids[n_train:])["mean_shape_tuned"]
    assert measured == pytest.approx(TINY.baseline, abs=0.005)
    assert TINY.target >= measured + 0.15
