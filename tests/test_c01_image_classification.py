"""DC-AI-C1 image classification: synthesis, data checks, metric, LR schedule, model and a few learning steps."""

import dataclasses
import hashlib
import re
from pathlib import Path

import pytest
import torch
import torchvision

from aibench.benchmarks.base import RunContext
from aibench.benchmarks.c01_image_classification import SPEC
from aibench.benchmarks.c01_image_classification.bench import (
    ImageClassification,
    step_decay_factor,
    top_k_accuracy,
)
from aibench.benchmarks.c01_image_classification.data import PATTERNS, synthetic_wnid
from aibench.benchmarks.c01_image_classification.model import resnet50
from aibench.characterize.flops import count_parameters
from aibench.datasets.imagefolder import WNID_PATTERN
from aibench.errors import DataError
from aibench.harness.runner import synthesis_config
from aibench.harness.smoke import smoke_config, smoke_context

TINY = SPEC.scales["tiny"]

pytestmark = pytest.mark.usefixtures("one_torch_thread")
# A smaller copy of the tiny set keeps the file fast; the layout and patterns are the same.
SMALL_SET = dataclasses.replace(TINY, batch_size=16, inference_samples=8, hparams={
    **TINY.hparams, "synth_train_per_class": 2, "synth_val_per_class": 2, "eval_batch_size": 32})


def _digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.JPEG")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("c01")
    ImageClassification.synthesize(root, SMALL_SET, seed=3)
    return root


def test_synthesis_writes_imagenet_layout(data_dir):
    summary = ImageClassification.check_data(data_dir, SMALL_SET)
    classes = TINY.hparams["num_classes"]
    assert summary == {"classes": classes, "train_images": 2 * classes, "val_images": 2 * classes}
    wnid = synthetic_wnid(0)
    assert (data_dir / "train" / wnid / f"{wnid}_0.JPEG").is_file()
    assert (data_dir / "val" / wnid / "ILSVRC2012_val_00000001.JPEG").is_file()
    assert len({p.parent.name for p in data_dir.glob("train/*/*.JPEG")}) == len(PATTERNS) == classes


def test_synthesis_is_deterministic_and_varies_with_seed(tmp_path, data_dir):
    ImageClassification.synthesize(tmp_path / "same", SMALL_SET, seed=3)
    ImageClassification.synthesize(tmp_path / "other", SMALL_SET, seed=4)
    assert _digest(tmp_path / "same") == _digest(data_dir)
    assert _digest(tmp_path / "other") != _digest(data_dir)


def test_images_of_a_class_are_not_copies(data_dir):
    wnid = synthetic_wnid(5)
    first, second = sorted((data_dir / "train" / wnid).glob("*.JPEG"))
    assert first.read_bytes() != second.read_bytes()


def test_check_data_names_a_corrupt_image(tmp_path):
    ImageClassification.synthesize(tmp_path, SMALL_SET, seed=0)
    broken = tmp_path / "val" / synthetic_wnid(2) / "ILSVRC2012_val_00000005.JPEG"
    broken.write_bytes(broken.read_bytes()[:50])
    with pytest.raises(DataError) as err:
        ImageClassification.check_data(tmp_path, SMALL_SET)
    assert err.value.path == str(broken)


