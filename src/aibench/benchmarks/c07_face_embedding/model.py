"""FaceNet (Schroff, Kalenichenko & Philbin, CVPR 2015): a deep network mapping a face to a point on the unit
hypersphere, trained so that faces of one person lie close and faces of different people far apart.

Structural parts:
- the body: Inception-ResNet-v1 (Szegedy et al. 2016, "Inception-v4, Inception-ResNet and the Impact of Residual
  Connections", Fig. 14-19), the body of the public FaceNet implementations (davidsandberg/facenet's
  models/inception_resnet_v1.py and facenet-pytorch's InceptionResnetV1; AIBench §4.1.9: "GoogleNet style Inception
  model ... about 24 million parameters"): a stem to 256 channels, 5 Inception-ResNet-A blocks (residual scale 0.17),
  Reduction-A to 896, 10 Inception-ResNet-B blocks (0.10), Reduction-B to 1792, 5 Inception-ResNet-C blocks (0.20)
  and a last C block without its ReLU, then global average pooling. Every convolution is conv (no bias) + batch
  norm (eps 1e-3) + ReLU, except each residual block's 1x1 projection (a biased conv, no norm, no activation);
- the embedding head: the bottleneck of both implementations, Linear(1792, d, no bias) + BatchNorm1d(d), then L2
  normalisation (||f(x)||_2 = 1); d = 128 (FaceNet §4, davidsandberg's train_tripletloss default);
- the triplet loss: sum over triplets of [ ||f(a) - f(p)||^2 - ||f(a) - f(n)||^2 + alpha ]_+ with alpha = 0.2;
- online semi-hard negative mining inside each mini-batch: every anchor-positive pair is used, and its negative
  is the closest one that is still farther from the anchor than the positive (d_an > d_ap); when no negative is
  that far, the farthest negative (the tf.contrib `triplet_semihard_loss` convention).

`width` scales every channel count (tiny narrows the network; 1.0 is the reference), `blocks` the A/B/C repeats.
The valid-padded stem and reductions need at least MIN_INPUT pixels: 75 gives a 1x1 map before pooling.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

MIN_INPUT = 75  # smallest square input whose Reduction-B output is still 1x1 (every valid 3x3 / stride 2 shrinks)
REFERENCE_BLOCKS = (5, 10, 5)  # Inception-ResNet-A, -B, -C repeats (the last C block without ReLU is extra)
BN_EPS = 1e-3  # both reference implementations' batch-norm epsilon


class ConvBN(nn.Sequential):
    """Conv (no bias) -> BatchNorm -> ReLU: the unit every Inception-ResNet-v1 branch is built from."""

    def __init__(self, cin: int, cout: int, kernel: int | tuple[int, int], stride: int = 1,
                 padding: int | tuple[int, int] = 0) -> None:
        super().__init__(nn.Conv2d(cin, cout, kernel, stride, padding, bias=False),
                         nn.BatchNorm2d(cout, eps=BN_EPS), nn.ReLU(inplace=True))


class Residual(nn.Module):
    """An Inception-ResNet block: parallel branches, concatenated, projected back to the input width by a biased
    1x1 conv, scaled and added to the input, then ReLU (omitted in the network's very last block)."""

    def __init__(self, channels: int, branches: Sequence[nn.Module], branch_out: int, scale: float,
                 relu: bool = True) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)
        self.project = nn.Conv2d(branch_out, channels, 1)
        self.scale, self.relu = scale, relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x + self.scale * self.project(torch.cat([b(x) for b in self.branches], 1))
        return F.relu(out) if self.relu else out


class Concat(nn.Module):
    """Parallel branches concatenated on channels (the reduction modules)."""

    def __init__(self, branches: Sequence[nn.Module]) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([b(x) for b in self.branches], 1)


def _block_a(c: int, n: int, scale: float = 0.17) -> Residual:
    """Inception-ResNet-A (35x35 grid at 299 px): 1x1 | 1x1-3x3 | 1x1-3x3-3x3, 32 channels each."""
    return Residual(c, [ConvBN(c, n, 1), nn.Sequential(ConvBN(c, n, 1), ConvBN(n, n, 3, padding=1)),
                        nn.Sequential(ConvBN(c, n, 1), ConvBN(n, n, 3, padding=1), ConvBN(n, n, 3, padding=1))],
                    3 * n, scale)


