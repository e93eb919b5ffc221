"""FaceNet (Schroff, Kalenichenko & Philbin, CVPR 2015): a deep network mapping a face to a point on the unit
hypersphere, trained so that faces of one person lie close and faces of different people far apart.

Structural parts, as the paper defines them:
- the body: the GoogLeNet-style Inception network (the paper's NN2 is a GoogLeNet variant; AIBench §4.1.9 names
  a "GoogleNet style Inception model"). Here torchvision's GoogLeNet (Inception v1, with batch norm) with its
  auxiliary classifiers off, so the stem, the nine Inception modules and the global average pool are GoogLeNet's;
- the embedding head: one fully connected layer from the pooled 1024 features to d = 128 dimensions, followed
  by L2 normalisation (||f(x)||_2 = 1);
- the triplet loss: sum over triplets of [ ||f(a) - f(p)||^2 - ||f(a) - f(n)||^2 + alpha ]_+ with alpha = 0.2;
- online semi-hard negative mining inside each mini-batch: every anchor-positive pair is used, and its negative
  is the closest one that is still farther from the anchor than the positive (d_an > d_ap); when no negative is
  that far, the farthest negative (the tf.contrib `triplet_semihard_loss` convention).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import GoogLeNet

POOLED_FEATURES = 1024  # GoogLeNet's channels after inception5b


class FaceNet(nn.Module):
    """GoogLeNet body -> Linear(1024, embedding_dim) -> L2 normalisation."""

    def __init__(self, embedding_dim: int = 128, dropout: float = 0.0) -> None:
        super().__init__()
        # num_classes is the head's output width: GoogLeNet's final fc becomes the embedding layer
        self.body = GoogLeNet(num_classes=embedding_dim, aux_logits=False, transform_input=False,
                              init_weights=True, dropout=dropout)
        self.embedding_dim = embedding_dim

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Unit-length embeddings (N, embedding_dim) of images (N, 3, H, W) normalised to about [-1, 1]."""
        return F.normalize(self.body(images), p=2, dim=1)


def squared_distances(embeddings: torch.Tensor) -> torch.Tensor:
    """All pairwise squared Euclidean distances, (N, N); for unit vectors 2 - 2 cos, clamped at 0."""
    gram = embeddings @ embeddings.T
    norms = gram.diagonal()
    return (norms[:, None] - 2 * gram + norms[None, :]).clamp_min(0)


def semi_hard_triplets(distances: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(anchor, positive, negative) index tensors: every anchor-positive pair of the batch with its semi-hard
    negative (the closest negative with d_an > d_ap, else the farthest negative). Pairs whose anchor has no
    negative in the batch are dropped."""
    same = labels[:, None] == labels[None, :]
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    anchor, positive = torch.nonzero(same & ~eye, as_tuple=True)
    has_negative = (~same).any(1)[anchor]
    anchor, positive = anchor[has_negative], positive[has_negative]
    d_ap = distances[anchor, positive]
    d_an = distances[anchor]  # (pairs, N)
    negative_mask = ~same[anchor]
    inf = torch.finfo(distances.dtype).max
    farther = negative_mask & (d_an > d_ap[:, None])
    closest_farther = torch.where(farther, d_an, torch.full_like(d_an, inf)).argmin(1)
    farthest = torch.where(negative_mask, d_an, torch.full_like(d_an, -inf)).argmax(1)
    negative = torch.where(farther.any(1), closest_farther, farthest)
    return anchor, positive, negative


def triplet_loss(embeddings: torch.Tensor, labels: torch.Tensor, margin: float = 0.2
                 ) -> tuple[torch.Tensor, dict[str, float]]:
    """FaceNet's triplet loss averaged over the batch's semi-hard triplets, and mining statistics."""
    distances = squared_distances(embeddings)
    anchor, positive, negative = semi_hard_triplets(distances.detach(), labels)
    violation = distances[anchor, positive] - distances[anchor, negative] + margin
    losses = violation.clamp_min(0)
    stats = {"triplets": float(len(anchor)), "active_fraction": float((losses > 0).float().mean())}
    return losses.mean(), stats
