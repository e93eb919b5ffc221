"""Attentional encoder-decoder RNN for headline generation (Nallapati et al. 2016, §2.1: the "off-the-shelf"
model of Bahdanau et al. 2015), with beam search decoding.

Structural parts:
- encoder: word embedding, then a bidirectional GRU; each source position is the concatenation of its forward
  and backward states;
- decoder: a unidirectional GRU of the same hidden size whose initial state is a tanh layer of the encoder's
  final forward and backward states; its input at step t is the previous word's embedding and the context;
- attention (Bahdanau): additive scores v^T tanh(W s_{t-1} + U h_i) over the unpadded source positions, a softmax,
  and the context c_t = sum_i a_ti h_i;
- readout: a maxout layer (pool 2) of (s_t, c_t, previous embedding), then a softmax over the target vocabulary;
- training by cross-entropy of the reference headline under teacher forcing; decoding by beam search.

The benchmark's control (`attention=False`) is the same encoder-decoder without attention: every decoder step reads
one fixed context, the encoder's final forward and backward states (Cho et al. 2014's RNN encoder-decoder, which
Bahdanau et al. compare against as RNNencdec), in place of the attention-weighted sum of all source states.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from aibench.benchmarks.c14_text_summarization.data import BOS_ID, EOS_ID, PAD_ID


@dataclass
class Memory:
    """What the decoder reads of an encoded batch: states, their attention keys, the padding mask."""

    values: torch.Tensor  # (batch, source, 2 * hidden)
    keys: torch.Tensor  # (batch, source, attention)
    mask: torch.Tensor  # (batch, source), True at real tokens

    def select(self, rows: torch.Tensor) -> Memory:
        return Memory(self.values[rows], self.keys[rows], self.mask[rows])


class Encoder(nn.Module):
    def __init__(self, vocab_size: int, embedding: int, hidden: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding, padding_idx=PAD_ID)
        self.rnn = nn.GRU(embedding, hidden, batch_first=True, bidirectional=True)

    def forward(self, source: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """States (batch, source, 2H) and the final forward and backward states concatenated (batch, 2H)."""
        packed = pack_padded_sequence(self.embedding(source), lengths.cpu(), batch_first=True, enforce_sorted=False)
        states, final = self.rnn(packed)
        states, _ = pad_packed_sequence(states, batch_first=True, total_length=source.size(1))
        return states, torch.cat([final[0], final[1]], dim=-1)


class AdditiveAttention(nn.Module):
    """Bahdanau et al.'s alignment model."""

    def __init__(self, query: int, value: int, size: int) -> None:
        super().__init__()
        self.query = nn.Linear(query, size, bias=False)
        self.key = nn.Linear(value, size)
        self.score = nn.Linear(size, 1, bias=False)

    def keys(self, values: torch.Tensor) -> torch.Tensor:
        return self.key(values)  # computed once per source, reused at every decoder step

    def forward(self, query: torch.Tensor, memory: Memory) -> tuple[torch.Tensor, torch.Tensor]:
        scores = self.score(torch.tanh(memory.keys + self.query(query)[:, None])).squeeze(-1)
        weights = F.softmax(scores.masked_fill(~memory.mask, float("-inf")), dim=-1)
        return torch.bmm(weights[:, None], memory.values).squeeze(1), weights


class FinalStateContext(nn.Module):
    """The control's stand-in for attention, without parameters: the context is the one memory slot, the encoder's
    final states, at every step; the decoder state plays no part in it."""

    def keys(self, values: torch.Tensor) -> torch.Tensor:
        return values[..., :0]  # nothing to score

    def forward(self, query: torch.Tensor, memory: Memory) -> tuple[torch.Tensor, torch.Tensor]:
        return memory.values[:, 0], memory.mask[:, :1].to(memory.values.dtype)


