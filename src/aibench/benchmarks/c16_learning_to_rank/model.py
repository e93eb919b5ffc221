"""Caser (Tang & Wang, WSDM 2018) and the ranking-distillation losses (Tang & Wang, KDD 2018).

Caser embeds a user's last L items as an L x d "image": vertical filters (L x 1) take weighted sums of the
item embeddings (point-level patterns), horizontal filters (h x d, h = 1..L) with max-pooling over time find
union-level patterns. Their concatenation goes through a fully-connected layer, is joined with the user's
embedding, and each item's score is a dot product with that item's output embedding plus a bias.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Caser(nn.Module):
    def __init__(self, n_users: int, n_items: int, d: int, L: int, nv: int, nh: int, dropout: float) -> None:
        super().__init__()
        self.user_embeddings = nn.Embedding(n_users, d)
        self.item_embeddings = nn.Embedding(n_items, d)
        self.conv_v = nn.Conv2d(1, nv, (L, 1))
        self.conv_h = nn.ModuleList(nn.Conv2d(1, nh, (h, d)) for h in range(1, L + 1))
        self.fc1 = nn.Linear(nv * d + nh * L, d)
        self.dropout = nn.Dropout(dropout)
        # output side: W2 and b2 as embeddings, so training scores only the sampled items
        self.W2 = nn.Embedding(n_items, 2 * d)
        self.b2 = nn.Embedding(n_items, 1)
        self._init_weights(d)

    def _init_weights(self, d: int) -> None:
        # as the reference implementation: small normal embeddings, zero item biases
        nn.init.normal_(self.user_embeddings.weight, 0, 1.0 / d)
        nn.init.normal_(self.item_embeddings.weight, 0, 1.0 / d)
        nn.init.normal_(self.W2.weight, 0, 1.0 / (2 * d))
        nn.init.zeros_(self.b2.weight)

    def query(self, sequences: torch.Tensor, users: torch.Tensor) -> torch.Tensor:
        """The (sequence, user) representation [z; P_u], batch x 2d."""
        image = self.item_embeddings(sequences).unsqueeze(1)  # B x 1 x L x d
        vertical = self.conv_v(image).flatten(1)  # B x (nv*d)
        # identity activation on the convolutions, max-pooling over time (the reference's settings)
        horizontal = [conv(image).squeeze(3).amax(dim=2) for conv in self.conv_h]  # each B x nh
        z = torch.sigmoid(self.fc1(self.dropout(torch.cat([vertical, *horizontal], dim=1))))
        return torch.cat([z, self.user_embeddings(users)], dim=1)

    def forward(self, sequences: torch.Tensor, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Scores of the given items (B x N) for each (sequence, user) in the batch."""
        x = self.query(sequences, users)
        return torch.baddbmm(self.b2(items), self.W2(items), x.unsqueeze(2)).squeeze(2)

    def score_all(self, sequences: torch.Tensor, users: torch.Tensor) -> torch.Tensor:
        """Scores of every item (B x n_items), for ranking."""
        return torch.addmm(self.b2.weight.T, self.query(sequences, users), self.W2.weight.T)


def ranking_loss(target_scores: torch.Tensor, negative_scores: torch.Tensor) -> torch.Tensor:
    """Caser's binary cross-entropy: -log s(target) - log(1 - s(negative)), summed per instance, batch mean."""
    per_instance = -F.logsigmoid(target_scores).sum(1) - F.logsigmoid(-negative_scores).sum(1)
    return per_instance.mean()


def distillation_loss(candidate_scores: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Ranking distillation: the teacher's top-K items are treated as weighted positives, -sum_r w_r log s(y_r)."""
    return (-F.logsigmoid(candidate_scores) * weights).sum(1).mean()


def position_weights(K: int, lam: float, device: torch.device | None = None) -> torch.Tensor:
    """Position importance w_r proportional to exp(-r / lambda), r = 1..K, normalized to sum 1."""
    w = torch.exp(-torch.arange(1, K + 1, dtype=torch.float32, device=device) / lam)
    return w / w.sum()


def discrepancy_weights(candidate_scores: torch.Tensor, sample_scores: torch.Tensor, n_items: int,
                        mu: float) -> torch.Tensor:
    """Ranking-discrepancy weights tanh(max(mu * (rank_student - r), 0)) for the teacher's top-K (rank r,
    0-based); the student's rank of each candidate is estimated from how many of the randomly sampled items it
    scores below, scaled to the catalogue size (`n_items`: the real items, the padding item not counted)."""
    below = (candidate_scores.unsqueeze(2) < sample_scores.unsqueeze(1)).float().mean(2)  # B x K
    student_rank = torch.floor(n_items * below)
    teacher_rank = torch.arange(candidate_scores.shape[1], device=candidate_scores.device, dtype=below.dtype)
    return torch.tanh(mu * (student_rank - teacher_rank)).clamp(min=0.0)