def _block_b(c: int, n: int, scale: float = 0.10) -> Residual:
    """Inception-ResNet-B (17x17 grid): 1x1 | 1x1-1x7-7x1, 128 channels each."""
    return Residual(c, [ConvBN(c, n, 1), nn.Sequential(ConvBN(c, n, 1), ConvBN(n, n, (1, 7), padding=(0, 3)),
                                                       ConvBN(n, n, (7, 1), padding=(3, 0)))], 2 * n, scale)


def _block_c(c: int, n: int, scale: float = 0.20, relu: bool = True) -> Residual:
    """Inception-ResNet-C (8x8 grid): 1x1 | 1x1-1x3-3x1, 192 channels each."""
    return Residual(c, [ConvBN(c, n, 1), nn.Sequential(ConvBN(c, n, 1), ConvBN(n, n, (1, 3), padding=(0, 1)),
                                                       ConvBN(n, n, (3, 1), padding=(1, 0)))], 2 * n, scale, relu)


class InceptionResnetV1(nn.Module):
    """The Inception-ResNet-v1 body and FaceNet's bottleneck: images (N, 3, H, W) -> (N, embedding_dim), not yet
    normalised."""

    def __init__(self, embedding_dim: int = 128, width: float = 1.0,
                 blocks: Sequence[int] = REFERENCE_BLOCKS, dropout: float = 0.0) -> None:
        super().__init__()

        def ch(n: int) -> int:  # channels at this width; at least 4 so narrow branches keep a real filter bank
            return max(4, round(n * width))

        stem_out, a_out = ch(256), ch(256) + ch(256) + ch(384)  # Reduction-A: 3x3/2 | 1x1-3x3-3x3/2 | max-pool
        b_out = a_out + ch(384) + ch(256) + ch(256)  # Reduction-B adds three conv towers to the pooled input
        self.stem = nn.Sequential(
            ConvBN(3, ch(32), 3, stride=2), ConvBN(ch(32), ch(32), 3), ConvBN(ch(32), ch(64), 3, padding=1),
            nn.MaxPool2d(3, stride=2), ConvBN(ch(64), ch(80), 1), ConvBN(ch(80), ch(192), 3),
            ConvBN(ch(192), stem_out, 3, stride=2))
        n_a, n_b, n_c = blocks
        self.repeat_a = nn.Sequential(*[_block_a(stem_out, ch(32)) for _ in range(n_a)])
        self.reduction_a = Concat([
            ConvBN(stem_out, ch(384), 3, stride=2),
            nn.Sequential(ConvBN(stem_out, ch(192), 1), ConvBN(ch(192), ch(192), 3, padding=1),
                          ConvBN(ch(192), ch(256), 3, stride=2)),
            nn.MaxPool2d(3, stride=2)])
        self.repeat_b = nn.Sequential(*[_block_b(a_out, ch(128)) for _ in range(n_b)])
        self.reduction_b = Concat([
            nn.Sequential(ConvBN(a_out, ch(256), 1), ConvBN(ch(256), ch(384), 3, stride=2)),
            nn.Sequential(ConvBN(a_out, ch(256), 1), ConvBN(ch(256), ch(256), 3, stride=2)),
            nn.Sequential(ConvBN(a_out, ch(256), 1), ConvBN(ch(256), ch(256), 3, padding=1),
                          ConvBN(ch(256), ch(256), 3, stride=2)),
            nn.MaxPool2d(3, stride=2)])
        self.repeat_c = nn.Sequential(*[_block_c(b_out, ch(192)) for _ in range(n_c)],
                                      _block_c(b_out, ch(192), scale=1.0, relu=False))
        self.dropout = nn.Dropout(dropout)
        self.bottleneck = nn.Linear(b_out, embedding_dim, bias=False)
        self.bottleneck_bn = nn.BatchNorm1d(embedding_dim, eps=BN_EPS)
        self.features = b_out

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.repeat_c(self.reduction_b(self.repeat_b(self.reduction_a(self.repeat_a(self.stem(images))))))
        return self.bottleneck_bn(self.bottleneck(self.dropout(x.mean((2, 3)))))


class FaceNet(nn.Module):
    """Inception-ResNet-v1 -> bottleneck -> L2 normalisation."""

    def __init__(self, embedding_dim: int = 128, dropout: float = 0.0, width: float = 1.0,
                 blocks: Sequence[int] = REFERENCE_BLOCKS) -> None:
        super().__init__()
        self.body = InceptionResnetV1(embedding_dim, width, blocks, dropout)
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
