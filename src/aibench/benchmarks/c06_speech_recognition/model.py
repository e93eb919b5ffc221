"""DeepSpeech2 (Amodei et al., ICML 2016) as its PyTorch reference builds it (deepspeech.pytorch's model.py, the
code AIBench's DC-AI-C6 runs; its defaults, 5 GRU layers of 800 units, are this class's).

Structural parts:
- input: a normalised log spectrogram (see data.spectrogram);
- two 2-D convolutions over frequency x time, (41, 11) stride (2, 2) and (21, 11) stride (2, 1), each followed
  by batch normalisation and a clipped ReLU (Hardtanh 0..20); padded frames are zeroed after each layer;
- a stack of bidirectional GRUs, both directions summed; every recurrent layer but the first gets sequence-wise
  batch normalisation of its input (DS2 §3.2), over the valid frames of the packed sequences;
- one fully connected layer (batch norm over valid frames, then a bias-free linear map to the 29 characters),
  whose log-softmax feeds the CTC loss in training and greedy or beam-search CTC decoding at inference.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def _conv_frames(lengths: torch.Tensor, kernel: int, stride: int, padding: int) -> torch.Tensor:
    return torch.div(lengths + 2 * padding - kernel, stride, rounding_mode="floor") + 1


class MaskedConv(nn.Module):
    """The convolutional front end; zeroes the frames past each utterance's length after every layer, so
    padding never leaks into valid frames of the next one."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([
            nn.Sequential(nn.Conv2d(1, channels, (41, 11), stride=(2, 2), padding=(20, 5)),
                          nn.BatchNorm2d(channels), nn.Hardtanh(0, 20)),
            nn.Sequential(nn.Conv2d(channels, channels, (21, 11), stride=(2, 1), padding=(10, 5)),
                          nn.BatchNorm2d(channels), nn.Hardtanh(0, 20)),
        ])

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for layer in self.layers:
            conv = layer[0]
            x = layer(x)
            lengths = _conv_frames(lengths, conv.kernel_size[1], conv.stride[1], conv.padding[1])
            valid = torch.arange(x.shape[-1], device=x.device)[None, :] < lengths[:, None]
            x = x * valid[:, None, None, :]
        return x, lengths

    def out_features(self, freq_bins: int) -> int:
        for layer in self.layers:
            conv = layer[0]
            freq_bins = (freq_bins + 2 * conv.padding[0] - conv.kernel_size[0]) // conv.stride[0] + 1
        return freq_bins * self.layers[-1][0].out_channels


class BatchRNN(nn.Module):
    """Optional sequence-wise batch norm of the input, then a bidirectional GRU with summed directions."""

    def __init__(self, input_size: int, hidden_size: int, batch_norm: bool) -> None:
        super().__init__()
        self.batch_norm = nn.BatchNorm1d(input_size) if batch_norm else None
        self.rnn = nn.GRU(input_size, hidden_size, bidirectional=True, batch_first=True)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        if self.batch_norm is not None:  # normalise the valid frames only, all utterances together
            packed = packed._replace(data=self.batch_norm(packed.data))
        out, _ = pad_packed_sequence(self.rnn(packed)[0], batch_first=True, total_length=x.shape[1])
        forward, backward = out.chunk(2, dim=-1)
        return forward + backward


class DeepSpeech2(nn.Module):
    def __init__(self, freq_bins: int = 161, conv_channels: int = 32, hidden_size: int = 800,
                 rnn_layers: int = 5, num_labels: int = 29) -> None:
        super().__init__()
        self.conv = MaskedConv(conv_channels)
        width = self.conv.out_features(freq_bins)
        self.rnns = nn.ModuleList([BatchRNN(width if i == 0 else hidden_size, hidden_size, batch_norm=i > 0)
                                   for i in range(rnn_layers)])
        self.fc_norm = nn.BatchNorm1d(hidden_size)
        self.fc = nn.Linear(hidden_size, num_labels, bias=False)

    def forward(self, features: torch.Tensor, lengths: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """features (batch, 1, freq, frames) -> log-probabilities (batch, frames', labels) and frames' lengths."""
        x, lengths = self.conv(features, lengths)
        x = x.flatten(1, 2).transpose(1, 2)  # (batch, frames', channels x freq')
        for rnn in self.rnns:
            x = rnn(x, lengths)
        valid = torch.arange(x.shape[1], device=x.device)[None, :] < lengths[:, None]
        normed = torch.zeros_like(x)
        normed[valid] = self.fc_norm(x[valid])  # statistics of the valid frames, as in the recurrent layers
        return self.fc(normed).log_softmax(-1), lengths