def test_check_data_rejects_too_few_classes_and_missing_split(tmp_path):
    ImageClassification.synthesize(tmp_path, SMALL_SET, seed=0)
    full = SPEC.scales["full"]
    with pytest.raises(DataError, match="10 class folders, expected at least 1000"):
        ImageClassification.check_data(tmp_path, full)
    for path in sorted((tmp_path / "val").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (tmp_path / "val").rmdir()
    with pytest.raises(DataError, match="missing split folder") as err:
        ImageClassification.check_data(tmp_path, SMALL_SET)
    assert err.value.path == str(tmp_path / "val")


def test_top_k_accuracy_matches_a_hand_computed_case():
    # Six classes, four samples. Ranked classes per row: 0>1>2>3>4>5, 5>4>3>2>1>0, 2>..., 3>...
    logits = torch.tensor([
        [6.0, 5, 4, 3, 2, 1],
        [1.0, 2, 3, 4, 5, 6],
        [0.0, 1, 9, 2, 3, 4],
        [0.0, 5, 4, 9, 3, 2],
    ])
    labels = torch.tensor([0, 0, 2, 0])
    # top-1 right for rows 0 and 2; top-5 misses only where the label is ranked last (rows 1 and 3).
    assert top_k_accuracy(logits, labels, num_classes=6) == pytest.approx({"top1": 0.5, "top5": 0.5})
    labels = torch.tensor([0, 1, 2, 5])  # row 1: class 1 is fifth; row 3: class 5 is fifth
    assert top_k_accuracy(logits, labels, num_classes=6) == pytest.approx({"top1": 0.5, "top5": 1.0})
    assert set(top_k_accuracy(logits[:, :4], labels.clamp(max=3), num_classes=4)) == {"top1"}


def test_step_decay_schedule_follows_the_reference():
    full = SPEC.scales["full"].hparams
    factor = lambda epoch: step_decay_factor(epoch * 100, 100, full["lr_milestones"], full["lr_gamma"], 0)  # noqa: E731
    assert [factor(e) for e in (0, 29, 30, 59, 60, 89)] == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])
    warm = [step_decay_factor(s, 10, [5], 0.1, warmup_epochs=2) for s in (0, 9, 19, 20, 49, 50)]
    assert warm == pytest.approx([0.05, 0.5, 1.0, 1.0, 1.0, 0.1])


def test_reference_configuration_is_the_papers():
    full, small = SPEC.scales["full"], SPEC.scales["small"]
    assert full.target == small.target == SPEC.card.paper_target == 0.749
    assert (full.batch_size, full.max_epochs) == (256, 90)
    hp = full.hparams
    assert (hp["lr"], hp["momentum"], hp["weight_decay"], hp["lr_milestones"]) == (0.1, 0.9, 1e-4, [30, 60])
    assert (hp["image_size"], hp["resize_size"], hp["num_classes"], hp["base_width"]) == (224, 256, 1000, 64)
    assert small.hparams["base_width"] == 64 and small.hparams["num_classes"] == 100
    assert TINY.baseline < TINY.target and TINY.time_budget_s == 170


def test_reference_width_model_is_torchvisions_resnet50():
    ours, theirs = resnet50(1000), torchvision.models.resnet50()
    assert [tuple(p.shape) for p in ours.parameters()] == [tuple(p.shape) for p in theirs.parameters()]
    # torchvision's names, so a C1 checkpoint loads where torchvision's ImageNet weights do (C9's backbone)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    narrow = resnet50(10, base_width=16, zero_init_residual=True)
    assert narrow.fc.in_features == 16 * 8 * 4
    depth = sum(isinstance(m, torch.nn.Conv2d) for m in narrow.modules()) + 1  # + fc
    assert depth == 50 + 4  # 49 convolutions + fc on the main path, plus 4 projection shortcuts
    assert all(not block.bn3.weight.detach().any() for block in narrow.layer4)
    assert narrow(torch.randn(2, 3, 32, 32)).shape == (2, 10)


def test_the_control_is_the_plain_net_without_residual_connections(data_dir):
    plain = resnet50(10, base_width=16, zero_init_residual=True, residual=False)
    residual = resnet50(10, base_width=16, zero_init_residual=True)
    # the same 50 layers, without the 4 projection shortcuts, and no BatchNorm starting at zero
    assert sum(isinstance(m, torch.nn.Conv2d) for m in plain.modules()) + 1 == 50
    assert all(block.downsample is None and block.bn3.weight.detach().all()
               for stage in (plain.layer1, plain.layer2, plain.layer3, plain.layer4) for block in stage)
    # with the residual net's weights (its last BatchNorms set nonzero) a block's output is its residual branch
    # alone; the residual net's adds the input back
    with torch.no_grad():
        for module in residual.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
    weights = residual.state_dict()
    shortcuts = {key for key in weights if ".downsample." in key}
    assert shortcuts and set(plain.state_dict()) == set(weights) - shortcuts
    plain.load_state_dict({key: value for key, value in weights.items() if key not in shortcuts})
    block, plain_block = residual.layer1[1].eval(), plain.layer1[1].eval()
    x = torch.randn(2, block.conv1.in_channels, 8, 8)
    branch = block.bn3(block.conv3(block.relu(block.bn2(block.conv2(block.relu(block.bn1(block.conv1(x))))))))
    assert torch.allclose(plain_block(x), torch.relu(branch))
    assert torch.allclose(block(x), torch.relu(branch + x))
    assert not torch.allclose(plain.eval()(x[:, :3].repeat(1, 1, 4, 4)),
                              residual.eval()(x[:, :3].repeat(1, 1, 4, 4)))
    # the benchmark builds it when its context asks for the control
    control = ImageClassification(RunContext("tiny", SMALL_SET, data_dir, torch.device("cpu"), seed=0,
                                             control=True))
    control.setup()
    assert not any(isinstance(m, torch.nn.Sequential) and "downsample" in name
                   for name, m in control.model.named_modules())
    assert all(type(block).__name__ == "PlainBottleneck" for block in control.model.layer4)


