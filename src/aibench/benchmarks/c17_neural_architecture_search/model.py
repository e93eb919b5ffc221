"""ENAS for recurrent cells (Pham et al. 2018, §2.1 and §3.1): the search space, the shared-weight language
model and the LSTM controller.

A cell is a DAG of N nodes. Node 0 reads the input x_t and the previous state h_{t-1}; every later node l reads
the output of one earlier node j. Each node is a highway layer (the paper's "highway connections"):

    c_l = sigmoid(W^c_{l,j} h_j)      h_l = c_l * f_l(W^h_{l,j} h_j) + (1 - c_l) * h_j

with f_l one of tanh, ReLU, identity, sigmoid. The cell's output h_t is the average of the loose ends (nodes no
other node reads). Every (l, j) edge owns its own matrices, shared by all architectures that use the edge.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

ACTIVATIONS: tuple[str, ...] = ("tanh", "relu", "identity", "sigmoid")
_ACTIVATION_FNS = (torch.tanh, torch.relu, lambda z: z, torch.sigmoid)


@dataclass(frozen=True)
class Architecture:
    """A recurrent cell: `activations[l]` (indices into ACTIVATIONS) and, for node l >= 1, `previous[l - 1]`."""

    activations: tuple[int, ...]
    previous: tuple[int, ...]

    def __post_init__(self) -> None:
        if len(self.previous) != len(self.activations) - 1:
            raise ValueError("an architecture needs one previous node per node after the first")
        if any(not 0 <= j < l for l, j in enumerate(self.previous, start=1)):
            raise ValueError(f"node l may only read an earlier node: {self.previous}")

    @property
    def num_nodes(self) -> int:
        return len(self.activations)

    def edges(self) -> list[tuple[int, int]]:
        """The (node, previous node) pairs the cell uses."""
        return [(l, j) for l, j in enumerate(self.previous, start=1)]

    def loose_ends(self) -> list[int]:
        """Nodes whose output no other node reads: the cell output averages them."""
        read = set(self.previous)
        return [node for node in range(self.num_nodes) if node not in read]

    def encode(self) -> list[int]:
        """ENAS's flat encoding: activation of node 0, then (previous, activation) for every later node."""
        codes = [self.activations[0]]
        for j, act in zip(self.previous, self.activations[1:]):
            codes += [j, act]
        return codes

    @classmethod
    def decode(cls, codes: Iterable[int]) -> Architecture:
        codes = [int(c) for c in codes]
        return cls(activations=(codes[0], *codes[2::2]), previous=tuple(codes[1::2]))

    def describe(self) -> dict[str, Any]:
        nodes = [{"node": 0, "input": "x_t, h_{t-1}", "activation": ACTIVATIONS[self.activations[0]]}]
        nodes += [{"node": l, "input": j, "activation": ACTIVATIONS[self.activations[l]]} for l, j in self.edges()]
        return {"nodes": nodes, "output": {"average_of": self.loose_ends()}, "encoding": self.encode()}


def random_architecture(num_nodes: int, rng: np.random.Generator) -> Architecture:
    """A cell drawn uniformly from the search space: each node's activation among ACTIVATIONS and, for node l >= 1,
    its input among the nodes 0..l-1 (the control of `--controls`: random search with one draw)."""
    activations = tuple(int(a) for a in rng.integers(len(ACTIVATIONS), size=num_nodes))
    previous = tuple(int(rng.integers(l)) for l in range(1, num_nodes))
    return Architecture(activations=activations, previous=previous)


def all_edges(num_nodes: int) -> list[tuple[int, int]]:
    """Every edge of the search space: node l may read any earlier node j."""
    return [(l, j) for l in range(1, num_nodes) for j in range(l)]


def _highway(gate_and_value: torch.Tensor, carried: torch.Tensor, activation: int) -> torch.Tensor:
    gate, value = gate_and_value.chunk(2, dim=-1)
    gate = torch.sigmoid(gate)
    return gate * _ACTIVATION_FNS[activation](value) + (1 - gate) * carried