class Summarizer(nn.Module):
    """Bidirectional GRU encoder, attentional GRU decoder with a maxout readout; attention=False: the control, whose
    decoder sees only the encoder's final states."""

    def __init__(self, source_vocab: int, target_vocab: int, embedding: int, hidden: int,
                 attention: bool = True) -> None:
        super().__init__()
        self.encoder = Encoder(source_vocab, embedding, hidden)
        self.bridge = nn.Linear(2 * hidden, hidden)
        self.attends = attention
        self.attention = AdditiveAttention(hidden, 2 * hidden, hidden) if attention else FinalStateContext()
        self.embedding = nn.Embedding(target_vocab, embedding, padding_idx=PAD_ID)
        self.cell = nn.GRUCell(embedding + 2 * hidden, hidden)
        self.readout = nn.Linear(hidden + 2 * hidden + embedding, 2 * hidden)  # maxout pairs -> hidden units
        self.output = nn.Linear(hidden, target_vocab)

    def encode(self, source: torch.Tensor, lengths: torch.Tensor) -> tuple[Memory, torch.Tensor]:
        values, final = self.encoder(source, lengths)
        if self.attends:
            memory = Memory(values, self.attention.keys(values), source != PAD_ID)
        else:  # the plain encoder-decoder's memory: one slot, the final states
            memory = Memory(final[:, None], self.attention.keys(final[:, None]), source[:, :1] != PAD_ID)
        return memory, torch.tanh(self.bridge(final))

    def step(self, previous: torch.Tensor, state: torch.Tensor, memory: Memory) -> tuple[torch.Tensor, torch.Tensor]:
        """One decoder step: logits over the target vocabulary for the next word, and the new state."""
        embedded = self.embedding(previous)
        context, _ = self.attention(state, memory)
        state = self.cell(torch.cat([embedded, context], dim=-1), state)
        maxout = self.readout(torch.cat([state, context, embedded], dim=-1))
        maxout = maxout.view(*maxout.shape[:-1], -1, 2).max(dim=-1).values
        return self.output(maxout), state

    def forward(self, source: torch.Tensor, lengths: torch.Tensor, target_in: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits (batch, target length, vocab)."""
        memory, state = self.encode(source, lengths)
        logits = []
        for t in range(target_in.size(1)):
            step_logits, state = self.step(target_in[:, t], state, memory)
            logits.append(step_logits)
        return torch.stack(logits, dim=1)


def beam_search(model: Summarizer, source: torch.Tensor, lengths: torch.Tensor, beam: int, max_length: int
                ) -> list[list[int]]:
    """The highest-scoring (sum of log-probabilities) headline per source, without </s>; beam 1 is greedy.

    All sources decode together as batch x beam rows. A finished hypothesis keeps its score and only extends
    with padding, so it competes with the unfinished ones until the end.
    """
    batch = source.size(0)
    memory, state = model.encode(source, lengths)
    rows = torch.arange(batch, device=source.device).repeat_interleave(beam)
    memory, state = memory.select(rows), state[rows]
    scores = torch.full((batch, beam), float("-inf"), device=source.device)
    scores[:, 0] = 0.0  # all beams start identical: only one may expand at the first step
    tokens = torch.full((batch * beam,), BOS_ID, dtype=torch.long, device=source.device)
    finished = torch.zeros(batch * beam, dtype=torch.bool, device=source.device)
    history: list[tuple[torch.Tensor, torch.Tensor]] = []  # (parent row, token) per step
    for _ in range(max_length):
        logits, state = model.step(tokens, state, memory)
        log_probs = _continuations(F.log_softmax(logits, dim=-1), finished)
        total = (scores.view(-1, 1) + log_probs).view(batch, -1)
        scores, flat = total.topk(beam, dim=-1)
        vocab = log_probs.size(-1)
        parents = (torch.arange(batch, device=source.device)[:, None] * beam + flat // vocab).view(-1)
        tokens = (flat % vocab).view(-1)
        state, finished = state[parents], finished[parents] | (tokens == EOS_ID) | (tokens == PAD_ID)
        history.append((parents, tokens))
        if bool(finished.all()):
            break
    return _backtrack(history, batch, beam)


def _continuations(log_probs: torch.Tensor, finished: torch.Tensor) -> torch.Tensor:
    """Live rows may emit any word but <pad>/<s>; finished rows may only emit <pad>, at no cost."""
    log_probs = log_probs.clone()
    log_probs[:, [PAD_ID, BOS_ID]] = float("-inf")
    log_probs[finished] = float("-inf")
    log_probs[finished, PAD_ID] = 0.0
    return log_probs


def _backtrack(history: list[tuple[torch.Tensor, torch.Tensor]], batch: int, beam: int) -> list[list[int]]:
    """Follow parent pointers from each source's best final row (row 0 of its beam: topk sorts)."""
    row = torch.arange(batch, device=history[0][0].device) * beam
    words = []
    for parents, tokens in reversed(history):
        words.append(tokens[row])
        row = parents[row]
    sequences = torch.stack(words[::-1], dim=1).tolist()
    return [[t for t in seq[: seq.index(EOS_ID)] if t != PAD_ID] if EOS_ID in seq else
            [t for t in seq if t != PAD_ID] for seq in sequences]
