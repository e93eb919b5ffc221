"""DC-AI-C9 object detection: spec, synthesis, data plumbing, model and a few real learning steps."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from aibench.benchmarks.base import RunContext
from aibench.benchmarks.c09_object_detection import SPEC
from aibench.benchmarks.c09_object_detection.bench import BENCHMARK
from aibench.benchmarks.c09_object_detection.data import (
    SYNTH_CLASSES, hflip, load_image, make_target, mean_box_detections)
from aibench.benchmarks.c09_object_detection.model import build_faster_rcnn
from aibench.datasets.voc import VocAnnotation, VocObject, find_voc_root, read_split
from aibench.datasets.voc_eval import voc07_map
from aibench.errors import DataError

TINY = SPEC.scales["tiny"]


def _small_config(trainval: int = 12, test: int = 6, **overrides):
    hp = {**TINY.hparams, "synth_trainval": trainval, "synth_test": test, **overrides}
    return dataclasses.replace(TINY, hparams=hp, batch_size=4, inference_samples=4)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def small_set(tmp_path_factory) -> tuple[Path, object]:
    cfg = _small_config()
    path = tmp_path_factory.mktemp("c09")
    BENCHMARK.synthesize(path, cfg, seed=3)
    return path, cfg


def _bench(path: Path, cfg, seed: int = 0):
    torch.manual_seed(seed)
    bench = BENCHMARK(RunContext("tiny", cfg, path, torch.device("cpu"), seed))
    bench.setup()
    return bench


def test_spec_imports_no_torch():
    code = "import sys, aibench.benchmarks.c09_object_detection as p; assert 'torch' not in sys.modules, p"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_spec_scales():
    assert SPEC.card.id == "DC-AI-C9" and SPEC.card.metric == "map50"
    assert SPEC.scales["full"].target == 0.75 and SPEC.scales["full"].hparams["backbone"] == "resnet50"
    assert SPEC.scales["small"].hparams["backbone"] == "resnet50"
    assert TINY.baseline is not None and TINY.target >= TINY.baseline + 0.5 and TINY.shrink


def test_synthesis_is_deterministic(tmp_path: Path):
    cfg = _small_config(trainval=4, test=2)
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        BENCHMARK.synthesize(tmp_path / name, cfg, seed)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) == 2 * 6 + 2
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)
    assert any((tmp_path / "a" / f).read_bytes() != (tmp_path / "c" / f).read_bytes() for f in files)


def test_synthesized_set_is_a_voc2007_folder(small_set):
    path, cfg = small_set
    summary = BENCHMARK.check_data(path, cfg)
    assert (summary["train_images"], summary["test_images"]) == (12, 6)
    assert BENCHMARK.check_data(path / "VOC2007", cfg)["root"] == summary["root"]  # VOC2007 itself works too
    objects = [o for a in read_split(find_voc_root(path), "trainval") for o in a.objects]
    assert {o.name for o in objects} <= set(SYNTH_CLASSES)
    assert all(1 <= o.xmin <= o.xmax <= 128 and 1 <= o.ymin <= o.ymax <= 128 for o in objects)


def test_synthesis_marks_difficult_and_truncated_objects(tmp_path: Path):
    BENCHMARK.synthesize(tmp_path, _small_config(trainval=40, test=1), seed=0)
    objects = [o for a in read_split(find_voc_root(tmp_path), "trainval") for o in a.objects]
    assert any(o.difficult for o in objects) and any(o.truncated for o in objects)
    assert sum(o.difficult for o in objects) < len(objects) / 3


def test_check_data_errors_name_the_path(tmp_path: Path):
    with pytest.raises(DataError) as err:
        BENCHMARK.check_data(tmp_path / "missing", TINY)
    assert "missing" in str(err.value)


def test_undecodable_jpeg_is_a_data_error_naming_it(tmp_path: Path):
    (tmp_path / "JPEGImages").mkdir()
    (tmp_path / "JPEGImages" / "000001.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match="cannot decode") as err:
        load_image(tmp_path, "000001")
    assert err.value.path.endswith("000001.jpg")


def test_baseline_is_the_mean_box_detector_and_far_below_target(tmp_path: Path):
    BENCHMARK.synthesize(tmp_path, TINY, seed=1234)  # the seed the harness synthesizes with
    root = find_voc_root(tmp_path)
    train, test = read_split(root, "trainval"), read_split(root, "test")
    detections = mean_box_detections(train, test)
    baseline = voc07_map(detections, [make_target(a, keep_difficult=True) for a in test]).map
    assert baseline == pytest.approx(TINY.baseline, abs=0.01)
    assert len(detections[0]["labels"]) == len(SYNTH_CLASSES)


def test_training_targets_drop_difficult_objects():
    ann = VocAnnotation("000001", 50, 50, (VocObject("car", 1, 1, 10, 10),
                                           VocObject("boat", 5, 5, 20, 20, difficult=True)))
    train, evaluation = make_target(ann, keep_difficult=False), make_target(ann, keep_difficult=True)
    assert train["labels"].tolist() == [7] and train["boxes"].tolist() == [[0, 0, 10, 10]]  # 0 = background
    assert evaluation["labels"].tolist() == [7, 4] and evaluation["difficult"].tolist() == [False, True]


def test_hflip_mirrors_boxes():
    image = torch.zeros(3, 4, 10)
    image[:, :, 0] = 1.0
    flipped, target = hflip(image, {"boxes": torch.tensor([[1.0, 0.0, 3.0, 2.0]]), "labels": torch.tensor([1])})
    assert flipped[:, :, -1].sum() == 12 and target["boxes"].tolist() == [[7.0, 0.0, 9.0, 2.0]]


def test_reference_model_is_torchvision_fasterrcnn_resnet50_fpn():
    from torchvision.models.detection import fasterrcnn_resnet50_fpn

    ours = build_faster_rcnn(SPEC.scales["full"].hparams).state_dict()
    ref = fasterrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=21).state_dict()
    assert {k: v.shape for k, v in ours.items()} == {k: v.shape for k, v in ref.items()}


def test_backbone_checkpoint_is_loaded_and_frozen_below_top_stages(tmp_path: Path):
    from torchvision.models import resnet18

    torch.manual_seed(0)
    weights = resnet18().state_dict()
    torch.save(weights, tmp_path / "r18.pth")
    model = build_faster_rcnn({**TINY.hparams, "backbone_checkpoint": str(tmp_path / "r18.pth"),
                               "trainable_backbone_layers": 3})
    body = model.backbone.body
    assert torch.equal(body.layer3[0].conv1.weight, weights["layer3.0.conv1.weight"])
    assert not body.layer1[0].conv1.weight.requires_grad and body.layer2[0].conv1.weight.requires_grad
    with pytest.raises(DataError, match="missing"):
        build_faster_rcnn({**TINY.hparams, "backbone_checkpoint": str(tmp_path / "nope.pth")})


def test_lr_warms_up_then_steps_down(small_set):
    path, cfg = small_set
    bench = _bench(path, dataclasses.replace(cfg, hparams={**cfg.hparams, "warmup_iters": 4, "lr_steps": [2]}))
    per_epoch = bench._steps_per_epoch()
    assert per_epoch == 3
    assert bench._lr_factor(0) == pytest.approx(cfg.hparams["warmup_factor"])
    assert bench._lr_factor(4) == 1.0 and bench._lr_factor(2 * per_epoch) == pytest.approx(0.1)


def test_loss_falls_over_a_few_steps(small_set):
    path, cfg = small_set
    bench = _bench(path, dataclasses.replace(cfg, batch_size=2))
    bench.train_mode(True)
    batch = bench.example_batch()
    losses = [bench.train_step(batch).loss for _ in range(6)]
    assert losses[-1] < 0.6 * losses[0], losses
    out = bench.train_step(batch)
    assert set(out.losses) == {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"}


def test_inference_and_scoring(small_set):
    path, cfg = small_set
    bench = _bench(path, cfg)
    bench.train_mode(False)
    samples = list(bench.inference_samples())
    outputs = bench.infer(samples)
    assert len(outputs) == len(samples) == 4
    assert all(set(o) == {"boxes", "scores", "labels"} and o["boxes"].device.type == "cpu" for o in outputs)
    # the ground truth itself, scored as detections, is perfect: score() pairs outputs with the right images
    truth = [make_target(bench.test_set.annotations[i], keep_difficult=False) for i in (2, 0)]
    perfect = [{"boxes": t["boxes"], "labels": t["labels"], "scores": torch.ones(len(t["labels"]))} for t in truth]
    quality = bench.score([2, 0], perfect)
    assert quality.value == pytest.approx(1.0) and quality.extra["coco_map50"] == pytest.approx(1.0)
    assert quality.samples == 2 and any(k.startswith("ap50_") for k in quality.extra)
    assert bench.score([0, 2], perfect).value < 1.0
