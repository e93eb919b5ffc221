"""DC-AI-C9 object detection: spec, synthesis, data plumbing, model and a few real learning steps."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision
from torchvision.ops import FrozenBatchNorm2d

from aibench.benchmarks.base import RunContext
from aibench.benchmarks.c09_object_detection import SPEC
from aibench.benchmarks.c09_object_detection.bench import BENCHMARK
from aibench.benchmarks.c09_object_detection.data import (
    SYNTH_CLASSES, hflip, load_image, make_target, mean_box_detections)
from aibench.benchmarks.c09_object_detection.model import build_faster_rcnn
from aibench.characterize.flops import count_parameters
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


def test_reference_models_are_the_fine_tuned_torchvision_detector_at_21_classes():
    full = SPEC.scales["full"]
    assert full.pretrained and SPEC.scales["small"].pretrained and not TINY.pretrained
    with torch.device("meta"):
        model = BENCHMARK.reference_models(full)["model"]
    assert model.roi_heads.box_predictor.cls_score.out_features == 21  # VOC's 20 + background
    assert count_parameters({"model": model})["total"] == SPEC.full_size.params == 41_174_136
    assert sum(p.numel() for p in model.parameters()) == 41_396_536  # frozen conv1 and layer1 included
    body = model.backbone.body
    assert isinstance(body.bn1, FrozenBatchNorm2d) and not body.layer1[0].conv1.weight.requires_grad
    assert body.layer2[0].conv1.weight.requires_grad


def test_tiny_backbone_is_a_narrow_resnet50_trained_from_scratch():
    model = build_faster_rcnn(TINY.hparams)
    body = model.backbone.body
    assert [len(body[f"layer{k}"]) for k in (1, 2, 3, 4)] == [3, 4, 6, 3]  # ResNet-50's bottleneck stages
    assert body.conv1.out_channels == TINY.hparams["base_width"] == 16
    assert isinstance(body.bn1, torch.nn.BatchNorm2d) and all(p.requires_grad for p in model.parameters())


def test_a_real_run_without_pretrained_weights_refuses_to_start():
    from aibench.errors import UserError
    from aibench.harness.runner import RunOptions, check_pretrained

    with pytest.raises(UserError, match="--pretrained C9=PATH"):
        check_pretrained(SPEC.card, RunOptions(scale="full"))
    check_pretrained(SPEC.card, RunOptions(scale="full", smoke=True))  # a smoke run only warns
    check_pretrained(SPEC.card, RunOptions(scale="tiny"))


@pytest.fixture(scope="module")
def full_shaped_set(tmp_path_factory) -> Path:
    """`aibench data synth C9 --scale full`'s set, with fewer images."""
    from aibench.harness.runner import synthesis_config

    cfg = synthesis_config(SPEC.scales["full"], "full")
    path = tmp_path_factory.mktemp("c09full")
    BENCHMARK.synthesize(path, dataclasses.replace(cfg, hparams={**cfg.hparams, "synth_trainval": 3,
                                                                 "synth_test": 3}), seed=0)
    return path


def _full_smoke_bench(path: Path, pretrained: Path | None = None):
    from aibench.harness.smoke import smoke_config

    cfg = smoke_config(SPEC.scales["full"])
    bench = BENCHMARK(RunContext("full", cfg, path, torch.device("cpu"), seed=0, smoke=True,
                                 eval_limit=cfg.smoke.eval_samples, pretrained=pretrained))
    bench.setup()
    return bench


def test_full_shaped_set_has_voc_sized_images_of_voc_classes(full_shaped_set):
    annotations = read_split(find_voc_root(full_shaped_set), "trainval")
    assert {(a.width, a.height) for a in annotations} == {(500, 375)}
    assert {o.name for a in annotations for o in a.objects} - set(SYNTH_CLASSES)  # beyond tiny's three classes


def test_smoke_setup_without_weights_builds_the_reference_and_limits_evaluation(full_shaped_set):
    bench = _full_smoke_bench(full_shaped_set)  # the harness warns that the weights are random
    assert len(bench.test_set) == SPEC.scales["full"].smoke.eval_samples == 2
    assert count_parameters(bench.models())["total"] == SPEC.full_size.params


def _assert_backbone_is(bench, state: dict) -> None:
    body = bench.model.backbone.body
    assert torch.equal(body.layer3[0].conv1.weight, state["layer3.0.conv1.weight"])
    assert torch.equal(body.bn1.running_mean, state["bn1.running_mean"])
    assert not bench.ctx.warnings


def test_pretrained_torchvision_file_and_c1_checkpoint_both_load(full_shaped_set, tmp_path: Path):
    from aibench.benchmarks.c01_image_classification.model import resnet50

    torch.manual_seed(0)
    imagenet = torchvision.models.resnet50().state_dict()  # torchvision's weights-file format
    imagenet["bn1.running_mean"] += 0.5  # not the default init, so loading is visible
    torch.save(imagenet, tmp_path / "resnet50-0676ba61.pth")
    _assert_backbone_is(_full_smoke_bench(full_shaped_set, tmp_path / "resnet50-0676ba61.pth"), imagenet)
    c1 = resnet50(1000).state_dict()
    torch.save({"model": c1}, tmp_path / "C1-full.pt")  # as the runner saves a C1 checkpoint: bench.state_dict()
    _assert_backbone_is(_full_smoke_bench(full_shaped_set, tmp_path / "C1-full.pt"), c1)


def test_a_wrong_pretrained_file_is_a_one_line_data_error(full_shaped_set, tmp_path: Path):
    torch.save(torchvision.models.resnet18().state_dict(), tmp_path / "resnet18.pth")
    (tmp_path / "notes.txt").write_text("not weights")
    for name, message in (("resnet18.pth", "not weights of this architecture"),
                          ("notes.txt", "not a PyTorch state-dict file")):
        with pytest.raises(DataError, match=message) as err:
            _full_smoke_bench(full_shaped_set, tmp_path / name)
        assert err.value.path == str(tmp_path / name) and "\n" not in str(err.value)


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
    losses = [bench.train_step(batch).loss for _ in range(8)]  # the lr is still warming up
    assert losses[-1] < 0.6 * losses[0], losses
    out = bench.train_step(batch)
    assert set(out.losses) == {"loss_classifier", "loss_box_reg", "loss_objectness", "loss_rpn_box_reg"}


def test_initialize_parses_annotations_and_decodes_no_image(small_set, monkeypatch):
    """The untimed initialize() parses the annotation XMLs (the split's index) but decodes no JPEG; training
    decodes in its timed loop, and the inference samples are decoded on first use, once."""
    from PIL import Image

    path, cfg = small_set
    bench = BENCHMARK(RunContext("tiny", cfg, path, torch.device("cpu"), 0))
    with monkeypatch.context() as patch:
        patch.setattr(Image, "open", lambda file, *a, **k: pytest.fail(f"initialize() decoded {file}"))
        bench.setup()  # initialize() and prepare_data(), which has nothing to decode here
    assert bench.train_samples() == 12 and len(bench.test_set.annotations) == 6
    decoded = []
    real_open = Image.open
    monkeypatch.setattr(Image, "open", lambda file, *a, **k: decoded.append(file) or real_open(file, *a, **k))
    samples = bench.inference_samples()
    assert len(samples) == 4 and samples[0].shape[0] == 3 and len(decoded) == 4
    assert bench.inference_samples() is samples and len(decoded) == 4
    assert torch.equal(samples[1], load_image(bench.test_set.root, bench.test_set.annotations[1].image_id))


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
