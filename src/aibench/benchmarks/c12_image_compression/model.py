"""Full-resolution image compression with recurrent networks (Toderici et al., CVPR 2017), the LSTM variant.

Structural parts, as the paper defines them:
- encoder E: a stride-2 convolution, then three stride-2 convolutional LSTM layers (each image is coded by the
  same recurrent encoder over several iterations, its state carried from one iteration to the next);
- binarizer B: a 1x1 convolution to `bits` channels, tanh, then binarization to {-1, 1}: stochastic in training
  (b = 1 with probability (1 + x) / 2, gradient passed straight through, as the paper's eq. 4 does), sign at test;
- decoder D: a 1x1 convolution, four convolutional LSTM layers each followed by a depth-to-space (pixel shuffle)
  x2 upsampling (the last two with 3x3 hidden-to-hidden kernels, the others 1x1), and a convolution to RGB in
  [-1, 1];
- progressive residual coding ("one-shot" reconstruction): each iteration codes the residual left by the
  previous one, r_t = x - D(B(E(r_{t-1}))), and the loss is the L1 norm of every iteration's residual, so each
  further iteration adds bits and quality. The code spends `bits` bits per 16x16 pixel block and iteration.
- entropy coder: a binary context model (`BinaryContextModel`) that gives each bit of the code a probability from
  the bits already coded (earlier positions in raster order in the same iteration, all bits of earlier
  iterations); its cross-entropy is the rate an arithmetic coder driven by it reaches.
Reference widths (paper Fig. 1): encoder 64 / 256 / 512 / 512, 32 bits, decoder 512 / 512 / 256 / 128; the layer
sizes and hidden kernels are those of AIBench's own code for C12 (the PyTorch reimplementation
1zb/pytorch-image-comp-rnn, network.py), whose convolutions carry no biases; ours keep the LSTM gate biases (forget
gate opened at 1) and the output convolution's bias: 10,755 parameters more at full size.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

DOWNSAMPLE = 16  # the encoder's four stride-2 stages: one code vector per 16x16 pixel block


class ConvLSTMCell(nn.Module):
    """An LSTM whose gates are convolutions: input kernel (stride may downsample) plus a hidden kernel."""

    def __init__(self, in_channels: int, hidden: int, kernel: int = 3, stride: int = 1, hidden_kernel: int = 1):
        super().__init__()
        self.hidden = hidden
        self.input_conv = nn.Conv2d(in_channels, 4 * hidden, kernel, stride, kernel // 2)
        self.hidden_conv = nn.Conv2d(hidden, 4 * hidden, hidden_kernel, 1, hidden_kernel // 2, bias=False)

    def reset_gates(self) -> None:
        """Unit-variance gate pre-activations and forget gates open at the start (bias 1)."""
        for conv in (self.input_conv, self.hidden_conv):
            nn.init.kaiming_normal_(conv.weight, nonlinearity="linear")
        nn.init.zeros_(self.input_conv.bias)
        with torch.no_grad():
            self.input_conv.bias[self.hidden:2 * self.hidden] = 1.0  # gate order: input, forget, cell, output

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        gates_x = self.input_conv(x)
        if state is None:
            zeros = gates_x.new_zeros(gates_x.shape[0], self.hidden, *gates_x.shape[2:])
            state = (zeros, zeros)
        h, c = state
        i, f, g, o = (gates_x + self.hidden_conv(h)).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        return h, (h, c)


class Encoder(nn.Module):
    def __init__(self, widths: Sequence[int]) -> None:
        super().__init__()
        stem, *recurrent = widths
        self.stem = nn.Conv2d(3, stem, 3, stride=2, padding=1, bias=False)
        channels = [stem, *recurrent]
        self.cells = nn.ModuleList(ConvLSTMCell(channels[k], channels[k + 1], 3, stride=2)
                                   for k in range(len(recurrent)))

    def forward(self, x: torch.Tensor, states: list) -> tuple[torch.Tensor, list]:
        x = self.stem(x)
        new_states = []
        for cell, state in zip(self.cells, states):
            x, state = cell(x, state)
            new_states.append(state)
        return x, new_states


class Binarizer(nn.Module):
    """1x1 convolution + tanh, then {-1, 1}: stochastic with a straight-through gradient in training."""

    def __init__(self, in_channels: int, bits: int) -> None:
        super().__init__()
        self.project = nn.Conv2d(in_channels, bits, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.tanh(self.project(x))
        if self.training:
            noise = torch.where(torch.rand_like(x) <= (1 + x) / 2, 1 - x, -1 - x)  # E[x + noise] = x
            return x + noise.detach()
        return torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))


class Decoder(nn.Module):
    def __init__(self, bits: int, widths: Sequence[int], hidden_kernels: Sequence[int] = (1, 1, 3, 3)) -> None:
        super().__init__()
        self.stem = nn.Conv2d(bits, widths[0], 1, bias=False)
        ins = [widths[0]] + [w // 4 for w in widths[:-1]]  # pixel shuffle x2 divides channels by 4
        self.cells = nn.ModuleList(ConvLSTMCell(i, w, 3, stride=1, hidden_kernel=k)
                                   for i, w, k in zip(ins, widths, hidden_kernels))
        self.to_rgb = nn.Conv2d(widths[-1] // 4, 3, 1)

    def forward(self, codes: torch.Tensor, states: list) -> tuple[torch.Tensor, list]:
        x = self.stem(codes)
        new_states = []
        for cell, state in zip(self.cells, states):
            x, state = cell(x, state)
            new_states.append(state)
            x = F.pixel_shuffle(x, 2)
        return torch.tanh(self.to_rgb(x)), new_states


class RecurrentCompressor(nn.Module):
    """Encoder, binarizer and decoder run for `iterations` residual-coding steps."""

    def __init__(self, encoder_widths: Sequence[int] = (64, 256, 512, 512), bits: int = 32,
                 decoder_widths: Sequence[int] = (512, 512, 256, 128),
                 decoder_hidden_kernels: Sequence[int] = (1, 1, 3, 3)) -> None:
        super().__init__()
        if len(encoder_widths) != 4 or len(decoder_widths) != 4 or len(decoder_hidden_kernels) != 4:
            raise ValueError("the architecture has a stem + 3 encoder LSTMs and 4 decoder LSTMs")
        self.bits = bits
        self.encoder = Encoder(encoder_widths)
        self.binarizer = Binarizer(encoder_widths[-1], bits)
        self.decoder = Decoder(bits, decoder_widths, decoder_hidden_kernels)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Variance-preserving convolutions and a forget-gate bias of 1 (the paper leaves initialization open).

        PyTorch's default convolution init shrinks the signal about 1/sqrt(3) a layer; through the encoder's and
        decoder's eight stacked LSTMs that leaves the code and the output near zero for hundreds of steps.
        """
        for conv in (self.encoder.stem, self.binarizer.project, self.decoder.stem):
            nn.init.kaiming_normal_(conv.weight, nonlinearity="linear")
        for cell in [*self.encoder.cells, *self.decoder.cells]:
            cell.reset_gates()

    def forward(self, images: torch.Tensor, iterations: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """images in [-1, 1], sides divisible by 16 -> the reconstruction after each iteration, and the codes."""
        if images.shape[-1] % DOWNSAMPLE or images.shape[-2] % DOWNSAMPLE:
            raise ValueError(f"image sides must be multiples of {DOWNSAMPLE}, got {tuple(images.shape[-2:])}")
        enc_states, dec_states = [None] * 3, [None] * 4
        residual, reconstructions, codes = images, [], []
        for _ in range(iterations):
            features, enc_states = self.encoder(residual, enc_states)
            code = self.binarizer(features)
            output, dec_states = self.decoder(code, dec_states)
            reconstructions.append(output)  # one-shot: each iteration predicts the whole image
            codes.append(code)
            residual = images - output
        return reconstructions, codes


def residual_l1_loss(images: torch.Tensor, reconstructions: Sequence[torch.Tensor]) -> torch.Tensor:
    """The paper's training loss: the L1 norm of each iteration's residual, averaged over iterations."""
    return torch.stack([(images - r).abs().mean() for r in reconstructions]).mean()


def bits_per_pixel(bits: int, iterations: int) -> float:
    """Bits the binary code spends per pixel before entropy coding: `bits` per 16x16 block per iteration."""
    return bits * iterations / DOWNSAMPLE**2


def entropy_bits_per_pixel(codes: Sequence[torch.Tensor]) -> float:
    """The rate an entropy coder with one adaptive probability per iteration and bit channel would reach.

    `codes` holds each iteration's {-1, 1} code (images, bits, H/16, W/16). The order-0 entropy of every bit
    channel, summed over channels and iterations, per 16x16 block: a bound the paper's context-modelling
    entropy coder improves on, and never above `bits_per_pixel`.
    """
    total = 0.0
    for code in codes:
        p = (code > 0).double().mean(dim=(0, 2, 3)).clamp(1e-12, 1 - 1e-12)
        total += float((-(p * p.log2()) - (1 - p) * (1 - p).log2()).sum())
    return total / DOWNSAMPLE**2