@pytest.fixture(scope="module")
def bench(data_dir):
    torch.manual_seed(0)
    b = ImageClassification(RunContext("tiny", SMALL_SET, data_dir, torch.device("cpu"), seed=0))
    b.setup()
    return b


def test_loss_falls_over_a_few_steps(bench):
    bench.train_mode(True)
    batch = next(iter(bench.train_batches(0)))
    assert batch[0].shape == (16, 3, TINY.hparams["image_size"], TINY.hparams["image_size"])
    losses = [bench.train_step(batch).loss for _ in range(6)]
    assert losses[-1] < losses[0], losses


def test_evaluate_infer_and_score_agree(bench):
    bench.train_mode(False)
    quality = bench.evaluate()
    assert quality.samples == 20 and 0 <= quality.value <= 1 and "top5" in quality.extra
    samples = list(bench.inference_samples())
    size = TINY.hparams["image_size"]
    assert len(samples) == SMALL_SET.inference_samples and samples[0].shape == (3, size, size)
    outputs = bench.infer(samples)
    # the served answer is the 5 best class ids, best first: 20 bytes an image in the accuracy log, not 10 logits
    assert len(outputs) == len(samples) and outputs[0].shape == (5,) and outputs[0].dtype == torch.int32
    logits = bench.model(torch.stack(samples))
    assert torch.equal(torch.stack(outputs).long(), logits.topk(5, dim=1).indices)
    scored = bench.score(range(len(samples)), outputs)
    labels = torch.tensor([bench.eval_set.samples[i][1] for i in bench._inference_indices])
    assert scored.value == pytest.approx(float((logits.argmax(1) == labels).float().mean()))
    # the whole evaluation split served gives what evaluate() measured on the logits, top-5 included
    every = range(bench.query_count())
    served = bench.score(every, bench.infer([bench.load_query(i) for i in every]))
    assert served.value == pytest.approx(quality.value) and served.extra["top5"] == pytest.approx(quality.extra["top5"])


def test_train_batches_reshuffle_reproducibly(bench):
    def labels(epoch):
        torch.manual_seed(1)  # augmentation randomness; the order comes from the benchmark's own generator
        return torch.cat([y for _, y in bench.train_batches(epoch)]).tolist()

    assert labels(0) == labels(0)
    assert labels(0) != labels(1)


def test_reference_models_on_the_meta_device_have_torchvisions_count():
    with torch.device("meta"):
        models = ImageClassification.reference_models(SPEC.scales["full"])
    assert count_parameters(models)["total"] == SPEC.full_size.params == 25_557_032  # torchvision's num_params
    assert models["model"].fc.out_features == 1000


def test_full_shaped_set_has_every_imagenet_class_and_smoke_setup_builds_the_reference(tmp_path):
    cfg = synthesis_config(SPEC.scales["full"], "full")
    ImageClassification.synthesize(tmp_path, cfg, seed=0)
    summary = ImageClassification.check_data(tmp_path, cfg)
    assert summary == {"classes": 1000, "train_images": 1000, "val_images": 1000}
    assert all(re.fullmatch(WNID_PATTERN, p.name) for p in (tmp_path / "train").iterdir())
    smoke = smoke_config(SPEC.scales["full"])
    bench = ImageClassification(smoke_context("full", SPEC.scales["full"], tmp_path))
    bench.setup()
    assert len(bench.eval_set) == smoke.smoke.eval_samples and bench.train_loader.num_workers == 0
    assert count_parameters(bench.models())["total"] == SPEC.full_size.params
    size = SPEC.scales["full"].hparams["image_size"]
    assert bench.example_batch()[0].shape == (smoke.batch_size, 3, size, size)
