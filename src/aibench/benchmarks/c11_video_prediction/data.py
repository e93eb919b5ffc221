"""Data plumbing for CDNA: the synthetic pushing set, tensors of sequences, the MSE metric and the baseline.

synthesize() writes scenes in the robot pushing release's layout (TFRecord shards of tf.train.Example, 5:4 JPEG
frames, 5-float commanded and measured gripper poses). Each scene is a table (a smooth two-colour gradient)
with a dark gripper and two coloured blocks. The gripper is commanded a few pixels per step in a direction
that persists and now and then changes; it pushes the blocks along, so every moving pixel moves by the
commanded displacement (action_t minus the pose at t). A model that reads the action can move the right pixels
the right way, while copying the last frame cannot.

Quality is the paper's per-frame MSE: the squared error summed over the pixels and channels of a predicted frame
(values in [0, 1]), averaged over predicted frames and sequences -- the convention of the video prediction
literature that reports MSE "per frame" (Moving MNIST), and the scale on which AIBench's 72 reads sensibly: on
64x64x3 frames it is 0.0059 per value, a PSNR of 22.3 dB, where Finn et al. report CDNA's PSNR.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchmetrics.functional import mean_squared_error
from torchmetrics.functional.image import peak_signal_noise_ratio

from aibench.datasets.robot_push import POSE_DIM, encode_sequence, read_sequences, write_split

TRAIN_SPLIT, TEST_SPLIT = "push_train", "push_testseen"
BLOCK_COLOURS = np.array([[0.9, 0.15, 0.1], [0.1, 0.75, 0.2], [0.15, 0.3, 0.95], [0.95, 0.85, 0.1],
                          [0.85, 0.2, 0.85], [0.1, 0.85, 0.9]])  # saturated, unlike the dull table


@dataclass
class Sequences:
    """Decoded sequences as tensors: images uint8 (N, T, 3, S, S), actions and states float32 (N, T, 5)."""

    images: torch.Tensor
    actions: torch.Tensor
    states: torch.Tensor

    def __len__(self) -> int:
        return len(self.images)

    def batch(self, rows: torch.Tensor | slice, device: torch.device) -> dict[str, torch.Tensor]:
        """Rows as model inputs on `device`: images as floats in [0, 1]."""
        return {"images": self.images[rows].to(device).float() / 255, "actions": self.actions[rows].to(device),
                "states": self.states[rows].to(device)}


def load_sequences(files: list[Path], steps: int, image_size: int, limit: int | None = None) -> Sequences:
    """Decode the shards' sequences into memory (the first `limit` when given)."""
    images, actions, states = [], [], []
    for seq in read_sequences(files, steps, image_size):
        images.append(torch.from_numpy(seq.images).permute(0, 3, 1, 2))
        actions.append(torch.from_numpy(seq.actions))
        states.append(torch.from_numpy(seq.states))
        if limit is not None and len(images) >= limit:
            break
    return Sequences(torch.stack(images), torch.stack(actions), torch.stack(states))


# ----- metric ---------------------------------------------------------------------------------------------------
def frame_mse(pred: torch.Tensor, target: torch.Tensor) -> float:
    """Per-frame MSE: squared error summed over a frame's C x H x W values in [0, 1], averaged over frames.
    pred and target are (..., C, H, W); torchmetrics gives the mean per value, times values per frame."""
    values_per_frame = pred.shape[-3] * pred.shape[-2] * pred.shape[-1]
    return float(mean_squared_error(pred.float().flatten(), target.float().flatten())) * values_per_frame