class ENASCell(nn.Module):
    """The recurrent cell's weights for a set of edges: all of them (shared) or one architecture's (derived).

    With `norm_momentum` set (the shared model during the search at small and full), every node's pre-activation
    and the cell output are batch-normalized, as in the authors' search code: without it, sampled cells with
    identity or ReLU chains can blow the state up over time. The authors train their derived (fixed) cells
    without it, so a search under it may favour cells that only batch norm keeps stable; tiny searches without.
    """

    def __init__(self, input_size: int, hidden_size: int, edges: Iterable[tuple[int, int]],
                 num_nodes: int, init_range: float = 0.1, norm_momentum: float | None = None) -> None:
        super().__init__()
        self.input_to_node0 = nn.Linear(input_size, 2 * hidden_size, bias=False)
        self.state_to_node0 = nn.Linear(hidden_size, 2 * hidden_size, bias=False)
        self.edges = nn.ModuleDict({f"{l}_{j}": nn.Linear(hidden_size, 2 * hidden_size, bias=False)
                                    for l, j in edges})
        for weight in self.parameters():  # uniform in +-init_range; ENAS uses 0.1
            nn.init.uniform_(weight, -init_range, init_range)
        self.node_norms = self.output_norm = None
        if norm_momentum is not None:  # the authors' batch norm: epsilon 1.0, moving averages for evaluation
            self.node_norms = nn.ModuleList(nn.BatchNorm1d(2 * hidden_size, eps=1.0, momentum=norm_momentum)
                                            for _ in range(num_nodes))
            self.output_norm = nn.BatchNorm1d(hidden_size, eps=1.0, momentum=norm_momentum)

    def _node(self, node: int, pre_activation: torch.Tensor, carried: torch.Tensor, activation: int
              ) -> torch.Tensor:
        if self.node_norms is not None:
            pre_activation = self.node_norms[node](pre_activation)
        return _highway(pre_activation, carried, activation)

    def step(self, projected_input: torch.Tensor, state: torch.Tensor, arch: Architecture) -> torch.Tensor:
        """One time step: `projected_input` is input_to_node0(x_t), computed for all steps at once."""
        nodes = [self._node(0, projected_input + self.state_to_node0(state), state, arch.activations[0])]
        for l, j in arch.edges():
            nodes.append(self._node(l, self.edges[f"{l}_{j}"](nodes[j]), nodes[j], arch.activations[l]))
        output = torch.stack([nodes[k] for k in arch.loose_ends()]).mean(dim=0)
        return output if self.output_norm is None else self.output_norm(output)


class LockedDropout(nn.Module):
    """Variational dropout (Gal & Ghahramani): one mask per sequence, the same at every time step."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def mask(self, like: torch.Tensor) -> torch.Tensor | None:
        if not self.training or self.p == 0:
            return None
        keep = 1 - self.p
        return torch.bernoulli(torch.full(like.shape[-2:], keep, device=like.device)) / keep

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = self.mask(x)
        return x if mask is None else x * mask


class RecurrentLM(nn.Module):
    """Embedding -> ENAS cell over time -> decoder tied to the embedding (Inan et al.; Press & Wolf)."""

    def __init__(self, vocab_size: int, hidden_size: int, num_nodes: int, edges: Iterable[tuple[int, int]],
                 arch: Architecture | None = None, dropout_x: float = 0.0, dropout_h: float = 0.0,
                 dropout_o: float = 0.0, init_range: float = 0.1, norm_momentum: float | None = None) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.arch = arch  # fixed for a derived model; None for the shared model (given per call)
        self.embedding = nn.Embedding(vocab_size, hidden_size)
        nn.init.uniform_(self.embedding.weight, -init_range, init_range)
        self.cell = ENASCell(hidden_size, hidden_size, edges, num_nodes, init_range, norm_momentum)
        self.decoder_bias = nn.Parameter(torch.zeros(vocab_size))
        self.drop_x, self.drop_h, self.drop_o = LockedDropout(dropout_x), LockedDropout(dropout_h), \
            LockedDropout(dropout_o)

    def initial_state(self, batch_size: int) -> torch.Tensor:
        return self.embedding.weight.new_zeros(batch_size, self.hidden_size)

    def forward(self, tokens: torch.Tensor, state: torch.Tensor, arch: Architecture | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits (time, batch, vocab) for time-major `tokens`, and the final state."""
        arch = arch or self.arch
        if arch is None:
            raise ValueError("the shared model needs an architecture for every call")
        projected = self.cell.input_to_node0(self.drop_x(self.embedding(tokens)))
        state_mask = self.drop_h.mask(state)
        outputs = []
        for t in range(tokens.size(0)):
            state = self.cell.step(projected[t], state if state_mask is None else state * state_mask, arch)
            outputs.append(state)
        hidden = self.drop_o(torch.stack(outputs))
        return F.linear(hidden, self.embedding.weight, self.decoder_bias), state


