"""The CDNA motion-focused predictive model (Finn, Goodfellow & Levine, NeurIPS 2016, §3).

Structural parts, as the paper and its reference implementation define them:
- an action-conditioned stack of seven 5x5 convolutional LSTMs with layer normalization, in an encoder
  (stride-2 convolutions: S -> S/2 -> S/4 -> S/8) and decoder (stride-2 transposed convolutions back to S) with
  skip connections (the S/4 and S/2 encoder features are concatenated into the decoder);
- at the S/8 bottleneck the robot's state and action are tiled over space and joined by a 1x1 convolution,
  so the predicted motion depends on the commanded action;
- CDNA: from the bottleneck LSTM's state a fully connected layer predicts `num_masks` normalized 5x5
  convolution kernels (ReLU-shifted to be positive, summing to one) per sequence, each applied to the previous
  frame, giving `num_masks` transformed images;
- compositing masks: a 1x1 transposed convolution of the last decoder layer and a channel softmax give one mask
  for the unchanged previous frame (static background), one for an image generated from scratch (sigmoid of
  another 1x1 layer, for newly uncovered regions, as the reference code adds) and one per transformed image;
  the prediction is the mask-weighted sum. (The reference code zips num_masks + 1 masks with num_masks + 1
  candidate images after the background and so drops the last CDNA image; we give every candidate a mask:
  65 parameters more than the reference's 8,311,967 at 64x64.)
- the next state is predicted linearly from the state and action;
- scheduled sampling (Bengio et al. 2015): after the context frames, a share k / (k + exp(i / k)) of the
  batch (i = training iteration) is fed the ground-truth frame, the rest its own prediction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

RELU_SHIFT = 1e-12  # keeps CDNA kernel weights strictly positive before normalizing


def layer_norm(channels: int) -> nn.GroupNorm:
    """Layer normalization over (C, H, W) of each sample with per-channel scale and offset, as the reference's
    layer_norm on NHWC maps."""
    return nn.GroupNorm(1, channels)


class ConvLSTMCell(nn.Module):
    """A convolutional LSTM: one convolution of [input, hidden] gives the four gates; forget bias 1."""

    def __init__(self, in_channels: int, channels: int, kernel: int = 5, forget_bias: float = 1.0) -> None:
        super().__init__()
        self.channels, self.forget_bias = channels, forget_bias
        self.gates = nn.Conv2d(in_channels + channels, 4 * channels, kernel, padding=kernel // 2)

    def forward(self, x: torch.Tensor, state: tuple[torch.Tensor, torch.Tensor] | None
                ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        if state is None:
            zeros = x.new_zeros(x.shape[0], self.channels, *x.shape[2:])
            state = (zeros, zeros)
        cell, hidden = state
        i, j, f, o = self.gates(torch.cat([x, hidden], 1)).chunk(4, 1)
        cell = cell * torch.sigmoid(f + self.forget_bias) + torch.sigmoid(i) * torch.tanh(j)
        hidden = torch.tanh(cell) * torch.sigmoid(o)
        return hidden, (cell, hidden)


def cdna_transform(image: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Apply per-sample kernels (B, M, K, K) to every channel of image (B, C, H, W) with zero 'same' padding;
    returns the M transformed images (B, M, C, H, W). One grouped convolution: group (b, c) holds b's M kernels."""
    b, c, h, w = image.shape
    m, k = kernels.shape[1], kernels.shape[-1]
    weight = kernels[:, None].expand(b, c, m, k, k).reshape(b * c * m, 1, k, k)
    out = F.conv2d(image.reshape(1, b * c, h, w), weight, padding=k // 2, groups=b * c)
    return out.view(b, c, m, h, w).transpose(1, 2)


def normalized_kernels(logits: torch.Tensor, num_masks: int, kernel: int) -> torch.Tensor:
    """CDNA kernels from the fully connected output: positive (ReLU shifted) and each summing to one."""
    k = F.relu(logits.view(-1, num_masks, kernel, kernel) - RELU_SHIFT) + RELU_SHIFT
    return k / k.sum(dim=(2, 3), keepdim=True)


def ground_truth_share(iteration: int, k: float) -> float:
    """Scheduled sampling's share of ground-truth inputs at a training iteration (inverse sigmoid decay)."""
    return k / (k + math.exp(min(iteration / k, 700.0)))


class CDNA(nn.Module):
    def __init__(self, image_size: int = 64, channels: int = 3, lstm_sizes: Sequence[int] = (32, 32, 64, 64, 128,
                 64, 32), num_masks: int = 10, kernel: int = 5, state_dim: int = 5, action_dim: int = 5,
                 context_frames: int = 2) -> None:
        super().__init__()
        if image_size % 8:
            raise ValueError(f"image_size {image_size} must be divisible by 8 (three stride-2 stages)")
        l0, l1, l2, l3, l4, l5, l6 = lstm_sizes
        self.num_masks, self.kernel, self.context_frames = num_masks, kernel, context_frames
        # as the reference's slim layers: a convolution followed by layer norm has no bias of its own
        self.enc0 = nn.Sequential(nn.Conv2d(channels, l0, 5, 2, 2, bias=False), layer_norm(l0), nn.ReLU())
        self.lstm1, self.lstm2 = ConvLSTMCell(l0, l0), ConvLSTMCell(l0, l1)
        self.enc1 = nn.Sequential(nn.Conv2d(l1, l1, 3, 2, 1), nn.ReLU())
        self.lstm3, self.lstm4 = ConvLSTMCell(l1, l2), ConvLSTMCell(l2, l3)
        self.enc2 = nn.Sequential(nn.Conv2d(l3, l3, 3, 2, 1), nn.ReLU())
        self.enc3 = nn.Sequential(nn.Conv2d(l3 + state_dim + action_dim, l3, 1), nn.ReLU())
        self.lstm5 = ConvLSTMCell(l3, l4)
        self.enc4 = nn.Sequential(nn.ConvTranspose2d(l4, l4, 3, 2, 1, output_padding=1), nn.ReLU())
        self.lstm6 = ConvLSTMCell(l4, l5)
        self.enc5 = nn.Sequential(nn.ConvTranspose2d(l5 + l1, l5 + l1, 3, 2, 1, output_padding=1), nn.ReLU())
        self.lstm7 = ConvLSTMCell(l5 + l1, l6)
        # the reference's convt3 keeps the width of its input (lstm7's output joined with enc0)
        self.enc6 = nn.Sequential(nn.ConvTranspose2d(l6 + l0, l6 + l0, 3, 2, 1, output_padding=1, bias=False),
                                  layer_norm(l6 + l0), nn.ReLU())
        self.scratch = nn.ConvTranspose2d(l6 + l0, channels, 1)  # an image generated from scratch
        self.masks = nn.ConvTranspose2d(l6 + l0, num_masks + 2, 1)  # background, scratch, one per CDNA kernel
        self.cdna_kernels = nn.Linear(l4 * (image_size // 8) ** 2, num_masks * kernel * kernel)
        self.state_out = nn.Linear(state_dim + action_dim, state_dim)
        self.norms = nn.ModuleList(layer_norm(c) for c in (l0, l1, l2, l3, l4, l5, l6))

    def _lstm(self, index: int, cell: ConvLSTMCell, x: torch.Tensor, states: list) -> torch.Tensor:
        hidden, states[index] = cell(x, states[index])
        return self.norms[index](hidden)

    def step(self, image: torch.Tensor, state: torch.Tensor, action: torch.Tensor, lstm_states: list
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """One time step: the predicted next frame (B, C, H, W) in [0, 1] and next state (B, state_dim)."""
        state_action = torch.cat([action, state], 1)
        enc0 = self.enc0(image)
        hidden2 = self._lstm(1, self.lstm2, self._lstm(0, self.lstm1, enc0, lstm_states), lstm_states)
        enc1 = self.enc1(hidden2)
        hidden4 = self._lstm(3, self.lstm4, self._lstm(2, self.lstm3, enc1, lstm_states), lstm_states)
        enc2 = self.enc2(hidden4)
        smear = state_action[:, :, None, None].expand(-1, -1, *enc2.shape[2:])
        hidden5 = self._lstm(4, self.lstm5, self.enc3(torch.cat([enc2, smear], 1)), lstm_states)
        hidden6 = self._lstm(5, self.lstm6, self.enc4(hidden5), lstm_states)
        enc5 = self.enc5(torch.cat([hidden6, enc1], 1))
        hidden7 = self._lstm(6, self.lstm7, enc5, lstm_states)
        enc6 = self.enc6(torch.cat([hidden7, enc0], 1))
        kernels = normalized_kernels(self.cdna_kernels(hidden5.flatten(1)), self.num_masks, self.kernel)
        candidates = torch.cat([image[:, None], torch.sigmoid(self.scratch(enc6))[:, None],
                                cdna_transform(image, kernels)], 1)  # (B, num_masks + 2, C, H, W)
        masks = torch.softmax(self.masks(enc6), 1)[:, :, None]
        return (masks * candidates).sum(1), self.state_out(state_action)

    def forward(self, images: torch.Tensor, actions: torch.Tensor, states: torch.Tensor,
                ground_truth: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        """Unroll over a sequence: images (B, T, C, H, W) in [0, 1], actions and states (B, T, d). Frames before
        `context_frames` are always the ground truth; later inputs are the ground truth for a random share
        `ground_truth` of the batch (scheduled sampling; 0 at test time) and the model's own prediction for the
        rest. As in the reference, only the first state is observed; later states are the model's predictions.
        Returns predictions of frames 1..T-1 (B, T-1, C, H, W) and of states 1..T-1 (B, T-1, d)."""
        batch, steps = images.shape[:2]
        lstm_states: list = [None] * 7
        gen_images, gen_states = [], []
        state = states[:, 0]
        for t in range(steps - 1):
            image = images[:, t]
            if t >= self.context_frames:
                image = self._feed(images[:, t], gen_images[-1], ground_truth)
            next_image, state = self.step(image, state, actions[:, t], lstm_states)
            gen_images.append(next_image)
            gen_states.append(state)
        return torch.stack(gen_images, 1), torch.stack(gen_states, 1)

    @staticmethod
    def _feed(true_image: torch.Tensor, gen_image: torch.Tensor, share: float) -> torch.Tensor:
        """Scheduled sampling: round(share x batch) randomly chosen samples get the ground-truth frame."""
        batch = true_image.shape[0]
        count = int(round(share * batch))
        if count <= 0:
            return gen_image
        if count >= batch:
            return true_image
        use_truth = torch.zeros(batch, dtype=torch.bool, device=true_image.device)
        use_truth[torch.randperm(batch, device=true_image.device)[:count]] = True
        return torch.where(use_truth[:, None, None, None], true_image, gen_image)