def prediction_quality(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """Per-frame MSE plus the per-value MSE and PSNR (dB, data range 1) of predicted frames."""
    mse = frame_mse(pred, target)
    return {"mse": mse, "mse_per_value": mse / (pred.shape[-3] * pred.shape[-2] * pred.shape[-1]),
            "psnr": float(peak_signal_noise_ratio(pred.float().clamp(0, 1), target.float(), data_range=1.0))}


def copy_last_frame(images: torch.Tensor, context: int) -> torch.Tensor:
    """The identity baseline: every future frame predicted as the last context frame. images (N, T, C, H, W)."""
    future = images.shape[1] - context
    return images[:, context - 1:context].expand(-1, future, -1, -1, -1)


# ----- synthesis ------------------------------------------------------------------------------------------------
def _table(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """A smooth two-colour gradient in dull colours, float (H, W, 3) in [0, 1]."""
    a, b = rng.uniform(0.35, 0.65, 3), rng.uniform(0.35, 0.65, 3)
    angle = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
    ramp = (np.cos(angle) * xx + np.sin(angle) * yy)
    ramp = (ramp - ramp.min()) / max(np.ptp(ramp), 1e-6)
    return a + (b - a) * ramp[..., None]


def _displacements(rng: np.random.Generator, steps: int, max_step: int, keep: float) -> np.ndarray:
    """Integer per-step motions (steps, 2) that persist with probability `keep` and otherwise change."""
    moves = np.zeros((steps, 2), int)
    moves[0] = rng.integers(-max_step, max_step + 1, 2)
    for t in range(1, steps):
        moves[t] = moves[t - 1] if rng.random() < keep else rng.integers(-max_step, max_step + 1, 2)
    return moves


def synthesize_scene(rng: np.random.Generator, steps: int, size: int, max_step: int = 2, keep: float = 0.6,
                     blocks: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One pushing sequence: frames uint8 (T, size, size * 5 // 4, 3), actions and states (T, 5).

    Positions are in pixels of the central square; the gripper's pose is (x, y) in table units of 16 / size
    per pixel around the centre, a fixed height, pitch and yaw 0. The action at t is the pose commanded for t+1.
    """
    width, margin = size * 5 // 4, (size * 5 // 4 - size) // 2
    table = _table(rng, size, width)
    sides = np.r_[max(3, size // 8), rng.integers(max(4, size // 6), max(5, size // 4) + 1, blocks)]
    colours = np.vstack([[0.1, 0.1, 0.12], BLOCK_COLOURS[rng.choice(len(BLOCK_COLOURS), blocks, replace=False)]])
    corners = np.stack([rng.integers(0, size - s + 1, 2) for s in sides])  # (x, y) top-left in the square
    moves = _displacements(rng, steps, max_step, keep)
    path = [corners.copy()]
    for t in range(steps - 1):
        step = moves[t].copy()
        for axis in range(2):  # a push that would leave the square turns back, or stops
            for trial in (step[axis], -step[axis], 0):
                if np.all((corners[:, axis] + trial >= 0) & (corners[:, axis] + trial + sides <= size)):
                    step[axis] = trial
                    break
        corners = corners + step
        path.append(corners.copy())
    frames = np.empty((steps, size, width, 3), np.uint8)
    for t, corner in enumerate(path):
        canvas = table.copy()
        for (x, y), side, colour in reversed(list(zip(corner, sides, colours))):  # the gripper is drawn on top
            canvas[y:y + side, margin + x:margin + x + side] = colour
        frames[t] = np.round(canvas * 255)
    grip = np.array([c[0] for c in path], float)
    pose = np.zeros((steps, POSE_DIM), np.float32)
    pose[:, :2] = (grip + sides[0] / 2 - size / 2) * 16 / size
    pose[:, 2] = 0.2
    actions = np.vstack([pose[1:], pose[-1:]])  # the last command holds the pose
    return frames, actions, pose


def synthesize_push(data_dir: Path, hp: dict[str, Any], seed: int) -> None:
    """Write the push_train and push_testseen splits: `synth_shards` shards each, or as many as the release
    (264 and 5) where `synth_test_shards` sets the test split's own count."""
    rng = np.random.default_rng(seed)
    shards = {TRAIN_SPLIT: hp["synth_shards"], TEST_SPLIT: hp.get("synth_test_shards", hp["synth_shards"])}
    for split, count in ((TRAIN_SPLIT, hp["synth_train"]), (TEST_SPLIT, hp["synth_test"])):
        records = [encode_sequence(*synthesize_scene(rng, hp["sequence_length"], hp["image_size"],
                                                     hp["synth_max_step"]), quality=95)
                   for _ in range(count)]
        write_split(data_dir, split, records, shards=shards[split])


class StreamedSequences(torch.utils.data.IterableDataset):
    """Training sequences read from the shards as they are needed (the full set does not fit in memory): each
    epoch visits the shards in a shuffled order, split among DataLoader workers, through a shuffle buffer."""

    def __init__(self, files: list[Path], steps: int, image_size: int, buffer: int, seed: int) -> None:
        self.files, self.steps, self.image_size, self.buffer, self.seed = files, steps, image_size, buffer, seed
        self.epoch = 0

    def _items(self, files: list[Path]):
        for seq in read_sequences(files, self.steps, self.image_size):
            yield (torch.from_numpy(seq.images).permute(0, 3, 1, 2), torch.from_numpy(seq.actions),
                   torch.from_numpy(seq.states))

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        rng = np.random.default_rng([self.seed, self.epoch, worker])
        order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.files))
        files = [self.files[i] for i in order[worker::workers]]
        pool: list = []
        for item in self._items(files):
            pool.append(item)
            if len(pool) >= self.buffer:
                yield pool.pop(int(rng.integers(len(pool))))
        rng.shuffle(pool)
        yield from pool
