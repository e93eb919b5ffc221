"""The 17 AIBench component benchmarks by id, alias and name.

The cards are the paper's Tables 3, 5 and 6. Listing and lookup import no torch; a benchmark's package
(its spec and scales) is imported only when it is asked for, and its model code only when it runs.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import re
from collections.abc import Iterable

from aibench.errors import UserError
from aibench.spec import BenchmarkSpec, PaperCard


def _card(n, name, task, algorithm, dataset, metric, hib, target, text, var, rep, ep_s, tot_h, subset=False):
    return PaperCard(
        id=f"DC-AI-C{n}", name=name, task=task, algorithm=algorithm, dataset=dataset, metric=metric,
        higher_is_better=hib, paper_target=target, paper_target_text=text, variation_pct=var, repeat_times=rep,
        epoch_time_s=ep_s, total_time_h=tot_h, in_subset=subset, package=f"c{n:02d}_{name}",
    )


# fmt: off
CARDS: tuple[PaperCard, ...] = (
    _card(1, "image_classification", "Image classification", "ResNet-50", "ImageNet", "top1_accuracy", True,
          0.749, "74.9% (accuracy)", 1.12, 5, 10516.91, 130, subset=True),
    _card(2, "image_generation", "Image generation", "Wasserstein GAN", "LSUN", "em_distance", False,
          None, "N/A", None, None, 3935.75, None),
    _card(3, "text_to_text_translation", "Text-to-text translation", "Transformer", "WMT English-German",
          "token_accuracy", True, 0.55, "55% (accuracy)", 9.38, 6, 64.83, 1.72),
    _card(4, "image_to_text", "Image-to-text", "Neural Image Caption", "Microsoft COCO", "perplexity", False,
          4.2, "4.2 (perplexity)", 23.53, 5, 845.02, 10.21),
    _card(5, "image_to_image", "Image-to-image translation", "CycleGAN", "Cityscapes", "pixel_accuracy", True,
          None, "N/A", None, None, 251.67, None),
    _card(6, "speech_recognition", "Speech recognition", "DeepSpeech2", "LibriSpeech", "wer", False,
          0.0533, "5.33% (WER)", 12.08, 4, 14326.86, 42.78),
    _card(7, "face_embedding", "Face embedding", "FaceNet", "VGGFace2, LFW", "lfw_accuracy", True,
          0.9897, "98.97% (accuracy)", 5.73, 8, 214.73, 3.43),
    _card(8, "3d_face_recognition", "3D face recognition", "RGB-D ResNet-50", "RGB-D faces (253 IDs)",
          "accuracy", True, 0.9464, "94.64% (accuracy)", 38.46, 4, 36.99, 12.02),
    _card(9, "object_detection", "Object detection", "Faster R-CNN (ResNet-50)", "VOC2007", "map50", True,
          0.75, "75% (mAP)", 0.0, 10, 1627.39, 2.52, subset=True),
    _card(10, "recommendation", "Recommendation", "Neural Collaborative Filtering", "MovieLens", "hr_at_10", True,
          0.635, "63.5% (HR@10)", 9.95, 5, 36.72, 0.16),
    _card(11, "video_prediction", "Video prediction", "CDNA motion-focused predictive model", "Robot pushing",
          "mse", False, 72.0, "72 (MSE)", 11.83, 4, 24.99, 2.11),
    _card(12, "image_compression", "Image compression", "Recurrent full-resolution compression", "ImageNet",
          "ms_ssim", True, 0.99, "0.99 (MS-SSIM)", 22.49, 4, 763.44, 5.67),
    _card(13, "3d_object_reconstruction", "3D object reconstruction", "Perspective transformer nets", "ShapeNet",
          "voxel_iou", True, 0.4583, "45.83% (IU)", 16.07, 4, 28.41, 0.38),
    _card(14, "text_summarization", "Text summarization", "Attentional sequence-to-sequence", "Gigaword",
          "rouge_l", True, 0.41, "41 (Rouge-L)", 24.72, 5, 1923.33, 6.41),
    _card(15, "spatial_transformer", "Spatial transformer", "Spatial transformer network", "MNIST", "accuracy",
          True, 0.99, "99% (accuracy)", 7.29, 4, 6.38, 0.06),
    _card(16, "learning_to_rank", "Learning to rank", "Ranking distillation (Caser teacher/student)", "Gowalla",
          "precision_at_10", True, 0.1458, "14.58% (accuracy)", 1.90, 4, 74.16, 0.47,
          subset=True),
    _card(17, "neural_architecture_search", "Neural architecture search", "ENAS", "PTB", "perplexity", False,
          100.0, "100 (perplexity)", 6.15, 6, 932.79, 7.47),
)
# fmt: on

_BY_KEY: dict[str, PaperCard] = {}
for _c in CARDS:
    for _key in (_c.id, _c.alias, _c.name):
        _BY_KEY[_key.lower()] = _c


def card(selector: str) -> PaperCard:
    """Find one benchmark by id (DC-AI-C1), alias (C1) or name (image_classification); suggest on a miss.

    Data set and algorithm names (ImageNet, ResNet-50) never select: several benchmarks share some (C1 and C12
    both use ImageNet, three models are transformers), so a selector keeps one meaning as benchmarks are added.
    They suggest instead: every benchmark that uses the data set or algorithm is named."""
    key = selector.strip().lower()
    if key in _BY_KEY:
        return _BY_KEY[key]
    raise UserError(f"unknown benchmark {selector!r}{_did_you_mean(selector)} (see `aibench list`)")


def _norm(text: str) -> str:
    """Lower case, letters and digits only: `ResNet-50` and `resnet50` meet."""
    return re.sub(r"[^0-9a-z]", "", text.lower())


def _words(text: str) -> set[str]:
    """A data set or algorithm field as keys: the whole, and each word of three or more letters or digits
    (`VGGFace2, LFW` gives vggface2lfw, vggface2, lfw)."""
    parts = {_norm(p) for p in re.split(r"[\s,()/]+", text)}
    return {_norm(text)} | {p for p in parts if len(p) >= 3 and not p.isdigit()}


def matches(selector: str) -> list[tuple[PaperCard, str]]:
    """Every benchmark whose data set or algorithm the selector names (whole or a word of it), with what matched;
    failing that, those of the closest id, name, data set or algorithm (a typo)."""
    key = _norm(selector)
    if not key:
        return []
    found = [(c, f"data set {c.dataset}") for c in CARDS if key in _words(c.dataset)]
    found += [(c, f"algorithm {c.algorithm}") for c in CARDS if key in _words(c.algorithm)]
    if found:
        return found
    keys: dict[str, list[tuple[PaperCard, str]]] = {}
    for c in CARDS:
        for k in (c.id, c.alias, c.name):
            keys.setdefault(_norm(k), []).append((c, c.name))
        for k in _words(c.dataset):
            keys.setdefault(k, []).append((c, f"data set {c.dataset}"))
        for k in _words(c.algorithm):
            keys.setdefault(k, []).append((c, f"algorithm {c.algorithm}"))
    close = difflib.get_close_matches(key, list(keys), n=1, cutoff=0.6)
    return keys[close[0]] if close else []


def _did_you_mean(selector: str) -> str:
    found: dict[str, list[str]] = {}
    for c, why in matches(selector):
        found.setdefault(c.alias, [c.name] if why == c.name else [c.name, why])
    if not found:
        return ""
    named = [f"{alias} ({', '.join(whys)})" for alias, whys in found.items()]
    return "; did you mean " + (named[0] if len(named) == 1 else ", ".join(named[:-1]) + " or " + named[-1]) + "?"


def select(selectors: Iterable[str]) -> list[PaperCard]:
    """Resolve selectors to cards in paper order; `subset` and `all` are groups. Duplicates collapse."""
    chosen: dict[str, PaperCard] = {}
    for sel in selectors:
        low = sel.strip().lower()
        if low == "all":
            group = list(CARDS)
        elif low == "subset":
            group = [c for c in CARDS if c.in_subset]
        else:
            group = [card(sel)]
        for c in group:
            chosen[c.id] = c
    return sorted(chosen.values(), key=lambda c: c.number)


def implemented(c: PaperCard) -> bool:
    """A benchmark is implemented when its folder aibench/benchmarks/cNN_<name>/ exists: the folder is the
    registration, so adding a benchmark touches no shared file. Finding it imports nothing heavy."""
    found = importlib.util.find_spec(f"aibench.benchmarks.{c.package}")
    # a bare folder (say, __pycache__ left behind by a checkout) is a namespace package: not a benchmark
    return found is not None and (found.origin or "").endswith("__init__.py")


def spec(c: PaperCard) -> BenchmarkSpec:
    """The benchmark's spec with its scales (imports its torch-free package)."""
    if not implemented(c):
        raise UserError(f"{c.id} {c.name} is not implemented yet")
    return importlib.import_module(f"aibench.benchmarks.{c.package}").SPEC


def benchmark_class(c: PaperCard) -> type:
    """The Benchmark class (imports torch and the model code)."""
    spec(c)
    return importlib.import_module(f"aibench.benchmarks.{c.package}.bench").BENCHMARK
