"""NeuMF (He et al., "Neural Collaborative Filtering", WWW 2017): GMF and an MLP tower fused by one layer.

GMF multiplies a user and an item embedding element-wise; the MLP tower runs ReLU layers over the
concatenation of its own (separate) user and item embeddings. The GMF vector and the tower's last layer are
concatenated into the prediction layer, whose sigmoid is the probability that the user interacts with the item.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn


class NeuMF(nn.Module):
    """`factors` is GMF's embedding size; `mlp_layers[0]` is the concatenated MLP embedding (half user, half
    item) and the following entries are the tower's layer widths, the last one its predictive factors."""

    def __init__(self, n_users: int, n_items: int, factors: int = 8,
                 mlp_layers: Sequence[int] = (64, 32, 16, 8)) -> None:
        super().__init__()
        if len(mlp_layers) < 2 or mlp_layers[0] % 2:
            raise ValueError(f"mlp_layers needs an even input width and at least one layer, got {mlp_layers}")
        half = mlp_layers[0] // 2
        self.gmf_user = nn.Embedding(n_users, factors)
        self.gmf_item = nn.Embedding(n_items, factors)
        self.mlp_user = nn.Embedding(n_users, half)
        self.mlp_item = nn.Embedding(n_items, half)
        tower: list[nn.Module] = []
        for width_in, width_out in zip(mlp_layers[:-1], mlp_layers[1:]):
            tower += [nn.Linear(width_in, width_out), nn.ReLU()]
        self.tower = nn.Sequential(*tower)
        self.predict = nn.Linear(factors + mlp_layers[-1], 1)
        self._init_weights()

    def _init_weights(self) -> None:
        # as the authors' code: embeddings N(0, 0.01), tower Glorot-uniform, prediction layer LeCun-uniform
        for embedding in (self.gmf_user, self.gmf_item, self.mlp_user, self.mlp_item):
            nn.init.normal_(embedding.weight, std=0.01)
        for layer in self.tower:
            if isinstance(layer, nn.Linear):
                nn.init.xavier_uniform_(layer.weight)
                nn.init.zeros_(layer.bias)
        bound = (3.0 / self.predict.in_features) ** 0.5
        nn.init.uniform_(self.predict.weight, -bound, bound)
        nn.init.zeros_(self.predict.bias)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Logits (before the sigmoid) for matching 1-D tensors of user and item indices."""
        gmf = self.gmf_user(users) * self.gmf_item(items)
        mlp = self.tower(torch.cat([self.mlp_user(users), self.mlp_item(items)], dim=-1))
        return self.predict(torch.cat([gmf, mlp], dim=-1)).squeeze(-1)

    def probability(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """The model's prediction: sigmoid of the fused layer, the probability of an interaction."""
        return torch.sigmoid(self.forward(users, items))
