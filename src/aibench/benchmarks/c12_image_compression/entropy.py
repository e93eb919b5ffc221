"""The paper's "neural network for entropy coding": a binary context model of the recurrent coder's bits.

Toderici et al. 2017 (section 4) code the binary codes losslessly with an arithmetic coder driven by a network that
predicts each bit from the bits coded before it. The structure follows the progressive entropy coder Google
released with the paper (tensorflow/models, research/compression/entropy_coder, `progressive` model, configured
with 16 layers of 32 bits: one layer per iteration):
- per iteration t, a bit predictor: a 7x7 convolution over the iteration's code masked in raster order (a position
  sees only earlier positions, never itself), beside an unmasked 3x3 convolution of a state summarising the earlier
  iterations (all of whose bits the decoder already has); both tanh, concatenated, then a line LSTM that runs down
  the rows (1x3 input kernel masked to the current and left positions, 1x3 kernel over the row above's hidden
  state) and two 1x1 convolutions to one logit per bit. The 32 bits of one position are predicted together from
  the earlier positions' context;
- the state between iterations: per iteration two 3x3 convolutions of the code, then one 1x1 convolutional LSTM
  shared by all iterations (its memory runs over the iterations) and two 1x1 convolutions back to `bits` channels.
Hidden width: twice the code depth (64 for 32 bits), as in the release. The release's last layer is tanh giving a
code estimate y, p(bit = 1) = (1 + y) / 2 = sigmoid(2 a); here the layer gives the logit 2a directly (same family,
same parameters). The cross-entropy in bits is the rate such a coder reaches (within a few bytes per image).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from aibench.benchmarks.c12_image_compression.model import DOWNSAMPLE, ConvLSTMCell


class RasterMaskedConv2d(nn.Conv2d):
    """A convolution that sees only positions before the output's in raster order (`strict`: not the position
    itself either). The masked weights stay parameters, as in the release, so the count matches it."""

    def __init__(self, in_channels: int, out_channels: int, kernel: tuple[int, int], strict: bool) -> None:
        super().__init__(in_channels, out_channels, kernel, padding=(kernel[0] // 2, kernel[1] // 2))
        mask = torch.ones(kernel)
        row, col = kernel[0] // 2, kernel[1] // 2
        mask[row + 1:, :] = 0
        mask[row, col + (0 if strict else 1):] = 0
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class LineLSTM(nn.Module):
    """An LSTM run down the rows: each row's gates come from that row's input (1x3 kernel, current and left
    positions) and the row above's hidden state (1x3 kernel), so context flows from everything above."""

    def __init__(self, in_channels: int, hidden: int) -> None:
        super().__init__()
        self.input_conv = RasterMaskedConv2d(in_channels, 4 * hidden, (1, 3), strict=False)
        self.hidden_conv = nn.Conv2d(hidden, 4 * hidden, (1, 3), padding=(0, 1), bias=False)
        with torch.no_grad():  # gate order: forget, input, cell, output; forget gate open (bias 1) at the start
            self.input_conv.bias.zero_()
            self.input_conv.bias[:hidden] = 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gates_x = self.input_conv(x)
        hidden = cell = None
        rows = []
        for r in range(x.shape[2]):
            gates = gates_x[:, :, r:r + 1]
            if hidden is not None:
                gates = gates + self.hidden_conv(hidden)
            f, i, g, o = gates.chunk(4, dim=1)
            update = torch.sigmoid(i) * torch.tanh(g)
            cell = update if cell is None else torch.sigmoid(f) * cell + update
            hidden = torch.sigmoid(o) * torch.tanh(cell)
            rows.append(hidden)
        return torch.cat(rows, dim=2)


class BitPredictor(nn.Module):
    """Logits of one iteration's bits from its earlier positions and the state of the earlier iterations."""

    def __init__(self, bits: int, hidden: int) -> None:
        super().__init__()
        self.context = RasterMaskedConv2d(bits, hidden, (7, 7), strict=True)
        self.previous = nn.Conv2d(bits, hidden, 3, padding=1)
        self.line = LineLSTM(2 * hidden, hidden)
        self.mix = nn.Conv2d(hidden, hidden, 1)
        self.logits = nn.Conv2d(hidden, bits, 1)

    def forward(self, code: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        features = torch.cat([torch.tanh(self.context(code)), torch.tanh(self.previous(state))], dim=1)
        return self.logits(torch.tanh(self.mix(self.line(features))))


class BinaryContextModel(nn.Module):
    """The progressive entropy coder: per-iteration bit predictors and an LSTM over the iterations."""

    def __init__(self, bits: int = 32, iterations: int = 16) -> None:
        super().__init__()
        hidden = 2 * bits
        self.bits = bits
        self.predictors = nn.ModuleList(BitPredictor(bits, hidden) for _ in range(iterations))
        self.summaries = nn.ModuleList(nn.Sequential(nn.Conv2d(bits, hidden, 3, padding=1), nn.Tanh(),
                                                     nn.Conv2d(hidden, bits, 3, padding=1), nn.Tanh())
                                       for _ in range(iterations))
        self.iteration_lstm = ConvLSTMCell(bits, hidden, kernel=1, hidden_kernel=1)
        self.iteration_out = nn.Sequential(nn.Conv2d(hidden, hidden, 1), nn.Tanh(), nn.Conv2d(hidden, bits, 1),
                                           nn.Tanh())

    def forward(self, codes: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Each iteration's {-1, 1} code (N, bits, H, W) -> the logits of p(bit = 1), same shapes."""
        if len(codes) > len(self.predictors):
            raise ValueError(f"{len(codes)} iterations of codes, the model has {len(self.predictors)}")
        state = torch.zeros_like(codes[0])
        lstm_state = None
        logits = []
        for code, predictor, summary in zip(codes, self.predictors, self.summaries):
            logits.append(predictor(code, state))
            hidden, lstm_state = self.iteration_lstm(summary(code), lstm_state)
            state = self.iteration_out(hidden)
        return logits

    def code_bits(self, codes: Sequence[torch.Tensor]) -> torch.Tensor:
        """The bits an arithmetic coder driven by the model spends on each image: (N,), summed over iterations."""
        total = codes[0].new_zeros(codes[0].shape[0])
        for code, logit in zip(codes, self(codes)):
            nats = F.binary_cross_entropy_with_logits(logit, (code > 0).to(logit.dtype), reduction="none")
            total = total + nats.flatten(1).sum(1) / torch.log(torch.tensor(2.0))
        return total


def entropy_coded_bpp(bits_per_image: torch.Tensor, codes: Sequence[torch.Tensor]) -> float:
    """Mean bits per pixel of the entropy-coded code: each image's coded bits over its pixels."""
    pixels = codes[0].shape[2] * codes[0].shape[3] * DOWNSAMPLE**2
    return float(bits_per_image.mean()) / pixels
