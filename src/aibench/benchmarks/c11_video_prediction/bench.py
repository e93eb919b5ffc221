"""DC-AI-C11 as a Benchmark: CDNA trained on pushing sequences, scored by per-frame MSE of predicted frames.

A training step unrolls the model over a batch of sequences with scheduled sampling and minimises the mean
squared error of the predicted frames (after the context) plus a small weight times that of the predicted states.
Evaluation feeds only the context frames, the first state and all actions, and compares the model's own
predictions of the remaining frames with the recorded ones. An inference query is one such sequence; its
output is the predicted future frames.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader

from aibench.benchmarks.base import Benchmark, Quality, StepOutput
from aibench.benchmarks.c11_video_prediction import SPEC
from aibench.benchmarks.c11_video_prediction.data import (
    TEST_SPLIT, TRAIN_SPLIT, Sequences, StreamedSequences, copy_last_frame, frame_mse, load_sequences,
    prediction_quality, synthesize_push)
from aibench.benchmarks.c11_video_prediction.model import CDNA, ground_truth_share
from aibench.datasets.robot_push import read_sequences, split_files, split_size
from aibench.spec import ScaleConfig

EVAL_CHUNK = 64  # test sequences per evaluation forward pass


def train_files(data_dir: Path, hp: dict[str, Any]) -> list[Path]:
    files = split_files(data_dir, TRAIN_SPLIT)
    return files[:hp["train_shards"]] if hp.get("train_shards") else files


class VideoPrediction(Benchmark):
    SPEC = SPEC

    # ----- data ---------------------------------------------------------------------------------------------
    @classmethod
    def synthesize(cls, data_dir: Path, config: ScaleConfig, seed: int) -> None:
        synthesize_push(Path(data_dir), config.hparams, seed)

    @classmethod
    def reference_models(cls, config: ScaleConfig) -> dict[str, nn.Module]:
        """CDNA at the scale's frame size and widths: no size here depends on the data beyond its 3 colours."""
        hp = config.hparams
        return {"model": CDNA(image_size=int(hp["image_size"]), lstm_sizes=hp["lstm_sizes"],
                              num_masks=int(hp["num_masks"]), kernel=int(hp["kernel"]),
                              context_frames=int(hp["context_frames"]))}

    @classmethod
    def check_data(cls, data_dir: Path, config: ScaleConfig) -> dict[str, Any]:
        hp, summary = config.hparams, {}
        for split, files in ((TRAIN_SPLIT, train_files(data_dir, hp)), (TEST_SPLIT, split_files(data_dir, TEST_SPLIT))):
            next(read_sequences(files[:1], hp["sequence_length"], hp["image_size"]), None)  # features decode
            summary[f"{split}_shards"], summary[f"{split}_sequences"] = len(files), split_size(files)
        return summary

    # ----- training -----------------------------------------------------------------------------------------
    def initialize(self) -> None:
        """Untimed: list the shards (a record count reads only their framing) and build the model; the sequences
        are decoded in prepare_data() (preload) or as training reads them (streamed)."""
        hp, root = self.hp, Path(self.ctx.data_dir)
        self.context = int(hp["context_frames"])
        self.train_files = train_files(root, hp)
        self.test_files = split_files(root, TEST_SPLIT)
        self.n_train = split_size(self.train_files)
        if not hp["preload"]:
            self.train_set: Sequences | StreamedSequences = StreamedSequences(
                self.train_files, int(hp["sequence_length"]), int(hp["image_size"]), int(hp["shuffle_buffer"]),
                self.ctx.seed)
        self.model = self.reference_models(self.config)["model"].to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=hp["lr"])
        self.iteration = 0

    def prepare_data(self) -> None:
        """Timed: decode the test sequences (and with `preload` the training ones) into memory and score the
        copy-last-frame baseline on them."""
        hp = self.hp
        steps, size = int(hp["sequence_length"]), int(hp["image_size"])
        if hp["preload"]:
            self.train_set = load_sequences(self.train_files, steps, size)
        limits = [n for n in (int(hp["eval_sequences"]), self.ctx.eval_limit) if n]
        self.test_set = load_sequences(self.test_files, steps, size, limit=min(limits, default=None))
        self.query_rows = [i % len(self.test_set) for i in range(self.config.inference_samples)]
        truth = self.test_set.images[:, self.context:].float() / 255
        self.baseline_mse = frame_mse(copy_last_frame(self.test_set.images.float() / 255, self.context), truth)

    def models(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    def train_samples(self) -> int:
        return self.n_train // self.config.batch_size * self.config.batch_size

    def train_batches(self, epoch: int) -> Iterator[dict[str, torch.Tensor]]:
        batch = self.config.batch_size
        if isinstance(self.train_set, Sequences):
            order = torch.randperm(len(self.train_set), generator=torch.Generator().manual_seed(
                self.ctx.seed * 100_003 + epoch))
            for start in range(0, len(order) - batch + 1, batch):
                yield self.train_set.batch(order[start:start + batch], self.device)
            return
        self.train_set.epoch = epoch
        for images, actions, states in DataLoader(self.train_set, batch_size=batch, drop_last=True,
                                                  num_workers=int(self.hp["workers"])):
            yield Sequences(images, actions, states).batch(slice(None), self.device)

    def compute_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, int]:
        share = ground_truth_share(self.iteration, float(self.hp["schedsamp_k"])) if self.model.training else 0.0
        gen_images, gen_states = self.model(batch["images"], batch["actions"], batch["states"], share)
        c = self.context
        image_loss = F.mse_loss(gen_images[:, c - 1:], batch["images"][:, c:])
        state_loss = F.mse_loss(gen_states[:, c - 1:], batch["states"][:, c:])
        return image_loss + float(self.hp["state_weight"]) * state_loss, len(batch["images"])

    def train_step(self, batch: dict[str, torch.Tensor]) -> StepOutput:
        out = super().train_step(batch)
        self.iteration += 1  # scheduled sampling decays with the iteration count
        return out

    # ----- evaluation ---------------------------------------------------------------------------------------
    @torch.no_grad()
    def _predict(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """Future frames (B, T - context, C, H, W) from the context frames, first state and actions alone."""
        images = batch["images"].clone()
        images[:, self.context:] = 0  # unseen: the model must use its own predictions
        gen_images, _ = self.model(images, batch["actions"], batch["states"], ground_truth=0.0)
        return gen_images[:, self.context - 1:].clamp(0, 1).cpu()

    def evaluate(self) -> Quality:
        preds = [self._predict(self.test_set.batch(slice(s, s + EVAL_CHUNK), self.device))
                 for s in range(0, len(self.test_set), EVAL_CHUNK)]
        truth = self.test_set.images[:, self.context:].float() / 255
        result = prediction_quality(torch.cat(preds), truth)
        return Quality(result.pop("mse"), {**result, "copy_last_frame_mse": self.baseline_mse},
                       samples=len(self.test_set))

    # ----- inference ----------------------------------------------------------------------------------------
    def inference_samples(self) -> list[dict[str, torch.Tensor]]:
        """One query per test sequence: its context frames (later frames blanked), actions and states."""
        samples = []
        for row in self.query_rows:
            sample = self.test_set.batch(slice(row, row + 1), torch.device("cpu"))
            sample["images"][:, self.context:] = 0
            samples.append({k: v[0] for k, v in sample.items()})
        return samples

    def query_count(self) -> int:
        return len(self.test_set)  # query i is test sequence i (the inference samples are the first)

    def load_query(self, index: int) -> dict[str, torch.Tensor]:
        sample = self.test_set.batch(slice(index, index + 1), torch.device("cpu"))
        sample["images"][:, self.context:] = 0
        return {k: v[0] for k, v in sample.items()}

    def infer(self, samples: Sequence[dict[str, torch.Tensor]]) -> list[torch.Tensor]:
        batch = {k: torch.stack([s[k] for s in samples]).to(self.device) for k in samples[0]}
        return list(self._predict(batch))

    def score(self, indices: Sequence[int], outputs: Sequence[torch.Tensor]) -> Quality:
        rows = list(indices)
        truth = self.test_set.images[rows, self.context:].float() / 255
        result = prediction_quality(torch.stack(list(outputs)), truth)
        return Quality(result.pop("mse"), result, samples=len(rows))

    # ----- characterization ---------------------------------------------------------------------------------
    def example_batch(self) -> dict[str, torch.Tensor]:
        return next(iter(self.train_batches(0)))

    def describe(self) -> dict[str, Any]:
        return {"train_sequences": self.n_train, "test_sequences": len(self.test_set),
                "predicted_frames": int(self.hp["sequence_length"]) - self.context,
                "copy_last_frame_mse": self.baseline_mse}


BENCHMARK = VideoPrediction