def shared_model(vocab_size: int, hidden_size: int, num_nodes: int, norm_momentum: float,
                 **options: float) -> RecurrentLM:
    """The child model holding the weights of every edge, shared by all sampled architectures."""
    return RecurrentLM(vocab_size, hidden_size, num_nodes, all_edges(num_nodes), norm_momentum=norm_momentum,
                       **options)


def derived_model(vocab_size: int, hidden_size: int, arch: Architecture, **options: float) -> RecurrentLM:
    """A model of one fixed architecture, holding only the weights of its edges."""
    return RecurrentLM(vocab_size, hidden_size, arch.num_nodes, arch.edges(), arch=arch, **options)


@dataclass
class Sample:
    """An architecture drawn from the controller with the log-probability and entropy of its decisions."""

    arch: Architecture
    log_prob: torch.Tensor
    entropy: torch.Tensor


class Controller(nn.Module):
    """The ENAS controller: an LSTM that emits, in turn, node 0's activation, then for each later node the
    previous node it reads and its activation. Each decision's embedding is the next step's input."""

    def __init__(self, num_nodes: int, hidden_size: int = 100, tanh_constant: float = 2.5,
                 temperature: float = 5.0) -> None:
        super().__init__()
        self.num_nodes, self.tanh_constant, self.temperature = num_nodes, tanh_constant, temperature
        self.lstm = nn.LSTMCell(hidden_size, hidden_size)
        self.start = nn.Parameter(torch.zeros(1, hidden_size))
        self.activation_embedding = nn.Embedding(len(ACTIVATIONS), hidden_size)
        self.node_embedding = nn.Embedding(num_nodes, hidden_size)
        self.activation_head = nn.Linear(hidden_size, len(ACTIVATIONS))
        self.previous_heads = nn.ModuleList(nn.Linear(hidden_size, l) for l in range(1, num_nodes))
        for weight in self.parameters():  # as in ENAS: uniform in [-0.1, 0.1]
            nn.init.uniform_(weight, -0.1, 0.1)

    def _logits(self, raw: torch.Tensor) -> torch.Tensor:
        """Temperature, then tanh squashing (Bello et al.): keeps the policy from collapsing early."""
        return self.tanh_constant * torch.tanh(raw / self.temperature)

    def sample(self, generator: torch.Generator | None = None, greedy: bool = False) -> Sample:
        """Draw an architecture (or take the most likely decision at every step when `greedy`)."""
        inputs, state = self.start, None
        log_probs, entropies, activations, previous = [], [], [], []

        def decide(head: nn.Module) -> int:
            nonlocal state
            state = self.lstm(inputs, state)
            log_p = F.log_softmax(self._logits(head(state[0]))[0], dim=-1)
            probs = log_p.exp()
            choice = probs.argmax() if greedy else torch.multinomial(probs.detach(), 1, generator=generator)[0]
            log_probs.append(log_p[choice])
            entropies.append(-(probs * log_p).sum())
            return int(choice)

        for node in range(self.num_nodes):
            if node > 0:
                previous.append(decide(self.previous_heads[node - 1]))
                inputs = self.node_embedding.weight[previous[-1]].unsqueeze(0)
            activations.append(decide(self.activation_head))
            inputs = self.activation_embedding.weight[activations[-1]].unsqueeze(0)
        arch = Architecture(activations=tuple(activations), previous=tuple(previous))
        return Sample(arch, torch.stack(log_probs).sum(), torch.stack(entropies).sum())
