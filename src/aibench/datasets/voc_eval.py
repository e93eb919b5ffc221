"""PASCAL VOC2007 detection metric: mAP at IoU 0.5 with 11-point interpolated AP, `difficult` ignored.

The VOC2007 protocol (devkit `VOCevaldet`, and `voc_eval.py` of the Faster R-CNN code bases) per class:
detections over all images are ranked by score; each is matched to the ground-truth box of its class in its
image with the highest IoU; IoU > 0.5 with a box not yet matched is a true positive, with an already matched
box a false positive (a duplicate), and below the threshold a false positive. A detection whose best box is
`difficult` counts neither way, and difficult boxes are not among the positives to recall. AP is the mean, over
recall levels 0, 0.1, ..., 1, of the highest precision at a recall at least that level.

torchmetrics' MeanAveragePrecision (COCO protocol: 101-point interpolation, `iscrowd` instead of `difficult`)
is computed beside it as a cross-check; the two agree closely but not exactly.

Boxes are continuous (x1, y1, x2, y2) as torchvision detectors output them; `VocObject.box()` converts the
XML's 1-based inclusive pixels so that IoUs equal the devkit's `+1` pixel arithmetic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torchvision.ops import box_iou

Detections = Mapping[str, torch.Tensor]  # boxes [N, 4], scores [N], labels [N]
GroundTruth = Mapping[str, torch.Tensor]  # boxes [M, 4], labels [M], difficult [M] (bool)

_TP, _FP, _IGNORED = 1, 0, -1


@dataclass
class VocMap:
    map: float
    ap: dict[int, float]  # per class label that has at least one non-difficult ground-truth box


def voc07_average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """11-point interpolated AP: mean over t in {0, 0.1, ..., 1} of max precision at recall >= t (0 if none)."""
    points = []
    for t in np.linspace(0.0, 1.0, 11):
        reached = recall >= t - 1e-12  # tolerate float error in recall = k / n
        points.append(float(precision[reached].max()) if reached.any() else 0.0)
    return float(np.mean(points))


def _match_in_image(boxes: torch.Tensor, scores: torch.Tensor, gt_boxes: torch.Tensor,
                    gt_difficult: torch.Tensor, iou_threshold: float) -> np.ndarray:
    """Outcome (_TP, _FP, _IGNORED) of each detection of one class in one image, greedy by score."""
    outcome = np.full(len(boxes), _FP, dtype=np.int8)
    if len(gt_boxes) == 0 or len(boxes) == 0:
        return outcome
    iou = box_iou(boxes.double(), gt_boxes.double())
    best_iou, best_gt = iou.max(dim=1)
    matched = torch.zeros(len(gt_boxes), dtype=torch.bool)
    for i in torch.argsort(-scores, stable=True).tolist():
        j = int(best_gt[i])
        if float(best_iou[i]) <= iou_threshold:
            continue
        if bool(gt_difficult[j]):
            outcome[i] = _IGNORED
        elif not matched[j]:
            outcome[i] = _TP
            matched[j] = True
    return outcome


def _class_ap(label: int, detections: Sequence[Detections], ground_truths: Sequence[GroundTruth],
              iou_threshold: float) -> float | None:
    """AP of one class, or None when it has no non-difficult ground truth (the class is not scored)."""
    positives = 0
    all_scores, all_outcomes = [], []
    for det, gt in zip(detections, ground_truths):
        gt_mask = gt["labels"] == label
        difficult = gt["difficult"][gt_mask].bool()
        positives += int((~difficult).sum())
        det_mask = det["labels"] == label
        scores = det["scores"][det_mask].float().cpu()
        outcome = _match_in_image(det["boxes"][det_mask].cpu(), scores, gt["boxes"][gt_mask].cpu(),
                                  difficult.cpu(), iou_threshold)
        all_scores.append(scores.numpy())
        all_outcomes.append(outcome)
    if positives == 0:
        return None
    scores = np.concatenate(all_scores) if all_scores else np.zeros(0)
    outcomes = np.concatenate(all_outcomes) if all_outcomes else np.zeros(0, dtype=np.int8)
    order = np.argsort(-scores, kind="stable")
    outcomes = outcomes[order]
    outcomes = outcomes[outcomes != _IGNORED]
    tp = np.cumsum(outcomes == _TP)
    fp = np.cumsum(outcomes == _FP)
    recall = tp / positives
    precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    return voc07_average_precision(recall, precision)


def voc07_map(detections: Sequence[Detections], ground_truths: Sequence[GroundTruth],
              iou_threshold: float = 0.5) -> VocMap:
    """VOC2007 mAP over the classes that have non-difficult ground truth; one detections dict per image."""
    if len(detections) != len(ground_truths):
        raise ValueError(f"{len(detections)} detection sets for {len(ground_truths)} images")
    labels = sorted({int(x) for gt in ground_truths for x in gt["labels"].tolist()})
    ap: dict[int, float] = {}
    for label in labels:
        value = _class_ap(label, detections, ground_truths, iou_threshold)
        if value is not None:
            ap[label] = value
    return VocMap(map=float(np.mean(list(ap.values()))) if ap else 0.0, ap=ap)


def coco_map50(detections: Sequence[Detections], ground_truths: Sequence[GroundTruth]) -> float:
    """torchmetrics' COCO-style mAP at IoU 0.5 (101-point), `difficult` boxes passed as `iscrowd`.

    Needs pycocotools, torchmetrics' default detection backend.
    """
    from torchmetrics.detection import MeanAveragePrecision

    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", iou_thresholds=[0.5])
    preds = [{k: det[k].detach().cpu() for k in ("boxes", "scores", "labels")} for det in detections]
    targets = [{"boxes": gt["boxes"].cpu().float(), "labels": gt["labels"].cpu(),
                "iscrowd": gt["difficult"].cpu().long()} for gt in ground_truths]
    metric.update(preds, targets)
    return float(metric.compute()["map"])
