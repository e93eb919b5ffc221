"""The Transformer (Vaswani et al. 2017) for translation, with greedy decoding and the warm-up lr schedule.

Structural parts (paper §3, §5):
- encoder and decoder stacks of N layers (torch.nn.Transformer, post-norm as in the paper): multi-head
  self-attention and a position-wise feed-forward network (ReLU) in each, plus encoder-decoder attention in each
  decoder layer, every sub-layer wrapped in dropout, a residual connection and layer normalization;
- masked (causal) decoder self-attention, and padding masks on keys;
- token embeddings scaled by sqrt(d_model) plus sinusoidal positional encodings, then dropout;
- one embedding matrix shared by source, target and the pre-softmax linear projection (shared BPE vocabulary);
- training by label-smoothed cross-entropy (eps 0.1) under teacher forcing, Adam with the warm-up schedule
  lr = factor * d_model^-0.5 * min(step^-0.5, step * warmup^-1.5).
torch.nn.Transformer adds a final layer norm after each stack (as the tensor2tensor code does).
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import nn

from aibench.benchmarks.c03_text_to_text_translation.data import BOS_ID, EOS_ID, PAD_ID

# torch's encoder fast path at inference announces its nested tensors as a prototype on every first use; the
# fast path is what a deployment runs, and the notice reads like a failure in a benchmark's output
warnings.filterwarnings("ignore", message="The PyTorch API of nested tensors is in prototype stage")


def sinusoidal_encoding(length: int, d_model: int) -> torch.Tensor:
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(...): shape (length, d_model)."""
    position = torch.arange(length, dtype=torch.float32)[:, None]
    frequency = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
    table = torch.zeros(length, d_model)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency)
    return table


class Transformer(nn.Module):
    def __init__(self, vocab_size: int, d_model: int, d_ff: int, heads: int, layers: int, dropout: float,
                 max_length: int = 1024) -> None:
        super().__init__()
        self.d_model = d_model
        self.embedding = nn.Embedding(vocab_size, d_model, padding_idx=PAD_ID)
        nn.init.normal_(self.embedding.weight, std=d_model ** -0.5)  # logits start near 0 with tied weights
        self.register_buffer("positions", sinusoidal_encoding(max_length, d_model), persistent=False)
        self.dropout = nn.Dropout(dropout)
        self.core = nn.Transformer(d_model, heads, layers, layers, d_ff, dropout, batch_first=True)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        scaled = self.embedding(ids) * math.sqrt(self.d_model)
        return self.dropout(scaled + self.positions[:ids.size(1)])

    def encode(self, source: torch.Tensor) -> torch.Tensor:
        return self.core.encoder(self.embed(source), src_key_padding_mask=source == PAD_ID)

    def decode_states(self, target_in: torch.Tensor, memory: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        """The decoder stack's output (batch, target length, d_model) at every target position."""
        length = target_in.size(1)  # boolean like the padding masks: True hides a later position
        causal = torch.ones(length, length, dtype=torch.bool, device=target_in.device).triu(1)
        return self.core.decoder(self.embed(target_in), memory, tgt_mask=causal, tgt_is_causal=True,
                                 tgt_key_padding_mask=target_in == PAD_ID, memory_key_padding_mask=source == PAD_ID)

    def project(self, states: torch.Tensor) -> torch.Tensor:
        """Next-token logits; the pre-softmax projection shares the embedding."""
        return states @ self.embedding.weight.t()

    def decode(self, target_in: torch.Tensor, memory: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        """Logits (batch, target length, vocab) for the next token at every target position."""
        return self.project(self.decode_states(target_in, memory, source))

    def forward(self, source: torch.Tensor, target_in: torch.Tensor) -> torch.Tensor:
        return self.decode(target_in, self.encode(source), source)


@torch.no_grad()
def greedy_translate(model: Transformer, source: torch.Tensor, max_extra: int) -> list[list[int]]:
    """Greedy decoding, up to source length (with </s>) + `max_extra` tokens; ids without <s>/</s>."""
    memory = model.encode(source)
    limits = (source != PAD_ID).sum(dim=1) + max_extra  # per row, so padding never changes a translation
    tokens = torch.full((source.size(0), 1), BOS_ID, dtype=torch.long, device=source.device)
    done = torch.zeros(source.size(0), dtype=torch.bool, device=source.device)
    for length in range(1, int(limits.max()) + 1):
        # only the newest position's logits: projecting every prefix position onto 37,000 pieces at every step
        # would cost more than the decoder stack itself
        logits = model.project(model.decode_states(tokens, memory, source)[:, -1])
        logits[:, [PAD_ID, BOS_ID]] = float("-inf")
        step = logits.argmax(dim=-1).masked_fill(done, PAD_ID)  # finished rows only pad
        tokens = torch.cat([tokens, step[:, None]], dim=1)
        done |= (step == EOS_ID) | (limits <= length)
        if bool(done.all()):
            break
    out = []
    for row in tokens[:, 1:].tolist():
        row = row[:row.index(EOS_ID)] if EOS_ID in row else row
        out.append([t for t in row if t != PAD_ID])
    return out


def noam_lambda(d_model: int, warmup: int, factor: float):
    """The paper's schedule as a LambdaLR multiplier of a base lr of 1 (step counts from 1)."""
    def rate(step: int) -> float:
        step = max(step, 1)
        return factor * d_model ** -0.5 * min(step ** -0.5, step * warmup ** -1.5)
    return rate
